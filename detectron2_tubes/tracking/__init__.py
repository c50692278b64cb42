"""The tracking stage: link per-frame detections into tracks."""

from .costs import (
    CropFeatureExtractor,
    WeightedCost,
    box_iou,
    cosine_cost,
    iou_cost,
    oks,
    oks_cost,
    pckh,
    pose_cost,
)
from .detections import Detections
from .link_files import LinkError, link_mot, link_posetrack, read_mot
from .lstm import BoxLSTM, LSTMCost, load_box_lstm, save_box_lstm, train_box_lstm
from .matching import MATCHERS, greedy_match, hungarian_match
from .motion import BoxKalman
from .tracker import (
    COST_NAMES,
    PoseTracker,
    PoseTrackerHead,
    build_cost,
    build_pose_tracker,
    link_video,
    parse_cost,
)
