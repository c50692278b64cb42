"""`Detections`: one frame's person detections as numpy arrays, the trackers' input type."""

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

__all__ = ["Detections"]


@dataclass
class Detections:
    """N detections of one frame: what the tracker takes and returns, and what the writer writes.

    Attributes:
        boxes: (N, 4) XYXY.
        scores: (N,).
        keypoints: (N, K, 3) x, y, score in COCO-17 slot order, or None.
        keypoint_logits: (N, K) heatmap peak logits (Tube R-CNN's), or None.
        features: (N, D) appearance features (L2-normalised), or None.
        histories: per detection, its track's recent boxes (L_i, 4), oldest first, or None
            (filled by the tracker for the previous frame's side of a cost).
        image_size: (height, width) of the frame, if known.
        track_ids: (N,) int64, set by `PoseTracker.update` on the detections it returns.
        indices: (N,) int64, set by `PoseTracker.update`: each returned detection's position in
            the detections it was given.
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: Optional[np.ndarray] = None
    features: Optional[np.ndarray] = None
    histories: Optional[List[np.ndarray]] = None
    image_size: Optional[Tuple[int, int]] = None
    keypoint_logits: Optional[np.ndarray] = None
    track_ids: Optional[np.ndarray] = None
    indices: Optional[np.ndarray] = None

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        n = len(self.boxes)
        if len(self.scores) != n:
            raise ValueError(f"{n} boxes but {len(self.scores)} scores")
        if self.keypoints is not None:
            self.keypoints = np.asarray(self.keypoints, dtype=np.float64)
            if self.keypoints.ndim != 3 or len(self.keypoints) != n:
                raise ValueError(
                    f"keypoints must be (N, K, 3) for N = {n} boxes, got {self.keypoints.shape}"
                )
        for name in ("keypoint_logits", "track_ids", "indices"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.int64 if name != "keypoint_logits" else None)
                if len(value) != n:
                    raise ValueError(f"{name} has {len(value)} rows for {n} boxes")
                setattr(self, name, value)

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, idx) -> "Detections":
        """The detections at ``idx`` (an index array or a boolean mask), every field with them."""
        idx = np.asarray(idx)

        def pick(a):
            return None if a is None else a[idx]

        return Detections(
            self.boxes[idx],
            self.scores[idx],
            pick(self.keypoints),
            pick(self.features),
            (
                None
                if self.histories is None
                else [self.histories[i] for i in np.arange(len(self))[idx]]
            ),
            self.image_size,
            pick(self.keypoint_logits),
            pick(self.track_ids),
            pick(self.indices),
        )

    @classmethod
    def empty(cls, num_keypoints: int = 17) -> "Detections":
        """No detections (a frame without predictions)."""
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros((0, num_keypoints, 3)))

    @classmethod
    def from_instances(cls, instances) -> "Detections":
        """From Detectron2 `Instances` with ``pred_boxes``, ``scores``, optional ``pred_keypoints``
        and ``pred_keypoint_logits``."""

        def numpy(name):
            return instances.get(name).detach().cpu().numpy() if instances.has(name) else None

        return cls(
            instances.pred_boxes.tensor.detach().cpu().numpy(),
            numpy("scores"),
            numpy("pred_keypoints"),
            image_size=tuple(instances.image_size),
            keypoint_logits=numpy("pred_keypoint_logits"),
        )

    def clipped_area(self) -> np.ndarray:
        """Box areas after clipping to the image (unclipped when the size is unknown)."""
        b = self.boxes
        if self.image_size is not None:
            h, w = self.image_size
            b = np.minimum(np.maximum(b, 0.0), (w, h, w, h))
        return np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)
