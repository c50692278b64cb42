"""Clip and video predictors, and the track_video tool, with small random models."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from detectron2_tubes.engine import (
    ClipPredictor,
    VideoPredictor,
    VideoReadError,
    read_frames,
    setup_cfg,
)
from posetrack_core.evaluation import evaluate_posetrack
from posetrack_core.tracking import Detections
from tubes_cli.track_video import main as track_video_main

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
QUICK = os.path.join(ROOT, "configs", "quick_schedules")
OPTS = [
    "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS",
    "[32,32]",
    "INPUT.MIN_SIZE_TEST",
    "120",
    "TRACKING.DET_THRESH",
    "0.3",
    "TEST.DETECTIONS_PER_IMAGE",
    "10",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random tiny Tube R-CNN saved as a checkpoint (MODEL.WEIGHTS for the predictors)."""
    from detectron2.modeling import build_model

    torch.manual_seed(0)
    cfg = setup_cfg(os.path.join(QUICK, "tube_rcnn_R18_T3_synth.yaml"), OPTS)
    model = build_model(cfg)
    with torch.no_grad():  # spread the random scores so that some pass the thresholds
        model.roi_heads.box_predictor.cls_score.weight.normal_(0, 0.05)
    path = str(tmp_path_factory.mktemp("ckpt") / "tiny.pth")
    torch.save({"model": model.state_dict()}, path)
    return path


def _cfg(checkpoint, *extra, config="tube_rcnn_R18_T3_synth.yaml"):
    return setup_cfg(os.path.join(QUICK, config), OPTS + ["MODEL.WEIGHTS", checkpoint, *extra])


def _frames(n, h=90, w=160):
    rng = np.random.default_rng(n)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_clip_predictor_outputs_in_input_coordinates(checkpoint):
    pred = ClipPredictor(_cfg(checkpoint))
    out = pred(_frames(3, 240, 400))
    inst = out["instances"]
    assert inst.image_size == (240, 400) and len(out["frames"]) == 3
    assert len(inst) > 0 and inst.pred_keypoints.shape[1:] == (3, 17, 3)
    t = inst.pred_tubes.tensor
    assert (t[..., 0::2] <= 400).all() and (t[..., 1::2] <= 240).all() and (t >= 0).all()
    # The same clip resized to the 120 px test size, through the model without post-processing:
    # the predictor's tubes and joints are those, scaled back by 400 / 200 and 240 / 120.
    model_input = pred.model_input(_frames(3, 240, 400))
    assert tuple(model_input["image"].shape[-2:]) == (120, 200)
    with torch.no_grad():
        raw = pred.model.inference([model_input], do_postprocess=False)[0]
    kept = raw.pred_tubes.frame_nonempty().any(dim=1)
    assert kept.sum() == len(inst)
    assert torch.allclose(t, raw.pred_tubes.tensor[kept] * 2.0, atol=1e-3)
    assert torch.allclose(
        inst.pred_keypoints[..., :2], raw.pred_keypoints[kept][..., :2] * 2.0, atol=1e-3
    )
    with pytest.raises(ValueError, match="clips of 3 frames"):
        pred(_frames(2))


def test_stock_detectron2_model_in_the_clip_predictor():
    cfg = setup_cfg(
        os.path.join(QUICK, "keypoint_rcnn_R18_FPN_synth.yaml"), ["INPUT.MIN_SIZE_TEST", "120"]
    )
    pred = ClipPredictor(cfg)
    out = pred(_frames(1, 120, 160))
    assert pred.num_frames == 1 and len(out["frames"]) == 1 and out["frames"][0] is out["instances"]


class Recording(ClipPredictor):
    """The real predictor, remembering which frames each clip was made of."""

    def __init__(self, cfg, frames):
        super().__init__(cfg)
        self.ids = {id(f): i for i, f in enumerate(frames)}
        self.recorded, self.prepared, self.outputs = [], [], []

    def prepare(self, frame):
        self.prepared.append(self.ids[id(frame)])
        return super().prepare(frame)

    def predict_batch(self, clips, prepared=None):
        self.recorded += [[self.ids[id(f)] for f in c] for c in clips]
        outputs = super().predict_batch(clips, prepared)
        self.outputs += outputs
        return outputs


