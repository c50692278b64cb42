"""PoseTrack metrics as the official toolkit ("poseval", py3, with py-motmetrics 1.4.0) computes
them: per-joint AP by PCKh@0.5 and per-joint CLEAR MOT, over the evaluated frames that
`sequences.load_sequence_pair` reads (every input rule of POSETRACK.md section 3). The toolkit is not installable from the package registry, so this is a
re-implementation, vectorised per frame; `ClearMOTCounter` replaces motmetrics' accumulator.
"""

import logging
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..keypoints import POSETRACK17_JOINT_NAMES
from ..posetrack_json import PoseTrackFormatError
from .clear_mot import ClearMOTCounter, MotmetricsCounter
from .sequences import NUM_JOINTS, People, SequenceData, load_sequence_pair

__all__ = [
    "evaluate_sequences",
    "pooled_metrics",
    "evaluate_posetrack",
    "JOINT_NAMES",
    "GROUPS",
    "format_tables",
]

logger = logging.getLogger(__name__)

JOINT_NAMES = POSETRACK17_JOINT_NAMES  # the toolkit's joint order (ids 0..14)
DIST_THRESH = 0.5  # PCKh@0.5
_J = {name: i for i, name in enumerate(JOINT_NAMES)}
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
    return_parts: bool = False,
) -> dict:
    """Metrics over sequences: per-joint AP (by PCKh@0.5) and per-joint CLEAR MOT, as percents.

    ``mot_backend``: "fast" (`ClearMOTCounter`) or "motmetrics" (py-motmetrics accumulators, as
    the toolkit runs them; same numbers, slower). ``return_parts``: also return what AP is
    computed from ("parts": each prediction's score and hit per joint, the ground-truth counts),
    for `pooled_metrics`.

    Returns {"ap": [15 + total], "ap_precision", "ap_recall", "mota", "motp", "precision",
    "recall" (each [15 + total]), "counts": per joint dicts}.
    """
    scores = [[] for _ in range(NUM_JOINTS)]
    labels = [[] for _ in range(NUM_JOINTS)]
    n_gt = np.zeros(NUM_JOINTS)
    counter_cls = {"fast": ClearMOTCounter, "motmetrics": MotmetricsCounter}[mot_backend]
    totals = {k: np.zeros(NUM_JOINTS) for k in _COUNTS}
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
            matched = None
            if len(gt) > 0 and len(pred) > 0:
                dist = _frame_distances(gt, pred)
                matched = dist, *_assign(dist, gt)
            if eval_pose and len(pred):
                _add_pose_hits(pred, matched, scores, labels)
            if eval_track and k != last:  # the toolkit skips the last evaluated frame
                _update_counters(per_joint, gt, pred, matched)
        for j, c in enumerate(per_joint):
            for key, value in zip(_COUNTS, _counts_of(c)):
                totals[key][j] += value
    out: dict = {}
    if eval_pose:
        ap, pre, rec = _ap(scores, labels, n_gt)
        out["ap"] = _with_total(ap)
        out["ap_precision"], out["ap_recall"] = _with_total(pre), _with_total(rec)
        if return_parts:
            out["parts"] = {
                "scores": [np.asarray(v, float) for v in scores],
                "labels": [np.asarray(v, bool) for v in labels],
                "n_gt": n_gt,
            }
    if eval_track:
        out.update(_track_metrics(totals))
    return out


_COUNTS = ("misses", "switches", "fps", "objects", "dets", "sum_d")


def _counts_of(counter) -> tuple:
    """A joint's CLEAR MOT counts, in the order of _COUNTS."""
    c = counter
    return c.misses, c.switches, c.false_positives, c.objects, c.detections, c.sum_d


def _add_pose_hits(pred, matched, scores, labels) -> None:
    """Each predicted joint's score and whether it hit its person's joint (for AP)."""
    for p in range(len(pred)):
        if matched is not None and matched[2][p] >= 0:
            _, match, assigned = matched
            hits = match[p, assigned[p]]
        else:
            hits = np.zeros(NUM_JOINTS, bool)
        for j in np.flatnonzero(pred.present[p]):
            scores[j].append(pred.scores[p, j])
            labels[j].append(bool(hits[j]))


def _update_counters(per_joint, gt, pred, matched) -> None:
    """One frame into every joint's CLEAR MOT counter: the distance of each labelled and
    predicted joint pair within DIST_THRESH, the others unmatchable."""
    for j in range(NUM_JOINTS):
        if matched is not None:
            gi = np.flatnonzero(gt.present[:, j])
            pi = np.flatnonzero(pred.present[:, j])
            d = matched[0][np.ix_(pi, gi, [j])][..., 0].T  # (G_j, P_j)
            d = np.where(d <= DIST_THRESH, d, np.nan)
            per_joint[j].update(gt.track_ids[gi].tolist(), pred.track_ids[pi].tolist(), d)
        else:  # one dummy object and one dummy hypothesis that cannot match
            per_joint[j].update([0], [0], np.full((1, 1), np.nan))


def _track_metrics(totals) -> dict:
    """MOTA, MOTP, precision and recall per joint and in total, and the counts."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mota = _mota(totals)
        motp = np.where(
            totals["dets"] > 0, 100 * (1 - totals["sum_d"] / np.maximum(totals["dets"], 1)), 0.0
        )
        precision = 100 * totals["dets"] / (totals["dets"] + totals["fps"])
        recall = 100 * totals["dets"] / totals["objects"]
    return {
        "mota": _with_total(mota),
        "motp": _with_total(motp),
        "precision": _with_total(precision),
        "recall": _with_total(recall),
        "counts": {k: v.tolist() for k, v in totals.items()},
    }


def _ap(scores, labels, n_gt) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-joint AP, final precision and recall (percent) from every prediction's score and hit."""
    ap, pre, rec = (np.full(NUM_JOINTS, np.nan) for _ in range(3))
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
    return ap, pre, rec


def _mota(totals) -> np.ndarray:
    return 100 * (1 - (totals["misses"] + totals["switches"] + totals["fps"]) / totals["objects"])


def pooled_metrics(results: Sequence[dict]) -> dict:
    """{"ap": [15 + total], "mota": [15 + total] (None without tracking)} of several
    `evaluate_sequences` results (each with ``return_parts=True``) taken together, as one
    evaluation of all their sequences gives them: for resampling sequences (a bootstrap) without
    evaluating again."""
    scores = [np.concatenate([r["parts"]["scores"][j] for r in results]) for j in range(NUM_JOINTS)]
    labels = [np.concatenate([r["parts"]["labels"][j] for r in results]) for j in range(NUM_JOINTS)]
    n_gt = np.sum([r["parts"]["n_gt"] for r in results], axis=0)
    out = {"ap": _with_total(_ap(scores, labels, n_gt)[0]), "mota": None}
    if all("counts" in r for r in results):
        totals = {
            k: np.sum([r["counts"][k] for r in results], axis=0)
            for k in ("misses", "switches", "fps", "objects")
        }
        with np.errstate(divide="ignore", invalid="ignore"):
            out["mota"] = _with_total(_mota(totals))
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
        raise PoseTrackFormatError(f"{gt_dir}: ground-truth folder not found")
    if not os.path.isdir(pred_dir):
        raise PoseTrackFormatError(f"{pred_dir}: prediction folder not found")
    files = sorted(f for f in os.listdir(gt_dir) if f.endswith(".json"))
    if not files:
        raise PoseTrackFormatError(f"{gt_dir}: no ground-truth .json files")
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
