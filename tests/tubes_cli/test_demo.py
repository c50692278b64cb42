"""`make demo`'s job end to end, with a tiny schedule (the real one is measured in the README)."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
TINY = [
    "INPUT.MIN_SIZE_TRAIN",
    "(128,)",
    "INPUT.MIN_SIZE_TEST",
    "96",
    "TEST.DETECTIONS_PER_IMAGE",
    "5",
    "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS",
    "[32,32]",
    "TRACKING.DET_THRESH",
    "0.0",
    "SOLVER.WARMUP_ITERS",
    "2",
]


def _inflated(log_file) -> int:
    """How many tensors the training's checkpointer inflated from 2D (its summary line)."""
    m = re.search(
        r"\[InflatingCheckpointer\] .*: \d+ tensors loaded, (\d+) inflated", log_file.read_text()
    )
    assert m, f"no inflation summary in {log_file}"
    return int(m.group(1))


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = tmp_path / "demo"
    cmd = [
        sys.executable,
        "-m",
        "tubes_cli.demo",
        "--output",
        str(out),
        "--mode",
        "strided",
        "--pretrain-iters",
        "4",
        "--finetune-iters",
        "2",
        *TINY,
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    for step in (
        "[1/5]",
        "[2/5]",
        "[3/5]",
        "[4/5]",
        "[5/5]",
        "Average Precision (AP) metric:",
        "MOTA Total",
        "PoseTrack21 HOTA",
        "| 2D (T = 1) |",
        "| 3D (T = 3, centre-inflated) |",
    ):
        assert step in p.stdout
    preds = sorted(os.listdir(out / "predictions"))
    assert len(preds) == 10 and {f.rsplit(".", 1)[1] for f in preds} == {"json", "mp4"}
    assert sorted(os.listdir(out / "predictions_2d")) == [f for f in preds if f.endswith(".json")]
    data = json.loads((out / "predictions" / preds[0]).read_text())
    assert len(data["images"]) == 60
    for stage, iters in (("model_2d", 4), ("model_2d_finetuned", 2), ("model_3d", 2)):
        assert (out / stage / "model_final.pth").exists() and (out / stage / "log.txt").exists()
        with open(out / stage / "metrics.json") as f:
            assert max(json.loads(line)["iteration"] for line in f if line.strip()) == iters - 1
    # The 3D stage started from the 2D model, inflated.
    assert _inflated(out / "model_3d" / "log.txt") > 0
    # A second run reuses the trained models (watched up to the tracking, which it repeats).
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env) as p:  # fmt: skip
        lines = []
        for line in p.stdout:
            lines.append(line)
            if line.startswith("[4/5]"):
                p.terminate()
                break
        p.wait(timeout=60)
    assert lines[-1].startswith("[4/5]"), "".join(lines[-20:])
    assert "".join(lines).count("using the trained model") == 3


@pytest.mark.slow
def test_seeded_training_is_reproducible(tmp_path):
    """The same seed gives the same losses, so the demo's figures are the same run to run."""
    from detectron2_tubes.experiments.recipe import CONFIG_2D, quick_config, schedule_opts, train

    runs = []
    for name in ("a", "b", "c"):
        seed = "3" if name != "c" else "4"
        out = str(tmp_path / name)
        train(quick_config(CONFIG_2D), out, [*schedule_opts(3), "SEED", seed, *TINY])
        with open(os.path.join(out, "metrics.json")) as f:
            runs.append([json.loads(line) for line in f if line.strip()])
    losses = [[r["total_loss"] for r in run if "total_loss" in r] for run in runs]
    assert losses[0] == losses[1] and losses[0] != losses[2]


