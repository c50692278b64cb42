"""Add track ids to per-frame detections read from files.

    python -m detectron2_tubes.link --input PATH --output PATH [--format posetrack|mot]
        [--cost iou|pose|cnn|lstm|name:weight,...] [--matcher hungarian|greedy]
        [--det-thresh 0.95] [--min-area 50] [--max-cost X] [--memory K]

posetrack: PoseTrack 2018/2021 (``images`` + ``annotations``) or 2017 ("annolist") prediction
files, one file or a folder of per-video files; every frame is tracked in file order, detections
below the thresholds are removed, the others get a ``track_id`` (0..999). mot: MOTChallenge text,
``frame,id,x,y,w,h,score,...`` (input ids ignored), written back with ids from 1 (MOT's
convention) and the extra columns kept. Nothing is written unless every input is valid.
"""

import argparse
import copy
import math
import os
import sys
from typing import List, Optional, Tuple

import numpy as np

from .data.keypoints import NUM_KEYPOINTS
from .data.posetrack import keypoints_to_box
from .data.posetrack_json import (
    PoseTrackFormatError,
    PoseTrackFrame,
    parse_posetrack,
    read_posetrack_file,
)
from .tracking import COST_NAMES, CropFeatureExtractor, Detections, PoseTracker, parse_cost
from .utils.io import atomic_path, write_json_atomic

__all__ = ["LinkError", "link_posetrack", "read_mot", "link_mot", "main"]


# Problems in the input files are reported with the one PoseTrack error class (the old name
# stays for users).
LinkError = PoseTrackFormatError


def _detections(frame: PoseTrackFrame, path: str):
    """A read frame's detections as the tracker takes them: boxes (the file's, else the
    keypoints' extent), scores (1 when the file gives none) and keypoints whose third column is
    the joint's score where the file gives one."""
    boxes, scores, kps = [], [], []
    for person in frame.people:
        k = person.keypoints.copy()
        if person.joint_scores is not None:
            k[:, 2] = np.where(np.isnan(person.joint_scores), k[:, 2], person.joint_scores)
        box = person.bbox
        if box is not None:
            if box[2] < box[0] or box[3] < box[1]:
                raise LinkError(f"{path}: frame {frame.index}: negative box size {box}")
        else:
            labelled = k.copy()
            labelled[:, 2] = (k[:, :2] != 0).any(axis=1)
            box = keypoints_to_box(labelled) or [0.0, 0.0, 0.0, 0.0]
        boxes.append(box)
        scores.append(1.0 if person.score is None else person.score)
        kps.append(k)
    n = len(boxes)
    return Detections(
        np.asarray(boxes, float).reshape(n, 4),
        np.asarray(scores, float),
        np.asarray(kps, float).reshape(n, NUM_KEYPOINTS, 3),
    )


def link_posetrack(
    data: dict, tracker: PoseTracker, path: str = "<input>"
) -> Tuple[dict, int, int]:
    """Track one PoseTrack prediction file's detections; returns (output data, kept, dropped).

    The output is a copy of ``data`` where each frame keeps only its tracked detections, each
    with a ``track_id`` (wrapped in a list for 2017 files, as that format does).
    """
    pt = parse_posetrack(data, path, require_keypoints=False)
    out = copy.deepcopy(data)
    tracker.reset()
    kept_anns, kept, dropped = [], 0, 0
    for frame in pt.frames:
        res = tracker.update(_detections(frame, path))
        tracked = []
        for idx, tid in zip(res.indices.tolist(), res.track_ids.tolist()):
            a = copy.deepcopy(frame.people[idx].source)
            a["track_id"] = [int(tid)] if pt.format == "2017" else int(tid)
            tracked.append(a)
        kept, dropped = kept + len(tracked), dropped + len(frame.people) - len(tracked)
        if pt.format == "2017":
            out["annolist"][frame.index]["annorect"] = tracked
        else:
            kept_anns.extend(tracked)
    if pt.format != "2017":
        out["annotations"] = kept_anns
    return out, kept, dropped


