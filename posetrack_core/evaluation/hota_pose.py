"""PoseTrack21's official pose-tracking metrics: keypoint HOTA, DetA, AssA, LocA, ... per joint.

The reference is the PoseTrack21 evaluation kit (``anDoer/PoseTrack21``, ``eval/posetrack21``:
``trackeval/datasets/posetrack.py`` reads and pairs the files, ``trackeval/metrics/hota_pose.py``
is the metric). The kit is a TrackEval fork, but its keypoint HOTA is not TrackEval's HOTA run per
joint: it matches on the similarity alone (TrackEval's HOTA matches on alignment x similarity),
counts joints rather than detections, and adds its own empty-frame counting. None of that is in
``trackeval``, so it is written here by hand, vectorised over the 19 alphas; the box HOTA of
`box_metrics` is ``trackeval``'s own. Every rule below is the kit's:

- Sequences: every ``.json`` ground-truth file; the prediction file of the same name must exist
  and have as many frames. Only frames whose ground truth ``is_labeled`` are evaluated, paired by
  position (their image ids must agree).
- Joints: the 17 PoseTrack slots without the ears, in file order (`KIT_JOINT_NAMES`); a joint is
  valid when x > 0 and y > 0 (visibility flags and joint scores are not read: a prediction file
  must leave out, as zeros, the joints it does not claim).
- Ignore regions (only in frames that have some): joints strictly inside a polygon become (0, 0);
  a person with every joint inside, or with no joint left (x <= 0 and y <= 0 for all), is removed.
- Similarity of a ground-truth and a predicted joint: ``max(0, 1 - d / 0.5001)``, ``d`` their
  distance over the head size ``0.6 * ||head box diagonal||``, 0 if either is invalid.
- Per joint and alpha in 0.05, 0.10, ..., 0.95: Hungarian matching on the similarity, a match
  counting when its similarity >= alpha; DetA, AssA (TrackEval's definitions over joints), LocA.
- A frame without predictions adds the sequence's whole count of ground-truth joints to the
  misses, not the frame's (the kit's counting, kept for equal numbers); a labelled frame without
  ground-truth people, on which the kit itself fails, adds the sequence's predicted joints to
  the false positives, as the kit's code for that case would.
- "Total": the mean over joints per sequence, combined over sequences like every column (counts
  summed, AssA/AssRe/AssPr/LocA weighted by true positives); a reported value is the mean over
  the alphas. HOTA(0) and LocA(0) are the values at the lowest alpha (0.05).
"""

import os
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..keypoints import EVALUATED_SLOTS
from ..posetrack_json import PoseTrackFormatError, PoseTrackFrame, read_posetrack_file
from .sequences import inside_polygons, zero_head_message

__all__ = [
    "KIT_JOINT_NAMES",
    "HOTA_METRICS",
    "ALPHAS",
    "KitFrame",
    "load_posetrack21_pair",
    "hota_sequence",
    "hota_combine",
    "score_posetrack21",
    "evaluate_posetrack21",
    "format_hota_table",
]

# The kit's joints: PoseTrack's 17 slots without the ears (EVALUATED_SLOTS, in slot order).
KIT_JOINT_NAMES = ("Nose", "Neck", "Head", "LS", "RS", "LE", "RE", "LW", "RW", "LH", "RH", "LK",
                   "RK", "LA", "RA")  # fmt: skip
NUM_JOINTS = len(KIT_JOINT_NAMES)
ALPHAS = np.arange(0.05, 0.99, 0.05)
_EPS = np.finfo("float").eps
# The reported metrics, in the kit's order (each per joint and total, in percent).
HOTA_METRICS = ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "RHOTA",
                "HOTA(0)", "LocA(0)", "HOTALocA(0)")  # fmt: skip
_COUNTS = ("HOTA_TP", "HOTA_FN", "HOTA_FP")
_WEIGHTED = ("AssA", "AssRe", "AssPr")


@dataclass
class KitFrame:
    """One evaluated frame after the kit's input rules: points (N, 15, 2) with (0, 0) for
    invalid joints, track ids (N,), and for the ground truth head sizes (N,)."""

    gt_points: np.ndarray
    gt_ids: np.ndarray
    head_sizes: np.ndarray
    pred_points: np.ndarray
    pred_ids: np.ndarray


