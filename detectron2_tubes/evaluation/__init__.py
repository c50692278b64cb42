"""PoseTrack evaluation in Detectron2: the evaluator that tracks and scores after inference, and
the raw predictions it can keep. The metrics themselves: `posetrack_core.evaluation`."""

from .evaluator import PoseTrackEvaluator, score_written
from .raw_predictions import RAW_PREDICTIONS_FILE, load_raw_predictions, save_raw_predictions

__all__ = [
    "PoseTrackEvaluator",
    "score_written",
    "RAW_PREDICTIONS_FILE",
    "load_raw_predictions",
    "save_raw_predictions",
]
