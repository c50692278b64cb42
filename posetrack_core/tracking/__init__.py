"""The tracking stage in numpy: link per-frame detections into tracks."""

from .cost_spec import COST_NAMES, TrackerSettingError, build_cost, cost_names, parse_cost
from .costs import WeightedCost, box_iou, cosine_cost, iou_cost, oks, oks_cost, pckh, pose_cost
from .detections import Detections
from .link_files import link_mot, link_posetrack, read_mot
from .matching import MATCHERS, greedy_match, hungarian_match
from .motion import BoxKalman
from .tracker import PoseTracker, track_frames

__all__ = [
    "COST_NAMES",
    "TrackerSettingError",
    "build_cost",
    "cost_names",
    "parse_cost",
    "WeightedCost",
    "box_iou",
    "cosine_cost",
    "iou_cost",
    "oks",
    "oks_cost",
    "pckh",
    "pose_cost",
    "Detections",
    "link_mot",
    "link_posetrack",
    "read_mot",
    "MATCHERS",
    "greedy_match",
    "hungarian_match",
    "BoxKalman",
    "PoseTracker",
    "track_frames",
]
