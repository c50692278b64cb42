"""Built-in dataset names, registered on import (lazily: nothing is read until first use).

Real PoseTrack splits resolve under ``$DETECTRON2_DATASETS`` (default ``./datasets``), with the
official folder layouts::

    posetrack17/annotations/{train,val}/*.json  + posetrack17/images/...   (2017 annolist JSON)
    posetrack18/annotations/{train,val}/*.json  + posetrack18/images/{train,val}/...
    posetrack21/posetrack_data/{train,val}/*.json + posetrack21/images/{train,val}/...

The synthetic splits ``posetrack_synth_train`` / ``posetrack_synth_val`` are generated on first
use into ``$DETECTRON2_TUBES_CACHE`` (default ``~/.cache/detectron2_tubes``).
"""

import json
import logging
import os

from detectron2.data import DatasetCatalog, MetadataCatalog

from .keypoints import posetrack_metadata
from .posetrack import load_posetrack_split, register_posetrack
from .synthetic import GENERATOR_VERSION, generate_synthetic_posetrack

logger = logging.getLogger(__name__)

_POSETRACK_SPLITS = {
    "posetrack17_{}": ("posetrack17", "annotations/{}"),
    "posetrack18_{}": ("posetrack18", "annotations/{}"),
    "posetrack21_{}": ("posetrack21", "posetrack_data/{}"),
}
# The synthetic set every default (demo, tests, quick configs) uses.
SYNTHETIC_PARAMS = dict(num_videos=10, num_frames=60, seed=0, num_val_videos=5)


def datasets_root() -> str:
    return os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))


def synthetic_root() -> str:
    """Folder of the cached built-in synthetic dataset."""
    cache = os.path.expanduser(os.getenv("DETECTRON2_TUBES_CACHE", "~/.cache/detectron2_tubes"))
    return os.path.join(cache, f"posetrack_synth_v{GENERATOR_VERSION}")


def ensure_synthetic_dataset() -> str:
    """Generate the built-in synthetic dataset unless a complete copy is cached; return its root."""
    root = synthetic_root()
    marker = os.path.join(root, "synthetic.json")
    try:
        with open(marker) as f:
            params = json.load(f)
        if params == dict(version=GENERATOR_VERSION, **SYNTHETIC_PARAMS):
            return root
    except (OSError, ValueError):
        pass
    logger.info(f"Generating the synthetic PoseTrack dataset into {root} ...")
    generate_synthetic_posetrack(root, **SYNTHETIC_PARAMS)
    return root


def _load_synthetic(split: str):
    root = ensure_synthetic_dataset()
    return load_posetrack_split(os.path.join(root, "annotations", split), root)


def register_all() -> None:
    for split in ("train", "val"):
        for name_fmt, (folder, ann_fmt) in _POSETRACK_SPLITS.items():
            name = name_fmt.format(split)
            if name in DatasetCatalog.list():
                continue
            root = os.path.join(datasets_root(), folder)
            register_posetrack(name, os.path.join(root, ann_fmt.format(split)), root)
        name = f"posetrack_synth_{split}"
        if name not in DatasetCatalog.list():
            DatasetCatalog.register(name, lambda s=split: _load_synthetic(s))
            root = synthetic_root()
            MetadataCatalog.get(name).set(
                annotation_dir=os.path.join(root, "annotations", split),
                image_root=root,
                **posetrack_metadata(),
            )
