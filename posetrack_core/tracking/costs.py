"""Costs between the detections of two frames, each an (M, N) matrix in [0, 1] (lower = same
person): box IoU, pose PCKh, pose OKS, the cosine of appearance features (the features come from
`detectron2_tubes.tracking.CropFeatureExtractor`), their weighted sum; the learned LSTM score is
`detectron2_tubes.tracking.LSTMCost`. All vectorised over the M x N pairs."""

import logging
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from ..keypoints import EVALUATED_SLOTS, KEYPOINT_NAMES
from .detections import Detections

__all__ = [
    "box_iou",
    "iou_cost",
    "pckh",
    "pose_cost",
    "oks",
    "oks_cost",
    "COCO_SIGMAS",
    "cosine_cost",
    "WeightedCost",
]

logger = logging.getLogger(__name__)
_HEAD_TOP, _HEAD_BOTTOM = KEYPOINT_NAMES.index("head_top"), KEYPOINT_NAMES.index("head_bottom")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair of XYXY boxes, (M, 4) x (N, 4) -> (M, N); 0 for empty boxes.

    Numpy by hand rather than Detectron2's `pairwise_iou`: the tracker works on numpy arrays and
    a handful of boxes per frame, where torch's per-op overhead would dominate.
    """
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.maximum(rb - lt, 0.0)
    inter = wh[..., 0] * wh[..., 1]
    size_a = np.maximum(a[:, 2:] - a[:, :2], 0.0)
    size_b = np.maximum(b[:, 2:] - b[:, :2], 0.0)
    union = (size_a[:, 0] * size_a[:, 1])[:, None] + (size_b[:, 0] * size_b[:, 1])[None, :] - inter
    # union >= inter, and union = 0 only where inter = 0: the floor only avoids 0 / 0.
    return inter / np.maximum(union, np.finfo(np.float64).tiny)


def iou_cost(prev: Detections, cur: Detections) -> np.ndarray:
    """1 - box IoU (the paper's final choice)."""
    return 1.0 - box_iou(prev.boxes, cur.boxes)


def pckh(
    ref: np.ndarray,
    other: np.ndarray,
    keypoint_thresh: Optional[float] = None,
    joints: Sequence[int] = EVALUATED_SLOTS,
    alpha: float = 0.5,
) -> np.ndarray:
    """PCKh of every pose pair: the fraction of joints present in both poses whose distance is at
    most ``alpha`` x the reference pose's head size (|head_top - head_bottom| + 1, as in
    Detect-and-Track), over the PoseTrack joints.

    Args:
        ref: (M, K, 3) reference poses (the previous frame); other: (N, K, 3).
        keypoint_thresh: a joint is present when its score (3rd value) is >= this; None: all.
    Returns:
        (M, N) in [0, 1]; 0 when two poses share no present joint.
    """
    joints = list(joints)
    r, o = ref[:, joints], other[:, joints]
    head = np.linalg.norm(ref[:, _HEAD_TOP, :2] - ref[:, _HEAD_BOTTOM, :2], axis=1) + 1.0
    dist = np.linalg.norm(r[:, None, :, :2] - o[None, :, :, :2], axis=-1)  # M, N, J
    if keypoint_thresh is None:
        present = np.ones(dist.shape, dtype=bool)
    else:
        present = (r[:, None, :, 2] >= keypoint_thresh) & (o[None, :, :, 2] >= keypoint_thresh)
    hits = ((dist <= alpha * head[:, None, None]) & present).sum(-1)
    return hits / np.maximum(present.sum(-1), 1)


def pose_cost(
    prev: Detections, cur: Detections, keypoint_thresh: Optional[float] = None
) -> np.ndarray:
    """1 - PCKh between the poses."""
    if prev.keypoints is None or cur.keypoints is None:
        raise ValueError("the pose cost needs keypoints on the detections")
    return 1.0 - pckh(prev.keypoints, cur.keypoints, keypoint_thresh)


# COCO's per-keypoint OKS constants (sigmas), in the 17 slots. PoseTrack's head_bottom and
# head_top sit in the eye slots and take their (tight) constants.
COCO_SIGMAS = (
    np.array(
        [26, 25, 25, 35, 35, 79, 79, 72, 72, 62, 62, 107, 107, 87, 87, 89, 89], dtype=np.float64
    )
    / 1000
)


def oks(
    ref: np.ndarray,
    other: np.ndarray,
    areas: np.ndarray,
    keypoint_thresh: Optional[float] = None,
    joints: Sequence[int] = EVALUATED_SLOTS,
) -> np.ndarray:
    """COCO's object keypoint similarity of every pose pair: the mean over joints present in
    both of exp(-d^2 / (2 s^2 k^2)), with s^2 the reference person's area (``areas``, its box
    area, as COCO uses the segment area) and k = 2 sigma per joint.

    Args:
        ref: (M, K, 3) reference poses (the previous frame's); other: (N, K, 3).
        areas: (M,) area of each reference person.
        keypoint_thresh: a joint is present when its score is >= this; None: all joints.
    Returns:
        (M, N) in [0, 1]; 0 when two poses share no present joint.
    """
    joints = list(joints)
    r, o = ref[:, joints], other[:, joints]
    d2 = ((r[:, None, :, :2] - o[None, :, :, :2]) ** 2).sum(-1)  # M, N, J
    k2 = (2 * COCO_SIGMAS[joints]) ** 2
    e = d2 / (2 * np.maximum(areas, 1e-6)[:, None, None] * k2)
    if keypoint_thresh is None:
        present = np.ones(d2.shape, dtype=bool)
    else:
        present = (r[:, None, :, 2] >= keypoint_thresh) & (o[None, :, :, 2] >= keypoint_thresh)
    return (np.exp(-e) * present).sum(-1) / np.maximum(present.sum(-1), 1)


def oks_cost(
    prev: Detections, cur: Detections, keypoint_thresh: Optional[float] = None
) -> np.ndarray:
    """1 - OKS between the poses, scaled by the previous detection's box area."""
    if prev.keypoints is None or cur.keypoints is None:
        raise ValueError("the OKS cost needs keypoints on the detections")
    size = np.maximum(prev.boxes[:, 2:] - prev.boxes[:, :2], 0.0)
    return 1.0 - oks(prev.keypoints, cur.keypoints, size[:, 0] * size[:, 1], keypoint_thresh)


def cosine_cost(prev: Detections, cur: Detections) -> np.ndarray:
    """1 - cosine similarity of appearance features, clipped to [0, 1]."""
    if prev.features is None or cur.features is None:
        raise ValueError(
            "the CNN cost needs appearance features (give the tracker a feature extractor)"
        )
    return (1.0 - prev.features @ cur.features.T).clip(0.0, 1.0)


CostFn = Callable[[Detections, Detections], np.ndarray]


class WeightedCost:
    """A weighted sum of costs, divided by the total weight so that it stays in [0, 1]."""

    def __init__(self, costs: Dict[str, Tuple[float, CostFn]]):
        if (
            not costs
            or any(w < 0 for w, _ in costs.values())
            or sum(w for w, _ in costs.values()) <= 0
        ):
            raise ValueError("WeightedCost needs at least one cost and non-negative weights")
        self.costs = costs
        self.total = sum(w for w, _ in costs.values())

    def __call__(self, prev: Detections, cur: Detections) -> np.ndarray:
        return sum(w * fn(prev, cur) for w, fn in self.costs.values() if w > 0) / self.total

    def __repr__(self) -> str:
        return " + ".join(f"{w:g} x {name}" for name, (w, _) in self.costs.items())
