"""A variant of the synthetic benchmark for one question: does a clip model use its neighbours?

The same videos and the same labels as the synthetic set it is made from, with about a quarter
of the labelled frames degraded as real video degrades a single frame: strong motion blur, a
flash (the frame washed out), a dropout (the frame nearly black and noisy), or a large object
passing close to the camera for one frame. Degraded frames are never adjacent and never a
video's first or last frame, so both neighbours of each are intact; the labels are left as they
were, so on a degraded frame the poses can only be read from its neighbours. The benchmark itself
(``posetrack_synth_train``/``_val``) is not touched: this is a copy beside it
(``posetrack_synth_degraded_train``/``_val``), with ``degraded.json`` saying which frame is
degraded and how.
"""

import json
import logging
import os
import shutil
import tempfile
from typing import Dict, Optional

import cv2
import numpy as np

from ..io import write_json_atomic

__all__ = [
    "DEGRADATIONS",
    "DEGRADED_VERSION",
    "degrade_frame",
    "choose_degraded_frames",
    "generate_degraded_variant",
    "load_degraded_frames",
]

logger = logging.getLogger(__name__)

DEGRADATIONS = ("blur", "flash", "dropout", "occluder")
# Bumped whenever this variant's output changes (for the cache).
DEGRADED_VERSION = 1


def degrade_frame(image: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """``image`` (H, W, 3) uint8 BGR degraded one way (a new array)."""
    h, w = image.shape[:2]
    img = image.astype(np.float32)
    if kind == "blur":  # a camera shake: 21 to 31 px of linear motion in a random direction
        k = int(rng.integers(21, 32)) | 1
        kernel = np.zeros((k, k), np.float32)
        angle = float(rng.uniform(0, np.pi))
        c, dx, dy = k // 2, np.cos(angle), np.sin(angle)
        for s in np.linspace(-c, c, 4 * k):
            kernel[int(round(c + s * dy)), int(round(c + s * dx))] = 1.0
        img = cv2.filter2D(img, -1, kernel / kernel.sum())
    elif kind == "flash":  # washed out towards white, 75 to 90%
        a = float(rng.uniform(0.75, 0.9))
        img = img * (1 - a) + 255.0 * a
    elif kind == "dropout":  # a dropped frame: 8 to 15% of the light, strong sensor noise
        img = img * float(rng.uniform(0.08, 0.15)) + rng.normal(0, 12, img.shape)
    elif kind == "occluder":  # something passing near the lens: an ellipse over 30-50% of it
        area = float(rng.uniform(0.3, 0.5)) * h * w
        ratio = float(rng.uniform(0.6, 1.6))
        ax = int(np.sqrt(area / np.pi * ratio))
        ay = int(np.sqrt(area / np.pi / ratio))
        centre = (int(rng.uniform(0.3, 0.7) * w), int(rng.uniform(0.3, 0.7) * h))
        color = tuple(float(v) for v in rng.integers(20, 230, 3))
        cv2.ellipse(img, centre, (ax, ay), float(rng.uniform(0, 180)), 0, 360, color, -1)
    else:
        raise ValueError(f"unknown degradation {kind!r}; use one of {DEGRADATIONS}")
    return np.clip(img, 0, 255).astype(np.uint8)


def choose_degraded_frames(labeled, fraction: float, rng: np.random.Generator) -> Dict[int, str]:
    """{frame index: degradation} for about ``fraction`` of the labelled frames: never the first
    or last frame, never two adjacent frames (both neighbours of a degraded frame stay intact)."""
    n = len(labeled)
    candidates = [t for t in range(1, n - 1) if labeled[t]]
    rng.shuffle(candidates)
    chosen = set()
    for t in candidates:
        if len(chosen) >= round(fraction * sum(labeled)):
            break
        if t - 1 not in chosen and t + 1 not in chosen:
            chosen.add(t)
    return {t: DEGRADATIONS[int(rng.integers(len(DEGRADATIONS)))] for t in sorted(chosen)}


def generate_degraded_variant(
    src_root: str, out_root: str, fraction: float = 0.25, seed: int = 0
) -> Dict[str, Dict[str, Dict[int, str]]]:
    """Copy the synthetic set at ``src_root`` (PoseTrack 2018 layout) to ``out_root`` with
    about ``fraction`` of each video's labelled frames degraded; written atomically.

    Returns ``{split: {sequence: {frame index: degradation}}}``, also written to
    ``out_root/degraded.json``.
    """
    if not 0 < fraction < 0.5:
        raise ValueError(f"fraction must be in (0, 0.5) (no two adjacent frames), got {fraction}")
    parent = os.path.dirname(os.path.abspath(out_root))
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".degraded-partial-", dir=parent)
    degraded: Dict[str, Dict[str, Dict[int, str]]] = {}
    try:
        shutil.copytree(os.path.join(src_root, "annotations"), os.path.join(work, "annotations"))
        for split in sorted(os.listdir(os.path.join(src_root, "annotations"))):
            degraded[split] = {}
            for name in sorted(os.listdir(os.path.join(src_root, "annotations", split))):
                seq = os.path.splitext(name)[0]
                with open(os.path.join(src_root, "annotations", split, name)) as f:
                    images = json.load(f)["images"]
                rng = np.random.default_rng([seed, sum(map(ord, split)), int(seq[:6])])
                chosen = choose_degraded_frames([im["is_labeled"] for im in images], fraction, rng)
                degraded[split][seq] = chosen
                for t, im in enumerate(images):
                    src = os.path.join(src_root, im["file_name"])
                    dst = os.path.join(work, im["file_name"])
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    if t in chosen:
                        img = degrade_frame(cv2.imread(src), chosen[t], rng)
                        cv2.imwrite(dst, img, [cv2.IMWRITE_JPEG_QUALITY, 92])
                    else:
                        shutil.copyfile(src, dst)  # the intact frames, byte for byte
        params = dict(version=DEGRADED_VERSION, fraction=fraction, seed=seed)
        write_json_atomic(
            {"params": params, "frames": degraded}, os.path.join(work, "degraded.json")
        )
        shutil.copyfile(
            os.path.join(src_root, "synthetic.json"), os.path.join(work, "synthetic.json")
        )
        os.makedirs(out_root, exist_ok=True)
        for name in ("images", "annotations", "synthetic.json", "degraded.json"):
            target = os.path.join(out_root, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            os.replace(os.path.join(work, name), target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return degraded


def load_degraded_frames(root: str) -> Optional[Dict[str, Dict[str, Dict[int, str]]]]:
    """``degraded.json``'s frames of a degraded variant (None for any other dataset root)."""
    try:
        with open(os.path.join(root, "degraded.json")) as f:
            frames = json.load(f)["frames"]
    except (OSError, KeyError, ValueError):
        return None
    return {
        split: {seq: {int(t): k for t, k in d.items()} for seq, d in seqs.items()}
        for split, seqs in frames.items()
    }
