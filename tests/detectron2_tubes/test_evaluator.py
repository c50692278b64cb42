"""The PoseTrack writer, PoseTrackEvaluator, and evaluation through train_net.py."""

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
from posetrack_core.evaluation import evaluate_posetrack, write_posetrack_video
from posetrack_core.evaluation.hota_pose import evaluate_posetrack21
from posetrack_core.tracking import Detections, PoseTracker

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


def _gt_predictions(frames):
    """Ground truth as tracked predictions: frame_id -> arrays (scores 1, keypoint scores 1)."""
    preds = {}
    for d in frames:
        anns = d["annotations"]
        kps = np.array([a["keypoints"] for a in anns], float).reshape(-1, 17, 3)
        kps[..., 2] = np.where(kps[..., 2] > 0, 1.0, 0.0)
        preds[d["frame_id"]] = Detections(
            np.array([a["bbox"] for a in anns]).reshape(-1, 4),
            np.ones(len(anns)),
            kps,
            track_ids=np.array([a["track_id"] for a in anns]),
        )
    return preds


@pytest.mark.parametrize("fmt", ["2018", "2017", "2021"])
def test_writer_round_trip_scores_100(tiny_val, tmp_path, fmt):
    name, root = tiny_val
    (frames,) = group_by_video(DatasetCatalog.get(name))
    gt_file = frames[0]["annotation_file"]
    out = tmp_path / "pred" / os.path.basename(gt_file)
    # Unlabelled ground-truth joints carry score 0: the keypoint threshold leaves them out.
    write_posetrack_video(
        str(out),
        frames,
        _gt_predictions(frames),
        image_root=root,
        fmt=fmt,
        keypoint_thresh=0.5,
        keypoint_thresh_on="prob",
    )
    data = json.loads(out.read_text())
    if fmt in ("2018", "2021"):
        assert [im["file_name"] for im in data["images"]] == [
            os.path.relpath(d["file_name"], root) for d in frames
        ]  # every frame, in order
        assert data["categories"][0]["keypoints"][1:3] == ["head_bottom", "head_top"]
    else:
        assert len(data["annolist"]) == len(frames)
    res = evaluate_posetrack(os.path.dirname(gt_file), str(tmp_path / "pred"))
    assert res["ap"][-1] == pytest.approx(100.0) and res["mota"][-1] == pytest.approx(100.0)
    assert os.listdir(tmp_path / "pred") == [os.path.basename(gt_file)]  # nothing half-written
    if fmt == "2021":  # and the PoseTrack21 kit's metric reads it
        hota = evaluate_posetrack21(os.path.dirname(gt_file), str(tmp_path / "pred"))
        assert hota["HOTA"][-1] == pytest.approx(100.0)


def test_writer_thresholds_and_id_rule(tiny_val, tmp_path):
    name, root = tiny_val
    (frames,) = group_by_video(DatasetCatalog.get(name))
    preds = _gt_predictions(frames)
    fid = next(f for f, p in preds.items() if len(p) >= 2)
    preds[fid].scores[0] = 0.3
    preds[fid].keypoints[1, :, 2] = np.linspace(0, 1, 17)
    out = tmp_path / "p.json"
    write_posetrack_video(
        str(out), frames, preds, det_thresh=0.5, keypoint_thresh=0.5, keypoint_thresh_on="prob"
    )
    data = json.loads(out.read_text())
    image_id = next(d["image_id"] for d in frames if d["frame_id"] == fid)
    anns = [a for a in data["annotations"] if a["image_id"] == image_id]
    assert len(anns) == len(preds[fid]) - 1  # the 0.3 detection is gone
    k = np.array(anns[0]["keypoints"]).reshape(17, 3)
    low = np.linspace(0, 1, 17) < 0.5
    assert not k[low].any() and (k[~low & (np.arange(17) > 4), 2] == 1).all()
    # A frame without predictions is still written, with no people.
    empty_fid = next(f for f in preds if f != fid)
    del preds[empty_fid]
    write_posetrack_video(str(out), frames, preds)
    data = json.loads(out.read_text())
    empty_image = next(d["image_id"] for d in frames if d["frame_id"] == empty_fid)
    assert len(data["images"]) == len(frames)
    assert not [a for a in data["annotations"] if a["image_id"] == empty_image]
    preds[fid].track_ids[-1] = 1000
    with pytest.raises(ValueError, match="track id 1000 outside 0..999"):
        write_posetrack_video(str(tmp_path / "q.json"), frames, preds)
    assert not (tmp_path / "q.json").exists()


def test_writer_cuts_joints_on_the_heatmap_logit_and_scores_them_by_the_box(tiny_val, tmp_path):
    """Item 1c: the paper's cut applies to the heatmap logit, not the probability; each written
    joint carries the box score (the release's KEYPOINT_CONFIDENCE bbox) or, as an option, its
    own probability."""
    name, _ = tiny_val
    (frames,) = group_by_video(DatasetCatalog.get(name))
    fid = frames[0]["frame_id"]
    probs = np.linspace(0.05, 0.9, 17)
    logits = np.linspace(4.0, 0.0, 17)  # high logit where the probability is low, and vice versa
    kps = np.zeros((1, 17, 3))
    kps[0, :, 0], kps[0, :, 1], kps[0, :, 2] = np.arange(17) + 10, np.arange(17) + 20, probs
    preds = {
        fid: Detections(
            np.array([[5.0, 5, 60, 90]]),
            np.array([0.8]),
            kps,
            keypoint_logits=logits[None],
            track_ids=np.array([3]),
        )
    }
    out = tmp_path / "p.json"
    write_posetrack_video(str(out), frames, preds, keypoint_thresh=1.95)
    (ann,) = json.loads(out.read_text())["annotations"]
    kept = np.array(ann["keypoints"]).reshape(17, 3)[:, 2] > 0
    evaluated = ~np.isin(np.arange(17), [3, 4])  # no ears in PoseTrack
    expected = (logits >= 1.95) & evaluated
    assert (kept == expected).all() and expected.sum() == 7
    assert ann["scores"] == [0.8 if k else 0.0 for k in expected]
    write_posetrack_video(
        str(out),
        frames,
        preds,
        keypoint_thresh=0.5,
        keypoint_thresh_on="prob",
        keypoint_score="prob",
    )
    (ann,) = json.loads(out.read_text())["annotations"]
    expected = (probs >= 0.5) & evaluated
    assert ann["scores"] == pytest.approx([p if k else 0.0 for p, k in zip(probs, expected)])
    preds[fid].keypoint_logits = None
    with pytest.raises(ValueError, match="heatmap logits"):
        write_posetrack_video(str(tmp_path / "q.json"), frames, preds, keypoint_thresh=1.95)
    assert not (tmp_path / "q.json").exists()
    with pytest.raises(ValueError, match="keypoint_score"):
        write_posetrack_video(str(out), frames, preds, keypoint_score="logit")


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
