"""Tracking a collection of videos: what the inputs name, each process's share, a video at a
time with its outputs written whole, resumable, one bad file never stopping the others."""

import os
import re
import time
from typing import Callable, Dict, List, Optional, Sequence

import cv2

from posetrack_core.errors import UserError, message_lines, user_error_message

from .video import build_video_predictor, output_paths, track_video, video_name

__all__ = [
    "VIDEO_EXTENSIONS",
    "expand_inputs",
    "frame_count",
    "share_of",
    "track_videos",
]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
LIST_EXTENSIONS = (".txt", ".lst")


class InputListError(UserError, ValueError):
    pass


def expand_inputs(paths: Sequence[str]) -> List[str]:
    """The videos ``paths`` name, in order: a video file; a folder of frame images (one video);
    a folder of video files (each of them); a list file (.txt, .lst: one path a line, relative to
    the list's folder, ``#`` comments). Two videos of one name (they would write the same
    outputs) or a path that is none of these is a one-line `InputListError`."""
    videos: List[str] = []
    for path in paths:
        if os.path.isfile(path) and path.lower().endswith(LIST_EXTENSIONS):
            videos += expand_inputs(_read_list(path))
        elif os.path.isdir(path):
            names = sorted(os.listdir(path))
            if any(n.lower().endswith(_IMAGE_EXTENSIONS) for n in names):
                videos.append(path)
            else:
                found = [
                    os.path.join(path, n) for n in names if n.lower().endswith(VIDEO_EXTENSIONS)
                ]
                if not found:
                    raise InputListError(
                        f"{path}: no image files (.jpg, .png, .bmp) and no video files in this "
                        "folder"
                    )
                videos += found
        elif os.path.exists(path):
            videos.append(path)
        else:
            raise InputListError(f"input {path} does not exist (no video, folder or list file)")
    seen: Dict[str, str] = {}
    for v in videos:
        name = video_name(v)
        if name in seen:
            raise InputListError(
                f"{seen[name]} and {v} are both named {name}: their outputs collide"
            )
        seen[name] = v
    return videos


def _read_list(path: str) -> List[str]:
    base = os.path.dirname(os.path.abspath(path))
    with open(path) as f:
        lines = [line.split("#", 1)[0].strip() for line in f]
    entries = [os.path.join(base, line) for line in lines if line]
    if not entries:
        raise InputListError(f"{path}: the list names no video")
    return entries


def frame_count(path: str) -> int:
    """Frames in a video file (its header's count) or a folder of images; 0 if unreadable."""
    if os.path.isdir(path):
        return sum(n.lower().endswith(_IMAGE_EXTENSIONS) for n in os.listdir(path))
    cap = cv2.VideoCapture(path)
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
    finally:
        cap.release()


def share_of(videos: Sequence[str], counts: Sequence[int], rank: int, world: int) -> List[str]:
    """Process ``rank``'s videos of ``world``: the longest first, each to the process with the
    fewest frames so far (the same answer in every process); in input order."""
    load, owner = [0] * world, {}
    for i in sorted(range(len(videos)), key=lambda i: (-counts[i], i)):
        r = min(range(world), key=lambda r: (load[r], r))
        owner[i] = r
        load[r] += max(counts[i], 1)
    return [v for i, v in enumerate(videos) if owner[i] == rank]


def _remove_stale_temporaries(outputs: Sequence[str]) -> None:
    """The temporary files `atomic_path` made for these outputs in a run that was killed
    (SIGKILL, a power cut: nothing could remove them): ``.<name>.<8 random characters><ext>``
    beside each output, the names only this package gives; removed before the video is redone."""
    for path in outputs:
        folder, base = os.path.split(os.path.abspath(path))
        ext = os.path.splitext(base)[1]
        pattern = re.compile(re.escape("." + base + ".") + r"[a-z0-9_]{8}" + re.escape(ext) + "$")
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if pattern.match(name):
                    os.remove(os.path.join(folder, name))


def track_videos(
    cfg,
    videos: Sequence[str],
    output_dir: str,
    *,
    overwrite: bool = False,
    write_video: bool = True,
    mode: str = "dense",
    batch_size: int = 1,
    report: Optional[Callable[[dict], None]] = None,
    exported: Optional[str] = None,
) -> List[dict]:
    """Track each of ``videos`` (this process's share) with one predictor; per video a record
    {"input", "status": "done" | "skipped" | "failed", "frames", "detections" (tracked people
    over all frames), "tracks", "seconds", "error"}. A video whose outputs exist is done already and skipped unless ``overwrite``; a
    video that fails is recorded with its one-line reason and the next one starts."""
    predictor = None
    records = []
    for path in videos:
        outputs = output_paths(path, output_dir, write_video)
        start = time.perf_counter()
        record = {"input": path, "status": "skipped", "frames": 0, "detections": 0, "tracks": 0}
        if overwrite or not all(os.path.isfile(p) for p in outputs):
            _remove_stale_temporaries(outputs)
            try:
                predictor = predictor or build_video_predictor(cfg, mode, batch_size, exported)
                r = track_video(cfg, path, output_dir, write_video=write_video, progress=False,
                                overwrite=True, predictor=predictor)  # fmt: skip
                record.update(status="done", frames=r["frames"], detections=r["detections"],
                              tracks=r["tracks"])  # fmt: skip
            except Exception as e:  # noqa: BLE001  (one bad file never stops the others)
                message = user_error_message(e) or f"{type(e).__name__}: {message_lines(e, 2)}"
                record.update(status="failed", error=message)
        record["seconds"] = time.perf_counter() - start
        records.append(record)
        if report is not None:
            report(record)
    return records
