"""PoseTrack evaluation: the official metrics, and the evaluator that runs after inference."""

from .clear_mot import ClearMOTCounter, MotmetricsCounter
from .evaluator import PoseTrackEvaluator, score_written, track_and_write, writer_options
from .posetrack_eval import (
    PoseTrackEvalError,
    evaluate_posetrack,
    evaluate_sequences,
    format_tables,
    grouped,
    load_sequence_pair,
    pooled_metrics,
)
from .raw_predictions import RAW_PREDICTIONS_FILE, load_raw_predictions, save_raw_predictions
from .writer import KEYPOINT_SCORES, write_posetrack_video
