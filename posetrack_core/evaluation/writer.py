"""Write tracked per-frame predictions as PoseTrack 2018, 2021 or 2017 prediction files."""

import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..io import write_json_atomic
from ..keypoints import EVALUATED_SLOTS, NUM_KEYPOINTS, POSETRACK17_TO_COCO, posetrack_categories
from ..tracking.detections import Detections
from ..tracking.tracker import PoseTracker, track_frames

__all__ = ["write_posetrack_video", "track_and_write", "KEYPOINT_SCORES"]

KEYPOINT_SCORES = ("box", "prob")
_EVALUATED = np.isin(np.arange(NUM_KEYPOINTS), EVALUATED_SLOTS)


def _frame_entries(
    pred: Optional[Detections],
    det_thresh: float,
    kp_thresh: Optional[float],
    kp_thresh_on: str,
    kp_score: str,
):
    """(track id, box score, box, keypoints (17, 3) with the written joint scores, kept joints)."""
    if pred is None or len(pred) == 0:
        return []
    if pred.track_ids is None:
        raise ValueError("the detections to write carry no track ids (track them first)")
    out = []
    kps_all, logits_all = pred.keypoints, pred.keypoint_logits
    if (
        kp_thresh is not None
        and kp_thresh_on == "logit"
        and kps_all is not None
        and logits_all is None
    ):
        raise ValueError(
            "the keypoint threshold applies to heatmap logits, but the predictions carry "
            "none (use keypoint_thresh_on='prob' for such models)"
        )
    for n in np.flatnonzero(pred.scores >= det_thresh):
        tid = int(pred.track_ids[n])
        if not 0 <= tid < 1000:
            raise ValueError(f"track id {tid} outside 0..999 (PoseTrack's rule)")
        score = float(pred.scores[n])
        k = np.zeros((NUM_KEYPOINTS, 3)) if kps_all is None else np.array(kps_all[n], float)
        if kp_thresh is None or kps_all is None:
            keep = np.ones(NUM_KEYPOINTS, bool)
        else:
            keep = (np.asarray(logits_all[n]) if kp_thresh_on == "logit" else k[:, 2]) >= kp_thresh
        keep &= _EVALUATED  # PoseTrack has no ears
        if kp_score == "box":  # the release's KEYPOINT_CONFIDENCE: bbox
            k[:, 2] = score
        out.append((tid, score, pred.boxes[n], k, keep))
    return out


def write_posetrack_video(
    path: str,
    frames: Sequence[dict],
    predictions: Dict[int, Detections],
    *,
    image_root: Optional[str] = None,
    det_thresh: float = 0.0,
    keypoint_thresh: Optional[float] = None,
    keypoint_thresh_on: str = "logit",
    keypoint_score: str = "box",
    fmt: str = "2018",
) -> None:
    """Write one video's predictions, every ground-truth frame present, in order.

    Args:
        path: output file (named like the video's ground-truth file), written atomically.
        frames: the video's per-frame dataset dicts, in order (``file_name``, ``image_id``,
            ``frame_id``): they fix the frames and their names.
        predictions: frame_id -> tracked `Detections` (``track_ids`` set; ``keypoints`` x, y,
            probability; ``keypoint_logits`` for the logit threshold); frames without an entry,
            or whose detections are all filtered out, are written with no people.
        image_root: ``file_name`` is written relative to this (PoseTrack's relative names).
        det_thresh: detections scoring below this are not written.
        keypoint_thresh: joints below this are written as absent (0, 0, 0); None keeps all.
            The paper's is 1.95 on the heatmap logit.
        keypoint_thresh_on: what ``keypoint_thresh`` applies to: "logit" (the heatmap peak
            logit, ``keypoint_logits``; the paper's) or "prob" (Detectron2's spatial-softmax
            probability, the third column of ``keypoints``).
        keypoint_score: each written joint's score, which ranks joints for AP: "box" (the box
            score, as the authors' release did) or "prob" (the joint's probability).
        fmt: "2018" (COCO style, with ``categories``), "2021" (PoseTrack21 keeps the 2018
            layout; its kit reads joints by position and counts every written joint with
            x > 0 and y > 0, so thresholded joints are written as zeros, as here) or "2017"
            ("annolist").
    """
    _check_options(fmt, keypoint_thresh_on, keypoint_score)
    images, annotations, annolist = [], [], []
    for d in frames:
        name = d["file_name"]
        if image_root:
            name = os.path.relpath(name, image_root)
        entries = _frame_entries(
            predictions.get(d["frame_id"]),
            det_thresh,
            keypoint_thresh,
            keypoint_thresh_on,
            keypoint_score,
        )
        if fmt == "2017":
            annolist.append({"image": [{"name": name}], "annorect": _annorects_2017(entries)})
            continue
        images.append(
            {
                "id": d["image_id"],
                "file_name": name,
                "frame_id": d["image_id"],
                "vid_id": d.get("video_id"),
                "nframes": len(frames),
            }
        )
        for entry in entries:
            annotations.append(_annotation_2018(entry, len(annotations), d["image_id"]))
    data = (
        {"images": images, "annotations": annotations, "categories": posetrack_categories()}
        if fmt != "2017"
        else {"annolist": annolist}
    )
    write_json_atomic(data, path)


