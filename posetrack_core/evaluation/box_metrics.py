"""Box-tracking metrics of MOTChallenge files: HOTA (DetA, AssA, LocA), MOTA, MOTP and IDF1, all
from ``trackeval`` (TrackEval, the MOTChallenge's own evaluation code), its MOT Challenge
dataset included: reading, the MOT16/17/20 preprocessing (ground truth marked 0 or of another
class left out, predictions on distractors removed) and IoU similarities. Nothing is computed
here; this module only lays the files out as TrackEval wants them.

    from posetrack_core.evaluation.box_metrics import evaluate_mot
    evaluate_mot("MOT17-02/gt/gt.txt", "tracks.txt")  # {"HOTA": ..., "MOTA": ..., "IDF1": ...}
"""

import configparser
import contextlib
import io
import os
import tempfile
import warnings
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..errors import UserError

__all__ = ["MOT_METRICS", "evaluate_mot", "evaluate_mot_many", "format_mot_table", "MOTEvalError"]

# Reported, in percent (counts as integers).
MOT_METRICS = ("HOTA", "DetA", "AssA", "LocA", "DetRe", "DetPr", "AssRe", "AssPr", "MOTA",
               "MOTP", "IDF1", "IDP", "IDR", "IDSW", "FP", "FN")  # fmt: skip
_COUNT_FIELDS = {"IDSW": "IDSW", "FP": "CLR_FP", "FN": "CLR_FN"}


class MOTEvalError(UserError, ValueError):
    """A MOT file that cannot be scored; the message names the file."""


def _rows(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise MOTEvalError(f"{path}: file does not exist")
    try:
        with warnings.catch_warnings():  # an empty file: said below, in one line
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data")
            data = np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError as e:
        raise MOTEvalError(f"{path}: not a MOTChallenge text file (frame,id,x,y,w,h,...): {e}")
    if data.size and data.shape[1] < 6:
        raise MOTEvalError(f"{path}: {data.shape[1]} columns, expected frame,id,x,y,w,h,...")
    if not np.isfinite(data).all():
        line = int(np.flatnonzero(~np.isfinite(data).all(axis=1))[0]) + 1
        raise MOTEvalError(f"{path}: line {line}: NaN or infinite value")
    if data.size and (data[:, 0] < 1).any():
        raise MOTEvalError(f"{path}: frame numbers start at 1")
    return data


def _seq_length(gt_path: str, gt: np.ndarray, pred: np.ndarray) -> int:
    """seqinfo.ini's seqLength when the ground truth sits in MOT's layout (SEQ/gt/gt.txt), else
    the last frame of either file."""
    ini = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(gt_path))), "seqinfo.ini")
    if os.path.isfile(ini):
        parser = configparser.ConfigParser()
        parser.read(ini)
        if parser.has_option("Sequence", "seqLength"):
            return int(parser["Sequence"]["seqLength"])
    return int(max(gt[:, 0].max(initial=0), pred[:, 0].max(initial=0)))


def evaluate_mot(gt_path: str, pred_path: str, *, benchmark: Optional[str] = None) -> Dict:
    """TrackEval's HOTA, CLEAR and Identity metrics of one MOT sequence; see `evaluate_mot_many`.

    Args:
        gt_path: MOTChallenge ground truth (``frame,id,x,y,w,h,flag,class,visibility``, or the
            MOT15 layout ``frame,id,x,y,w,h,conf,x,y,z`` with -1 or world coordinates).
        pred_path: tracker output (``frame,id,x,y,w,h,score,...``).
        benchmark: TrackEval's benchmark: "MOT17" (also MOT16, MOT20: preprocessing with the
            flag and class columns) or "MOT15" (no classes, no preprocessing); by default MOT17
            for ground truth of 9 columns (MOT16/17/20's), else MOT15.
    Returns:
        {metric: value} for `MOT_METRICS` (percent; IDSW, FP, FN as counts), and "frames".
    """
    return evaluate_mot_many([(gt_path, pred_path)], benchmark=benchmark)


