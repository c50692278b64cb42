"""Tracking a whole video into PoseTrack JSON and an overlay video: the library half of
``python -m detectron2_tubes.track_video``."""

import contextlib
import os
import time

import cv2
import numpy as np
from detectron2.data import MetadataCatalog
from detectron2.utils.colormap import colormap
from detectron2.utils.visualizer import Visualizer

from ..data.keypoints import posetrack_metadata
from ..evaluation import write_posetrack_video, writer_options
from ..tracking import Detections
from ..utils.cli import UserError
from ..utils.io import atomic_path, check_output_files, created_folder
from .predictor import VideoPredictor, VideoReadError, read_frames

__all__ = ["track_video", "draw_tracks"]

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
) -> dict:
    """Run the video predictor with tracking on a video file or frame folder; see the module doc.

    The JSON and the video are written beside their targets and renamed into place together at
    the end: a failure or a signal leaves neither, and no temporary file. ``overwrite=False``
    refuses outputs that exist already (`OutputExistsError`) before any work starts.

    Returns {"json": path, "video": path or None, "frames": n, "tracks": n, "seconds": s,
    "weights": the checkpointer's summary line}.
    """
    name = os.path.splitext(os.path.basename(os.path.normpath(input_path)))[0]
    json_path = os.path.join(output_dir, f"{name}.json")
    video_path = os.path.join(output_dir, f"{name}.mp4") if write_video else None
    check_output_files([p for p in (json_path, video_path) if p], overwrite=overwrite)
    frames, fps, names = read_frames(input_path)
    with created_folder(output_dir):
        return _track_into(
            cfg,
            input_path,
            name,
            json_path,
            video_path,
            frames,
            fps,
            names,
            mode,
            batch_size,
            progress,
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


def _track_into(
    cfg, input_path, name, json_path, video_path, frames, fps, names, mode, batch_size, progress
) -> dict:
    write_video = video_path is not None
    meta = _skeleton_metadata(cfg)
    predictor = VideoPredictor(cfg, mode=mode, batch_size=batch_size)
    start = time.perf_counter()
    records, predictions, writer, tracks = [], {}, None, set()
    with contextlib.ExitStack() as stack:
        # Both outputs go to temporary files, renamed (video first) only if everything succeeds.
        tmp_json = stack.enter_context(atomic_path(json_path, ".json"))
        tmp_video = stack.enter_context(atomic_path(video_path, ".mp4")) if write_video else None
        iterator = predictor(frames)
        if progress:
            from tqdm import tqdm

            total = len(names) if os.path.isdir(input_path) else None
            iterator = tqdm(iterator, desc=name, unit="frame", total=total)
        for index, frame, inst in iterator:
            frame_name = names[index] if index < len(names) else f"{index:06d}.jpg"
            records.append(
                {
                    "file_name": f"{name}/{frame_name}",
                    "image_id": index,
                    "frame_id": index,
                    "video_id": name,
                }
            )
            predictions[index] = Detections.from_instances(inst)
            predictions[index].track_ids = inst.track_ids.numpy()
            tracks.update(int(i) for i in inst.ID)
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
        "seconds": time.perf_counter() - start,
    }
