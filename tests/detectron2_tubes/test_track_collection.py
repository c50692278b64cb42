"""track_video over a collection of videos: what --input names, each process's share, the same
files from 1 and 2 processes, resuming after a kill, a corrupt video among good ones."""

import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from model_configs import QUICK_T3, TINY_TEST

from detectron2_tubes.engine.collection import InputListError, expand_inputs, share_of

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
# Random weights detect nothing at the paper's 0.95: keep every detection (5 a frame), so that
# the written files have people and tracks to compare.
KEEP_ALL = ["TRACKING.DET_THRESH", "0.0", "TEST.DETECTIONS_PER_IMAGE", "5"]
LENGTHS = (6, 3, 5, 2, 4, 4)


def _write_video(path, frames, seed):
    rng = np.random.default_rng(seed)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 72))
    assert out.isOpened()
    for i in range(frames):
        img = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
        img[20:60, 10 + 4 * i : 30 + 4 * i] = 255  # a bright block walking right
        out.write(img)
    out.release()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("collection") / "videos"
    folder.mkdir()
    for k, n in enumerate(LENGTHS):
        _write_video(folder / f"clip{k}.mp4", n, k)
    return folder


def _run(inputs, out, weights, *extra):
    cmd = [sys.executable, "-m", "tubes_cli.track_video", "--config-file", QUICK_T3,
           "--input", *inputs, "--output", str(out), "--no-video", *extra,
           *TINY_TEST, *KEEP_ALL, "MODEL.WEIGHTS", weights]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def _files(folder):
    return {n: (folder / n).read_bytes() for n in sorted(os.listdir(folder))}


def test_inputs_and_shares(videos, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "000000.jpg"), np.zeros((8, 8, 3), np.uint8))
    listed = tmp_path / "list.txt"
    listed.write_text(f"# two videos\n{videos / 'clip1.mp4'}\n\nframes\n")
    got = expand_inputs([str(videos)])
    assert [os.path.basename(p) for p in got] == [f"clip{k}.mp4" for k in range(6)]
    with pytest.raises(InputListError, match="both named clip1"):
        expand_inputs([str(videos), str(listed)])
    assert [os.path.basename(p) for p in expand_inputs([str(listed)])] == ["clip1.mp4", "frames"]
    with pytest.raises(InputListError, match="does not exist"):
        expand_inputs([str(tmp_path / "nope.mp4")])
    # Balanced by frames, longest first (6+4+2 against 5+4+3); every video once.
    names = [f"v{k}" for k in range(6)]
    shares = [share_of(names, LENGTHS, r, 2) for r in range(2)]
    assert sorted(shares[0] + shares[1]) == names
    loads = [sum(LENGTHS[names.index(v)] for v in s) for s in shares]
    assert loads == [12, 12]


@pytest.mark.slow
def test_two_processes_write_what_one_writes(videos, weights, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    p = _run([str(videos)], one, weights)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "6 videos: 6 tracked, 0 done already, 0 failed" in p.stdout
    assert p.stdout.count("people per frame") == 6
    p = _run([str(videos)], two, weights, "--num-gpus", "2")
    assert p.returncode == 0, p.stderr[-2000:]
    assert "[0/2] track_video:" in p.stdout and "[1/2] track_video:" in p.stdout
    assert "6 videos: 6 tracked" in p.stdout
    a, b = _files(one), _files(two)
    assert list(a) == [f"clip{k}.json" for k in range(6)] and a == b
    assert all(b'"track_id"' in data for data in a.values())  # people were written


@pytest.mark.slow
def test_a_killed_run_resumes_with_the_rest(videos, weights, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tubes_cli.track_video", "--config-file", QUICK_T3,
           "--input", str(videos), "--output", str(out), "--no-video",
           *TINY_TEST, *KEEP_ALL, "MODEL.WEIGHTS", weights]  # fmt: skip
    proc = subprocess.Popen(cmd, env=dict(os.environ, PYTHONPATH=ROOT), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    end = time.time() + 300

    def finished():
        return sorted(n for n in os.listdir(out) if not n.startswith(".")) if out.exists() else []

    while time.time() < end and len(finished()) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # nothing can clean up after this one
    proc.communicate(timeout=60)
    done = finished()
    assert 3 <= len(done) < 6 and all(n.endswith(".json") for n in done)
    p = _run([str(videos)], out, weights)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.count("done already (--overwrite to redo)") == len(done)
    assert f"{6 - len(done)} tracked, {len(done)} done already, 0 failed" in p.stdout
    # Whole files only, and the killed run's temporary file is gone.
    assert sorted(os.listdir(out)) == [f"clip{k}.json" for k in range(6)]


@pytest.mark.slow
def test_a_corrupt_video_is_reported_and_the_others_finish(videos, weights, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    out = tmp_path / "out"
    p = _run([str(videos / "clip1.mp4"), str(bad), str(videos / "clip3.mp4")], out, weights)
    assert p.returncode == 1
    assert "broken.mp4: FAILED:" in p.stdout and "cannot read video" in p.stdout
    assert "3 videos: 2 tracked, 0 done already, 1 failed" in p.stdout
    assert sorted(os.listdir(out)) == ["clip1.json", "clip3.json"]
    assert "Traceback" not in p.stderr
