"""PoseTrack metrics as the official toolkit ("poseval", py3, with py-motmetrics 1.4.0) computes
them: per-joint AP by PCKh@0.5 and per-joint CLEAR MOT, following every input rule of
POSETRACK.md section 3. The toolkit is not installable from the package registry, so this is a
re-implementation, vectorised per frame; `ClearMOTCounter` replaces motmetrics' accumulator.
"""

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..data.keypoints import POSETRACK17_JOINT_NAMES, POSETRACK17_TO_COCO
from ..data.posetrack_json import (
    PoseTrackFormatError,
    PoseTrackFrame,
    PoseTrackPerson,
    read_posetrack_file,
)
from .clear_mot import ClearMOTCounter, MotmetricsCounter

__all__ = [
    "PoseTrackEvalError",
    "SequenceData",
    "load_sequence_pair",
    "evaluate_sequences",
    "evaluate_posetrack",
    "JOINT_NAMES",
    "GROUPS",
    "format_tables",
]

logger = logging.getLogger(__name__)

NUM_JOINTS = 15
JOINT_NAMES = POSETRACK17_JOINT_NAMES  # the toolkit's joint order (ids 0..14)
MAX_TRACK_ID = 10000  # the toolkit asserts ids below this
CHALLENGE_MAX_TRACK_ID = 1000  # the challenge asks for 0..999
DIST_THRESH = 0.5  # PCKh@0.5
MISSING_SCORE = -9999.0
_J = {name: i for i, name in enumerate(JOINT_NAMES)}
_SLOTS = list(POSETRACK17_TO_COCO)  # the COCO slot of each toolkit joint
# Reported columns: each the mean of its joints' values (the toolkit's `getCum`).
GROUPS = {
    "head": [_J["head_top"], _J["head_bottom"], _J["nose"]],
    "shoulder": [_J["left_shoulder"], _J["right_shoulder"]],
    "elbow": [_J["left_elbow"], _J["right_elbow"]],
    "wrist": [_J["left_wrist"], _J["right_wrist"]],
    "hip": [_J["left_hip"], _J["right_hip"]],
    "knee": [_J["left_knee"], _J["right_knee"]],
    "ankle": [_J["left_ankle"], _J["right_ankle"]],
}


# One error class for PoseTrack files: the reader's (the old name stays for users).
PoseTrackEvalError = PoseTrackFormatError


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
        raise PoseTrackEvalError(f"{path}: frame {frame}: track id {value!r} is not an integer")
    v = int(v)
    if not 0 <= v < MAX_TRACK_ID:
        raise PoseTrackEvalError(
            f"{path}: frame {frame}: track id {v} is outside 0..{MAX_TRACK_ID - 1} "
            "(the toolkit asserts this)"
        )
    return v


def _read_frames(path: str, what: str, is_gt: bool) -> List[PoseTrackFrame]:
    """The file's frames; prediction files must name their keypoints (``categories``)."""
    return read_posetrack_file(path, what, require_categories=not is_gt).frames