def read_mot(path: str) -> List[List[str]]:
    """MOTChallenge rows, validated: frame (int >= 1), id, x, y, w (>= 0), h (>= 0), score, ..."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise LinkError(f"{path}: file does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LinkError(f"{path}: cannot read: {e}") from None
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = [s.strip() for s in line.split(",")]
        if len(fields) < 7:
            raise LinkError(
                f"{path}: line {n}: {len(fields)} fields, expected at least 7 "
                "(frame,id,x,y,w,h,score,...)"
            )
        try:
            frame = float(fields[0])
            x, y, w, h, score = (float(v) for v in fields[2:7])
        except ValueError:
            raise LinkError(f"{path}: line {n}: non-numeric value in {line!r}") from None
        if not all(math.isfinite(v) for v in (frame, x, y, w, h, score)):
            raise LinkError(f"{path}: line {n}: NaN or infinite value in {line!r}")
        if frame != int(frame) or frame < 1:
            raise LinkError(f"{path}: line {n}: frame {fields[0]} is not an integer >= 1")
        if w < 0 or h < 0:
            raise LinkError(f"{path}: line {n}: negative box size (w={w:g}, h={h:g})")
        rows.append(fields)
    return rows


def link_mot(rows: List[List[str]], tracker: PoseTracker) -> Tuple[List[str], int, int]:
    """Track MOT rows frame by frame (every frame from 1 to the last, empty ones included)."""
    by_frame = {}
    for r in rows:
        by_frame.setdefault(int(float(r[0])), []).append(r)
    tracker.reset()
    out, kept = [], 0
    for frame in range(1, max(by_frame, default=0) + 1):
        fr = by_frame.get(frame, [])
        xywh = np.array([[float(v) for v in r[2:6]] for r in fr]).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        scores = np.array([float(r[6]) for r in fr])
        res = tracker.update(Detections(boxes, scores))
        for idx, tid in zip(res.indices.tolist(), res.track_ids.tolist()):
            r = list(fr[idx])
            r[1] = str(int(tid) + 1)
            out.append(",".join(r))
            kept += 1
    return out, kept, len(rows) - kept


def _infer_format(path: str) -> Optional[str]:
    if os.path.isdir(path) or path.endswith(".json"):
        return "posetrack"
    if path.endswith((".txt", ".csv")):
        return "mot"
    return None


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m detectron2_tubes.link",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", required=True, help="PoseTrack JSON file or folder, or MOT .txt")
    parser.add_argument(
        "--output", required=True, help="where to write (a folder for a folder input)"
    )
    parser.add_argument("--format", help="posetrack or mot (default: from the input's name)")
    parser.add_argument(
        "--cost",
        default="iou",
        help=f"one of {COST_NAMES} or a weighted sum like iou:1,pose:1 (default iou)",
    )
    parser.add_argument("--matcher", default="hungarian", choices=["hungarian", "greedy"])
    parser.add_argument(
        "--det-thresh",
        type=float,
        default=0.95,
        help="drop detections scoring below this (default 0.95, the paper's)",
    )
    parser.add_argument(
        "--min-area", type=float, default=50.0, help="drop smaller boxes (px^2, default 50)"
    )
    parser.add_argument(
        "--max-cost", type=float, default=None, help="never match pairs costlier than this"
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=0,
        help="frames a track may be unmatched and still continue (default 0)",
    )
    parser.add_argument(
        "--keypoint-thresh",
        type=float,
        default=None,
        help="joints scoring below this are ignored by the pose cost",
    )
    parser.add_argument("--lstm-weights", help="weights of the lstm cost")
    parser.add_argument("--cnn-weights", help="torchvision ResNet-18 weights for the cnn cost")
    args = parser.parse_args(argv)

    fmt = args.format or _infer_format(args.input)
    if fmt not in ("posetrack", "mot"):
        parser.error(
            f"unknown format {fmt!r} for {args.input}: use --format posetrack or --format mot"
        )
    if not os.path.exists(args.input):
        parser.error(f"input {args.input} does not exist")
    try:
        cost = parse_cost(args.cost)
        lstm = None
        if args.lstm_weights:
            from .tracking import load_box_lstm

            lstm = load_box_lstm(args.lstm_weights)
        if "cnn" in (cost if isinstance(cost, dict) else {cost: 1}):
            parser.error(
                "the cnn cost needs the frame images; use it through the Python API or track_video"
            )
        tracker = PoseTracker(
            cost=cost,
            matcher=args.matcher,
            det_thresh=args.det_thresh,
            min_area=args.min_area,
            max_cost=args.max_cost,
            memory=args.memory,
            keypoint_thresh=args.keypoint_thresh,
            lstm=lstm,
            feature_extractor=(
                CropFeatureExtractor(weights=args.cnn_weights) if args.cnn_weights else None
            ),
        )
        outputs, kept, dropped = [], 0, 0
        if fmt == "mot":
            if os.path.isdir(args.input):
                raise LinkError(f"{args.input}: the mot format takes one text file, not a folder")
            lines, kept, dropped = link_mot(read_mot(args.input), tracker)
            outputs.append((args.output, "\n".join(lines) + ("\n" if lines else "")))
        else:
            if os.path.isdir(args.input):
                files = sorted(f for f in os.listdir(args.input) if f.endswith(".json"))
                if not files:
                    raise LinkError(f"{args.input}: no .json files in this folder")
                pairs = [(os.path.join(args.input, f), os.path.join(args.output, f)) for f in files]
            else:
                pairs = [(args.input, args.output)]
            for src, dst in pairs:
                linked, k, d = link_posetrack(read_posetrack_file(src, "input").data, tracker, src)
                outputs.append((dst, linked))
                kept, dropped = kept + k, dropped + d
    except (LinkError, ValueError, FileNotFoundError) as e:
        print(f"link: error: {e}", file=sys.stderr)
        return 1
    # Every input was valid: write everything, each file atomically.
    for dst, content in outputs:
        if isinstance(content, str):
            with atomic_path(dst, ".txt") as tmp:
                with open(tmp, "w") as f:
                    f.write(content)
        else:
            write_json_atomic(content, dst)
    print(
        f"link: {kept} detections tracked, {dropped} dropped (score < {args.det_thresh} or area "
        f"< {args.min_area}); wrote {len(outputs)} file(s) to {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