@pytest.mark.parametrize("batch_size", [1, 2])
def test_dense_and_strided_windows(checkpoint, batch_size):
    cfg = _cfg(checkpoint)
    frames = _frames(7)
    rec = Recording(cfg, frames)
    out = list(VideoPredictor(cfg, predictor=rec, batch_size=batch_size)(frames))
    assert [i for i, _, _ in out] == list(range(7))
    assert all(f is frames[i] for i, f, _ in out)
    assert rec.recorded == [
        [0, 0, 1],
        [0, 1, 2],
        [1, 2, 3],
        [2, 3, 4],
        [3, 4, 5],
        [4, 5, 6],
        [5, 6, 6],
    ]
    assert all(inst.has("track_ids") for _, _, inst in out)
    rec.recorded = []
    out = list(VideoPredictor(cfg, predictor=rec, mode="strided", batch_size=batch_size)(frames))
    assert [i for i, _, _ in out] == list(range(7))
    # Each frame run once (the last repeated).
    assert rec.recorded == [[0, 1, 2], [3, 4, 5], [6, 6, 6]]


def test_track_gives_the_tracked_detections_beside_the_instances(checkpoint):
    """`VideoPredictor.track`: the tracker's own `Detections` (what the writer takes) are the
    tracked `Instances`, field for field, with the same track ids."""
    cfg = _cfg(checkpoint)
    frames = _frames(5)
    out = list(VideoPredictor(cfg).track(frames))
    assert [i for i, _, _, _ in out] == list(range(5))
    assert sum(len(inst) for _, _, inst, _ in out) > 0  # something was tracked
    for _, _, inst, tracked in out:
        again = Detections.from_instances(inst)
        assert tracked.track_ids.tolist() == inst.ID == inst.track_ids.tolist()
        np.testing.assert_array_equal(tracked.boxes, again.boxes)
        np.testing.assert_array_equal(tracked.scores, again.scores)
        np.testing.assert_array_equal(tracked.keypoints, again.keypoints)


def test_channels_last_clip_model_gives_the_contiguous_outputs(checkpoint):
    cfg = _cfg(checkpoint, "TEST.DETECTIONS_PER_IMAGE", "20")
    predictor = ClipPredictor(cfg)
    conv = predictor.model.backbone.res3[0].conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last_3d) and not conv.is_contiguous()
    clip = _frames(3)
    fast = predictor(clip)["frames"]
    predictor.model.to(memory_format=torch.contiguous_format)
    plain = predictor(clip)["frames"]
    assert sum(len(f) for f in plain) > 0
    for a, b in zip(fast, plain):
        assert torch.equal(a.pred_classes, b.pred_classes)
        assert torch.allclose(a.pred_boxes.tensor, b.pred_boxes.tensor, atol=1e-3)
        assert torch.allclose(a.scores, b.scores, atol=1e-5)
        assert torch.allclose(a.pred_keypoints, b.pred_keypoints, atol=1e-3)


def test_dense_mode_resizes_each_frame_once_with_the_plain_outputs(checkpoint):
    """Frames prepared once for the T clips sharing them, under inference_mode, give exactly
    what the plain path gives: every clip resized from its frames, under no_grad."""
    cfg = _cfg(checkpoint)
    frames = _frames(6)
    rec = Recording(cfg, frames)
    list(VideoPredictor(cfg, predictor=rec, heads_on_tracked_only=False)(frames))
    assert rec.prepared == list(range(6))  # once each, in order
    plain = ClipPredictor(cfg)
    checked = 0
    for clip_ids, out in zip(rec.recorded, rec.outputs):
        with torch.no_grad():
            (ref,) = plain.model([plain.model_input([frames[i] for i in clip_ids])])
        for a, b in zip(out["frames"], ref["frames"]):
            assert torch.equal(a.pred_boxes.tensor, b.pred_boxes.tensor)
            assert torch.equal(a.scores, b.scores)
            assert torch.equal(a.pred_keypoints, b.pred_keypoints)
            checked += len(a)
    assert checked > 0


@pytest.mark.parametrize("mode", ["dense", "strided"])
def test_keypoints_only_on_tracked_detections_give_the_same_tracks(checkpoint, mode):
    """The keypoint head runs only on detections the tracker keeps; what is tracked is the same
    (boxes, scores, keypoints, heatmap logits, ids) as when it runs on every detection."""
    cfg = _cfg(checkpoint)  # TRACKING.DET_THRESH 0.3: the random model scores 0.2 to 0.4
    frames = _frames(5, 120, 160)
    runs = {}
    for only in (False, True):
        predictor = ClipPredictor(cfg)
        rois = []
        predictor.model.roi_heads.keypoint_head.register_forward_hook(
            lambda m, i, o: rois.append(len(i[0]))
        )
        video = VideoPredictor(cfg, predictor=predictor, mode=mode, heads_on_tracked_only=only)
        runs[only] = ([inst for _, _, inst in video(frames)], sum(rois))
    (plain, plain_rois), (fast, fast_rois) = runs[False], runs[True]
    assert sum(len(i) for i in fast) > 0 and fast_rois < plain_rois
    for a, b in zip(plain, fast):
        assert a.track_ids.tolist() == b.track_ids.tolist()
        assert torch.equal(a.pred_boxes.tensor, b.pred_boxes.tensor) and torch.equal(
            a.scores, b.scores
        )
        # The keypoint head sees a smaller batch: float results may differ in the last bits.
        assert torch.allclose(a.pred_keypoints, b.pred_keypoints, rtol=1e-4, atol=1e-4)
        assert torch.allclose(a.pred_keypoint_logits, b.pred_keypoint_logits, rtol=1e-4, atol=1e-4)


