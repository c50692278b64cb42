"""`make demo`'s job end to end, with a tiny schedule (the real one is measured in the README)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "detectron2_tubes.demo", "--output", str(out), "--mode", "strided",
           "SOLVER.MAX_ITER", "3", "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MIN_SIZE_TEST", "96",
           "TEST.DETECTIONS_PER_IMAGE", "5", "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", "[32,32]",
           "TRACKING.DET_THRESH", "0.0"]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    for step in ("[1/4]", "[2/4]", "[3/4]", "[4/4]", "Average Precision (AP) metric:", "MOTA Total"):
        assert step in p.stdout
    preds = sorted(os.listdir(out / "predictions"))
    assert len(preds) == 10 and {f.rsplit(".", 1)[1] for f in preds} == {"json", "mp4"}
    data = json.loads((out / "predictions" / preds[0]).read_text())
    assert len(data["images"]) == 60
    assert (out / "model" / "model_final.pth").exists() and (out / "model" / "log.txt").exists()
    # A second run reuses the trained model.
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0 and "using the trained model" in p.stdout
