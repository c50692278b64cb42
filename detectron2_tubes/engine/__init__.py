from .predictor import ClipInputs, ClipPredictor, VideoPredictor, VideoReadError, read_frames
from .trainer import (
    TubeTrainer,
    missing_weights,
    setup_cfg,
    setup_run,
    uses_clips,
)
from .video import draw_tracks, track_video

__all__ = [
    "TubeTrainer",
    "setup_cfg",
    "setup_run",
    "uses_clips",
    "missing_weights",
    "ClipInputs",
    "ClipPredictor",
    "VideoPredictor",
    "read_frames",
    "VideoReadError",
    "track_video",
    "draw_tracks",
]
