"""detectron2_tubes: Detect-and-Track (Girdhar et al., CVPR 2018) as a Detectron2 extension.

Importing the package registers its datasets and model components with Detectron2.
"""

import warnings

from .utils.compat import import_detectron2_model_zoo

import_detectron2_model_zoo()  # before anything else of Detectron2's: see utils/compat.py

with warnings.catch_warnings():
    # fvcore and Detectron2 call torch.jit.script at import, deprecated since torch 2.10: not
    # the user's business, and hidden only while this package imports them.
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")
    from . import modeling, tracking  # noqa: F401  (registers the model components, tracker)
    from .checkpoint import InflatingCheckpointer
    from .config import add_tubes_config
    from .data import (
        ClipDatasetMapper,
        build_clip_test_loader,
        build_clip_train_loader,
        load_posetrack_json,
        register_posetrack,
    )
    from .modeling import TubeRCNN, tubes_to_frames
    from .structures import Tubes, pairwise_tube_iou
    from .tracking import PoseTracker, link_video

__version__ = "0.1.0"

__all__ = [
    "add_tubes_config",
    "InflatingCheckpointer",
    "TubeRCNN",
    "tubes_to_frames",
    "PoseTracker",
    "link_video",
    "ClipDatasetMapper",
    "build_clip_train_loader",
    "build_clip_test_loader",
    "load_posetrack_json",
    "register_posetrack",
    "Tubes",
    "pairwise_tube_iou",
]
