"""`InflatingCheckpointer`: load 2D checkpoints into 3D models (the paper's initialisation)."""

import logging
import re
from typing import Dict

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.checkpoint.c2_model_loading import align_and_update_state_dicts

__all__ = ["InflatingCheckpointer", "inflate_weight", "convert_torchvision_resnet"]

logger = logging.getLogger(__name__)
INFLATION_MODES = ("center", "mean")
# Buffers a checkpoint may lack or carry without meaning anything about the architecture.
_IGNORED = ("pixel_mean", "pixel_std", "anchor_generator.cell_anchors")


def inflate_weight(weight: torch.Tensor, extent: int, mode: str = "center") -> torch.Tensor:
    """A 2D conv weight (O, I, kh, kw) -> 3D (O, I, extent, kh, kw).

    "center": the 2D kernel in the central time slice, zeros elsewhere (Detect-and-Track), so a
    clip of identical frames gives the 2D output. "mean": the kernel repeated over time and
    divided by the extent (I3D), so a constant-in-time input gives the 2D output away from the
    clip's ends.
    """
    if mode == "center":
        out = weight.new_zeros((weight.shape[0], weight.shape[1], extent, *weight.shape[2:]))
        out[:, :, extent // 2] = weight
        return out
    if mode == "mean":
        return weight.unsqueeze(2).repeat(1, 1, extent, 1, 1) / extent
    raise ValueError(f"Unknown inflation mode {mode!r}; use one of {INFLATION_MODES}")


_TV_LAYER = re.compile(r"^layer(\d)\.(\d+)\.(.*)$")


def convert_torchvision_resnet(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename a torchvision ResNet state dict to Detectron2's ResNet names (``stem.conv1``,
    ``res2.0.conv1.norm``, ``res2.0.shortcut``); the classifier (``fc``) is dropped."""
    out = {}
    for key, value in state.items():
        if key.startswith("fc.") or key.endswith("num_batches_tracked"):
            continue
        new = key
        if key.startswith("conv1."):
            new = "stem." + key
        elif key.startswith("bn1."):
            new = "stem.conv1.norm." + key[len("bn1.") :]
        else:
            m = _TV_LAYER.match(key)
            if m:
                stage, block, rest = int(m.group(1)) + 1, m.group(2), m.group(3)
                rest = re.sub(r"^bn(\d)\.", r"conv\1.norm.", rest)
                rest = rest.replace("downsample.0.", "shortcut.").replace(
                    "downsample.1.", "shortcut.norm."
                )
                new = f"res{stage}.{block}.{rest}"
        out[new] = value
    return out


def _is_torchvision_resnet(state: dict) -> bool:
    return "conv1.weight" in state and any(k.startswith("layer1.0.") for k in state)


class InflatingCheckpointer(DetectionCheckpointer):
    """A `DetectionCheckpointer` that loads 2D checkpoints into 3D models.

    Every convolution whose checkpoint weight has one dimension fewer than the model's (or a
    temporal extent of 1 where the model's is larger) is inflated along time (``inflation`` =
    "center", the paper's and the default, or "mean"). The box predictor regresses each frame's
    box with the 2D layer's shapes, so it loads unchanged. It reads
    what Detectron2's checkpointer reads (Detectron2 .pth/.pkl, Caffe2 .pkl) and torchvision ResNet
    state dicts. Names are matched exactly, or by Detectron2's suffix heuristics when the
    checkpoint asks for it or has keys the model lacks (e.g. an ImageNet backbone). Every
    inflated key is logged. Checkpoints of the same 3D model load unchanged, so
    `resume_or_load` works as usual.

    Use it as Detectron2's: ``InflatingCheckpointer(model).load(path)``.
    """

    def __init__(self, model, save_dir: str = "", *, inflation: str = "center", **kwargs):
        if inflation not in INFLATION_MODES:
            raise ValueError(f"Unknown inflation mode {inflation!r}; use one of {INFLATION_MODES}")
        super().__init__(model, save_dir, **kwargs)
        self.inflation = inflation

    def _load_file(self, filename: str) -> dict:
        loaded = super()._load_file(filename)
        if _is_torchvision_resnet(loaded["model"]):
            loaded["model"] = convert_torchvision_resnet(loaded["model"])
            loaded["matching_heuristics"] = True
        return loaded

    def _load_model(self, checkpoint: dict):
        state = checkpoint["model"]
        self._convert_ndarray_to_tensor(state)
        model_state = self.model.state_dict()
        unknown = [k for k in state if k not in model_state and not k.endswith(_IGNORED)]
        if checkpoint.get("matching_heuristics", False) or unknown:
            # Detectron2's suffix matching, shown the shapes a 2D checkpoint would have.
            view = {
                k: torch.empty(self._shape_2d(v), device="meta") for k, v in model_state.items()
            }
            state = align_and_update_state_dicts(
                view, state, c2_conversion=checkpoint.get("__author__") == "Caffe2"
            )
            checkpoint["matching_heuristics"] = False
        checkpoint["model"] = self._inflate(state, model_state)
        return super()._load_model(checkpoint)

    @staticmethod
    def _shape_2d(value: torch.Tensor) -> tuple:
        """The shape a 2D checkpoint has for a model tensor (a 3D conv loses its time axis)."""
        if value.dim() == 5:
            return tuple(value.shape[:2]) + tuple(value.shape[3:])
        return tuple(value.shape)

    def _inflate(self, state: Dict[str, torch.Tensor], model_state: Dict[str, torch.Tensor]):
        out = dict(state)
        inflated = []
        for key, value in state.items():
            target = model_state.get(key)
            if target is None or not isinstance(value, torch.Tensor) or value.shape == target.shape:
                continue
            if value.dim() == 5 and value.shape[2] == 1 and target.dim() == 5:
                value = value[:, :, 0]  # a 2D model built in 3D (T = 1, temporal extent 1)
            if (
                value.dim() == 4
                and target.dim() == 5
                and value.shape[:2] + value.shape[2:] == target.shape[:2] + target.shape[3:]
            ):
                out[key] = inflate_weight(value, target.shape[2], self.inflation).to(target.dtype)
                inflated.append(
                    f"{key}: {tuple(value.shape)} -> {tuple(target.shape)} ({self.inflation})"
                )
        for line in inflated:
            self.logger.info(f"[InflatingCheckpointer] inflated {line}")
        if inflated:
            self.logger.info(f"[InflatingCheckpointer] {len(inflated)} keys inflated from 2D")
        return out
