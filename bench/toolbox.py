"""What the benchmarks share: the checkout's folders, the machine a figure was measured on, and
how much a 3D model uses its neighbour frames. The benches run on the installed package (``make
install``): ``python bench/<bench>.py``, each importing this module from beside it."""

import os
import platform
from typing import Any, Dict, Iterable, Tuple

import numpy as np

__all__ = ["ROOT", "CONFIGS", "machine_description", "tap_ratios"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "configs")


def machine_description() -> str:
    """CPU model, cores and memory (and the GPU when torch sees one), e.g.
    "AMD EPYC 9B14, 2 cores, 24 GB"."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    words = [
        cpu,
        f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores",
    ]
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        words.append(f"{pages * size / 2**30:.0f} GB")
    except (ValueError, OSError, AttributeError):
        pass
    try:
        import torch

        if torch.cuda.is_available():
            words.append(torch.cuda.get_device_name(0))
    except ImportError:
        pass
    return ", ".join(words)


def tap_ratios(named_tensors: Iterable[Tuple[str, Any]]) -> Dict[str, float]:
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
