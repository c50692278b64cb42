"""The toolkit's evaluated frames: a ground-truth file and its prediction file read into the
people of every evaluated frame (the toolkit's 15 joints), with every input rule of
POSETRACK.md section 3 (frames paired by position, only frames with ground-truth people,
ignore regions, track-id checks). The metrics over them are in `posetrack_eval`.
"""

import math
import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..keypoints import POSETRACK17_JOINT_NAMES, POSETRACK17_TO_COCO
from ..posetrack_json import (
    PoseTrackFormatError,
    PoseTrackFrame,
    PoseTrackPerson,
    read_posetrack_file,
)

__all__ = ["People", "SequenceData", "load_sequence_pair", "inside_polygons", "NUM_JOINTS"]

NUM_JOINTS = len(POSETRACK17_JOINT_NAMES)  # the toolkit's joints (PoseTrack 2017 ids 0..14)
MAX_TRACK_ID = 10000  # the toolkit asserts ids below this
CHALLENGE_MAX_TRACK_ID = 1000  # the challenge asks for 0..999
MISSING_SCORE = -9999.0
_SLOTS = list(POSETRACK17_TO_COCO)  # the COCO slot of each toolkit joint


@dataclass
class People:
    """The people of one frame, in file order. points (N, 15, 2), present (N, 15), scores (N, 15),
    track ids (N,), head sizes (N,) (ground truth only)."""

    points: np.ndarray
    present: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray
    head_sizes: Optional[np.ndarray] = None

    @classmethod
    def empty(cls):
        return cls(
            np.zeros((0, NUM_JOINTS, 2)),
            np.zeros((0, NUM_JOINTS), bool),
            np.zeros((0, NUM_JOINTS)),
            np.zeros(0, np.int64),
            np.zeros(0),
        )

    def __len__(self):
        return len(self.track_ids)

    def select(self, keep):
        return People(
            self.points[keep],
            self.present[keep],
            self.scores[keep],
            self.track_ids[keep],
            None if self.head_sizes is None else self.head_sizes[keep],
        )


@dataclass
class SequenceData:
    """One sequence's evaluated frames (ground truth has at least one person), with predictions."""

    name: str
    gt: List[People] = field(default_factory=list)
    pred: List[People] = field(default_factory=list)
    frame_index: List[int] = field(
        default_factory=list
    )  # position of each evaluated frame in the file


def _track_id(value, path: str, frame: int) -> int:
    v = value
    if (
        isinstance(v, bool)
        or not isinstance(v, (int, float))
        or (isinstance(v, float) and not v.is_integer())
    ):
        raise PoseTrackFormatError(f"{path}: frame {frame}: track id {value!r} is not an integer")
    v = int(v)
    if not 0 <= v < MAX_TRACK_ID:
        raise PoseTrackFormatError(
            f"{path}: frame {frame}: track id {v} is outside 0..{MAX_TRACK_ID - 1} "
            "(the toolkit asserts this)"
        )
    return v


def _read_frames(path: str, what: str, is_gt: bool) -> List[PoseTrackFrame]:
    """The file's frames; prediction files must name their keypoints (``categories``)."""
    return read_posetrack_file(path, what, require_categories=not is_gt).frames


def inside_polygons(points: np.ndarray, polygons: Sequence[np.ndarray]) -> np.ndarray:
    """(N, 2) points -> (N,) bool: strictly inside any polygon (a point on an edge is not), the
    toolkit's shapely `Polygon.contains`; OpenCV's pointPolygonTest is > 0 exactly there."""
    inside = np.zeros(len(points), bool)
    for poly in polygons:
        contour = np.asarray(poly, np.float32).reshape(-1, 1, 2)
        for n in np.flatnonzero(~inside):
            x, y = points[n]
            inside[n] = cv2.pointPolygonTest(contour, (float(x), float(y)), False) > 0
    return inside


def zero_head_message(path: str, frame: int, person: PoseTrackPerson) -> str:
    """A ground-truth head box of size 0: PCKh divides by its diagonal, so the official kits
    would count every joint of that person missed (no prediction can match it)."""
    return (
        f"{path}: frame {frame}: a ground-truth person (track {person.track_id}) has a head box "
        f"of size 0 ({person.bbox_head}); PCKh divides by its diagonal: fix the annotation"
    )


