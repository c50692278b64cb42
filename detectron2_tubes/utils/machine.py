"""The machine a figure was measured on, in words, for the benches' tables."""

import os
import platform

__all__ = ["machine_description"]


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
