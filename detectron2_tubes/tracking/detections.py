"""`Detections`: one frame's person detections as numpy arrays, the trackers' input type."""

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

__all__ = ["Detections"]


@dataclass
class Detections:
    """N detections of one frame.

    Attributes:
        boxes: (N, 4) XYXY.
        scores: (N,).
        keypoints: (N, K, 3) x, y, score in COCO-17 slot order, or None.
        features: (N, D) appearance features (L2-normalised), or None.
        histories: per detection, its track's recent boxes (L_i, 4), oldest first, or None
            (filled by the tracker for the previous frame's side of a cost).
        image_size: (height, width) of the frame, if known.
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: Optional[np.ndarray] = None
    features: Optional[np.ndarray] = None
    histories: Optional[List[np.ndarray]] = None
    image_size: Optional[Tuple[int, int]] = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if len(self.scores) != len(self.boxes):
            raise ValueError(f"{len(self.boxes)} boxes but {len(self.scores)} scores")
        if self.keypoints is not None:
            self.keypoints = np.asarray(self.keypoints, dtype=np.float64)
            if self.keypoints.ndim != 3 or len(self.keypoints) != len(self.boxes):
                raise ValueError(
                    f"keypoints must be (N, K, 3) for N = {len(self.boxes)} boxes, "
                    f"got {self.keypoints.shape}"
                )

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, idx) -> "Detections":
        idx = np.asarray(idx)
        return Detections(
            self.boxes[idx],
            self.scores[idx],
            None if self.keypoints is None else self.keypoints[idx],
            None if self.features is None else self.features[idx],
            (
                None
                if self.histories is None
                else [self.histories[i] for i in np.arange(len(self))[idx]]
            ),
            self.image_size,
        )

    @classmethod
    def from_instances(cls, instances) -> "Detections":
        """From Detectron2 `Instances` with ``pred_boxes``, ``scores``, optional ``pred_keypoints``."""
        boxes = instances.pred_boxes.tensor.detach().cpu().numpy()
        scores = instances.scores.detach().cpu().numpy()
        kps = instances.get("pred_keypoints") if instances.has("pred_keypoints") else None
        kps = None if kps is None else kps.detach().cpu().numpy()
        return cls(boxes, scores, kps, image_size=tuple(instances.image_size))

    def clipped_area(self) -> np.ndarray:
        """Box areas after clipping to the image (unclipped when the size is unknown)."""
        b = self.boxes
        if self.image_size is not None:
            h, w = self.image_size
            b = np.minimum(np.maximum(b, 0.0), (w, h, w, h))
        return np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)
