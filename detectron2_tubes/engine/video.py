"""Tracking a whole video into PoseTrack JSON and an overlay video: the library half of
``python -m tubes_cli.track_video``."""

import contextlib
import os
import queue
import threading
import time
from typing import Iterable, Iterator, List, Optional

import cv2
import numpy as np
from detectron2.data import MetadataCatalog
from detectron2.utils.colormap import colormap
from detectron2.utils.visualizer import Visualizer

from posetrack_core.errors import UserError
from posetrack_core.evaluation import write_posetrack_video
from posetrack_core.from_config import writer_options
from posetrack_core.io import atomic_path, check_output_files, created_folder
from posetrack_core.keypoints import posetrack_metadata

from .predictor import VideoPredictor, VideoReadError, read_frames

__all__ = [
    "track_video",
    "build_video_predictor",
    "draw_tracks",
    "output_paths",
    "video_name",
    "prefetch",
]

_PALETTE = colormap(rgb=True, maximum=1)


def draw_tracks(frame_bgr: np.ndarray, instances, metadata) -> np.ndarray:
    """The frame with each track's box, skeleton and id, coloured by track id (BGR out)."""
    vis = Visualizer(frame_bgr[:, :, ::-1], metadata)
    if len(instances):
        ids = [int(i) for i in instances.ID]
        vis.overlay_instances(
            boxes=instances.pred_boxes.tensor.numpy(),
            keypoints=instances.pred_keypoints.numpy() if instances.has("pred_keypoints") else None,
            labels=[f"id {i}" for i in ids],
            assigned_colors=[_PALETTE[i % len(_PALETTE)] for i in ids],
        )
    return vis.get_output().get_image()[:, :, ::-1]


def prefetch(items: Iterable, depth: int = 16) -> Iterator:
    """``items`` produced by a reader thread up to ``depth`` ahead (frames decoded while the model
    runs); the reader's exception is raised here, in order."""
    q: "queue.Queue" = queue.Queue(maxsize=depth)
    done, stop = object(), threading.Event()

    def read():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", done))
        except BaseException as e:  # handed to the consumer
            q.put(("error", e))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


def video_name(path: str) -> str:
    """What a video's outputs are named after: its file or folder name without extension."""
    return os.path.splitext(os.path.basename(os.path.normpath(path)))[0]


def output_paths(input_path: str, output_dir: str, write_video: bool = True) -> List[str]:
    """The files tracking ``input_path`` writes: OUTPUT_DIR/<name>.json (and <name>.mp4)."""
    name = video_name(input_path)
    paths = [os.path.join(output_dir, f"{name}.json")]
    return paths + ([os.path.join(output_dir, f"{name}.mp4")] if write_video else [])


def track_video(
    cfg,
    input_path: str,
    output_dir: str,
    *,
    mode: str = "dense",
    batch_size: int = 1,
    write_video: bool = True,
    progress: bool = True,
    overwrite: bool = True,
    predictor: Optional[VideoPredictor] = None,
    exported: Optional[str] = None,
) -> dict:
    """Run the video predictor with tracking on a video file or frame folder; see the module doc.

    The JSON and the video are written beside their targets and renamed into place together at
    the end: a failure or a signal leaves neither, and no temporary file. ``overwrite=False``
    refuses outputs that exist already (`OutputExistsError`) before any work starts.

    ``predictor``: a `VideoPredictor` built from ``cfg`` to reuse (a collection of videos builds
    one); frames are decoded by a reader thread ahead of the model. ``exported``: an export
    folder (`detectron2_tubes.export`) whose model runs in place of ``cfg``'s.

    Returns {"json": path, "video": path or None, "frames": n, "detections": tracked people over
    all frames, "tracks": n, "seconds": s, "weights": the checkpointer's summary line}.
    """
    paths = output_paths(input_path, output_dir, write_video)
    check_output_files(paths, overwrite=overwrite)
    video = read_frames(input_path)  # an unreadable input fails before the model is built
    predictor = predictor or build_video_predictor(cfg, mode, batch_size, exported)
    with created_folder(output_dir):
        return _track_into(cfg, predictor, input_path, video, *paths, progress=progress)


def build_video_predictor(cfg, mode: str = "dense", batch_size: int = 1, exported=None):
    """`VideoPredictor` over ``cfg``'s model, or over the exported model of folder ``exported``
    (its outputs go to the same tracker and writer)."""
    if exported is None:
        return VideoPredictor(cfg, mode=mode, batch_size=batch_size)
    from ..export import ExportedClipPredictor

    return VideoPredictor(
        cfg, mode=mode, batch_size=batch_size, predictor=ExportedClipPredictor(exported)
    )


def _skeleton_metadata(cfg):
    """The metadata the overlay draws skeletons with: the test dataset's, else PoseTrack's."""
    meta = MetadataCatalog.get(cfg.DATASETS.TEST[0]) if cfg.DATASETS.TEST else None
    if meta is None or not meta.get("keypoint_names"):
        meta = MetadataCatalog.get("__detectron2_tubes_posetrack")
        if not meta.get("keypoint_names"):
            meta.set(**posetrack_metadata())
    return meta


def _open_mp4(tmp_path: str, video_path: str, fps: float, size) -> "cv2.VideoWriter":
    """An MP4 writer on ``tmp_path`` for frames of ``size`` (h, w); one line when OpenCV has no
    encoder for it."""
    h, w = size
    writer = cv2.VideoWriter(tmp_path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        writer.release()
        raise UserError(
            f"{video_path}: OpenCV cannot write an MP4 video here (no mp4v encoder?); use "
            "--no-video to write the JSON only"
        )
    return writer


def _track_into(cfg, predictor, input_path, video, json_path, video_path=None, *, progress):
    """``video`` (`read_frames`' frames, fps, names) tracked into the outputs."""
    name = video_name(input_path)
    frames, fps, names = video
    frames = prefetch(frames)
    write_video = video_path is not None
    meta = _skeleton_metadata(cfg)
    start = time.perf_counter()
    records, predictions, writer, tracks, detections = [], {}, None, set(), 0
    with contextlib.ExitStack() as stack:
        # Both outputs go to temporary files, renamed (video first) only if everything succeeds.
        tmp_json = stack.enter_context(atomic_path(json_path, ".json"))
        tmp_video = stack.enter_context(atomic_path(video_path, ".mp4")) if write_video else None
        iterator = predictor.track(frames)
        if progress:
            from tqdm import tqdm

            total = len(names) if os.path.isdir(input_path) else None
            iterator = tqdm(iterator, desc=name, unit="frame", total=total)
        for index, frame, inst, tracked in iterator:
            frame_name = names[index] if index < len(names) else f"{index:06d}.jpg"
            records.append(dict(file_name=f"{name}/{frame_name}", image_id=index,
                                frame_id=index, video_id=name))  # fmt: skip
            predictions[index] = tracked
            tracks.update(int(i) for i in inst.ID)
            detections += len(inst)
            if write_video:
                if writer is None:
                    writer = _open_mp4(tmp_video, video_path, fps, frame.shape[:2])
                    stack.callback(writer.release)
                writer.write(np.ascontiguousarray(draw_tracks(frame, inst, meta)))
        if not records:
            raise VideoReadError(f"{input_path}: no frames")
        if writer is not None:
            writer.release()
        write_posetrack_video(tmp_json, records, predictions, **writer_options(cfg))
    return {
        "weights": predictor.predictor.weights_summary,
        "json": json_path,
        "video": video_path,
        "frames": len(records),
        "tracks": len(tracks),
        "detections": detections,
        "seconds": time.perf_counter() - start,
    }