def evaluate_mot_many(pairs: Sequence[Tuple[str, str]], *, benchmark: Optional[str] = None) -> Dict:
    """`evaluate_mot` over several sequences ((ground truth, prediction) paths), combined as
    TrackEval combines them (HOTA from the summed counts, MOTA from summed errors, ...)."""
    try:
        import trackeval
    except ImportError as e:
        raise MOTEvalError(
            f"box HOTA/IDF1 need TrackEval ({e}): pip install trackeval (1.3.0 for numpy 2; "
            "1.0.0, Python < 3.12, for numpy 1)"
        ) from None

    seqs, seq_info, benchmark = _sequences(pairs, benchmark)
    log = io.StringIO()  # TrackEval prints its progress and configs
    with tempfile.TemporaryDirectory() as tmp:
        _link_trackeval_layout(seqs, tmp)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                res, msg = _run_trackeval(trackeval, tmp, benchmark, seq_info)
        except trackeval.utils.TrackEvalException as e:
            raise MOTEvalError(f"{pairs[0][1]}: {e}") from None
    status = msg["MotChallenge2DBox"]["tracker"]
    if status != "Success":
        names = ", ".join(p for _, p in pairs)
        raise MOTEvalError(f"{names}: TrackEval could not score it: {status}")
    r = res["MotChallenge2DBox"]["tracker"]["COMBINED_SEQ"]["pedestrian"]
    out = {}
    for k in MOT_METRICS:
        if k in _COUNT_FIELDS:
            out[k] = int(r["CLEAR"][_COUNT_FIELDS[k]])
        else:
            group = "HOTA" if k in r["HOTA"] else ("CLEAR" if k in r["CLEAR"] else "Identity")
            out[k] = 100 * float(np.mean(r[group][k]))  # HOTA's: mean over its 19 alphas
    out["frames"] = sum(seq_info.values())
    return out


def _sequences(pairs, benchmark):
    """[(name, gt path, prediction path)], {name: length} and the benchmark (from the first
    ground truth's columns unless given); a ground truth without boxes is refused."""
    seqs, seq_info = [], {}
    for n, (gt_path, pred_path) in enumerate(pairs):
        gt, pred = _rows(gt_path), _rows(pred_path)
        if not gt.size:  # MOTA would divide by zero ground-truth boxes (it printed -6000)
            raise MOTEvalError(f"{gt_path}: the ground truth holds no box; nothing to score")
        if benchmark is None:
            benchmark = "MOT17" if gt.size and gt.shape[1] == 9 else "MOT15"
        seq = f"seq{n:04d}"
        seqs.append((seq, gt_path, pred_path))
        seq_info[seq] = _seq_length(gt_path, gt, pred)
    if not seqs:
        raise MOTEvalError("no sequences to evaluate")
    return seqs, seq_info, benchmark


def _link_trackeval_layout(seqs, tmp: str) -> None:
    """TrackEval's MOTChallenge folders under ``tmp``, the files linked, not copied."""
    for seq, gt_path, pred_path in seqs:
        for src, dst in (
            (gt_path, os.path.join(tmp, "gt", seq, "gt", "gt.txt")),
            (pred_path, os.path.join(tmp, "trackers", "tracker", "data", f"{seq}.txt")),
        ):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.symlink(os.path.abspath(src), dst)


def _run_trackeval(trackeval, tmp: str, benchmark: str, seq_info: dict):
    """TrackEval's HOTA, CLEAR and Identity on the layout under ``tmp``: (results, messages)."""
    dataset = trackeval.datasets.MotChallenge2DBox(
        {
            "GT_FOLDER": os.path.join(tmp, "gt"),
            "TRACKERS_FOLDER": os.path.join(tmp, "trackers"),
            "TRACKERS_TO_EVAL": ["tracker"],
            "BENCHMARK": benchmark,
            "SKIP_SPLIT_FOL": True,
            "SEQ_INFO": seq_info,
            "PRINT_CONFIG": False,
        }
    )
    evaluator = trackeval.Evaluator(
        {"USE_PARALLEL": False, "BREAK_ON_ERROR": False, "RETURN_ON_ERROR": True,
         "PRINT_RESULTS": False, "PRINT_CONFIG": False, "TIME_PROGRESS": False,
         "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False, "PLOT_CURVES": False,
         "LOG_ON_ERROR": None, "OUTPUT_EMPTY_CLASSES": False}
    )  # fmt: skip
    metrics = [
        trackeval.metrics.HOTA({"PRINT_CONFIG": False}),
        trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
        trackeval.metrics.Identity({"PRINT_CONFIG": False}),
    ]
    return evaluator.evaluate([dataset], metrics)


def format_mot_table(result: Dict[str, float]) -> str:
    head = "".join("%-8s" % k for k in MOT_METRICS)
    vals = "".join(
        ("%-8d" % result[k]) if k in _COUNT_FIELDS else ("%-8.2f" % result[k]) for k in MOT_METRICS
    )
    return head + "\n" + vals
