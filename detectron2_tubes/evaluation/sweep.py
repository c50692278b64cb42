"""Threshold sweeps on saved predictions (``python -m tubes_cli.sweep_thresholds``)."""

import contextlib
import os
import tempfile
from typing import List

from detectron2.data import DatasetCatalog, MetadataCatalog

from posetrack_core.evaluation.writer import track_and_write
from posetrack_core.from_config import writer_options
from posetrack_core.posetrack_json import PoseTrackFormatError

from ..data.clips import group_by_video
from ..tracking import build_pose_tracker
from .evaluator import score_written

__all__ = ["sweep"]


def sweep(raw, dataset_name: str, det_threshs, kp_threshs, cfg, out_dir=None) -> List[dict]:
    """Re-track, write and score ``raw`` (`PoseTrackEvaluator`'s saved predictions) for every
    pair of detection and keypoint thresholds, with the tracker and writer settings of ``cfg``
    (its TRACKING.DET_THRESH and TEST.POSETRACK.KEYPOINT_THRESH replaced by each pair): one row
    (det_thresh, keypoint_thresh, total AP and MOTA) per pair. With ``out_dir``, each pair's files
    are kept in ``out_dir/det_<t>`` (``det_<t>_kp_<k>`` when several keypoint thresholds are
    swept), named in the row's "pred_dir"; otherwise they are written to a temporary folder."""
    videos = [
        v for v in group_by_video(DatasetCatalog.get(dataset_name)) if v[0]["video_id"] in raw
    ]
    if not videos:
        raise PoseTrackFormatError(f"the raw predictions have no video of {dataset_name}")
    root = MetadataCatalog.get(dataset_name).get("image_root")
    options = writer_options(cfg)
    rows = []
    for det in det_threshs:
        tracker_cfg = cfg.clone()
        tracker_cfg.defrost()
        tracker_cfg.TRACKING.DET_THRESH = det
        tracker = build_pose_tracker(tracker_cfg)
        for kp in kp_threshs:
            name = f"det_{det:g}" + ("" if len(kp_threshs) == 1 else f"_kp_{kp}")
            with contextlib.ExitStack() as stack:
                folder = (
                    os.path.join(out_dir, name)
                    if out_dir
                    else stack.enter_context(tempfile.TemporaryDirectory())
                )
                paths = track_and_write(
                    raw,
                    videos,
                    folder,
                    tracker,
                    image_root=root,
                    **{**options, "keypoint_thresh": kp},
                )
                r = score_written(videos, paths, warn=lambda m: None)
            row = {
                "det_thresh": det,
                "keypoint_thresh": kp,
                "ap": r["ap"][-1],
                "mota": r["mota"][-1],
            }
            if out_dir:
                row["pred_dir"] = folder
            rows.append(row)
    return rows
