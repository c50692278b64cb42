"""Write tracked per-frame predictions as PoseTrack 2018 (or 2017) prediction files."""
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..data.keypoints import NUM_KEYPOINTS, POSETRACK17_TO_COCO, posetrack_categories
from ..utils.io import write_json_atomic

__all__ = ["FramePrediction", "write_posetrack_video"]

# The paper dropped keypoints whose Detectron heatmap logit was below this (tuned on validation).
# Detectron2's keypoint score is a probability instead: re-tune with sweep_thresholds.
PAPER_KEYPOINT_THRESH = 1.95


class FramePrediction(dict):
    """One frame's tracked detections: "boxes" (N, 4) XYXY, "scores" (N,), "keypoints" (N, 17, 3)
    (x, y, score), "track_ids" (N,)."""


def _frame_entries(pred: Optional[dict], det_thresh: float, kp_thresh: Optional[float]):
    if pred is None or len(pred.get("scores", [])) == 0:
        return []
    out = []
    kps_all = pred.get("keypoints")
    for n in np.flatnonzero(np.asarray(pred["scores"]) >= det_thresh):
        tid = int(pred["track_ids"][n])
        if not 0 <= tid < 1000:
            raise ValueError(f"track id {tid} outside 0..999 (PoseTrack's rule)")
        k = np.zeros((NUM_KEYPOINTS, 3)) if kps_all is None else np.array(kps_all[n], float)
        keep = np.ones(NUM_KEYPOINTS, bool) if kp_thresh is None else k[:, 2] >= kp_thresh
        keep[[3, 4]] = False  # PoseTrack has no ears
        out.append((tid, float(pred["scores"][n]), np.asarray(pred["boxes"][n], float), k, keep))
    return out


def write_posetrack_video(
    path: str,
    frames: Sequence[dict],
    predictions: Dict[int, dict],
    *,
    image_root: Optional[str] = None,
    det_thresh: float = 0.0,
    keypoint_thresh: Optional[float] = None,
    fmt: str = "2018",
) -> None:
    """Write one video's predictions, every ground-truth frame present, in order.

    Args:
        path: output file (named like the video's ground-truth file), written atomically.
        frames: the video's per-frame dataset dicts, in order (``file_name``, ``image_id``,
            ``frame_id``): they fix the frames and their names.
        predictions: frame_id -> tracked detections (see `FramePrediction`); frames without an
            entry, or whose detections are all filtered out, are written with no people.
        image_root: ``file_name`` is written relative to this (PoseTrack's relative names).
        det_thresh: detections scoring below this are not written.
        keypoint_thresh: keypoints whose score is below this are written as absent (0, 0, 0).
            Detectron2's keypoint score is a spatial-softmax probability, not the heatmap logit
            the paper's 1.95 applied to.
        fmt: "2018" (COCO style, with ``categories``) or "2017" ("annolist").
    """
    if fmt not in ("2018", "2017"):
        raise ValueError(f"unknown PoseTrack format {fmt!r}; use 2018 or 2017")
    images, annotations, annolist = [], [], []
    for d in frames:
        name = d["file_name"]
        if image_root:
            name = os.path.relpath(name, image_root)
        entries = _frame_entries(predictions.get(d["frame_id"]), det_thresh, keypoint_thresh)
        if fmt == "2018":
            images.append({"id": d["image_id"], "file_name": name, "frame_id": d["image_id"],
                           "vid_id": d.get("video_id"), "nframes": len(frames)})  # fmt: skip
            for tid, score, box, k, keep in entries:
                kps = np.where(keep[:, None], np.concatenate([k[:, :2], np.ones((NUM_KEYPOINTS, 1))], 1), 0)
                annotations.append({
                    "id": len(annotations), "image_id": d["image_id"], "category_id": 1,
                    "track_id": tid, "score": score,
                    "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])],
                    "keypoints": [round(float(v), 2) for v in kps.reshape(-1)],
                    "scores": [float(s) if kept else 0.0 for s, kept in zip(k[:, 2], keep)],
                })  # fmt: skip
        else:
            rects = []
            for tid, score, box, k, keep in entries:
                points = [{"id": [j], "x": [float(k[s, 0])], "y": [float(k[s, 1])], "score": [float(k[s, 2])]}
                          for j, s in enumerate(POSETRACK17_TO_COCO) if keep[s]]  # fmt: skip
                rects.append({"x1": [float(box[0])], "y1": [float(box[1])], "x2": [float(box[2])],
                              "y2": [float(box[3])], "score": [score], "track_id": [tid],
                              "annopoints": [{"point": points}]})  # fmt: skip
            annolist.append({"image": [{"name": name}], "annorect": rects})
    data = ({"images": images, "annotations": annotations, "categories": posetrack_categories()}
            if fmt == "2018" else {"annolist": annolist})  # fmt: skip
    write_json_atomic(data, path)
