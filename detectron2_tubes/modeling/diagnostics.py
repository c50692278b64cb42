"""How much a 3D model uses its neighbour frames, read from its 3-tap temporal convolutions."""

from typing import Dict, Iterable, Tuple

import numpy as np
import torch

__all__ = ["tap_ratios"]


def tap_ratios(named_tensors: Iterable[Tuple[str, torch.Tensor]]) -> Dict[str, float]:
    """{layer group ("backbone.res3", ...): the median over its 3-tap convs of
    |off-centre taps| / |centre tap|}, of weights (``model.named_parameters()``, a state dict's
    items) or of their gradients. 0 for a centre-inflated model that has not yet moved."""
    groups: Dict[str, list] = {}
    for name, w in named_tensors:
        if w is None or w.dim() != 5 or w.shape[2] != 3:
            continue
        w = w.detach()
        off = (w[:, :, 0].norm() ** 2 + w[:, :, 2].norm() ** 2).sqrt()
        ratio = (off / w[:, :, 1].norm().clamp_min(1e-12)).item()
        groups.setdefault(".".join(name.split(".")[:2]), []).append(ratio)
    return {k: float(np.median(v)) for k, v in groups.items()}