def _inside_polygons(points: np.ndarray, polygons: Sequence[np.ndarray]) -> np.ndarray:
    """(N, 2) points -> (N,) bool: strictly inside any polygon (a point on an edge is not), the
    toolkit's shapely `Polygon.contains`; OpenCV's pointPolygonTest is > 0 exactly there."""
    inside = np.zeros(len(points), bool)
    for poly in polygons:
        contour = np.asarray(poly, np.float32).reshape(-1, 1, 2)
        for n in np.flatnonzero(~inside):
            x, y = points[n]
            inside[n] = cv2.pointPolygonTest(contour, (float(x), float(y)), False) > 0
    return inside


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
                raise PoseTrackEvalError(f"{path}: frame {frame}: a prediction without track_id")
            track = 0
        t = _track_id(track, path, frame)
        if not is_gt:
            if t in seen:
                raise PoseTrackEvalError(
                    f"{path}: frame {frame}: track id {t} appears twice (ids must be "
                    "unique within a frame)"
                )
            seen.add(t)
        ids[i] = t + offset
        if is_gt:
            head = person.bbox_head
            if head is None and here.any():
                raise PoseTrackEvalError(
                    f"{path}: frame {frame}: a ground-truth person without a head box"
                )
            if head is not None:
                heads[i] = 0.6 * math.hypot(head[2] - head[0], head[3] - head[1])
    if polygons and present.any():
        flat = points.reshape(-1, 2)
        ignored = _inside_polygons(flat, polygons).reshape(present.shape)
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
        raise PoseTrackEvalError(
            f"{pred_path}: prediction file for ground truth {gt_path} not found"
        )
    pr_frames = _read_frames(pred_path, "prediction", False)
    if len(gt_frames) != len(pr_frames):
        raise PoseTrackEvalError(
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


def _frame_distances(gt: People, pred: People) -> np.ndarray:
    """(P, G, 15) normalised joint distances; inf where either joint is missing."""
    d = np.linalg.norm(pred.points[:, None] - gt.points[None], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = d / gt.head_sizes[None, :, None]
    both = pred.present[:, None] & gt.present[None]
    return np.where(both, d, np.inf)


def _assign(dist: np.ndarray, gt: People) -> Tuple[np.ndarray, np.ndarray]:
    """The toolkit's assignment by PCKh: (match (P, G, 15), gt index of each prediction or -1)."""
    match = dist <= DIST_THRESH
    pck = match.sum(axis=2).astype(float)
    n_gt = gt.present.sum(axis=1)
    pck = np.where(n_gt[None] > 0, pck / np.maximum(n_gt[None], 1), pck)
    # Each prediction keeps only its best ground truth (ties to the lower index) ...
    best = np.argmax(pck, axis=1)
    keep = np.zeros_like(pck, bool)
    keep[np.arange(len(pck)), best] = True
    pck = np.where(keep, pck, 0.0)
    # ... then each ground truth keeps its best prediction (by PCKh, ties to the lower index).
    pr_to_gt = np.argmax(pck, axis=0)
    pr_to_gt[np.max(pck, axis=0) == 0] = -1
    assigned = np.full(len(pck), -1)
    for g, p in enumerate(pr_to_gt):
        if p >= 0:
            assigned[p] = g
    return match, assigned


def evaluate_sequences(
    seqs: Sequence[SequenceData],
    eval_pose: bool = True,
    eval_track: bool = True,
    warn=logger.warning,
    mot_backend: str = "fast",
) -> dict:
    """Metrics over sequences: per-joint AP (by PCKh@0.5) and per-joint CLEAR MOT, as percents.

    ``mot_backend``: "fast" (`ClearMOTCounter`) or "motmetrics" (py-motmetrics accumulators, as
    the toolkit runs them; same numbers, slower).

    Returns {"ap": [15 + total], "ap_precision", "ap_recall", "mota", "motp", "precision",
    "recall" (each [15 + total]), "counts": per joint dicts}.
    """
    scores = [[] for _ in range(NUM_JOINTS)]
    labels = [[] for _ in range(NUM_JOINTS)]
    n_gt = np.zeros(NUM_JOINTS)
    counter_cls = {"fast": ClearMOTCounter, "motmetrics": MotmetricsCounter}[mot_backend]
    totals = {
        k: np.zeros(NUM_JOINTS) for k in ("misses", "switches", "fps", "objects", "dets", "sum_d")
    }
    for seq in seqs:
        per_joint = [counter_cls() for _ in range(NUM_JOINTS)]
        last = len(seq.gt) - 1
        if eval_track and last < 1:
            warn(
                f"{seq.name}: {len(seq.gt)} evaluated frame(s); the toolkit skips the last evaluated "
                "frame of every sequence and breaks on this one, so it is left out of tracking metrics"
            )
        for k, (gt, pred) in enumerate(zip(seq.gt, seq.pred)):
            n_gt += gt.present.sum(axis=0)
            both = len(gt) > 0 and len(pred) > 0
            if both:
                dist = _frame_distances(gt, pred)
                match, assigned = _assign(dist, gt)
            if eval_pose and len(pred):
                for p in range(len(pred)):
                    hits = (
                        match[p, assigned[p]]
                        if both and assigned[p] >= 0
                        else np.zeros(NUM_JOINTS, bool)
                    )
                    for j in np.flatnonzero(pred.present[p]):
                        scores[j].append(pred.scores[p, j])
                        labels[j].append(bool(hits[j]))
            if not eval_track or k == last:
                continue  # the toolkit skips the last evaluated frame of a sequence
            for j in range(NUM_JOINTS):
                if both:
                    gi = np.flatnonzero(gt.present[:, j])
                    pi = np.flatnonzero(pred.present[:, j])
                    d = dist[np.ix_(pi, gi, [j])][..., 0].T  # (G_j, P_j)
                    d = np.where(d <= DIST_THRESH, d, np.nan)
                    per_joint[j].update(gt.track_ids[gi].tolist(), pred.track_ids[pi].tolist(), d)
                else:  # one dummy object and one dummy hypothesis that cannot match
                    per_joint[j].update([0], [0], np.full((1, 1), np.nan))
        for j, c in enumerate(per_joint):
            for key, value in (
                ("misses", c.misses),
                ("switches", c.switches),
                ("fps", c.false_positives),
                ("objects", c.objects),
                ("dets", c.detections),
                ("sum_d", c.sum_d),
            ):
                totals[key][j] += value

    out: dict = {}
    if eval_pose:
        ap, pre, rec = (
            np.full(NUM_JOINTS, np.nan),
            np.full(NUM_JOINTS, np.nan),
            np.full(NUM_JOINTS, np.nan),
        )
        for j in range(NUM_JOINTS):
            s, lab = np.array(scores[j], float), np.array(labels[j], float)
            order = s.argsort()[::-1]  # the toolkit's order (ties included)
            tp = np.cumsum(lab[order] == 1)
            if len(tp) == 0:
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                recall = tp / n_gt[j]
            precision = tp / np.arange(1, len(tp) + 1)
            ap[j] = _voc_ap(recall, precision) * 100
            pre[j], rec[j] = precision[-1] * 100, recall[-1] * 100
        out["ap"] = _with_total(ap)
        out["ap_precision"], out["ap_recall"] = _with_total(pre), _with_total(rec)
    if eval_track:
        with np.errstate(divide="ignore", invalid="ignore"):
            mota = 100 * (
                1 - (totals["misses"] + totals["switches"] + totals["fps"]) / totals["objects"]
            )
            motp = np.where(
                totals["dets"] > 0, 100 * (1 - totals["sum_d"] / np.maximum(totals["dets"], 1)), 0.0
            )
            precision = 100 * totals["dets"] / (totals["dets"] + totals["fps"])
            recall = 100 * totals["dets"] / totals["objects"]
        out.update(
            mota=_with_total(mota),
            motp=_with_total(motp),
            precision=_with_total(precision),
            recall=_with_total(recall),
        )
        out["counts"] = {k: v.tolist() for k, v in totals.items()}
    return out


def _voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point interpolated AP (the toolkit's `VOCap`)."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def _with_total(values: np.ndarray) -> List[float]:
    """15 per-joint values plus their mean ignoring NaN."""
    finite = values[~np.isnan(values)]
    return values.tolist() + [float(finite.mean()) if len(finite) else float("nan")]


def evaluate_posetrack(
    gt_dir: str,
    pred_dir: str,
    eval_pose: bool = True,
    eval_track: bool = True,
    warn=logger.warning,
    mot_backend: str = "fast",
) -> dict:
    """Evaluate a folder of prediction files against a folder of ground-truth files (matched by
    file name, ground-truth files taken in sorted order). See `evaluate_sequences`."""
    if not os.path.isdir(gt_dir):
        raise PoseTrackEvalError(f"{gt_dir}: ground-truth folder not found")
    if not os.path.isdir(pred_dir):
        raise PoseTrackEvalError(f"{pred_dir}: prediction folder not found")
    files = sorted(f for f in os.listdir(gt_dir) if f.endswith(".json"))
    if not files:
        raise PoseTrackEvalError(f"{gt_dir}: no ground-truth .json files")
    seqs, big = [], 0
    for i, name in enumerate(files):
        seq, n = load_sequence_pair(os.path.join(gt_dir, name), os.path.join(pred_dir, name), i)
        seqs.append(seq)
        big += n
    if big:
        warn(
            f"{big} predicted track ids are >= 1000: scored as the toolkit does, but the PoseTrack "
            "challenge asks for ids 0..999"
        )
    result = evaluate_sequences(seqs, eval_pose, eval_track, warn, mot_backend)
    result["num_sequences"] = len(seqs)
    result["num_frames"] = sum(len(s.gt) for s in seqs)
    return result


def grouped(values: Sequence[float]) -> Dict[str, float]:
    """Head, Shoulder, ..., Ankle (means of their joints, as the toolkit: NaN if any is NaN) and Total."""
    v = np.asarray(values, float)
    out = {name: float(v[idx].mean()) for name, idx in GROUPS.items()}
    out["total"] = float(v[NUM_JOINTS])
    return out


def format_tables(result: dict) -> str:
    """The toolkit's two standard tables as text."""
    cols = list(GROUPS) + ["total"]
    header = "| " + " | ".join(c.capitalize() for c in cols)
    lines = []
    if "ap" in result:
        g = grouped(result["ap"])
        lines += [
            "Average Precision (AP) metric:",
            "| " + header[2:] + " |",
            "|" + "---|" * len(cols),
            "| " + " | ".join(f"{g[c]:.1f}" for c in cols) + " |",
            "",
        ]
    if "mota" in result:
        mcols = [f"MOTA {c.capitalize()}" for c in cols] + ["MOTP Total", "Prec Total", "Rec Total"]
        g = grouped(result["mota"])
        vals = [g[c] for c in cols] + [
            result["motp"][-1],
            result["precision"][-1],
            result["recall"][-1],
        ]
        lines += [
            "Multiple Object Tracking (MOT) metrics:",
            "| " + " | ".join(mcols) + " |",
            "|" + "---|" * len(mcols),
            "| " + " | ".join(f"{v:.1f}" for v in vals) + " |",
        ]
    return "\n".join(lines)
