"""What the benchmarks share: the checkout's folders, the machine a figure was measured on, and
how much a 3D model uses its neighbour frames. The benches run on the installed package (``make
install``): ``python bench/<bench>.py``, each importing this module from beside it."""

import importlib.util
import os
import platform
from typing import Any, Callable, Dict, Iterable, List, Tuple

import numpy as np

__all__ = [
    "ROOT",
    "CONFIGS",
    "machine_description",
    "tap_ratios",
    "test_helpers",
    "frame_subset_parts",
    "bootstrap_videos",
    "interval",
]

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


def test_helpers(module: str, *names: str):
    """Names from a helper module of the test suite (``tests/<module>.py``, say the fixtures'
    builders), read from its file: the benches measure on the tests' own cases."""
    path = os.path.join(ROOT, "tests", f"{module}.py")
    spec = importlib.util.spec_from_file_location(f"tests_{module}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return tuple(getattr(loaded, n) for n in names)


def frame_subset_parts(
    gt_dir: str, pred_dir: str, subsets: Dict[str, Callable[[str, int], bool]], *, whole=False
) -> List[dict]:
    """Per video of ``gt_dir`` (predictions of the same name in ``pred_dir``): {subset: (AP parts
    of the evaluated frames ``subsets[subset](video name, frame index)`` keeps, their count)},
    and with ``whole`` ``"all"``: the parts of every evaluated frame, tracking included. Parts
    are `evaluate_sequences(..., return_parts=True)`'s, so that any resampling of the videos is
    scored by `pooled_metrics` without evaluating again."""
    from posetrack_core.evaluation import evaluate_sequences
    from posetrack_core.evaluation.sequences import SequenceData, load_sequence_pair

    out = []
    for i, name in enumerate(sorted(os.listdir(gt_dir))):
        seq = load_sequence_pair(os.path.join(gt_dir, name), os.path.join(pred_dir, name), i)[0]
        parts = {}
        if whole:
            parts["all"] = (evaluate_sequences([seq], return_parts=True, warn=lambda m: None), 0)
        for subset, keep in subsets.items():
            part = SequenceData(seq.name)
            for gt, pred, f in zip(seq.gt, seq.pred, seq.frame_index):
                if keep(seq.name, f):
                    part.gt.append(gt), part.pred.append(pred), part.frame_index.append(f)
            parts[subset] = (
                evaluate_sequences([part], eval_track=False, return_parts=True),
                len(part.gt),
            )
        out.append(parts)
    return out


def bootstrap_videos(statistic: Callable[[np.ndarray], Any], n_videos: int, n_boot: int, rng):
    """``statistic(pick)`` on every video (``pick`` = 0..n-1), and on ``n_boot`` resamples of the
    videos with replacement (one ``rng.integers`` draw each): (point, [resampled values])."""
    point = statistic(np.arange(n_videos))
    return point, [statistic(rng.integers(0, n_videos, n_videos)) for _ in range(n_boot)]


def interval(samples) -> List[float]:
    """The 95% percentile interval of bootstrap samples (NaNs left out)."""
    return list(np.nanpercentile(samples, [2.5, 97.5]))
