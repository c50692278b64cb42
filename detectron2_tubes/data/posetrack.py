"""Read PoseTrack annotation files (2017 "annolist", 2018 and 2021) into Detectron2 dataset dicts.

One dict per frame, with the fields of Detectron2's standard format plus the video fields that
clips and tracking need::

    file_name, height, width, image_id,
    video_id        sequence name (the JSON file's stem, which also names prediction files)
    frame_id        position of the frame in its sequence file (0-based; the toolkit pairs
                    ground truth and prediction frames by this position)
    is_labeled      whether the frame was annotated
    ignore_regions  list of polygons, each a flat [x0, y0, x1, y1, ...] list
    annotation_file the JSON file the frame came from (for error messages)
    annotations     list of dicts: bbox (XYXY_ABS), bbox_mode, category_id (0),
                    keypoints (17 x 3 flat, COCO slot order, visibility 2 = labelled,
                    0 = not annotated), track_id, bbox_head (XYXY_ABS, or None)
"""

import logging
import os
from typing import Any, Dict, List, Optional

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from PIL import Image

from posetrack_core.keypoints import NUM_KEYPOINTS, keypoints_to_box, posetrack_metadata
from posetrack_core.posetrack_json import (
    PoseTrackFile,
    PoseTrackFormatError,
    read_posetrack_file,
)

logger = logging.getLogger(__name__)

__all__ = [
    "load_posetrack_json",
    "load_posetrack_split",
    "register_posetrack",
]


def _image_size(path: str, json_file: str, cache: Dict[str, Any]) -> tuple:
    """(height, width) of a frame, read once per video (PoseTrack frames of a video share it)."""
    if "size" not in cache:
        try:
            with Image.open(path) as im:
                w, h = im.size
        except FileNotFoundError:
            raise PoseTrackFormatError(f"{json_file}: image file {path} does not exist") from None
        except OSError as e:
            raise PoseTrackFormatError(f"{json_file}: cannot read image {path}: {e}") from None
        cache["size"] = (h, w)
    return cache["size"]


def _make_annotation(kps: np.ndarray, bbox, bbox_head, track_id, image_size) -> Optional[dict]:
    if bbox is None:
        bbox = keypoints_to_box(kps, image_size)
    if bbox is None:
        return None  # no person box and no labelled joint: nothing to learn from
    return {
        "bbox": bbox,
        "bbox_mode": BoxMode.XYXY_ABS,
        "category_id": 0,
        "keypoints": kps.reshape(-1).tolist(),
        "track_id": track_id,
        "bbox_head": bbox_head,
    }


def _clip_box(box: Optional[List[float]], height: int, width: int) -> Optional[List[float]]:
    """Some 2018 person boxes run past the image: clip them, as keypoint boxes are; a degenerate
    box gives None (the keypoints' extent is used instead)."""
    if box is None:
        return None
    x1, y1, x2, y2 = (min(max(v, 0.0), lim) for v, lim in zip(box, (width, height) * 2))
    return [x1, y1, x2, y2] if x2 > x1 and y2 > y1 else None


def _frame_dicts(pt: PoseTrackFile, image_root: str) -> List[dict]:
    """Detectron2 dataset dicts of a read PoseTrack file (see the module docstring)."""
    size_cache: Dict[str, Any] = {}
    dicts = []
    for frame in pt.frames:
        file_name = os.path.join(image_root, frame.file_name)
        h, w = _image_size(file_name, pt.path, size_cache)
        annotations = []
        for person in frame.people:
            # COCO-style visibility: 2 where the toolkit counts the joint as annotated, else 0.
            kps = np.zeros((NUM_KEYPOINTS, 3))
            kps[person.present, :2] = person.keypoints[person.present, :2]
            kps[person.present, 2] = 2.0
            track = person.track_id
            if pt.format == "2017" and track is not None:
                try:
                    track = int(track)
                except (TypeError, ValueError):
                    raise PoseTrackFormatError(
                        f"{pt.path}: frame {frame.index}: track id {track!r} is not an integer"
                    ) from None
            a = _make_annotation(kps, _clip_box(person.bbox, h, w), person.bbox_head, track, (h, w))
            if a is not None:
                annotations.append(a)
        dicts.append(
            {
                "file_name": file_name,
                "height": h,
                "width": w,
                "image_id": (
                    f"{pt.video_id}/{frame.index}" if pt.format == "2017" else frame.image_id
                ),
                "video_id": pt.video_id,
                "frame_id": frame.index,
                "is_labeled": (
                    frame.is_labeled if frame.is_labeled is not None else len(annotations) > 0
                ),
                "ignore_regions": [poly.reshape(-1).tolist() for poly in frame.ignore_regions],
                "annotation_file": pt.path,
                "annotations": annotations,
            }
        )
    return dicts


def load_posetrack_json(json_file: str, image_root: str) -> List[dict]:
    """Load one PoseTrack sequence file (2017, 2018 or 2021, detected) as per-frame dicts.

    Args:
        json_file: path of the sequence's annotation file.
        image_root: folder that the file's image names are relative to (the dataset root, the
            folder holding ``images/``).

    Returns:
        One Detectron2 dataset dict per frame, in file order (see the module docstring).

    Raises:
        PoseTrackFormatError: the file is missing, not JSON, of an unknown format, lacks a
            required key, has keypoint arrays of the wrong length, or names a missing image.
    """
    pt = read_posetrack_file(json_file, "annotation", require_file_names=True)
    return _frame_dicts(pt, image_root)


def load_posetrack_split(annotation_dir: str, image_root: str) -> List[dict]:
    """Load every ``*.json`` sequence file of a split folder, sorted by file name."""
    if not os.path.isdir(annotation_dir):
        raise PoseTrackFormatError(f"{annotation_dir}: annotation folder does not exist")
    files = sorted(f for f in os.listdir(annotation_dir) if f.endswith(".json"))
    if not files:
        raise PoseTrackFormatError(f"{annotation_dir}: no .json sequence files in this folder")
    dicts: List[dict] = []
    for f in files:
        dicts.extend(load_posetrack_json(os.path.join(annotation_dir, f), image_root))
    num_people = sum(len(d["annotations"]) for d in dicts)
    logger.info(
        f"Loaded {len(files)} PoseTrack sequences, {len(dicts)} frames, {num_people} people "
        f"from {annotation_dir}"
    )
    return dicts


def register_posetrack(
    name: str, annotation_dir: str, image_root: str, metadata: Optional[dict] = None
) -> None:
    """Register a PoseTrack-format split (a folder of per-video JSON files) under ``name``.

    The split loads lazily from `DatasetCatalog`; its metadata carries the keypoint names, the
    flip map (head_bottom/head_top are not swapped), drawing rules,
    ``evaluator_type="posetrack"`` and the folders (``annotation_dir`` is what the evaluator
    reads ground truth from).
    """
    DatasetCatalog.register(name, lambda: load_posetrack_split(annotation_dir, image_root))
    MetadataCatalog.get(name).set(
        annotation_dir=annotation_dir,
        image_root=image_root,
        **posetrack_metadata(),
        **(metadata or {}),
    )
