"""train_net.py end to end on the synthetic split (CPU): training, resuming, multi-process."""

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
QUICK_T3 = os.path.join(ROOT, "configs", "quick_schedules", "tube_rcnn_R18_T3_synth.yaml")
# Smaller than the quick schedule so that the test takes seconds per iteration at most.
# No DATASETS.TEST: Detectron2 evaluates at the end of training (tests/detectron2_tubes/test_evaluator.py covers it).
TINY = [
    "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS",
    "[32,32]",
    "INPUT.MIN_SIZE_TRAIN",
    "(128,)",
    "INPUT.MIN_SIZE_TEST",
    "128",
    "SOLVER.WARMUP_ITERS",
    "5",
    "SOLVER.IMS_PER_BATCH",  # 2 clips: the losses still fall within 40 iterations, in half the time
    "2",
    "SEED",
    "7",
    "DATASETS.TEST",
    "()",
]


def _train_net(*args, timeout=600):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train_net.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


def _metrics(out_dir):
    with open(os.path.join(out_dir, "metrics.json")) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.slow
def test_trains_from_scratch_losses_fall_then_resumes(tmp_path):
    out = str(tmp_path / "run")
    _train_net(
        "--config-file",
        QUICK_T3,
        *TINY,
        "SOLVER.MAX_ITER",
        "40",
        "SOLVER.CHECKPOINT_PERIOD",
        "20",
        "OUTPUT_DIR",
        out,
    )
    records = [r for r in _metrics(out) if "total_loss" in r]
    assert [r["iteration"] for r in records] == [19, 39]
    names = ["loss_cls", "loss_box_reg", "loss_keypoint", "loss_rpn_cls", "loss_rpn_loc"]
    for r in records:
        assert all(math.isfinite(r[n]) for n in names + ["total_loss"])
    first, last = records[0], records[-1]
    for n in ("total_loss", "loss_keypoint", "loss_rpn_cls"):
        assert last[n] < first[n], (n, first[n], last[n])
    assert {"model_0000019.pth", "model_0000039.pth", "model_final.pth", "last_checkpoint"} <= set(
        os.listdir(out)
    )

    log = _train_net(
        "--config-file",
        QUICK_T3,
        "--resume",
        *TINY,
        "SOLVER.MAX_ITER",
        "50",
        "SOLVER.CHECKPOINT_PERIOD",
        "20",
        "OUTPUT_DIR",
        out,
    )
    assert "model_final.pth" in log.split("Loading from", 1)[1][:300]
    resumed = [r["iteration"] for r in _metrics(out) if "total_loss" in r]
    assert resumed == [19, 39, 49]  # continued at 40, not from 0


@pytest.mark.slow
def test_two_process_training_on_cpu_with_launch(tmp_path):
    out = str(tmp_path / "ddp")
    log = _train_net(
        "--dist-url",
        "auto",
        "--num-gpus",
        "2",
        "--config-file",
        QUICK_T3,
        *TINY,
        "SOLVER.MAX_ITER",
        "3",
        "SOLVER.IMS_PER_BATCH",
        "2",
        "OUTPUT_DIR",
        out,
    )
    assert "world size: 2" in log.lower() or "Rank of current process: 0. World size: 2" in log
    assert os.path.isfile(os.path.join(out, "model_final.pth"))


def test_help_and_bad_config():
    assert "--config-file" in _train_net("--help")
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "train_net.py"),
            "--config-file",
            "configs/does_not_exist.yaml",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2
    assert "config file configs/does_not_exist.yaml does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "train_net.py"),
            "--config-file",
            QUICK_T3,
            "--eval-only",
            "MODEL.WEIGHTS",
            "/nowhere/model.pth",
            "OUTPUT_DIR",
            "/nowhere/out",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith("MODEL.WEIGHTS /nowhere/model.pth does not exist")
    )
    assert not os.path.exists("/nowhere")


