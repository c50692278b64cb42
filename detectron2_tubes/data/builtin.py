"""Built-in dataset names, registered on import (lazily: nothing is read until first use).

Real PoseTrack splits resolve under ``$DETECTRON2_DATASETS`` (default ``./datasets``), with the
official folder layouts::

    posetrack17/annotations/{train,val}/*.json  + posetrack17/images/...   (2017 annolist JSON)
    posetrack18/annotations/{train,val}/*.json  + posetrack18/images/{train,val}/...
    posetrack21/posetrack_data/{train,val}/*.json + posetrack21/images/{train,val}/...

The synthetic splits ``posetrack_synth_train`` / ``posetrack_synth_val`` are generated on first
use into ``$DETECTRON2_TUBES_CACHE`` (default ``~/.cache/detectron2_tubes``), and so is their
degraded variant ``posetrack_synth_degraded_train`` / ``_val`` (single frames degraded,
neighbours intact, labels unchanged: `posetrack_core.synthetic.degraded`). A held-out test split,
``posetrack_synth_test`` (and its degraded ``posetrack_synth_degraded_test``), is generated with
its own seed.
"""

import json
import logging
import os
import shutil

from detectron2.data import DatasetCatalog, MetadataCatalog
from filelock import FileLock

from posetrack_core.errors import UserError
from posetrack_core.keypoints import posetrack_metadata
from posetrack_core.synthetic import (
    DEGRADED_VERSION,
    GENERATOR_VERSION,
    generate_degraded_variant,
    generate_synthetic_posetrack,
)

from .posetrack import load_posetrack_split, register_posetrack

logger = logging.getLogger(__name__)

_POSETRACK_SPLITS = {
    "posetrack17_{}": ("posetrack17", "annotations/{}"),
    "posetrack18_{}": ("posetrack18", "annotations/{}"),
    "posetrack21_{}": ("posetrack21", "posetrack_data/{}"),
}
# The synthetic set every default (demo, tests, quick configs) uses: the benchmark.
SYNTHETIC_PARAMS = dict(num_videos=10, num_frames=60, seed=0, num_val_videos=5)
# The held-out test split, posetrack_synth_test: the same generator and settings with its own
# seed, 24 videos labelled as the validation split is, for figures from models whose settings
# were chosen on posetrack_synth_val. (Generated with one training video, unused: the generator
# writes both splits.)
HELDOUT_PARAMS = dict(num_videos=1, num_frames=60, seed=7, num_val_videos=24)
_SETS = {"benchmark": ("", SYNTHETIC_PARAMS), "heldout": ("_heldout", HELDOUT_PARAMS)}


def datasets_root() -> str:
    return os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))


def synthetic_root(which: str = "benchmark") -> str:
    """Folder of a cached built-in synthetic set ("benchmark" or "heldout")."""
    cache = os.path.expanduser(os.getenv("DETECTRON2_TUBES_CACHE", "~/.cache/detectron2_tubes"))
    return os.path.join(cache, f"posetrack_synth_v{GENERATOR_VERSION}{_SETS[which][0]}")


def ensure_synthetic_dataset(which: str = "benchmark") -> str:
    """Generate a built-in synthetic set unless a complete copy is cached; return its root."""
    root, params = synthetic_root(which), _SETS[which][1]
    with _generation_lock(root):
        try:
            with open(os.path.join(root, "synthetic.json")) as f:
                cached = json.load(f)
            drawn_with = cached.pop("opencv", None) if isinstance(cached, dict) else None
            if cached == dict(version=GENERATOR_VERSION, **params) and _complete(root, params):
                _say_if_drawn_elsewhere(root, drawn_with)
                return root
            logger.info(f"The cached set in {root} is incomplete or stale: generating it again")
        except (OSError, ValueError):
            pass
        _remove_partial_cache(root)
        logger.info(f"Generating the synthetic PoseTrack dataset into {root} ...")
        generate_synthetic_posetrack(root, overwrite=True, **params)
    return root


