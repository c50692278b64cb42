"""The PoseTrack writer (`posetrack_core.evaluation.writer`): every frame in order, the three
formats, the thresholds and the track-id rule, the paper's logit cut, and `track_and_write`
(track each video's raw detections, write one file per video)."""

import json
import os

import numpy as np
import pytest

from posetrack_core.evaluation import evaluate_posetrack, track_and_write, write_posetrack_video
from posetrack_core.evaluation.hota_pose import evaluate_posetrack21
from posetrack_core.posetrack_json import read_posetrack_file
from posetrack_core.tracking import Detections, PoseTracker


@pytest.fixture(scope="module")
def tiny_val(tiny_synth):
    """(root, the validation video's per-frame dicts as the writer takes them)."""
    root, _ = tiny_synth
    val = os.path.join(root, "annotations", "val")
    (name,) = sorted(os.listdir(val))
    return root, _frames(os.path.join(val, name), root)


def _frames(path, root):
    """A ground-truth file's frames as the writer takes them (the keys Detectron2's dataset dicts
    have), with each person's box, joints (visibility 2 where labelled) and track id."""
    pt = read_posetrack_file(path, "annotation")
    frames = []
    for f in pt.frames:
        anns = []
        for p in f.people:
            kps = np.zeros((17, 3))
            kps[p.present, :2], kps[p.present, 2] = p.keypoints[p.present, :2], 2.0
            anns.append({"bbox": list(p.bbox), "keypoints": kps.reshape(-1).tolist(),
                         "track_id": p.track_id})  # fmt: skip
        frames.append({"file_name": os.path.join(root, f.file_name), "image_id": f.image_id,
                       "frame_id": f.index, "video_id": pt.video_id, "annotation_file": path,
                       "annotations": anns})  # fmt: skip
    return frames


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
    root, frames = tiny_val
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
    root, frames = tiny_val
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
    _, frames = tiny_val
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


def test_track_and_write_tracks_each_video_and_names_its_file(tiny_val, tmp_path):
    """Raw per-frame detections (no track ids) tracked and written, one file per video named
    like its ground truth; a frame without detections is written empty; the ground truth
    tracked this way scores 100 (each person keeps one id from frame to frame)."""
    root, frames = tiny_val
    raw = {frames[0]["video_id"]: _gt_predictions(frames)}
    for dets in raw[frames[0]["video_id"]].values():
        dets.track_ids = None
    del raw[frames[0]["video_id"]][frames[-1]["frame_id"]]  # the last frame: nothing detected
    tracker = PoseTracker(det_thresh=0.5, min_area=0)
    (path,) = track_and_write(raw, [frames], str(tmp_path), tracker, image_root=root,
                              keypoint_thresh=0.5, keypoint_thresh_on="prob")  # fmt: skip
    assert path == str(tmp_path / os.path.basename(frames[0]["annotation_file"]))
    data = json.loads(open(path).read())
    assert len(data["images"]) == len(frames)
    last = frames[-1]["image_id"]
    assert not [a for a in data["annotations"] if a["image_id"] == last]
    assert {a["track_id"] for a in data["annotations"]} <= set(range(1000))
    res = evaluate_posetrack(os.path.dirname(frames[0]["annotation_file"]), str(tmp_path))
    assert res["ap"][-1] > 90 and res["mota"][-1] > 90
