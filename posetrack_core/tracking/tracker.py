"""`PoseTracker`: links per-frame person detections into tracks (the paper's stage 2), in numpy
(the costs that need a network take it as an argument)."""

import dataclasses
import math
from collections import OrderedDict, deque
from typing import Callable, Deque, Dict, Iterable, Iterator, Optional

import numpy as np

from ..settings import tracking_defaults, unset
from .cost_spec import TrackerSettingError, build_cost, cost_names
from .costs import iou_cost
from .detections import Detections
from .matching import MATCHERS
from .motion import BoxKalman, xyah_to_xyxy

__all__ = ["PoseTracker", "track_frames"]

MOTIONS = ("none", "kalman")


# The tracker's defaults are the TRACKING config keys' (the paper's tracker): one set of them.
_DEFAULTS = tracking_defaults()


def _check_range(name: str, value: float, low: float, high: float) -> None:
    """Thresholds are numbers in their range: NaN would silently drop (or keep) everything."""
    if not (low <= value <= high):  # False for NaN too
        raise TrackerSettingError(f"{name} must be in [{low:g}, {high:g}], not {value}")


class PoseTracker:
    """Assigns a track id to every kept detection, one frame at a time.

    Paper mode (the defaults): drop detections with score < ``det_thresh`` (0.95) or clipped
    area < ``min_area`` (50 px^2); match the frame's detections to the previous frame's by
    ``matcher`` on ``cost``; unmatched detections start new tracks.

    Beyond the paper (off by default): ``max_cost`` gates pairs (a pair above it is never
    matched), and ``memory`` = K lets a track unmatched for up to K frames be continued, its
    box carried forward by its recent motion. ``motion`` "kalman" predicts every track's box
    into the current frame with a constant-velocity Kalman filter before matching (SORT's and
    ByteTrack's motion model) instead of using its last box. ``low_thresh`` adds ByteTrack's
    second association: detections scoring in [low_thresh, det_thresh) are matched on box IoU
    (cost <= ``second_max_cost``) to the tracks seen in the previous frame that the first
    association left unmatched; they continue tracks but never start one, and unmatched ones are
    dropped.

    Track ids are in [0, ``max_tracks``) (PoseTrack asks for 0..999) and unique among live
    tracks; once all are used, the id of the track that ended longest ago is reused.

    Args:
        cost: "iou" | "pose" | "cnn" | "lstm", a {name: weight} dict, or a callable.
        matcher: "hungarian" or "greedy".
        feature_extractor: ``(image_bgr, boxes) -> (N, D)`` unit-norm appearance features for
            the "cnn" cost (`detectron2_tubes.tracking.CropFeatureExtractor`, which needs
            torch); `update` then needs the frame image.
        lstm: for the "lstm" cost, a trained `detectron2_tubes.tracking.BoxLSTM` (or any
            object with a ``tracking_cost()`` method, or a cost callable).
        keypoint_thresh: joints with a score below this do not count in the pose cost.
        history: boxes kept per track (for motion and the LSTM).
    """

    def __init__(
        self,
        *,
        cost=_DEFAULTS["COST"],
        matcher: str = _DEFAULTS["MATCHER"],
        det_thresh: float = _DEFAULTS["DET_THRESH"],
        min_area: float = _DEFAULTS["MIN_AREA"],
        max_cost: Optional[float] = unset(_DEFAULTS["MAX_COST"]),
        memory: int = _DEFAULTS["MEMORY"],
        max_tracks: int = 1000,
        feature_extractor: Optional[Callable] = None,
        lstm=None,
        keypoint_thresh: Optional[float] = unset(_DEFAULTS["KEYPOINT_THRESH"]),
        history: int = 8,
        motion: str = _DEFAULTS["MOTION"],
        low_thresh: Optional[float] = unset(_DEFAULTS["LOW_THRESH"]),
        second_max_cost: float = _DEFAULTS["SECOND_MAX_COST"],
    ):
        if matcher not in MATCHERS:
            raise TrackerSettingError(f"unknown matcher {matcher!r}; use one of {sorted(MATCHERS)}")
        _check_range("det_thresh", det_thresh, 0.0, 1.0)
        _check_range("min_area", min_area, 0.0, math.inf)
        if low_thresh is not None:
            _check_range("low_thresh", low_thresh, 0.0, 1.0)
        for name, value in (("max_cost", max_cost), ("keypoint_thresh", keypoint_thresh)):
            if value is not None and not math.isfinite(value):
                raise TrackerSettingError(f"{name} must be a finite number, not {value}")
        if memory < 0 or max_tracks < 1:
            raise TrackerSettingError("memory must be >= 0 and max_tracks >= 1")
        if motion not in MOTIONS:
            raise TrackerSettingError(f"unknown motion {motion!r}; use one of {MOTIONS}")
        if low_thresh is not None and low_thresh > det_thresh:
            raise TrackerSettingError(f"low_thresh {low_thresh} is above det_thresh {det_thresh}")
        self.kalman = BoxKalman() if motion == "kalman" else None
        self.low_thresh, self.second_max_cost = low_thresh, second_max_cost
        self.cost_fn = build_cost(cost, lstm=lstm, keypoint_thresh=keypoint_thresh)
        self.needs_features = "cnn" in cost_names(cost)
        self.needs_history = "lstm" in cost_names(cost) or not isinstance(cost, (str, dict))
        if self.needs_features and feature_extractor is None:
            raise TrackerSettingError(
                "the cnn cost needs a feature extractor (feature_extractor="
                "detectron2_tubes.tracking.CropFeatureExtractor(), or TRACKING.CNN_WEIGHTS)"
            )
        self.feature_extractor = feature_extractor
        self.matcher = MATCHERS[matcher]
        self.det_thresh, self.min_area, self.max_cost = det_thresh, min_area, max_cost
        self.memory, self.max_tracks, self.history = memory, max_tracks, max(history, 2)
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (call between videos)."""
        self._tracks = _Tracks(with_kalman=self.kalman is not None)
        self._histories: Dict[int, Deque[np.ndarray]] = {}  # only for the LSTM cost
        self._ended: "OrderedDict[int, int]" = OrderedDict()  # id -> frame it ended, oldest first
        self._next_new_id = 0
        self._frame = -1

    @property
    def frame_index(self) -> int:
        """Index of the last frame given to `update` (-1 before the first)."""
        return self._frame

    def _new_id(self) -> int:
        if self._next_new_id < self.max_tracks:
            self._next_new_id += 1
            return self._next_new_id - 1
        if not self._ended:
            raise RuntimeError(
                f"more than {self.max_tracks} tracks are alive at once; no id is free"
            )
        return self._ended.popitem(last=False)[0]

    def _keep(self, dets: Detections) -> np.ndarray:
        """Detections the tracker considers: above det_thresh (low_thresh with a second
        association) and the area floor."""
        keep = dets.scores >= (self.det_thresh if self.low_thresh is None else self.low_thresh)
        if self.min_area > 0:
            keep &= dets.clipped_area() >= self.min_area
        return keep

    def _previous(self) -> Detections:
        """The live tracks as the previous frame's detections. With the Kalman filter, each
        track's box predicted into this frame. Otherwise a track missed for g frames has its last
        box moved on g frames by its recent velocity; one seen in the previous frame keeps its box
        (the paper's matching)."""
        t = self._tracks
        boxes = t.boxes
        if self.kalman is not None:
            boxes = xyah_to_xyxy(t.kf_mean)
        elif self.memory > 0:  # without memory every live track was seen in the previous frame
            gap = (self._frame - 1 - t.last_frame)[:, None].astype(np.float64)
            seen_twice = (t.prev_frame >= 0)[:, None]
            steps = np.maximum(t.last_frame - t.prev_frame, 1)[:, None]
            velocity = np.where(seen_twice, (t.boxes - t.prev_boxes) / steps, 0.0)
            boxes = boxes + velocity * gap
        histories = (
            [np.array(self._histories[int(i)]) for i in t.ids] if self.needs_history else None
        )
        return Detections(boxes, np.ones(len(t)), t.keypoints, t.features, histories)

    def update(self, detections: Detections, image: Optional[np.ndarray] = None) -> Detections:
        """Track one frame.

        Args:
            detections: the frame's `Detections` (`Detections.from_instances` makes them from
                Detectron2 `Instances`; `PoseTrackerHead` takes and returns `Instances`).
            image: the frame (H, W, 3) BGR, needed by the CNN cost.
        Returns:
            The kept detections (score and area filters applied), every field filtered, with
            ``track_ids`` and ``indices`` (their positions in ``detections``) set.
        """
        if not isinstance(detections, Detections):
            raise TypeError(
                f"update() takes Detections, not {type(detections).__name__} (Detectron2 "
                "Instances: Detections.from_instances, or PoseTrackerHead)"
            )
        self._frame += 1
        dets = detections
        if dets.image_size is None and image is not None:
            dets = dataclasses.replace(dets, image_size=tuple(image.shape[:2]))
        keep = np.flatnonzero(self._keep(dets))
        dets = dets[keep]
        if self.needs_features and len(dets):
            if image is None:
                raise ValueError(
                    "the CNN cost needs the frame image: update(detections, image=frame)"
                )
            dets.features = self.feature_extractor(image, dets.boxes)
        ids = self._assign(dets)
        if self.low_thresh is not None and (ids < 0).any():  # unmatched low-score detections
            matched = ids >= 0
            dets, ids, keep = dets[np.flatnonzero(matched)], ids[matched], keep[matched]
        dets.track_ids = ids
        dets.indices = keep
        return dets

    def _assign(self, dets: Detections) -> np.ndarray:
        """Track ids of ``dets`` (-1 for low-score detections left unmatched)."""
        ids = np.full(len(dets), -1, dtype=np.int64)
        high = dets.scores >= self.det_thresh
        t = self._tracks
        if self.kalman is not None and len(t):
            # A lost track keeps its size (ByteTrack's rule): extrapolating the height's velocity
            # over a long gap shrinks or swells the box until nothing matches it.
            t.kf_mean[t.last_frame < self._frame - 1, 7] = 0.0
            t.kf_mean, t.kf_cov = self.kalman.predict(t.kf_mean, t.kf_cov)
        rows, cols = self._match(dets, high)
        ids[cols] = t.ids[rows]
        new = np.flatnonzero((ids < 0) & high)
        ids[new] = [self._new_id() for _ in new]
        self._carry_forward(dets, ids, rows, cols, new)
        self._end_lost_tracks()
        return ids

    def _match(self, dets: Detections, high: np.ndarray):
        """(track rows, detection indices) matched: the high-score detections on the cost, then
        (ByteTrack's second step) the low-score ones on IoU."""
        rows = cols = np.zeros(0, np.int64)
        if not len(self._tracks) or not len(dets):
            return rows, cols
        prev = self._previous()
        first = np.flatnonzero(high)
        if len(first):
            cost = np.asarray(self.cost_fn(prev, dets[first]), dtype=np.float64)
            rows, cols = self.matcher(cost, self.max_cost)
            cols = first[cols]
        if self.low_thresh is not None and (~high).any():
            rows, cols = self._second_association(prev, dets, ~high, rows, cols)
        return rows, cols

    def _carry_forward(self, dets: Detections, ids, rows, cols, new) -> None:
        """Matched tracks move on to their detections; unmatched detections become new tracks."""
        t = self._tracks
        kalman_new = None
        if self.kalman is not None:
            t.kf_mean[rows], t.kf_cov[rows] = self.kalman.update(
                t.kf_mean[rows], t.kf_cov[rows], dets.boxes[cols]
            )
            kalman_new = self.kalman.initiate(dets.boxes[new]) if len(new) else None
        t.move(rows, dets.boxes[cols], self._frame)
        t.add(ids[new], dets.boxes[new], self._frame, kalman_new)
        for name in _Tracks.CARRIED:
            t.carry(name, getattr(dets, name), rows, cols, new)
        if self.needs_history:
            for i, j in zip(ids[cols].tolist() + ids[new].tolist(), cols.tolist() + new.tolist()):
                self._histories.setdefault(i, deque(maxlen=self.history)).append(dets.boxes[j])

    def _end_lost_tracks(self) -> None:
        """Tracks unseen for more than `memory` frames end; their ids become reusable."""
        t = self._tracks
        alive = self._frame - t.last_frame <= self.memory
        if not alive.all():
            for tid in t.ids[~alive].tolist():
                self._ended[tid] = self._frame
                self._histories.pop(tid, None)
            t.keep(alive)

    def _second_association(self, prev, dets, low, rows, cols):
        """ByteTrack's second step: the low-score detections against the tracks seen in the
        previous frame that the first step left unmatched, on box IoU."""
        t = self._tracks
        free = np.ones(len(t), bool)
        free[rows] = False
        free &= t.last_frame == self._frame - 1
        free, low = np.flatnonzero(free), np.flatnonzero(low)
        if not len(free) or not len(low):
            return rows, cols
        cost = iou_cost(prev[free], dets[low])
        r2, c2 = self.matcher(cost, self.second_max_cost)
        return np.concatenate([rows, free[r2]]), np.concatenate([cols, low[c2]])


class _Tracks:
    """The live tracks, one row each, as arrays (so that a frame costs a fixed number of numpy
    calls): every per-track quantity is a field here, filtered and extended together, so a new
    one is a new field, not a new branch in the tracker."""

    # What a track takes from its latest detection when the detections carry it.
    CARRIED = ("keypoints", "features")
    FIELDS = ("ids", "boxes", "prev_boxes", "last_frame", "prev_frame", "kf_mean", "kf_cov")
    FIELDS += CARRIED

    def __init__(self, with_kalman: bool):
        self.ids = np.zeros(0, np.int64)
        self.boxes = np.zeros((0, 4))  # last box
        self.prev_boxes = np.zeros((0, 4))  # the box before it (for the velocity)
        self.last_frame = np.zeros(0, np.int64)
        self.prev_frame = np.full(0, -1, np.int64)  # -1: seen once only
        # Kalman state (motion "kalman" only): mean (N, 8), covariance (N, 8, 8).
        self.kf_mean = np.zeros((0, 8)) if with_kalman else None
        self.kf_cov = np.zeros((0, 8, 8)) if with_kalman else None
        self.keypoints: Optional[np.ndarray] = None
        self.features: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.ids)

    def keep(self, mask: np.ndarray) -> None:
        for name in self.FIELDS:
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value[mask])

    def move(self, rows, boxes, frame: int) -> None:
        """Matched tracks take their detections' boxes."""
        self.prev_boxes[rows] = self.boxes[rows]
        self.prev_frame[rows] = self.last_frame[rows]
        self.boxes[rows] = boxes
        self.last_frame[rows] = frame

    def add(self, ids, boxes, frame: int, kalman=None) -> None:
        """New tracks (``kalman``: their initial (mean, covariance))."""
        if not len(ids):
            return
        self.ids = np.concatenate([self.ids, ids])
        self.boxes = np.concatenate([self.boxes, boxes])
        self.prev_boxes = np.concatenate([self.prev_boxes, boxes])
        self.last_frame = np.concatenate([self.last_frame, np.full(len(ids), frame)])
        self.prev_frame = np.concatenate([self.prev_frame, np.full(len(ids), -1)])
        if kalman is not None:
            self.kf_mean = np.concatenate([self.kf_mean, kalman[0]])
            self.kf_cov = np.concatenate([self.kf_cov, kalman[1]])

    def carry(self, name: str, values, rows, cols, new) -> None:
        """A CARRIED field after `move` and `add`: matched rows take the detection's values,
        new rows theirs. Dropped (None) when the detections do not carry it; reset to zeros for
        the older tracks when its shape changes."""
        if values is None:
            setattr(self, name, None)
            return
        state = getattr(self, name)
        if state is None or state.shape[1:] != values.shape[1:]:
            state = np.zeros((len(self) - len(new),) + values.shape[1:])
        state[rows] = values[cols]
        setattr(self, name, np.concatenate([state, values[new]]) if len(new) else state)


def track_frames(frames: Iterable, tracker: PoseTracker) -> Iterator[Detections]:
    """Track one video: the one loop of every caller (the evaluator, `link`, the video
    predictor). ``tracker`` is reset, then each frame goes through `PoseTracker.update` and its
    tracked `Detections` are yielded as they come. ``frames``: each frame's `Detections`, or
    ``(Detections, image)`` pairs where the CNN cost needs the frame."""
    tracker.reset()
    for frame in frames:
        detections, image = frame if isinstance(frame, tuple) else (frame, None)
        yield tracker.update(detections, image)
