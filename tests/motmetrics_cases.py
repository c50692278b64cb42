"""The inputs of the tests that compare this project's CLEAR-MOT with py-motmetrics 1.4.0.

py-motmetrics is not installed with the project (its last release, 1.4.0, calls numpy's removed
``np.asfarray``): its answers on these inputs are stored in ``tests/data/motmetrics_reference.json``
by ``dev/make_motmetrics_reference.py``, run in an environment of its own that has it. The
tests and that script build the inputs here, and each stored answer carries the digest of the
inputs it was made from, so a change of inputs (numpy's random streams, the synthetic generator)
is reported as such instead of as a wrong metric.
"""

import hashlib
import json
import os

import numpy as np

REFERENCE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "data", "motmetrics_reference.json"
)


def random_sequences(count=150, seed=0):
    """``count`` random CLEAR-MOT sequences: lists of frames ``(oids, hids, distances)``, NaN
    where a pair may not match."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n_obj, n_hyp = rng.integers(1, 6), rng.integers(1, 7)
        frames = []
        for _ in range(rng.integers(1, 25)):
            oids = sorted(rng.choice(n_obj, rng.integers(0, n_obj + 1), replace=False).tolist())
            hids = sorted(rng.choice(n_hyp, rng.integers(0, n_hyp + 1), replace=False).tolist())
            d = rng.uniform(0, 1, (len(oids), len(hids)))
            d[d > 0.5] = np.nan
            frames.append((oids, hids, d))
        out.append(frames)
    return out


def digest_sequences(sequences) -> str:
    h = hashlib.sha256()
    for frames in sequences:
        for oids, hids, d in frames:
            h.update(json.dumps([oids, hids]).encode())
            h.update(np.ascontiguousarray(d, dtype="<f8").tobytes())
        h.update(b"|")
    return h.hexdigest()


def digest_files(*paths) -> str:
    """One digest of files and folders (their files, sorted by name)."""
    h = hashlib.sha256()
    for path in paths:
        files = (
            [path]
            if os.path.isfile(path)
            else sorted(os.path.join(path, n) for n in os.listdir(path))
        )
        for name in files:
            h.update(os.path.basename(name).encode())
            with open(name, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def mot_text(rows) -> str:
    """MOTChallenge lines of ``(frame, id, x, y, w, h)`` rows."""
    return "".join(f"{f},{i},{x},{y},{w},{h},1,-1,-1,-1\n" for f, i, x, y, w, h in rows)


def two_walkers(frames, ids=lambda t: (1, 2)):
    rows = []
    for t in range(1, frames + 1):
        a, b = ids(t)
        rows += [(t, a, 10 + 5 * t, 20, 40, 100), (t, b, 300 - 5 * t, 30, 40, 100)]
    return rows


def noisy_tracks(seed=0):
    """Ground truth and tracks with misses, noise, an identity switch and false positives."""
    rng = np.random.default_rng(seed)
    gt_rows = two_walkers(30) + [(t, 3, 150, 200, 50, 120) for t in range(5, 25)]
    pred_rows = []
    for f, i, x, y, w, h in gt_rows:
        if rng.random() < 0.15:
            continue
        i = i + 10 if (i == 1 and f > 15) else i
        pred_rows.append((f, i, x + rng.normal(0, 4), y + rng.normal(0, 4), w, h))
    pred_rows += [(f, 50 + f, 400, 300, 30, 60) for f in range(1, 31, 3)]
    return gt_rows, pred_rows


def perturbed_predictions(gt_dir, pred_dir, seed=1):
    """The ground truth with people missed, joints moved, random scores and identity switches."""
    rng = np.random.default_rng(seed)
    os.makedirs(pred_dir)
    for name in sorted(os.listdir(gt_dir)):
        with open(os.path.join(gt_dir, name)) as f:
            data = json.load(f)
        anns = []
        for a in data["annotations"]:
            if rng.random() < 0.15:
                continue  # missed person
            k = np.array(a["keypoints"], float).reshape(17, 3)
            k[:, :2] += rng.normal(0, 3, (17, 2)) * (k[:, 2:] > 0)
            a = dict(a, keypoints=k.reshape(-1).tolist(), scores=rng.random(17).tolist())
            if rng.random() < 0.1:
                a["track_id"] = a["track_id"] + 50  # an identity switch
            anns.append(a)
        seen = set()
        data["annotations"] = [
            a
            for a in anns
            if (a["image_id"], a["track_id"]) not in seen
            and not seen.add((a["image_id"], a["track_id"]))
        ]
        with open(os.path.join(pred_dir, name), "w") as f:
            json.dump(data, f)


def tiny_synth(root):
    """The suite's ``tiny_synth`` set (see conftest.py)."""
    from posetrack_core.synthetic import generate_synthetic_posetrack

    return generate_synthetic_posetrack(root, num_videos=2, num_frames=12, seed=3, num_val_videos=1)


def reference(name: str) -> dict:
    with open(REFERENCE) as f:
        return json.load(f)[name]


# MOT15's TUD-Campus and TUD-Stadtmitte (ground truth and the CEM tracker's output), as
# py-motmetrics 1.4.0 ships them in its wheel; read from the wheel, which is downloaded once
# (not installed) into the test data cache. Digests of the files it holds:
TUD_FILES = {
    "TUD-Campus/gt.txt": "6e6db5a416f59b1837bc5bfc90502f5d767e869806e1257e4b735f742a90809c",
    "TUD-Campus/test.txt": "efbfaa766c4c27a07561e2d48f3538cadd73c7c583c5fc82f2992e9874261e28",
    "TUD-Stadtmitte/gt.txt": "275e53717f0397c19484fd42198fc5c4dc7b3de7ba5ca15ef53e2b8188696650",
    "TUD-Stadtmitte/test.txt": "454611aef78f84dea47ed22369fe518e76c3625871835270eaee0ea36fd387f3",
}
TEST_DATA = os.environ.get(
    "DETECTRON2_TUBES_TEST_DATA",
    os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "output", "test-data"
    ),
)


def tud_folder() -> str:
    """A folder with ``TUD-Campus/`` and ``TUD-Stadtmitte/`` (``gt.txt``, ``test.txt``)."""
    import glob
    import subprocess
    import sys
    import tempfile
    import zipfile

    folder = os.path.join(TEST_DATA, "mot15-tud")
    if all(os.path.isfile(os.path.join(folder, n)) for n in TUD_FILES):
        return folder
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             "-d", tmp, "motmetrics==1.4.0"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        (wheel,) = glob.glob(os.path.join(tmp, "motmetrics-1.4.0-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for name, sha in TUD_FILES.items():
                data = z.read("motmetrics/data/" + name)
                assert hashlib.sha256(data).hexdigest() == sha, name
                os.makedirs(os.path.dirname(os.path.join(tmp, "tud", name)), exist_ok=True)
                with open(os.path.join(tmp, "tud", name), "wb") as f:
                    f.write(data)
        os.makedirs(TEST_DATA, exist_ok=True)
        try:
            os.rename(os.path.join(tmp, "tud"), folder)
        except OSError:  # made meanwhile by another process (pytest -n, two suites)
            pass
    return folder