def _frame_people(frame: PoseTrackFrame, path: str, is_gt: bool):
    points, ids, heads = [], [], []
    for person in frame.people:
        tid = person.track_id
        integral = isinstance(tid, (int, np.integer)) or (
            isinstance(tid, float) and tid.is_integer()
        )
        if isinstance(tid, bool) or not integral or tid < 0:
            raise PoseTrackFormatError(
                f"{path}: frame {frame.index}: track_id {tid!r} is not an integer >= 0"
            )
        ids.append(int(tid))
        points.append(person.keypoints[list(EVALUATED_SLOTS), :2])
        if is_gt:
            if person.bbox_head is None:
                raise PoseTrackFormatError(
                    f"{path}: frame {frame.index}: a ground-truth person has no 'bbox_head'"
                )
            x1, y1, x2, y2 = person.bbox_head
            heads.append(0.6 * np.hypot(x2 - x1, y2 - y1))
            if heads[-1] == 0:
                raise PoseTrackFormatError(zero_head_message(path, frame.index, person))
    dup = [i for i in set(ids) if ids.count(i) > 1]
    if dup:
        what = "ground truth" if is_gt else "prediction"
        raise PoseTrackFormatError(
            f"{path}: frame {frame.index}: the {what} has track id {dup[0]} more than once"
        )
    return (
        np.asarray(points, float).reshape(-1, NUM_JOINTS, 2),
        np.asarray(ids, np.int64),
        np.asarray(heads, float),
    )


def _apply_ignore(points, ids, heads, polygons):
    """The kit's ignore regions: joints inside become (0, 0); people with every joint inside,
    or with nothing left, are removed."""
    if not polygons or len(points) == 0:
        return points, ids, heads
    inside = inside_polygons(points.reshape(-1, 2), polygons).reshape(points.shape[:2])
    points = np.where(inside[..., None], 0.0, points)
    gone = (points[..., 0] <= 0) & (points[..., 1] <= 0)
    keep = ~inside.all(axis=1) & ~gone.all(axis=1)
    return points[keep], ids[keep], heads[keep] if len(heads) else heads


def load_posetrack21_pair(
    gt_path: str, pred_path: str, check_image_ids: bool = True
) -> List[KitFrame]:
    """A sequence's evaluated frames, read as the kit reads them (see the module doc).

    ``check_image_ids=False`` pairs frames by position without the kit's image-id check, for
    prediction files that number their frames from 0 (``track_video``'s)."""
    gt = read_posetrack_file(gt_path, "ground-truth", require_categories=False)
    if not os.path.isfile(pred_path):
        raise PoseTrackFormatError(f"{pred_path}: prediction file missing (for {gt_path})")
    pred = read_posetrack_file(pred_path, "prediction", require_categories=False)
    if len(gt.frames) != len(pred.frames):
        raise PoseTrackFormatError(
            f"{pred_path}: {len(pred.frames)} frames, the ground truth {gt_path} has "
            f"{len(gt.frames)} (the kit pairs frames by position)"
        )
    frames = []
    for g, p in zip(gt.frames, pred.frames):
        labeled = g.is_labeled if g.is_labeled is not None else bool(g.people)
        if not labeled:
            continue
        if check_image_ids and g.image_id != p.image_id:
            raise PoseTrackFormatError(
                f"{pred_path}: frame {p.index} has image id {p.image_id!r}, the ground truth's "
                f"frame {g.index} {g.image_id!r} (the kit pairs frames by position and checks "
                "their ids; --ignore-image-ids pairs by position only)"
            )
        gp, gi, gh = _apply_ignore(*_frame_people(g, gt_path, True), g.ignore_regions)
        pp, pi, _ = _apply_ignore(*_frame_people(p, pred_path, False), g.ignore_regions)
        frames.append(KitFrame(gp, gi, gh, pp, pi))
    return frames


def _similarity(f: KitFrame, valid_gt: np.ndarray, valid_pred: np.ndarray) -> np.ndarray:
    """(G, P, 15) keypoint similarity of one frame, given its (G, 15) and (P, 15) valid joints."""
    g, p = f.gt_points[:, None], f.pred_points[None]
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.sqrt(((g - p) ** 2).sum(-1)) / f.head_sizes[:, None, None]
    dist = np.where(valid_gt[:, None] & valid_pred[None], dist, np.inf)
    return np.maximum(1 - dist / 0.5001, 0)