def test_optimizer_choice():
    import torch
    from detectron2.modeling import build_model

    from detectron2_tubes.engine import TubeTrainer, setup_cfg

    tiny = ["MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", "[32]"]
    model = build_model(setup_cfg(QUICK_T3, tiny))
    adamw = TubeTrainer.build_optimizer(setup_cfg(QUICK_T3, tiny), model)
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["lr"] == 0.002
    sgd = TubeTrainer.build_optimizer(
        setup_cfg(QUICK_T3, [*tiny, "SOLVER.OPTIMIZER", "SGD"]), model
    )
    assert isinstance(sgd, torch.optim.SGD)
    with pytest.raises(ValueError, match="SOLVER.OPTIMIZER must be SGD or ADAMW"):
        TubeTrainer.build_optimizer(setup_cfg(QUICK_T3, [*tiny, "SOLVER.OPTIMIZER", "LAMB"]), model)


def test_weights_without_a_backbone_are_a_one_line_error(tmp_path):
    import torch

    ckpt = str(tmp_path / "lstm.pth")
    torch.save({"model": {"lstm.weight_ih_l0": torch.zeros(8, 4)}}, ckpt)
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "train_net.py"),
            "--config-file",
            QUICK_T3,
            "MODEL.WEIGHTS",
            ckpt,
            "OUTPUT_DIR",
            str(tmp_path / "out"),
            "DATASETS.TEST",
            "()",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("train_net.py: error: " + ckpt + ": no backbone weight"), last


@pytest.mark.slow
def test_two_process_evaluation_equals_one_process(tmp_path):
    """--eval-only with 2 processes (Gloo on CPU; the test set sharded, the evaluator gathering
    its frames with comm.gather) scores exactly as 1 process. The data is a tiny synthetic set in
    PoseTrack 2018's layout under $DETECTRON2_DATASETS, read through the built-in posetrack18_val.
    """
    import torch
    from detectron2.modeling import build_model

    from detectron2_tubes.engine import setup_cfg
    from posetrack_core.synthetic import generate_synthetic_posetrack

    generate_synthetic_posetrack(
        str(tmp_path / "datasets" / "posetrack18"),
        num_videos=1,
        num_frames=12,
        seed=5,
        num_val_videos=1,  # one video, split between the two processes
    )
    torch.manual_seed(0)
    # A random model at these sizes finds some of the people (at 128 px, none): enough to score.
    opts = TINY[:-2] + ["DATASETS.TEST", "('posetrack18_val',)", "INPUT.MIN_SIZE_TEST", "160",
                        "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", "[64,64]"]  # fmt: skip
    model = build_model(setup_cfg(QUICK_T3, opts))
    with torch.no_grad():  # spread the random scores so that the tracker keeps some
        model.roi_heads.box_predictor.cls_score.weight.normal_(0, 0.05)
    ckpt = str(tmp_path / "random.pth")
    torch.save({"model": model.state_dict()}, ckpt)
    os.environ["DETECTRON2_DATASETS"] = str(tmp_path / "datasets")
    results = []
    try:
        for n in (1, 2):
            out = tmp_path / f"eval_{n}"
            log = _train_net(
                "--dist-url",
                "auto",  # a free port: never the fixed default one another run may hold
                "--num-gpus",
                str(n),
                "--config-file",
                QUICK_T3,
                "--eval-only",
                *opts,
                "MODEL.WEIGHTS",
                ckpt,
                "TRACKING.DET_THRESH",
                "0.3",
                "TEST.POSETRACK.KEYPOINT_THRESH",
                "-1e9",
                "OUTPUT_DIR",
                str(out),
            )
            folder = out / "inference" / "posetrack18_val"
            with open(folder / "posetrack_metrics.json") as f:
                metrics = json.load(f)
            files = {
                name: (folder / "posetrack_predictions" / name).read_text()
                for name in sorted(os.listdir(folder / "posetrack_predictions"))
            }
            results.append((metrics, files))
            assert f"World size: {n}" in log
    finally:
        del os.environ["DETECTRON2_DATASETS"]
    (m1, f1), (m2, f2) = results
    assert len(f1) == 1 and m1["Precision"] > 0 and m1["Recall"] > 0, m1
    assert m2 == m1  # every metric, to the last digit
    assert f2 == f1  # and the same PoseTrack files
