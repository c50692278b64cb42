"""Inference on clips and whole videos, in the spirit of Detectron2's `DefaultPredictor`."""

import logging
import os
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from detectron2.data import transforms as T
from detectron2.modeling import build_model
from detectron2.structures import Instances

from posetrack_core.errors import UserError
from posetrack_core.tracking import PoseTracker

from ..checkpoint import InflatingCheckpointer
from ..data.clips import clip_frame_indices, key_frame_index
from ..tracking import PoseTrackerHead
from .trainer import uses_clips

__all__ = [
    "ClipInputs",
    "ClipPredictor",
    "VideoPredictor",
    "read_frames",
    "VideoReadError",
    "box_thresh_keeping",
]

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


class ClipInputs:
    """T BGR frames (numpy, any size) as a model takes them: each resized by the test-time
    ResizeShortestEdge, in the model's channel order, stacked into a uint8 (C, T, H, W) clip
    ((C, H, W) for a model of single images). Shared by `ClipPredictor` and the exported
    model's predictor."""

    def __init__(self, min_size: int, max_size: int, input_format: str, num_frames: int,
                 reads_clips: bool):  # fmt: skip
        self.aug = T.ResizeShortestEdge([min_size] * 2, max_size)
        self.input_format, self.num_frames, self.reads_clips = input_format, num_frames, reads_clips

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """One BGR frame as the model takes it: resized as the config says, in its channel
        order (H, W, 3). The video predictor prepares each frame once for the clips sharing it."""
        transform = self.aug.get_transform(frame)
        return transform.apply_image(frame[:, :, ::-1] if self.input_format == "RGB" else frame)

    def model_input(self, frames: Sequence[np.ndarray], prepared=None) -> dict:
        """The model's input dict for one clip of T BGR frames (of one size): ``{"image":
        uint8 (C, T, H, W) (or (C, H, W) for a model of single images), "height", "width"}``;
        ``prepared``: the frames already through `prepare`."""
        if len(frames) != self.num_frames:
            raise ValueError(
                f"the model takes clips of {self.num_frames} frames, got {len(frames)}"
            )
        h, w = frames[0].shape[:2]
        for f in frames:
            if f.shape[:2] != (h, w):
                raise ValueError(f"frames of one clip differ in size: {f.shape[:2]} vs {(h, w)}")
        images = prepared if prepared is not None else [self.prepare(f) for f in frames]
        clip = torch.as_tensor(np.ascontiguousarray(np.stack(images).transpose(3, 0, 1, 2)))
        return {"image": clip if self.reads_clips else clip[:, 0], "height": h, "width": w}


class ClipPredictor(ClipInputs):
    """Build the model from ``cfg``, load ``MODEL.WEIGHTS`` through the `InflatingCheckpointer`,
    and predict on T BGR frames (numpy, any size): resized as the config says, outputs in the
    input frames' coordinates. Works for Tube R-CNN configs and stock Detectron2 models (T = 1).

    ``predictor(frames)`` returns ``{"instances": ..., "frames": [T per-frame Instances]}``.
    """

    def __init__(self, cfg):
        self.cfg = cfg.clone()
        self.model = build_model(self.cfg).eval()
        self.weights_summary = ""  # what the checkpointer loaded (one line)
        if cfg.MODEL.WEIGHTS:
            checkpointer = InflatingCheckpointer.from_config(cfg, self.model, inference=True)
            checkpointer.load(cfg.MODEL.WEIGHTS)
            self.weights_summary = checkpointer.summary
        reads_clips = uses_clips(cfg)
        num_frames = cfg.INPUT.CLIP.NUM_FRAMES if reads_clips else 1
        super().__init__(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, cfg.INPUT.FORMAT,
                         num_frames, reads_clips)  # fmt: skip
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
        self.tracker_head = PoseTrackerHead(tracker=tracker)  # Instances in, Instances out
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
        self.tracker.reset()
        per_frame = self._strided(frames) if self.mode == "strided" else self._dense(frames)
        for index, frame, inst in per_frame:
            yield index, frame, self.tracker_head.update(inst.to("cpu"), image=frame)

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
