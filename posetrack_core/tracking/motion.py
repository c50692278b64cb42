"""Constant-velocity Kalman filter on boxes, for all live tracks at once (the motion model of
SORT, DeepSORT and ByteTrack).

State per track: box centre, aspect ratio (w / h) and height, and their velocities,
(cx, cy, a, h, vcx, vcy, va, vh); measurements are the detected boxes (cx, cy, a, h). Noise scales
with the box height, as ByteTrack's does, so the filter behaves the same for near and far people.

Written with numpy over a batch of tracks rather than with filterpy: filterpy keeps one filter
object per track (a Python loop over tracks every frame) and has not been released since 2018;
a batched filter keeps the tracker's per-frame cost a fixed number of array operations.
"""

from typing import Tuple

import numpy as np

__all__ = ["BoxKalman", "xyxy_to_xyah", "xyah_to_xyxy"]

# Standard deviations as fractions of the box height (ByteTrack's choice).
_STD_POSITION = 1.0 / 20
_STD_VELOCITY = 1.0 / 160
_STD_ASPECT, _STD_ASPECT_VELOCITY = 1e-2, 1e-5


def xyxy_to_xyah(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) XYXY -> (N, 4) centre x, centre y, aspect w / h, height."""
    w = boxes[:, 2] - boxes[:, 0]
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    return np.stack([boxes[:, 0] + w / 2, boxes[:, 1] + h / 2, w / h, h], axis=1)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(N, >= 4) centre x, centre y, aspect, height (first four columns) -> (N, 4) XYXY."""
    cx, cy, a, h = (xyah[:, i] for i in range(4))
    w = a * h
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


class BoxKalman:
    """A constant-velocity Kalman filter for N boxes: ``mean`` (N, 8), ``cov`` (N, 8, 8)."""

    def __init__(self):
        self._F = np.eye(8)
        self._F[:4, 4:] = np.eye(4)  # one frame: position += velocity
        self._H = np.eye(4, 8)

    @staticmethod
    def _std(h: np.ndarray, position: float, velocity: float) -> np.ndarray:
        """(N, 8) per-state standard deviations for boxes of height h."""
        n = len(h)
        pos = np.stack([position * h, position * h, np.full(n, _STD_ASPECT), position * h], 1)
        vel = np.stack(
            [velocity * h, velocity * h, np.full(n, _STD_ASPECT_VELOCITY), velocity * h], 1
        )
        return np.concatenate([pos, vel], axis=1)

    def initiate(self, boxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """New tracks from (N, 4) XYXY boxes: at rest, with a wide velocity uncertainty."""
        z = xyxy_to_xyah(boxes)
        mean = np.concatenate([z, np.zeros_like(z)], axis=1)
        std = self._std(z[:, 3], 2 * _STD_POSITION, 10 * _STD_VELOCITY)
        return mean, np.einsum("ni,ij->nij", std**2, np.eye(8))

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """One frame ahead."""
        q = self._std(mean[:, 3], _STD_POSITION, _STD_VELOCITY) ** 2
        mean = mean @ self._F.T
        cov = self._F @ cov @ self._F.T + np.einsum("ni,ij->nij", q, np.eye(8))
        return mean, cov

    def update(
        self, mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Correct N predicted states with their N measured (N, 4) XYXY boxes."""
        z = xyxy_to_xyah(boxes)
        r = self._std(mean[:, 3], _STD_POSITION, 0.0)[:, :4] ** 2
        # The innovation covariance H P H^T + R is diagonal: the noises are diagonal and each
        # coordinate moves with its own velocity only, so every 4 x 4 block of P stays diagonal
        # (tested). Dividing by its diagonal is the exact inverse, and it avoids a LAPACK call
        # per frame, whose thread pool stalls next to PyTorch's on a busy CPU.
        projected = np.einsum("nii->ni", cov[:, :4, :4]) + r
        cross = cov[:, :, :4]  # P H^T
        gain = cross / projected[:, None, :]
        mean = mean + np.einsum("nij,nj->ni", gain, z - mean[:, :4])
        cov = cov - gain @ cross.transpose(0, 2, 1)
        return mean, cov