@pytest.mark.slow
def test_table5_bench_smoke(tmp_path, tiny_synth):
    """bench/bench_table5.py end to end on a tiny schedule and a tiny synthetic set (one 12-frame
    validation video): every row trained, scored, tabled with intervals; a rerun reuses every
    finished row."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = tmp_path / "table5"
    cmd = [
        sys.executable,
        os.path.join(ROOT, "bench", "bench_table5.py"),
        "--seeds",
        "0",
        "--pretrain-iters",
        "2",
        "--iters",
        "1",
        "--scratch-iters",
        "1",
        "--bootstrap",
        "3",
        "--output",
        str(out),
        "--dataset-root",
        tiny_synth[0],
        *TINY,
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    data = json.loads((out / "table5.json").read_text())
    results = data["results"]
    assert [(r["stage"], r["row"]) for r in results] == [("scratch_1", 0), ("scratch_1", 1)] + [
        ("finetune_1", i) for i in (2, 3, 4)
    ]
    assert all(set(r) >= {"mAP", "MOTA", "seed", "model", "init", "iters"} for r in results)
    # Each row at the tried detection threshold with the best MOTA.
    for r in results:
        motas = [v["MOTA"] for v in r["by_thresh"].values()]
        assert r["MOTA"] == max(motas) and f"{r['det_thresh']:g}" in r["by_thresh"]
    # The frame subsets split the evaluated frames (blur is known: it is a synthetic set).
    frames = data["frames"]
    blur = [f.blurred for f in next(iter(tiny_synth[1]["val"].values())) if f.people]
    assert frames["blurred"] == sum(blur) and frames["sharp"] == len(blur) - sum(blur)
    assert frames["crowded"] + frames["uncrowded"] == len(blur)
    # Point estimates with intervals, and the 3D - 2D differences of each stage.
    # MOTA is finite whatever a 1-iteration model detects (-100 when it detects nothing), so
    # the difference is checked on a number; the mAP difference is NaN exactly when a row's is.
    analysis = data["analysis"]
    for metric in ("MOTA", "mAP"):
        diff = analysis["finetune_1 3 minus 2D"][metric]
        three_d, two_d = (analysis[f"finetune_1 {r}"][metric]["value"] for r in (3, 2))
        if metric == "MOTA":
            assert np.isfinite([diff["value"], three_d, two_d]).all()
        if np.isfinite(three_d - two_d):
            assert diff["value"] == pytest.approx(three_d - two_d)
        else:
            assert not np.isfinite(diff["value"])
        assert len(diff["ci"]) == 2
    table = (out / "table5.md").read_text()
    assert "| 3D (T = 3), centre inflation | 2D-pretrained | 1 |" in table
    assert table.count("\n| ") == 9  # header, 5 rows, 3 differences
    # The inflated rows started from the pretrained 2D model.
    assert _inflated(out / "finetune_1" / "seed0" / "row3" / "log.txt") > 0
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0 and "[table5]" not in p.stdout  # every row from its cache


def test_installed_package_finds_its_configs_outside_a_checkout(tmp_path):
    """`pip install .` (not editable) puts configs/ into the package: the demo's configs, and
    the _BASE_ chain of a paper config, load from there with no checkout on the path."""
    from detectron2_tubes.experiments.recipe import CONFIG_3D

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q"]
        + ["--target", str(target), os.path.abspath(ROOT)],
        check=True,
        capture_output=True,
    )
    script = (
        "import os, detectron2_tubes\n"
        "from detectron2_tubes.experiments.recipe import CONFIG_3D, quick_config\n"
        "from detectron2_tubes.engine import setup_cfg\n"
        "from detectron2_tubes.model_zoo import get_config_file\n"
        "print(os.path.dirname(detectron2_tubes.__file__))\n"
        "print(quick_config(CONFIG_3D))\n"
        "cfg = setup_cfg(get_config_file('tube_rcnn_R18_T3.yaml'))\n"
        "print(cfg.INPUT.CLIP.NUM_FRAMES, cfg.MODEL.META_ARCHITECTURE)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    package, config, built = out.stdout.split("\n")[:3]
    assert package == str(target / "detectron2_tubes")
    assert config == str(target / "detectron2_tubes" / "configs" / "quick_schedules" / CONFIG_3D)
    assert built == "3 TubeRCNN"