def track_and_write(
    raw: Dict[str, Dict[int, Detections]],
    videos: Sequence[List[dict]],
    out_dir: str,
    tracker: PoseTracker,
    *,
    image_root=None,
    **write_options,
) -> List[str]:
    """Track every video's raw per-frame `Detections` (``raw[video_id][frame_id]``; a frame
    without an entry has no detections) and write one PoseTrack 2018 file per video, named like
    its ground-truth file (``annotation_file``) or ``<video_id>.json``. ``videos``: each
    video's per-frame dataset dicts, in order; ``write_options`` go to `write_posetrack_video`.
    Returns the written paths, in ``videos`` order."""
    paths = []
    for frames in videos:
        vid = frames[0]["video_id"]
        preds = raw.get(vid, {})
        empty = Detections.empty(NUM_KEYPOINTS)
        detections = (preds.get(d["frame_id"], empty) for d in frames)
        tracked = dict(zip((d["frame_id"] for d in frames), track_frames(detections, tracker)))
        name = os.path.basename(frames[0].get("annotation_file") or f"{vid}.json")
        path = os.path.join(out_dir, name)
        write_posetrack_video(path, frames, tracked, image_root=image_root, **write_options)
        paths.append(path)
    return paths


def _check_options(fmt: str, keypoint_thresh_on: str, keypoint_score: str) -> None:
    if fmt not in ("2018", "2021", "2017"):
        raise ValueError(f"unknown PoseTrack format {fmt!r}; use 2018, 2021 or 2017")
    if keypoint_thresh_on not in ("logit", "prob"):
        raise ValueError(
            f"keypoint_thresh_on must be 'logit' or 'prob', not {keypoint_thresh_on!r}"
        )
    if keypoint_score not in KEYPOINT_SCORES:
        raise ValueError(f"keypoint_score must be one of {KEYPOINT_SCORES}, not {keypoint_score!r}")


def _annotation_2018(entry, ann_id: int, image_id) -> dict:
    """One person of a 2018 / 2021 file: COCO-style box and keypoints, a joint not kept
    written as (0, 0, 0)."""
    tid, score, box, k, keep = entry
    kps = np.where(keep[:, None], np.concatenate([k[:, :2], np.ones((NUM_KEYPOINTS, 1))], 1), 0)
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "track_id": tid,
        "score": score,
        "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])],
        "keypoints": [round(float(v), 2) for v in kps.reshape(-1)],
        "scores": [float(s) if kept else 0.0 for s, kept in zip(k[:, 2], keep)],
    }


def _annorects_2017(entries) -> list:
    """A frame's people as 2017 ``annorect`` entries (joints in PoseTrack 2017's order, only the
    kept ones)."""
    rects = []
    for tid, score, box, k, keep in entries:
        points = [
            {"id": [j], "x": [float(k[s, 0])], "y": [float(k[s, 1])], "score": [float(k[s, 2])]}
            for j, s in enumerate(POSETRACK17_TO_COCO)
            if keep[s]
        ]
        rects.append(
            {
                "x1": [float(box[0])],
                "y1": [float(box[1])],
                "x2": [float(box[2])],
                "y2": [float(box[3])],
                "score": [score],
                "track_id": [tid],
                "annopoints": [{"point": points}],
            }
        )
    return rects
