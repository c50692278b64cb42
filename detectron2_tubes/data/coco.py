"""COCO-format keypoint image sets (the paper's 2D pretraining data) for Tube R-CNN.

An image set has no ``video_id``: each image is a one-frame video (`clips.group_by_video`), so
T = 1 trains on it as stock Detectron2 does. Here: registering such a set with the keypoint
metadata its own JSON declares, the horizontal-flip indices of a training set (one keypoint
layout, each dataset's own flip map), and writing PoseTrack-format frames as a COCO keypoint
JSON of single images.
"""

import json
import logging
import os
from typing import List, Optional, Sequence

import numpy as np
from detectron2.data import MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.data.datasets import register_coco_instances

from posetrack_core.io import write_json_atomic
from posetrack_core.keypoints import SKELETON_1BASED

__all__ = [
    "flip_map_from_names",
    "register_coco_keypoints",
    "keypoint_hflip_indices",
    "export_coco_keypoints",
]

logger = logging.getLogger(__name__)


def flip_map_from_names(names: Sequence[str]) -> List[tuple]:
    """Left/right pairs by name (``left_x`` with ``right_x``): COCO's eyes and ears swap,
    PoseTrack's ``head_bottom`` and ``head_top`` (in COCO's eye slots) stay in place."""
    return [
        (n, "right_" + n[5:]) for n in names if n.startswith("left_") and "right_" + n[5:] in names
    ]


def register_coco_keypoints(name: str, json_file: str, image_root: str) -> None:
    """Detectron2's `register_coco_instances`, with the keypoint names of the JSON's person
    category and the flip map they imply (so a PoseTrack-layout JSON is flipped as PoseTrack,
    a COCO one as COCO)."""
    try:
        with open(json_file) as f:
            categories = json.load(f).get("categories", [])
    except (OSError, ValueError) as e:
        raise ValueError(f"{json_file}: cannot read a COCO keypoint JSON: {e}") from None
    names = next((c.get("keypoints") for c in categories if c.get("keypoints")), None)
    if not names:
        raise ValueError(f"{json_file}: no category lists 'keypoints': not a keypoint JSON")
    register_coco_instances(
        name,
        dict(keypoint_names=list(names), keypoint_flip_map=flip_map_from_names(names)),
        json_file,
        image_root,
    )


def keypoint_hflip_indices(dataset_names: Sequence[str], num_keypoints: Optional[int] = None):
    """Horizontal-flip indices of a training set, from its datasets' own metadata.

    Every dataset must declare ``keypoint_names`` and ``keypoint_flip_map``, all the same: a set
    that mixes keypoint layouts (COCO's eyes and PoseTrack's head points share slots 1 and 2)
    is refused, as is a layout whose size differs from the model's ``num_keypoints``.
    """
    names = {}
    for d in dataset_names:
        meta = MetadataCatalog.get(d)
        if not meta.get("keypoint_names") or meta.get("keypoint_flip_map") is None:
            raise ValueError(
                f"dataset '{d}' declares no keypoint_names / keypoint_flip_map in its metadata: "
                f"register a COCO keypoint JSON with detectron2_tubes.data.register_coco_keypoints "
                f"or set them with MetadataCatalog.get('{d}').set(...)"
            )
        names[d] = (tuple(meta.keypoint_names), sorted(map(tuple, meta.keypoint_flip_map)))
    first = dataset_names[0]
    for d, layout in names.items():
        if layout != names[first]:
            raise ValueError(
                f"DATASETS.TRAIN mixes keypoint layouts: '{first}' has {list(names[first][0])} "
                f"and '{d}' has {list(layout[0])}; train on one layout at a time"
            )
    if num_keypoints is not None and len(names[first][0]) != num_keypoints:
        raise ValueError(
            f"dataset '{first}' has {len(names[first][0])} keypoints but "
            f"MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS is {num_keypoints}"
        )
    return utils.create_keypoint_hflip_indices(list(dataset_names))


def export_coco_keypoints(
    frames: Sequence[dict], json_file: str, image_root: str, keypoint_names: Sequence[str]
) -> dict:
    """Write labelled frames (Detectron2 dicts, boxes XYXY_ABS) as a COCO keypoint JSON of
    single images, file names relative to ``image_root``; crowd annotations are kept as crowd;
    Detectron2's `load_coco_json` reads back the same boxes and labelled keypoints.

    Unlabelled frames are left out (their people are not annotated, so as images they would
    teach the model that people are background). Written atomically. Returns the JSON dict.
    """
    images, annotations = [], []
    for image_id, d in enumerate((f for f in frames if f.get("is_labeled", True)), 1):
        images.append(
            dict(
                id=image_id,
                file_name=os.path.relpath(d["file_name"], image_root),
                height=d["height"],
                width=d["width"],
            )
        )
        for a in d.get("annotations", []):
            x0, y0, x1, y1 = (float(v) for v in a["bbox"])
            kps = np.asarray(a.get("keypoints", []), np.float64).reshape(-1, 3)
            # COCO files hold pixel indices, to which Detectron2's loader adds 0.5: take it off
            # so that the coordinates read back are the ones given.
            kps[kps[:, 2] > 0, :2] -= 0.5
            kps = [round(float(v), 3) for v in kps.reshape(-1)]
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=1,
                    bbox=[x0, y0, x1 - x0, y1 - y0],
                    area=(x1 - x0) * (y1 - y0),
                    iscrowd=int(a.get("iscrowd", 0)),
                    keypoints=kps,
                    num_keypoints=sum(v > 0 for v in kps[2::3]),
                )
            )
    data = dict(
        images=images,
        annotations=annotations,
        categories=[
            dict(
                id=1,
                name="person",
                supercategory="person",
                keypoints=list(keypoint_names),
                skeleton=[list(e) for e in SKELETON_1BASED],
            )
        ],
    )
    write_json_atomic(data, json_file)
    logger.info(f"{json_file}: {len(images)} images, {len(annotations)} people")
    return data
