"""Linking detections read from files: PoseTrack prediction files (2017, 2018, 2021) and
MOTChallenge text, frame by frame with a `PoseTracker`. The library behind
``python -m tubes_cli.link``.
"""

import contextlib
import copy
import json
import math
import os
from typing import List, Tuple

import numpy as np

from ..io import atomic_path
from ..keypoints import NUM_KEYPOINTS, keypoints_to_box
from ..posetrack_json import (
    PoseTrackFile,
    PoseTrackFormatError,
    PoseTrackFrame,
    parse_posetrack,
    read_posetrack_file,
)
from .detections import Detections
from .tracker import PoseTracker, track_frames

__all__ = [
    "link_posetrack",
    "link_posetrack_file",
    "read_mot",
    "link_mot",
    "link_path",
    "write_outputs",
]


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
                raise PoseTrackFormatError(f"{path}: frame {frame.index}: negative box size {box}")
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
    return link_posetrack_file(parse_posetrack(data, path, require_keypoints=False), tracker)


def link_posetrack_file(pt: PoseTrackFile, tracker: PoseTracker) -> Tuple[dict, int, int]:
    """`link_posetrack` on a file already read (``read_posetrack_file(path,
    require_keypoints=False)``: detections with a box only are allowed)."""
    path, data = pt.path, pt.data
    out = copy.deepcopy(data)
    kept_anns, kept, dropped = [], 0, 0
    detections = (_detections(frame, path) for frame in pt.frames)
    for frame, res in zip(pt.frames, track_frames(detections, tracker)):
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
        raise PoseTrackFormatError(f"{path}: file does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PoseTrackFormatError(f"{path}: cannot read: {e}") from None
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = [s.strip() for s in line.split(",")]
        if len(fields) < 7:
            raise PoseTrackFormatError(
                f"{path}: line {n}: {len(fields)} fields, expected at least 7 "
                "(frame,id,x,y,w,h,score,...)"
            )
        try:
            frame = float(fields[0])
            x, y, w, h, score = (float(v) for v in fields[2:7])
        except ValueError:
            raise PoseTrackFormatError(f"{path}: line {n}: non-numeric value in {line!r}") from None
        if not all(math.isfinite(v) for v in (frame, x, y, w, h, score)):
            raise PoseTrackFormatError(f"{path}: line {n}: NaN or infinite value in {line!r}")
        if frame != int(frame) or frame < 1:
            raise PoseTrackFormatError(f"{path}: line {n}: frame {fields[0]} is not an integer >= 1")
        if w < 0 or h < 0:
            raise PoseTrackFormatError(f"{path}: line {n}: negative box size (w={w:g}, h={h:g})")
        rows.append(fields)
    return rows


def link_mot(rows: List[List[str]], tracker: PoseTracker) -> Tuple[List[str], int, int]:
    """Track MOT rows frame by frame (every frame from 1 to the last, empty ones included)."""
    by_frame = {}
    for r in rows:
        by_frame.setdefault(int(float(r[0])), []).append(r)
    frames = [by_frame.get(f, []) for f in range(1, max(by_frame, default=0) + 1)]
    out, kept = [], 0
    for fr, res in zip(frames, track_frames(map(_mot_detections, frames), tracker)):
        for idx, tid in zip(res.indices.tolist(), res.track_ids.tolist()):
            r = list(fr[idx])
            r[1] = str(int(tid) + 1)
            out.append(",".join(r))
            kept += 1
    return out, kept, len(rows) - kept


def _mot_detections(rows: List[List[str]]) -> Detections:
    xywh = np.array([[float(v) for v in r[2:6]] for r in rows]).reshape(-1, 4)
    boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    return Detections(boxes, np.array([float(r[6]) for r in rows]))


def link_path(path: str, output: str, fmt: str, tracker: PoseTracker):
    """Track every input of one `link` call: a MOT text file, or a PoseTrack file or folder of
    per-video files. Returns ``(outputs, kept, dropped)``, ``outputs`` a list of ``(dst,
    content)``; nothing is written, so that one bad input leaves no output at all."""
    if fmt == "mot":
        if os.path.isdir(path):
            raise PoseTrackFormatError(f"{path}: the mot format takes one text file, not a folder")
        lines, kept, dropped = link_mot(read_mot(path), tracker)
        return [(output, "\n".join(lines) + ("\n" if lines else ""))], kept, dropped
    if os.path.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.endswith(".json"))
        if not files:
            raise PoseTrackFormatError(f"{path}: no .json files in this folder")
        pairs = [(os.path.join(path, f), os.path.join(output, f)) for f in files]
    else:
        pairs = [(path, output)]
    outputs, kept, dropped = [], 0, 0
    for src, dst in pairs:
        pt = read_posetrack_file(src, "input", require_keypoints=False)
        linked, k, d = link_posetrack_file(pt, tracker)
        outputs.append((dst, linked))
        kept, dropped = kept + k, dropped + d
    return outputs, kept, dropped


def write_outputs(outputs) -> None:
    """Write `link_path`'s outputs (text for MOT, JSON for PoseTrack) together: every file to a
    temporary beside its target first, then all renamed into place; a failure leaves none."""
    with contextlib.ExitStack() as stack:
        for dst, content in outputs:
            suffix = ".txt" if isinstance(content, str) else ".json"
            tmp = stack.enter_context(atomic_path(dst, suffix))
            with open(tmp, "w") as f:
                if isinstance(content, str):
                    f.write(content)
                else:
                    json.dump(content, f)
