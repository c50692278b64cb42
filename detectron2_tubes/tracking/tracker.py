"""The tracker in Detectron2: `build_pose_tracker` from a config (with the networks of the CNN and
LSTM costs) and `PoseTrackerHead`, a Detectron2 tracker head over `Instances`. The tracker itself
is `posetrack_core.tracking.PoseTracker` (numpy)."""

from typing import Optional

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.structures import Instances
from detectron2.tracking.base_tracker import TRACKER_HEADS_REGISTRY, BaseTracker

from posetrack_core.from_config import build_tracker
from posetrack_core.tracking import Detections, PoseTracker

__all__ = ["build_pose_tracker", "tracking_networks", "tracked_instances", "PoseTrackerHead"]


def tracking_networks(tracking, *, lstm: bool, cnn: bool) -> dict:
    """The networks of the ``TRACKING`` settings as `PoseTracker` arguments: the LSTM of
    ``LSTM_WEIGHTS`` (``lstm``) and the CNN cost's feature network of ``CNN_WEIGHTS``, random
    init when empty (``cnn``)."""
    out = {}
    if lstm:
        from .lstm import load_box_lstm

        out["lstm"] = load_box_lstm(tracking.LSTM_WEIGHTS)
    if cnn:
        from .features import CropFeatureExtractor

        out["feature_extractor"] = CropFeatureExtractor(weights=tracking.CNN_WEIGHTS or None)
    return out


def build_pose_tracker(cfg) -> PoseTracker:
    """The `PoseTracker` of the config's ``TRACKING`` keys, networks included."""
    return build_tracker(cfg, tracking_networks)


def tracked_instances(predictions: Instances, tracked: Detections) -> Instances:
    """``predictions`` as the tracker kept them (``tracked``: `PoseTracker.update`'s result on
    them): a new `Instances` with ``track_ids`` (int64 tensor) and ``ID`` (list of ints, what
    Detectron2's `VideoVisualizer` reads); the given one is not modified."""
    if len(tracked) < len(predictions):
        out = predictions[torch.as_tensor(tracked.indices, dtype=torch.long)]
    else:  # all kept: a shallow copy is cheaper than indexing every field
        out = Instances(predictions.image_size, **predictions.get_fields())
    out.track_ids = torch.as_tensor(tracked.track_ids, dtype=torch.int64)
    out.ID = tracked.track_ids.tolist()
    return out


@TRACKER_HEADS_REGISTRY.register()
class PoseTrackerHead(BaseTracker):
    """`PoseTracker` for Detectron2 `Instances`, the one adapter between the two: a Detectron2
    tracker head (``TRACKER_HEADS.TRACKER_NAME: PoseTrackerHead``, the ``TRACKING`` keys).

    ``PoseTrackerHead(cfg)``, ``PoseTrackerHead(cost="iou", ...)`` (a new `PoseTracker`'s
    arguments) or ``PoseTrackerHead(tracker=tracker)``.
    """

    @configurable
    def __init__(self, *, tracker: Optional[PoseTracker] = None, **kwargs):
        super().__init__()
        self.tracker = tracker if tracker is not None else PoseTracker(**kwargs)

    @classmethod
    def from_config(cls, cfg):
        return {"tracker": build_pose_tracker(cfg)}

    def reset(self) -> None:
        self.tracker.reset()

    def update(self, predictions: Instances, image: Optional[np.ndarray] = None) -> Instances:
        """The kept instances with their track ids (`tracked_instances`)."""
        tracked = self.tracker.update(Detections.from_instances(predictions), image=image)
        return tracked_instances(predictions, tracked)
