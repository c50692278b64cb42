"""PoseTrackEvaluator and evaluation through train_net.py (the writer itself:\ntests/posetrack_core/test_writer.py)."""

import json
import os
import sys

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.engine import default_argument_parser
from detectron2.structures import Boxes, Instances

from detectron2_tubes.data import register_posetrack
from detectron2_tubes.data.clips import group_by_video
from detectron2_tubes.evaluation import PoseTrackEvaluator
from posetrack_core.tracking import PoseTracker

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, ROOT)


@pytest.fixture(scope="module")
def tiny_val(tiny_synth):
    root, _ = tiny_synth
    name = "tiny_synth_val_for_eval"
    if name not in DatasetCatalog.list():
        register_posetrack(name, os.path.join(root, "annotations", "val"), root)
        register_posetrack(
            "tiny_synth_train_for_eval", os.path.join(root, "annotations", "train"), root
        )
    return name, root


def _instances(ann_list, size):
    inst = Instances(size)
    inst.pred_boxes = Boxes(
        torch.tensor([a["bbox"] for a in ann_list], dtype=torch.float32).reshape(-1, 4)
    )
    inst.scores = torch.ones(len(ann_list))
    inst.pred_classes = torch.zeros(len(ann_list), dtype=torch.int64)
    kps = torch.tensor([a["keypoints"] for a in ann_list], dtype=torch.float32).reshape(-1, 17, 3)
    kps[..., 2] = (kps[..., 2] > 0).float()
    inst.pred_keypoints = kps
    return inst


@pytest.mark.parametrize("clip_outputs", [False, True])
def test_evaluator_tracks_writes_and_scores(tiny_val, tmp_path, clip_outputs):
    name, _ = tiny_val
    frames = DatasetCatalog.get(name)
    ev = PoseTrackEvaluator(
        name,
        str(tmp_path),
        tracker=PoseTracker(),
        keypoint_thresh=0.5,
        keypoint_thresh_on="prob",
        distributed=False,
    )
    ev.reset()
    for d in frames:
        inst = _instances(d["annotations"], (d["height"], d["width"]))
        empty = _instances([], (d["height"], d["width"]))
        out = {"instances": inst}
        if clip_outputs:  # the centre frame of a 3-frame clip is the key frame
            out = {"instances": None, "frames": [empty, inst, empty]}
        ev.process([{"video_id": d["video_id"], "frame_id": d["frame_id"]}], [out])
    res = ev.evaluate()["posetrack"]
    assert res["AP"] == pytest.approx(100.0) and res["MOTA"] == pytest.approx(100.0)
    assert {"AP-Head", "MOTA-Ankle", "MOTP", "Precision", "Recall"} <= set(res)
    written = os.listdir(tmp_path / "posetrack_predictions")
    assert written == [os.path.basename(frames[0]["annotation_file"])]
    assert (tmp_path / "posetrack_raw_predictions.npz").exists()


def _run_train_net(*argv):
    from tubes_cli import train_net

    args = default_argument_parser().parse_args(list(argv))
    return train_net.main(args)


TINY = [
    "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS",
    "[64,64]",
    "INPUT.MIN_SIZE_TEST",
    "160",
    "INPUT.MIN_SIZE_TRAIN",
    "(160,)",
    "DATASETS.TEST",
    "('tiny_synth_val_for_eval',)",
    "DATASETS.TRAIN",
    "('tiny_synth_train_for_eval',)",
    "TRACKING.DET_THRESH",
    "0.5",
]


# A random model's detections and joints are weak: write them all, so that there is something to
# score.
WRITE_ALL = ["TRACKING.DET_THRESH", "0.0", "TEST.POSETRACK.KEYPOINT_THRESH", "-1e9"]


def test_eval_only_prints_posetrack_metrics_for_tube_rcnn(tiny_val, tmp_path, caplog):
    torch.manual_seed(0)
    cfg = os.path.join(ROOT, "configs", "quick_schedules", "tube_rcnn_R18_T3_synth.yaml")
    # A random model saved as a checkpoint, then evaluated with --eval-only.
    from detectron2.modeling import build_model

    from detectron2_tubes.engine import setup_cfg

    model = build_model(setup_cfg(cfg, TINY))
    ckpt = str(tmp_path / "random.pth")
    torch.save({"model": model.state_dict()}, ckpt)
    res = _run_train_net(
        "--config-file",
        cfg,
        "--eval-only",
        *TINY,
        "MODEL.WEIGHTS",
        ckpt,
        "OUTPUT_DIR",
        str(tmp_path / "out"),
        *WRITE_ALL,
    )
    r = res["posetrack"]
    pred_dir = tmp_path / "out" / "inference" / "tiny_synth_val_for_eval" / "posetrack_predictions"
    assert os.listdir(pred_dir)
    # The same numbers as the evaluation tool run directly on the written files.
    _assert_equals_direct_evaluation(r, tiny_val[1], pred_dir, tmp_path / "direct.json")


