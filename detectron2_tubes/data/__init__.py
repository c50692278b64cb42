"""Data in Detectron2: the PoseTrack and COCO keypoint datasets, clips of T frames, the clip
mapper and loaders, the built-in synthetic datasets. The joint orders and the synthetic
generator: `posetrack_core.keypoints`, `posetrack_core.synthetic`."""

from . import builtin  # noqa: F401  (registers the built-in datasets)
from .build import build_clip_test_loader, build_clip_train_loader
from .builtin import (
    degraded_root,
    ensure_degraded_dataset,
    ensure_synthetic_dataset,
    synthetic_root,
)
from .clip_inputs import ClipInputs
from .clip_mapper import ClipDatasetMapper, read_frame
from .clips import (
    build_clip_dicts,
    clip_frame_indices,
    get_clip_dataset_dicts,
    group_by_video,
    is_image_set,
    key_frame_index,
)
from .coco import (
    export_coco_keypoints,
    flip_map_from_names,
    keypoint_hflip_indices,
    register_coco_keypoints,
)
from .posetrack import load_posetrack_json, load_posetrack_split, register_posetrack

builtin.register_all()
