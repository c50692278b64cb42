from .predictor import ClipPredictor, VideoPredictor, VideoReadError, read_frames
from .trainer import (
    TubeTrainer,
    missing_weights,
    setup_cfg,
    setup_run,
)
from .video import draw_tracks, track_video

__all__ = [
    "TubeTrainer",
    "setup_cfg",
    "setup_run",
    "missing_weights",
    "ClipPredictor",
    "VideoPredictor",
    "read_frames",
    "VideoReadError",
    "track_video",
    "draw_tracks",
]
