"""What the tracking stage needs torch or Detectron2 for: the CNN features, the learned LSTM
cost, the tracker from a config and its Detectron2 tracker head. The tracker itself and its
costs are numpy: `posetrack_core.tracking`."""

from .features import CropFeatureExtractor, resnet18_res3
from .lstm import BoxLSTM, LSTMCost, load_box_lstm, save_box_lstm, train_box_lstm
from .tracker import PoseTrackerHead, build_pose_tracker, tracked_instances, tracking_networks

__all__ = [
    "CropFeatureExtractor",
    "resnet18_res3",
    "BoxLSTM",
    "LSTMCost",
    "load_box_lstm",
    "save_box_lstm",
    "train_box_lstm",
    "PoseTrackerHead",
    "build_pose_tracker",
    "tracked_instances",
    "tracking_networks",
]