def _assert_equals_direct_evaluation(result, root, pred_dir, metrics_json):
    from tubes_cli.eval_posetrack import main as eval_main

    gt_dir = os.path.join(root, "annotations", "val")
    assert eval_main(
        ["--groundTruth", gt_dir, "--predictions", str(pred_dir), "--output", str(metrics_json)]
    ) in (0, None)
    direct = json.loads(open(metrics_json).read())  # NaN is written as null
    direct = {
        k: ({n: np.nan if v is None else v for n, v in d.items()} if isinstance(d, dict) else d)
        for k, d in direct.items()
    }
    want = {
        "AP": direct["ap"]["total"],
        "MOTA": direct["mota"]["total"],
        "MOTP": direct["motp_total"],
        "Precision": direct["precision_total"],
        "Recall": direct["recall_total"],
    }
    for part in ("head", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
        want[f"AP-{part.capitalize()}"] = direct["ap"][part]
        want[f"MOTA-{part.capitalize()}"] = direct["mota"][part]
    assert set(result) == set(want) and np.isfinite(want["AP"]) and np.isfinite(want["MOTA"])
    for key, value in want.items():
        assert result[key] == pytest.approx(value, nan_ok=True, abs=1e-9), key


def test_eval_only_with_stock_detectron2_keypoint_rcnn(tiny_val, tmp_path):
    cfg = os.path.join(ROOT, "configs", "quick_schedules", "keypoint_rcnn_R18_FPN_synth.yaml")
    res = _run_train_net(
        "--config-file",
        cfg,
        "--eval-only",
        *TINY[2:],
        "TEST.DETECTIONS_PER_IMAGE",  # the stock keypoint head (8 x 512 convs) on 10 people
        "10",
        "OUTPUT_DIR",
        str(tmp_path / "out"),
        *WRITE_ALL,
    )
    pred_dir = tmp_path / "out" / "inference" / "tiny_synth_val_for_eval" / "posetrack_predictions"
    _assert_equals_direct_evaluation(res["posetrack"], tiny_val[1], pred_dir, tmp_path / "m.json")


@pytest.mark.slow
def test_eval_hook_during_training(tiny_val, tmp_path):
    cfg = os.path.join(ROOT, "configs", "quick_schedules", "tube_rcnn_R18_T3_synth.yaml")
    from detectron2_tubes.engine import TubeTrainer
    from tubes_cli import train_net

    args = default_argument_parser().parse_args(
        [
            "--config-file",
            cfg,
            *TINY,
            "SOLVER.MAX_ITER",
            "4",
            "TEST.EVAL_PERIOD",
            "4",
            "OUTPUT_DIR",
            str(tmp_path),
        ]
    )
    trainer = TubeTrainer(train_net.setup(args))
    trainer.train()
    latest = trainer.storage.latest()
    assert "posetrack/MOTA" in latest and "posetrack/AP" in latest


def test_threshold_sweep_tool(tiny_val, tmp_path, capsys):
    from tubes_cli.sweep_thresholds import main as sweep_main

    name, _ = tiny_val
    frames = DatasetCatalog.get(name)
    ev = PoseTrackEvaluator(name, str(tmp_path), distributed=False)
    for d in frames:
        inst = _instances(d["annotations"], (d["height"], d["width"]))
        inst.scores = torch.linspace(0.6, 1.0, len(inst))  # the lowest-scoring person at 0.6
        ev.process([{"video_id": d["video_id"], "frame_id": d["frame_id"]}], [{"instances": inst}])
    ev.evaluate()
    raw = str(tmp_path / "posetrack_raw_predictions.npz")
    assert (
        sweep_main(
            [
                "--raw",
                raw,
                "--dataset",
                name,
                "--det-thresh",
                "0.5",
                "0.95",
                "--keypoint-thresh",
                "none",
                "0.5",
                "TEST.POSETRACK.KEYPOINT_THRESH_ON",
                "prob",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 0.")]
    assert len(rows) == 4
    # Keeping every detection and only labelled joints reproduces the ground truth exactly.
    assert "| 0.5 | 0.5 | 100.0 | 100.0 |" in rows
    assert "Best MOTA 100.0 (mAP 100.0) at detection threshold 0.5, keypoint threshold 0.5" in out
    (tmp_path / "bad.pkl").write_bytes(b"nope")
    assert sweep_main(["--raw", str(tmp_path / "bad.pkl"), "--dataset", name]) == 2


def test_evaluator_reports_posetrack21_hota_for_posetrack21_files(tiny_val, tmp_path):
    name, root = tiny_val
    # The same ground truth as a PoseTrack21 file (its "person_id" and "has_labeled_person").
    (frames,) = group_by_video(DatasetCatalog.get(name))
    with open(frames[0]["annotation_file"]) as f:
        data = json.load(f)
    for a in data["annotations"]:
        a["person_id"] = 1000 + a["track_id"]
    for img in data["images"]:
        img["has_labeled_person"] = img["is_labeled"]
    ann_dir = tmp_path / "pt21"
    ann_dir.mkdir()
    (ann_dir / os.path.basename(frames[0]["annotation_file"])).write_text(json.dumps(data))
    register_posetrack("tiny_synth_val_pt21", str(ann_dir), root)

    def run(dataset, **kwargs):
        ev = PoseTrackEvaluator(
            dataset,
            str(tmp_path / dataset),
            tracker=PoseTracker(det_thresh=0.5),
            keypoint_thresh=0.5,
            keypoint_thresh_on="prob",
            distributed=False,
            **kwargs,
        )
        ev.reset()
        for d in DatasetCatalog.get(dataset):
            inst = _instances(d["annotations"], (d["height"], d["width"]))
            ev.process(
                [{"video_id": d["video_id"], "frame_id": d["frame_id"]}], [{"instances": inst}]
            )
        return ev.evaluate()["posetrack"]

    res = run("tiny_synth_val_pt21")  # detected from the files
    assert res["AP"] == pytest.approx(100.0) and res["MOTA"] == pytest.approx(100.0)
    for k in ("HOTA", "DetA", "AssA", "LocA", "DetRe", "AssPr", "HOTA(0)", "HOTA-Nose", "HOTA-RA"):
        assert res[k] == pytest.approx(100.0), k
    assert "HOTA" not in run(name)  # a PoseTrack 2018 dataset: the 2018 metrics only
    assert run(name, benchmark="posetrack21")["HOTA"] == pytest.approx(100.0)
