"""The PoseTrack metrics (poseval's per-joint AP and MOTA, PoseTrack21's keypoint HOTA,
TrackEval's box metrics for MOT files) and the PoseTrack writer."""

from .clear_mot import ClearMOTCounter, MotmetricsCounter
from .posetrack_eval import (
    evaluate_posetrack,
    evaluate_sequences,
    format_tables,
    grouped,
    pooled_metrics,
)
from .sequences import load_sequence_pair
from .writer import KEYPOINT_SCORES, track_and_write, write_posetrack_video

__all__ = [
    "ClearMOTCounter",
    "MotmetricsCounter",
    "evaluate_posetrack",
    "evaluate_sequences",
    "format_tables",
    "grouped",
    "load_sequence_pair",
    "pooled_metrics",
    "KEYPOINT_SCORES",
    "track_and_write",
    "write_posetrack_video",
]