def _relabel(ids_per_frame: List[np.ndarray]):
    unique = np.unique(np.concatenate([np.zeros(0, np.int64)] + ids_per_frame))
    return [np.searchsorted(unique, ids) for ids in ids_per_frame], len(unique)


def hota_sequence(frames: List[KitFrame]) -> Dict[str, np.ndarray]:
    """The kit's per-sequence result: counts (A, 16), AssA/AssRe/AssPr/LocA (A, 16), column 15
    the total (sum of counts, mean of the rest)."""
    a_n = len(ALPHAS)
    res = {k: np.zeros((a_n, NUM_JOINTS)) for k in _COUNTS + _WEIGHTED + ("LocA",)}
    gt_ids, n_gt = _relabel([f.gt_ids for f in frames])
    pr_ids, n_pr = _relabel([f.pred_ids for f in frames])
    valid_gt = [(f.gt_points > 0).all(-1) for f in frames]  # (G_t, 15)
    valid_pr = [(f.pred_points > 0).all(-1) for f in frames]
    num_gt_joints = sum((v.sum(0) for v in valid_gt), np.zeros(NUM_JOINTS))
    num_pr_joints = sum((v.sum(0) for v in valid_pr), np.zeros(NUM_JOINTS))
    if n_pr == 0 or n_gt == 0:  # the kit checks predictions first
        res["HOTA_FN" if n_pr == 0 else "HOTA_FP"][:] = (
            num_gt_joints if n_pr == 0 else num_pr_joints
        )
        res["LocA"][:] = 1.0
        return _with_totals(res)

    sims = [_similarity(f, vg, vp) for f, vg, vp in zip(frames, valid_gt, valid_pr)]
    # Joints each id has over the sequence (the kit's global alignment score, computed from
    # them, is not used by its metric: it matches on similarity alone).
    gt_count = np.zeros((n_gt, 1, NUM_JOINTS))
    pr_count = np.zeros((1, n_pr, NUM_JOINTS))
    for gi, pi, vg, vp in zip(gt_ids, pr_ids, valid_gt, valid_pr):
        np.add.at(gt_count, (gi, 0), vg)
        np.add.at(pr_count, (0, pi), vp)

    matches = np.zeros((a_n, n_gt, n_pr, NUM_JOINTS))
    alpha_cut = ALPHAS[:, None] - _EPS
    for sim, gi, pi, vg, vp in zip(sims, gt_ids, pr_ids, valid_gt, valid_pr):
        if len(gi) == 0:  # the kit adds the sequence's total here, not the frame's
            res["HOTA_FP"] += num_pr_joints
            continue
        if len(pi) == 0:
            res["HOTA_FN"] += num_gt_joints
            continue
        n_gt_t, n_pr_t = vg.sum(0), vp.sum(0)
        for j in range(NUM_JOINTS):
            rows, cols = linear_sum_assignment(-sim[:, :, j])
            s = sim[rows, cols, j]
            ok = s[None, :] >= alpha_cut  # (A, matches)
            tp = ok.sum(1)
            res["HOTA_TP"][:, j] += tp
            res["HOTA_FN"][:, j] += n_gt_t[j] - tp
            res["HOTA_FP"][:, j] += n_pr_t[j] - tp
            res["LocA"][:, j] += (ok * s[None, :]).sum(1)
            a_idx, m_idx = np.nonzero(ok)
            np.add.at(matches, (a_idx, gi[rows[m_idx]], pi[cols[m_idx]], j), 1)

    tp = np.maximum(1, res["HOTA_TP"])
    union = np.maximum(1, gt_count + pr_count - matches)  # (A, G, P, J)
    res["AssA"] = (matches * matches / union).sum((1, 2)) / tp
    res["AssRe"] = (matches * matches / np.maximum(1, gt_count)).sum((1, 2)) / tp
    res["AssPr"] = (matches * matches / np.maximum(1, pr_count)).sum((1, 2)) / tp
    res["LocA"] = np.maximum(1e-10, res["LocA"]) / np.maximum(1e-10, res["HOTA_TP"])
    return _with_totals(res)


def _with_totals(res):
    out = {}
    for k, v in res.items():
        total = v.sum(1, keepdims=True) if k in _COUNTS else v.mean(1, keepdims=True)
        out[k] = np.concatenate([v, total], axis=1)
    # The kit's per-sequence totals of the derived fields are means over joints too.
    derived = _derived(res)
    for k, v in derived.items():
        derived[k] = np.concatenate([v, v.mean(-1, keepdims=True)], axis=-1)
    out["_derived"] = derived
    return out


