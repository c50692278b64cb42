from .predictor import ClipPredictor, VideoPredictor, VideoReadError, read_frames
from .trainer import TubeTrainer, setup_cfg, uses_clips

__all__ = ["TubeTrainer", "setup_cfg", "uses_clips", "ClipPredictor", "VideoPredictor", "read_frames",
           "VideoReadError"]
