"""PoseTrack evaluation: the metrics of `posetrack_core.evaluation`, and the evaluator that runs
them after inference in Detectron2."""

from posetrack_core.evaluation import *  # noqa: F401,F403  (the metrics, for Detectron2 users)
from posetrack_core.evaluation import __all__ as _core_names

from .evaluator import PoseTrackEvaluator, score_written, track_and_write, writer_options
from .raw_predictions import RAW_PREDICTIONS_FILE, load_raw_predictions, save_raw_predictions

__all__ = [
    *_core_names,
    "PoseTrackEvaluator",
    "score_written",
    "track_and_write",
    "writer_options",
    "RAW_PREDICTIONS_FILE",
    "load_raw_predictions",
    "save_raw_predictions",
]