def _say_if_drawn_elsewhere(root: str, drawn_with) -> None:
    """A cached set drawn by another major release of OpenCV is reused, and said to be: OpenCV 5
    draws some silhouettes 1 px off OpenCV 4's, so figures trained on it differ from a set
    drawn here (numpy's release changes nothing)."""
    import cv2

    here = cv2.__version__
    if drawn_with is not None and str(drawn_with).split(".")[0] != here.split(".")[0]:
        logger.warning(
            f"{root} was drawn with OpenCV {drawn_with}; OpenCV {here} draws some outlines 1 px "
            f"apart, so figures trained on this set differ from one drawn here: delete the folder "
            f"to draw it again"
        )


def _complete(root: str, params: dict) -> bool:
    """Every annotation file of the cached set is there (a set is verified before it is reused)."""
    want = {"train": params["num_videos"], "val": params["num_val_videos"]}
    for split, count in want.items():
        folder = os.path.join(root, "annotations", split)
        if not os.path.isdir(folder) or len(os.listdir(folder)) != count:
            return False
        images = os.path.join(root, "images", split)
        if not os.path.isdir(images) or len(os.listdir(images)) != count:
            return False
    return True


def _remove_partial_cache(root: str) -> None:
    """This package's own cache folder, left incomplete or stale: removed before it is generated
    again, but only when it holds nothing the generator does not write (anything else there is
    somebody's, and is never deleted: a one-line error says so)."""
    if not os.path.isdir(root):
        return
    foreign = sorted(set(os.listdir(root)) - {"images", "annotations", "synthetic.json"})
    if foreign:
        raise UserError(
            f"{root}: the cached synthetic set is incomplete, and the folder also holds "
            f"{', '.join(foreign[:3])}, which this package did not write; move them or set "
            f"DETECTRON2_TUBES_CACHE to another folder"
        )
    shutil.rmtree(root)


def _generation_lock(root: str) -> FileLock:
    """One process generates a cached set; the others (training processes started together,
    each loading the dataset) wait and then read it, instead of replacing it under each other."""
    os.makedirs(os.path.dirname(root), exist_ok=True)
    return FileLock(root + ".lock")


def degraded_root(which: str = "benchmark") -> str:
    """Folder of the cached degraded variant of a built-in synthetic set."""
    return synthetic_root(which) + f"_degraded_v{DEGRADED_VERSION}"


def ensure_degraded_dataset(which: str = "benchmark") -> str:
    """Make the degraded variant (`posetrack_core.synthetic.degraded`) of a built-in synthetic set unless a
    complete copy is cached; return its root."""
    source = ensure_synthetic_dataset(which)
    root = degraded_root(which)
    with _generation_lock(root):
        # Verified before it is reused: its marker (written last) and every video's files.
        marker = os.path.isfile(os.path.join(root, "degraded.json"))
        if not (marker and _complete(root, _SETS[which][1])):
            logger.info(f"Making the degraded variant of the synthetic dataset in {root} ...")
            generate_degraded_variant(source, root)
    return root


def _loader(ensure, which: str, split: str):
    def load():
        root = ensure(which)
        return load_posetrack_split(os.path.join(root, "annotations", split), root)

    return load


# Registered name -> (which set, its split, degraded or not).
_SYNTHETIC_NAMES = {
    "posetrack_synth_train": ("benchmark", "train", False),
    "posetrack_synth_val": ("benchmark", "val", False),
    "posetrack_synth_degraded_train": ("benchmark", "train", True),
    "posetrack_synth_degraded_val": ("benchmark", "val", True),
    "posetrack_synth_test": ("heldout", "val", False),
    "posetrack_synth_degraded_test": ("heldout", "val", True),
}


def register_all() -> None:
    for split in ("train", "val"):
        for name_fmt, (folder, ann_fmt) in _POSETRACK_SPLITS.items():
            name = name_fmt.format(split)
            if name in DatasetCatalog.list():
                continue
            root = os.path.join(datasets_root(), folder)
            register_posetrack(name, os.path.join(root, ann_fmt.format(split)), root)
    for name, (which, split, degraded) in _SYNTHETIC_NAMES.items():
        if name in DatasetCatalog.list():
            continue
        ensure = ensure_degraded_dataset if degraded else ensure_synthetic_dataset
        root = (degraded_root if degraded else synthetic_root)(which)
        DatasetCatalog.register(name, _loader(ensure, which, split))
        MetadataCatalog.get(name).set(
            annotation_dir=os.path.join(root, "annotations", split),
            image_root=root,
            **posetrack_metadata(),
        )