def test_video_shorter_than_t_and_stride(checkpoint):
    cfg = _cfg(checkpoint, "INPUT.CLIP.FRAME_STRIDE", "2")
    frames = _frames(2)
    rec = Recording(cfg, frames)
    out = list(VideoPredictor(cfg, predictor=rec)(frames))
    assert [i for i, _, _ in out] == [0, 1] and rec.recorded == [[0, 0, 1], [0, 1, 1]]


def _write_video(path, frames, fourcc):
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), 10, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()


@pytest.mark.parametrize("ext,fourcc", [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_track_video_on_video_files(checkpoint, tmp_path, ext, fourcc):
    frames = _frames(6, 120, 160)
    src = str(tmp_path / f"clip{ext}")
    _write_video(src, frames, fourcc)
    out = tmp_path / "out"
    assert (
        track_video_main(
            [
                "--config-file",
                os.path.join(QUICK, "tube_rcnn_R18_T3_synth.yaml"),
                "--input",
                src,
                "--output",
                str(out),
                "--batch-size",
                "2",
                *OPTS,
                "MODEL.WEIGHTS",
                checkpoint,
            ]
        )
        == 0
    )
    assert sorted(os.listdir(out)) == ["clip.json", "clip.mp4"]
    data = json.loads((out / "clip.json").read_text())
    assert len(data["images"]) == 6 and data["categories"][0]["keypoints"][1] == "head_bottom"
    assert all(0 <= a["track_id"] < 1000 for a in data["annotations"])
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert (
        int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
        and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 160
    )


def test_track_video_on_frames_is_readable_by_the_evaluator(checkpoint, tiny_synth, tmp_path):
    root, _ = tiny_synth
    seq = sorted(os.listdir(os.path.join(root, "images", "val")))[0]
    out = tmp_path / "out"
    assert (
        track_video_main(
            [
                "--config-file",
                os.path.join(QUICK, "tube_rcnn_R18_T3_synth.yaml"),
                "--input",
                os.path.join(root, "images", "val", seq),
                "--output",
                str(out),
                "--mode",
                "strided",
                "--no-video",
                *OPTS,
                "MODEL.WEIGHTS",
                checkpoint,
            ]
        )
        == 0
    )
    assert os.listdir(out) == [f"{seq}.json"]
    res = evaluate_posetrack(os.path.join(root, "annotations", "val"), str(out))
    assert res["num_frames"] > 0 and np.isfinite(res["mota"][-1])


def test_unreadable_or_missing_input_writes_nothing(checkpoint, tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x01not a video" * 100)
    out = tmp_path / "out"
    args = [
        "--config-file",
        os.path.join(QUICK, "tube_rcnn_R18_T3_synth.yaml"),
        "--output",
        str(out),
        *OPTS,
        "MODEL.WEIGHTS",
        checkpoint,
    ]
    assert track_video_main(["--input", str(bad), *args]) == 2
    assert "broken.mp4: cannot read video" in capsys.readouterr().err
    assert not out.exists() or not os.listdir(out)
    empty = tmp_path / "frames"
    empty.mkdir()
    assert track_video_main(["--input", str(empty), *args]) == 2
    assert "no image files" in capsys.readouterr().err
    with pytest.raises(VideoReadError, match="no such video"):
        read_frames(str(tmp_path / "missing.avi"))
    env = dict(os.environ, PYTHONPATH=ROOT)
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "tubes_cli.track_video",
            "--input",
            str(tmp_path / "missing.avi"),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert p.returncode == 2 and "missing.avi does not exist" in p.stderr
    # Missing weights: one line naming the path, nothing written.
    frames_dir = tmp_path / "frames_ok"
    frames_dir.mkdir()
    cv2.imwrite(str(frames_dir / "000000.jpg"), _frames(1)[0])
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "tubes_cli.track_video",
            "--input",
            str(frames_dir),
            *args[:-1],
            str(tmp_path / "no_model.pth"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert (
        p.stderr.strip()
        .splitlines()[-1]
        .endswith(f"MODEL.WEIGHTS {tmp_path / 'no_model.pth'} does not exist")
    )
    assert not out.exists() or not os.listdir(out)
