"""Write tests/data/motmetrics_reference.json: py-motmetrics 1.4.0's answers on the inputs of
tests/motmetrics_cases.py, the oracle of the tests that check this project's CLEAR-MOT.

py-motmetrics is not a dependency of the project; run this in an environment of its own (its
distances need numpy < 2), from the repository root:

    python3.11 -m venv /tmp/mmref
    /tmp/mmref/bin/pip install numpy==1.26.4 'scipy<1.14' 'opencv-python-headless<4.11' \
        motmetrics==1.4.0 'pandas<2.2' pytest
    /tmp/mmref/bin/python dev/make_motmetrics_reference.py

``--check`` compares with the stored file instead of writing it.
"""

import json
import os
import platform
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import motmetrics as mm  # noqa: E402
import numpy as np  # noqa: E402
from motmetrics_cases import (  # noqa: E402
    REFERENCE,
    digest_files,
    digest_sequences,
    mot_text,
    noisy_tracks,
    perturbed_predictions,
    random_sequences,
    tiny_synth,
)

from posetrack_core.evaluation import MotmetricsCounter, evaluate_posetrack  # noqa: E402


def random_case():
    sequences = random_sequences()
    rows = []
    for frames in sequences:
        ref = MotmetricsCounter()
        for oids, hids, d in frames:
            ref.update(oids, hids, d)
        rows.append(
            {k: getattr(ref, k) for k in ("misses", "switches", "false_positives", "objects")}
            | {"detections": ref.detections, "sum_d": ref.sum_d}
        )
    return {"inputs_sha256": digest_sequences(sequences), "sequences": rows}


def perturbed_case(tmp):
    root = os.path.join(tmp, "synth")
    tiny_synth(root)
    gt_dir = os.path.join(root, "annotations", "val")
    pred_dir = os.path.join(tmp, "pred")
    perturbed_predictions(gt_dir, pred_dir)
    ref = evaluate_posetrack(gt_dir, pred_dir, mot_backend="motmetrics")
    counts = {k: np.asarray(v).tolist() for k, v in ref["counts"].items()}
    return {
        "inputs_sha256": digest_files(gt_dir, pred_dir),
        "counts": counts,
        "mota": np.asarray(ref["mota"]).tolist(),
        "motp": np.asarray(ref["motp"]).tolist(),
    }


def noisy_case(tmp):
    gt_rows, pred_rows = noisy_tracks()
    gt, pred = os.path.join(tmp, "gt.txt"), os.path.join(tmp, "pred.txt")
    for path, rows in ((gt, gt_rows), (pred, pred_rows)):
        with open(path, "w") as f:
            f.write(mot_text(rows))
    acc = mm.utils.compare_to_groundtruth(
        mm.io.loadtxt(gt, fmt="mot15-2D"), mm.io.loadtxt(pred, fmt="mot15-2D"), "iou", distth=0.5
    )
    s = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_switches"])
    return {
        "inputs_sha256": digest_files(gt, pred),
        "mota": 100 * float(s["mota"].iloc[0]),
        "idf1": 100 * float(s["idf1"].iloc[0]),
        "num_switches": int(s["num_switches"].iloc[0]),
    }


def main(argv):
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "noisy"))
        made = {
            "provenance": (
                "made by dev/make_motmetrics_reference.py with py-motmetrics "
                f"{mm.__version__}, numpy {np.__version__}, Python {platform.python_version()}"
            ),
            "random_sequences": random_case(),
            "perturbed_synthetic": perturbed_case(tmp),
            "noisy_tracks": noisy_case(os.path.join(tmp, "noisy")),
        }
    if "--check" in argv:
        with open(REFERENCE) as f:
            stored = json.load(f)
        same = all(stored[k] == made[k] for k in made if k != "provenance")
        print("the stored reference equals py-motmetrics' answers" if same else "DIFFERENT")
        return 0 if same else 1
    os.makedirs(os.path.dirname(REFERENCE), exist_ok=True)
    with open(REFERENCE + ".tmp", "w") as f:
        json.dump(made, f, indent=1)
        f.write("\n")
    os.replace(REFERENCE + ".tmp", REFERENCE)
    print(f"wrote {REFERENCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