def _derived(res) -> Dict[str, np.ndarray]:
    tp, fn, fp = res["HOTA_TP"], res["HOTA_FN"], res["HOTA_FP"]
    d = {
        "DetRe": tp / np.maximum(1, tp + fn),
        "DetPr": tp / np.maximum(1, tp + fp),
        "DetA": tp / np.maximum(1, tp + fn + fp),
    }
    d["HOTA"] = np.sqrt(d["DetA"] * res["AssA"])
    d["RHOTA"] = np.sqrt(d["DetRe"] * res["AssA"])
    d["HOTA(0)"], d["LocA(0)"] = d["HOTA"][0], res["LocA"][0]
    d["HOTALocA(0)"] = d["HOTA(0)"] * d["LocA(0)"]
    return d


def hota_combine(per_sequence: List[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    """The kit's combination over sequences: counts summed, AssA/AssRe/AssPr/LocA weighted by
    true positives (the total column too), derived fields from the combined values."""
    res = {k: sum(r[k] for r in per_sequence) for k in _COUNTS}
    weight = np.maximum(1.0, res["HOTA_TP"])
    for k in _WEIGHTED:
        res[k] = sum(r[k] * r["HOTA_TP"] for r in per_sequence) / weight
    loca = sum(r["LocA"] * r["HOTA_TP"] for r in per_sequence)
    res["LocA"] = np.maximum(1e-10, loca) / np.maximum(1e-10, res["HOTA_TP"])
    res["_derived"] = _derived(res)
    return res


def _report(res) -> Dict[str, List[float]]:
    """Percent per joint and total (16 values) per metric, array metrics averaged over alphas."""
    values = {**{k: v for k, v in res.items() if k != "_derived"}, **res["_derived"]}
    out = {}
    for k in HOTA_METRICS:
        v = np.asarray(values[k], float)
        out[k] = list(100 * (v.mean(0) if v.ndim == 2 else v))
    for k in _COUNTS:
        out[k + "(0)"] = [int(x) for x in values[k][0]]
    return out


def score_posetrack21(pairs, check_image_ids: bool = True) -> dict:
    """The kit's metrics over (ground-truth path, prediction path) pairs, one per sequence.

    Returns {"joints": KIT_JOINT_NAMES + ("Total",), metric: 16 values in percent, ...,
    "per_sequence": {name: {metric: 16 values}}, "num_sequences", "num_frames"}.
    """
    per_seq, results, num_frames = {}, [], 0
    for gt_path, pred_path in pairs:
        frames = load_posetrack21_pair(gt_path, pred_path, check_image_ids)
        num_frames += len(frames)
        res = hota_sequence(frames)
        results.append(res)
        per_seq[os.path.splitext(os.path.basename(gt_path))[0]] = _report(res)
    out = _report(hota_combine(results))
    out.update(
        joints=KIT_JOINT_NAMES + ("Total",),
        per_sequence=per_seq,
        num_sequences=len(results),
        num_frames=num_frames,
    )
    return out


def evaluate_posetrack21(
    gt_dir: str,
    pred_dir: str,
    sequences: Optional[List[str]] = None,
    check_image_ids: bool = True,
):
    """`score_posetrack21` over every ``.json`` ground-truth file of ``gt_dir`` (or the named
    ones) and the prediction files of the same names in ``pred_dir``."""
    if not os.path.isdir(gt_dir):
        raise PoseTrackFormatError(f"{gt_dir}: ground-truth folder not found")
    if not os.path.isdir(pred_dir):
        raise PoseTrackFormatError(f"{pred_dir}: prediction folder not found")
    names = sequences or sorted(f for f in os.listdir(gt_dir) if f.endswith(".json"))
    if not names:
        raise PoseTrackFormatError(f"{gt_dir}: no .json ground-truth files")
    pairs = [(os.path.join(gt_dir, n), os.path.join(pred_dir, n)) for n in names]
    return score_posetrack21(pairs, check_image_ids)


def format_hota_table(result: dict) -> str:
    """The kit's summary table: a row per metric, a column per joint and the total."""
    cols = list(result["joints"])
    lines = ["%-14s" % "Metric" + "".join("%-8s" % c for c in cols)]
    for k in HOTA_METRICS:
        lines.append("%-14s" % k + "".join("%-8.2f" % v for v in result[k]))
    return "\n".join(lines)
