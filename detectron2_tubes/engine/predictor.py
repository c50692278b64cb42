"""Inference on clips and whole videos, in the spirit of Detectron2's `DefaultPredictor`."""

import logging
import os
from collections import deque
from typing import Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from detectron2.structures import Instances

from posetrack_core.errors import UserError
from posetrack_core.tracking import Detections, PoseTracker, track_frames

from ..checkpoint import load_model
from ..data.clip_inputs import ClipInputs
from ..data.clips import clip_frame_indices, key_frame_index
from ..tracking.tracker import tracked_instances

__all__ = ["ClipPredictor", "VideoPredictor", "read_frames", "VideoReadError", "box_thresh_keeping"]

logger = logging.getLogger(__name__)
_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")


class VideoReadError(UserError, OSError):
    """A video or frame folder that cannot be read; the message names it."""


def read_frames(path: str) -> Tuple[Iterator[np.ndarray], float, List[str]]:
    """Frames (BGR uint8) of a video file or a folder of images, lazily.

    Returns (frame iterator, frames per second (25 for folders), frame names).
    """
    if os.path.isdir(path):
        names = sorted(f for f in os.listdir(path) if f.lower().endswith(_IMAGE_EXTS))
        if not names:
            raise VideoReadError(f"{path}: no image files (.jpg, .png, .bmp) in this folder")

        def images():
            for n in names:
                img = cv2.imread(os.path.join(path, n))
                if img is None:
                    raise VideoReadError(f"{os.path.join(path, n)}: cannot read this frame image")
                yield img

        return images(), 25.0, names
    if not os.path.exists(path):
        raise VideoReadError(f"{path}: no such video file or folder")
    cap = cv2.VideoCapture(path)
    ok, first = cap.read() if cap.isOpened() else (False, None)
    if not ok:
        cap.release()
        raise VideoReadError(f"{path}: cannot read video (not a video OpenCV can decode, or empty)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def frames():
        yield first
        decoded = 1
        try:
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                decoded += 1
                yield img
        finally:
            cap.release()
        if decoded < count:
            raise VideoReadError(
                f"{path}: its header says {count} frames but only {decoded} decode (a truncated "
                f"or damaged file); nothing was written"
            )

    return frames(), float(fps), [f"{i:06d}.jpg" for i in range(max(count, 1))]


class ClipPredictor(ClipInputs):
    """Build the model from ``cfg``, load ``MODEL.WEIGHTS`` through the `InflatingCheckpointer`,
    and predict on T BGR frames (numpy, any size): resized as the config says, outputs in the
    input frames' coordinates. Works for Tube R-CNN configs and stock Detectron2 models (T = 1).

    ``predictor(frames)`` returns ``{"instances": ..., "frames": [T per-frame Instances]}``.
    """

    def __init__(self, cfg):
        self.cfg = cfg.clone()
        # weights_summary: what the checkpointer loaded (one line)
        self.model, self.weights_summary = load_model(self.cfg)
        super().__init__(**ClipInputs.settings(cfg))
        if self.num_frames > 1 and cfg.MODEL.DEVICE == "cpu":
            # oneDNN runs 3D convolutions in the channels-last layout when the weights are in
            # it: less time per clip for clip models, more for T = 1 (measured: doc/results.md,
            # "Channels-last 3D layout"), so clips only; the outputs agree to 1e-4 px.
            self.model.to(memory_format=torch.channels_last_3d)

    @torch.inference_mode()
    def predict_batch(
        self,
        clips: Sequence[Sequence[np.ndarray]],
        prepared: Optional[Sequence[Sequence[np.ndarray]]] = None,
    ) -> List[dict]:
        """Outputs of each clip; ``prepared`` optionally gives each clip's frames already
        through `prepare` (the same outputs, without resizing a frame again)."""
        prepared = prepared if prepared is not None else [None] * len(clips)
        outputs = self.model([self.model_input(c, p) for c, p in zip(clips, prepared)])
        if not self.reads_clips:  # stock 2D model: a clip of one frame
            outputs = [{"instances": o["instances"], "frames": [o["instances"]]} for o in outputs]
        return outputs

    def __call__(self, frames: Sequence[np.ndarray]) -> dict:
        return self.predict_batch([frames])[0]


def box_thresh_keeping(det_thresh: float) -> float:
    """The box predictor's test threshold (it keeps scores > threshold, in float32) that keeps
    exactly the detections a tracker keeps (scores >= ``det_thresh``)."""
    return float(np.nextafter(np.float32(det_thresh), np.float32(-np.inf)))


class VideoPredictor:
    """Per-frame tracked detections of a whole video, streamed (memory does not grow with the
    video's length).

    Modes:
        "dense" (the paper's test procedure): a clip centred on every frame (edge frames
            repeated), only the centre frame's detections kept.
        "strided" (faster, beyond the paper): clips of T consecutive frames at stride T, every
            frame of each tube kept, so each frame goes through the model once; the tracker
            links tubes of consecutive clips.

    Iterating ``predictor(frames)`` yields (frame index, frame, tracked `Instances`).

    The tracker drops every detection scoring below its ``det_thresh``, so the model's box
    predictor drops them first and the keypoint head runs only on the detections that are
    kept (``heads_on_tracked_only``, the default; the model's test score threshold is raised
    to the tracker's). The kept detections are the same either way: NMS and top-k never let a
    lower-scoring detection change which higher-scoring ones survive.
    """

    def __init__(
        self,
        cfg,
        *,
        tracker: Optional[PoseTracker] = None,
        mode: str = "dense",
        batch_size: int = 1,
        predictor: Optional[ClipPredictor] = None,
        heads_on_tracked_only: bool = True,
    ):
        if mode not in ("dense", "strided"):
            raise ValueError(f"unknown mode {mode!r}; use dense or strided")
        self.predictor = predictor or ClipPredictor(cfg)
        if tracker is None:
            from ..tracking.tracker import build_pose_tracker

            tracker = build_pose_tracker(cfg)
        self.tracker = tracker
        box_predictor = getattr(
            getattr(self.predictor.model, "roi_heads", None), "box_predictor", None
        )
        thresh = getattr(tracker, "det_thresh", None)
        if (
            heads_on_tracked_only
            and thresh is not None
            and hasattr(box_predictor, "test_score_thresh")
        ):
            box_predictor.test_score_thresh = max(
                box_predictor.test_score_thresh, box_thresh_keeping(thresh)
            )
        self.mode = mode
        self.batch_size = max(1, batch_size)
        self.stride = cfg.INPUT.CLIP.FRAME_STRIDE if self.predictor.reads_clips else 1

    def __call__(self, frames: Iterable[np.ndarray]) -> Iterator[Tuple[int, np.ndarray, Instances]]:
        for index, frame, instances, _ in self.track(frames):
            yield index, frame, instances

    def track(
        self, frames: Iterable[np.ndarray]
    ) -> Iterator[Tuple[int, np.ndarray, Instances, Detections]]:
        """`__call__` with each frame's tracked `Detections` too (what the PoseTrack writer
        takes): (frame index, frame, tracked `Instances`, tracked `Detections`)."""
        per_frame = self._strided(frames) if self.mode == "strided" else self._dense(frames)
        predicted: Deque[Tuple[int, np.ndarray, Instances]] = deque()

        def detections():
            for index, frame, inst in per_frame:
                inst = inst.to("cpu")
                predicted.append((index, frame, inst))
                yield Detections.from_instances(inst), frame

        for tracked in track_frames(detections(), self.tracker):
            index, frame, inst = predicted.popleft()
            yield index, frame, tracked_instances(inst, tracked), tracked

    def _dense(self, frames):
        t, s = self.predictor.num_frames, self.stride
        behind = key_frame_index(t) * s  # frames needed before the key frame
        ahead = (t - 1) * s - behind  # and after it
        it = iter(frames)
        # frame index -> (frame, frame as the model takes it): each frame is read and resized
        # once for the T clips that share it
        buffer: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
        read, ended, key = 0, False, 0
        pending: List[Tuple[int, List[Tuple[np.ndarray, np.ndarray]]]] = []
        while True:
            while not ended and read <= key + ahead:
                try:
                    frame = next(it)
                    buffer[read] = (frame, self.predictor.prepare(frame))
                    read += 1
                except StopIteration:
                    ended = True
            if key >= read:
                break
            length = read if ended else max(read, key + ahead + 1)
            idx = [min(i, read - 1) for i in clip_frame_indices(key, t, s, length)]
            pending.append((key, [buffer[i] for i in idx]))
            for old in [i for i in buffer if i < key + 1 - behind]:
                del buffer[old]
            key += 1
            if len(pending) == self.batch_size:
                yield from self._run_dense(pending)
                pending = []
        if pending:
            yield from self._run_dense(pending)

    def _run_dense(self, pending):
        clips = [clip for _, clip in pending]
        outputs = self.predictor.predict_batch(
            [[f for f, _ in c] for c in clips], [[p for _, p in c] for c in clips]
        )
        centre = key_frame_index(self.predictor.num_frames)
        for (key, clip), out in zip(pending, outputs):
            yield key, clip[centre][0], out["frames"][centre]

    def _strided(self, frames):
        t = self.predictor.num_frames
        it = iter(frames)
        index, batch = 0, []
        while True:
            clip = []
            for f in it:
                clip.append(f)
                if len(clip) == t:
                    break
            if clip:
                real = len(clip)
                clip = clip + [clip[-1]] * (t - real)  # a short last clip repeats its last frame
                batch.append((index, real, clip))
                index += real
            if batch and (len(batch) == self.batch_size or not clip):
                outputs = self.predictor.predict_batch([c for _, _, c in batch])
                for (start, real, c), out in zip(batch, outputs):
                    for k in range(real):
                        yield start + k, c[k], out["frames"][k]
                batch = []
            if not clip:
                break
