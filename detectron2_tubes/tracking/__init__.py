"""The tracking stage: `posetrack_core.tracking` (the numpy tracker and its costs), with what
needs torch or Detectron2: the CNN features, the learned LSTM cost, the tracker from a config
and its Detectron2 tracker head."""

from posetrack_core.tracking import *  # noqa: F401,F403  (the tracker, for Detectron2 users too)
from posetrack_core.tracking import __all__ as _core_names

from .features import CropFeatureExtractor, resnet18_res3
from .lstm import BoxLSTM, LSTMCost, load_box_lstm, save_box_lstm, train_box_lstm
from .tracker import PoseTrackerHead, build_pose_tracker

__all__ = [
    *_core_names,
    "CropFeatureExtractor",
    "resnet18_res3",
    "BoxLSTM",
    "LSTMCost",
    "load_box_lstm",
    "save_box_lstm",
    "train_box_lstm",
    "PoseTrackerHead",
    "build_pose_tracker",
]
