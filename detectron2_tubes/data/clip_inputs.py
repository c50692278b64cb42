"""Frames as the model takes them at test time: the one input path of the predictors, eager and
exported."""

from typing import Sequence

import numpy as np
import torch
from detectron2.data import transforms as T

from ..config import uses_clips

__all__ = ["ClipInputs"]


class ClipInputs:
    """T BGR frames (numpy, any size) as a model takes them: each resized by the test-time
    ResizeShortestEdge, in the model's channel order, stacked into a uint8 (C, T, H, W) clip
    ((C, H, W) for a model of single images). Shared by `ClipPredictor` and the exported
    model's predictor."""

    def __init__(self, min_size: int, max_size: int, input_format: str, num_frames: int,
                 reads_clips: bool):  # fmt: skip
        self.aug = T.ResizeShortestEdge([min_size] * 2, max_size)
        self.input_format, self.num_frames, self.reads_clips = input_format, num_frames, reads_clips

    @staticmethod
    def settings(cfg) -> dict:
        """The arguments ``cfg``'s model takes its input with."""
        reads_clips = uses_clips(cfg)
        return dict(
            min_size=cfg.INPUT.MIN_SIZE_TEST,
            max_size=cfg.INPUT.MAX_SIZE_TEST,
            input_format=cfg.INPUT.FORMAT,
            num_frames=cfg.INPUT.CLIP.NUM_FRAMES if reads_clips else 1,
            reads_clips=reads_clips,
        )

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