def _to_people(
    persons: Sequence[PoseTrackPerson], polygons, path: str, frame: int, is_gt: bool, offset: int
) -> People:
    """The toolkit's 15 joints of a frame's people: ignore-region filtering, removal of people
    without points, checks, arrays."""
    n = len(persons)
    points = np.zeros((n, NUM_JOINTS, 2))
    present = np.zeros((n, NUM_JOINTS), bool)
    scores = np.full((n, NUM_JOINTS), np.nan)
    heads = np.zeros(n)
    ids = np.zeros(n, np.int64)
    seen = set()
    for i, person in enumerate(persons):
        here = person.present[_SLOTS]
        present[i] = here
        points[i, here] = person.keypoints[_SLOTS, :2][here]
        joint_scores = (
            person.joint_scores[_SLOTS]
            if person.joint_scores is not None
            else np.full(NUM_JOINTS, np.nan)
        )
        scores[i, here] = np.where(np.isnan(joint_scores), MISSING_SCORE, joint_scores)[here]
        track = person.track_id
        if track is None:
            if not is_gt:
                raise PoseTrackFormatError(f"{path}: frame {frame}: a prediction without track_id")
            track = 0
        t = _track_id(track, path, frame)
        if not is_gt:
            if t in seen:
                raise PoseTrackFormatError(
                    f"{path}: frame {frame}: track id {t} appears twice (ids must be "
                    "unique within a frame)"
                )
            seen.add(t)
        ids[i] = t + offset
        if is_gt:
            head = person.bbox_head
            if head is None and here.any():
                raise PoseTrackFormatError(
                    f"{path}: frame {frame}: a ground-truth person without a head box"
                )
            if head is not None:
                heads[i] = 0.6 * math.hypot(head[2] - head[0], head[3] - head[1])
                if heads[i] == 0 and here.any():
                    raise PoseTrackFormatError(zero_head_message(path, frame, person))
    if polygons and present.any():
        flat = points.reshape(-1, 2)
        ignored = inside_polygons(flat, polygons).reshape(present.shape)
        present &= ~ignored
    keep = present.any(axis=1)
    return People(points, present, scores, ids, heads if is_gt else None).select(keep)


def load_sequence_pair(
    gt_path: str, pred_path: str, seq_index: int = 0
) -> Tuple[SequenceData, int]:
    """Read a ground-truth file and its prediction file into the frames the toolkit evaluates.

    Track ids are offset by ``seq_index * 10000`` as the toolkit does. Returns the sequence and
    the number of prediction track ids >= 1000 (allowed by the toolkit, not by the challenge).
    """
    gt_frames = _read_frames(gt_path, "ground-truth", True)
    if not os.path.isfile(pred_path):
        raise PoseTrackFormatError(
            f"{pred_path}: prediction file for ground truth {gt_path} not found"
        )
    pr_frames = _read_frames(pred_path, "prediction", False)
    if len(gt_frames) != len(pr_frames):
        raise PoseTrackFormatError(
            f"{pred_path}: {len(pr_frames)} frames but the ground truth {gt_path} has "
            f"{len(gt_frames)} (predictions must list every ground-truth frame, in order)"
        )
    seq = SequenceData(os.path.splitext(os.path.basename(gt_path))[0])
    offset, big_ids = seq_index * MAX_TRACK_ID, 0
    for f, (gt_frame, pr_frame) in enumerate(zip(gt_frames, pr_frames)):
        gt_raw, polys = gt_frame.people, gt_frame.ignore_regions
        pred = _to_people(pr_frame.people, polys, pred_path, f, False, offset)
        big_ids += int((pred.track_ids - offset >= CHALLENGE_MAX_TRACK_ID).sum())
        if not gt_raw:  # not evaluated; predictions here never count (but are still checked)
            continue
        seq.gt.append(_to_people(gt_raw, polys, gt_path, f, True, offset))
        seq.pred.append(pred)
        seq.frame_index.append(f)
    return seq, big_ids
