"""Inflating 2D weights to 3D (the paper's initialisation): one conv weight, or a whole state
dict against the model's."""

import logging
from typing import Dict, List

import torch

__all__ = ["INFLATION_MODES", "IGNORED", "inflate_weight", "inflate_state"]

logger = logging.getLogger(__name__)
INFLATION_MODES = ("center", "mean")
# Buffers a checkpoint may lack or carry without meaning anything about the architecture.
IGNORED = (
    "pixel_mean",
    "pixel_std",
    "anchor_generator.cell_anchors",
    "num_batches_tracked",
)


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


def inflate_state(
    state: Dict[str, torch.Tensor],
    model_state: Dict[str, torch.Tensor],
    mode: str = "center",
):
    """Keep tensors of the model's shape, inflate 2D convs (``mode``), drop other shapes.

    Returns the state to load and a report {"loaded", "inflated", "mismatched", "unused"}.
    """
    out: Dict[str, torch.Tensor] = {}
    report: Dict[str, List[str]] = {
        "loaded": [],
        "inflated": [],
        "mismatched": [],
        "unused": [],
    }
    for key, value in state.items():
        target = model_state.get(key)
        if target is None or not isinstance(value, torch.Tensor):
            if not key.endswith(IGNORED):
                report["unused"].append(key)
            out[key] = value
            continue
        if value.shape == target.shape:
            out[key] = value
            report["loaded"].append(key)
            continue
        if value.dim() == 5 and value.shape[2] == 1 and target.dim() == 5:
            value = value[:, :, 0]  # a 2D model built in 3D (T = 1, temporal extent 1)
        if (
            value.dim() == 4
            and target.dim() == 5
            and value.shape[:2] + value.shape[2:] == target.shape[:2] + target.shape[3:]
        ):
            out[key] = inflate_weight(value, target.shape[2], mode).to(target.dtype)
            report["inflated"].append(key)
            logger.debug(
                f"[InflatingCheckpointer] inflated {key}: {tuple(value.shape)} -> "
                f"{tuple(target.shape)} ({mode})"
            )
        else:
            report["mismatched"].append(f"{key} {tuple(state[key].shape)} vs {tuple(target.shape)}")
    return out, report
