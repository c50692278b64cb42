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

import json
import logging
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from PIL import Image

from .keypoints import NUM_KEYPOINTS, POSETRACK17_TO_COCO, posetrack_metadata

logger = logging.getLogger(__name__)

__all__ = [
    "PoseTrackFormatError",
    "detect_posetrack_format",
    "keypoints_to_box",
    "load_posetrack_json",
    "load_posetrack_split",
    "register_posetrack",
]

# Person boxes made from keypoints are dilated by this factor (Detect-and-Track's 20%).
BOX_DILATION = 1.2


class PoseTrackFormatError(ValueError):
    """A PoseTrack annotation file that cannot be read; the message names the file."""


def detect_posetrack_format(data: Any) -> str:
    """Return "2017", "2018" or "2021" for a parsed PoseTrack file, or raise ValueError."""
    if isinstance(data, dict) and "annolist" in data:
        return "2017"
    if isinstance(data, dict) and "images" in data:
        annotations = data.get("annotations") or []
        images = data.get("images") or []
        if any(isinstance(a, dict) and "person_id" in a for a in annotations) or any(
            isinstance(i, dict) and "has_labeled_person" in i for i in images
        ):
            return "2021"
        return "2018"
    keys = sorted(data.keys())[:8] if isinstance(data, dict) else type(data).__name__
    raise ValueError(
        "unknown PoseTrack format: expected a top-level 'annolist' (2017) or 'images' and "
        f"'annotations' (2018/2021), found {keys}"
    )


def keypoints_to_box(keypoints: np.ndarray, image_size: Optional[Sequence[int]] = None):
    """Person box (XYXY) from the labelled keypoints of one person, or None if none is labelled.

    The extent of the labelled keypoints, one pixel wider and taller (so a box is never
    degenerate), dilated by 20% about its centre as Detect-and-Track did, then clipped to the
    image when ``image_size`` = (height, width) is given.

    Args:
        keypoints: (K, 3) array of x, y, visibility; visibility > 0 means labelled.
    """
    labelled = keypoints[keypoints[:, 2] > 0]
    if len(labelled) == 0:
        return None
    x1, y1 = labelled[:, 0].min(), labelled[:, 1].min()
    x2, y2 = labelled[:, 0].max() + 1, labelled[:, 1].max() + 1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    hw, hh = (x2 - x1) / 2 * BOX_DILATION, (y2 - y1) / 2 * BOX_DILATION
    box = [cx - hw, cy - hh, cx + hw, cy + hh]
    if image_size is not None:
        h, w = image_size
        box = [
            min(max(box[0], 0), w),
            min(max(box[1], 0), h),
            min(max(box[2], 0), w),
            min(max(box[3], 0), h),
        ]
    return [float(v) for v in box]


def _unwrap(value: Any) -> Any:
    """PoseTrack 2017 wraps most scalars in one-element lists: [625] -> 625."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


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


def _labelled(kps: np.ndarray) -> np.ndarray:
    """COCO-style visibility: 2 where the toolkit counts the joint as annotated, else 0.

    The official toolkit treats a joint as absent only when x = y = 0 and visibility = 0.
    """
    present = ~((kps[:, 0] == 0) & (kps[:, 1] == 0) & (kps[:, 2] == 0))
    out = kps.copy()
    out[:, 2] = np.where(present, 2.0, 0.0)
    out[~present, :2] = 0
    return out


def _xywh_to_xyxy(box) -> Optional[List[float]]:
    if box is None or len(box) != 4:
        return None
    x, y, w, h = (float(v) for v in box)
    return [x, y, x + w, y + h]


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


def _load_2018(data: dict, json_file: str, image_root: str, video_id: str) -> List[dict]:
    """PoseTrack 2018 and 2021 (COCO style)."""
    anns_by_image: Dict[Any, List[dict]] = {}
    for i, ann in enumerate(data.get("annotations") or []):
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise PoseTrackFormatError(f"{json_file}: annotations[{i}] has no 'image_id'")
        anns_by_image.setdefault(ann["image_id"], []).append(ann)
    size_cache: Dict[str, Any] = {}
    dicts = []
    for frame_id, img in enumerate(data["images"]):
        for key in ("id", "file_name"):
            if key not in img:
                raise PoseTrackFormatError(f"{json_file}: images[{frame_id}] has no '{key}'")
        file_name = os.path.join(image_root, img["file_name"])
        h, w = _image_size(file_name, json_file, size_cache)
        polygons = []
        xs_all, ys_all = img.get("ignore_regions_x") or [], img.get("ignore_regions_y") or []
        if len(xs_all) != len(ys_all):
            raise PoseTrackFormatError(
                f"{json_file}: frame {frame_id}: ignore_regions_x and ignore_regions_y differ "
                "in length"
            )
        for xs, ys in zip(xs_all, ys_all):
            if len(xs) != len(ys):
                raise PoseTrackFormatError(
                    f"{json_file}: frame {frame_id}: an ignore polygon has {len(xs)} x and "
                    f"{len(ys)} y coordinates"
                )
            if len(xs) >= 3:
                polygons.append([float(v) for xy in zip(xs, ys) for v in xy])
        annotations = []
        for ann in anns_by_image.get(img["id"], []):
            kp = ann.get("keypoints")
            if kp is None:
                raise PoseTrackFormatError(
                    f"{json_file}: frame {frame_id}: annotation {ann.get('id')} has no 'keypoints'"
                )
            if len(kp) != NUM_KEYPOINTS * 3:
                raise PoseTrackFormatError(
                    f"{json_file}: frame {frame_id}: annotation {ann.get('id')} has "
                    f"{len(kp)} keypoint values, expected {NUM_KEYPOINTS * 3} (17 x 3)"
                )
            kps = _labelled(np.asarray(kp, dtype=np.float64).reshape(NUM_KEYPOINTS, 3))
            bbox = _xywh_to_xyxy(ann.get("bbox"))
            if bbox is not None:  # some 2018 boxes run past the image: clip, as keypoint boxes are
                bbox = [
                    min(max(bbox[0], 0.0), w),
                    min(max(bbox[1], 0.0), h),
                    min(max(bbox[2], 0.0), w),
                    min(max(bbox[3], 0.0), h),
                ]
            if bbox is not None and (bbox[2] <= bbox[0] or bbox[3] <= bbox[1]):
                bbox = None  # a degenerate box: fall back to the keypoints' extent
            head = _xywh_to_xyxy(ann.get("bbox_head"))
            a = _make_annotation(kps, bbox, head, ann.get("track_id"), (h, w))
            if a is not None:
                annotations.append(a)
        dicts.append(
            {
                "file_name": file_name,
                "height": h,
                "width": w,
                "image_id": img["id"],
                "video_id": video_id,
                "frame_id": frame_id,
                "is_labeled": bool(img.get("is_labeled", len(annotations) > 0)),
                "ignore_regions": polygons,
                "annotation_file": json_file,
                "annotations": annotations,
            }
        )
    return dicts


def _load_2017(data: dict, json_file: str, image_root: str, video_id: str) -> List[dict]:
    """PoseTrack 2017 "annolist" files (15 joints, head boxes, values in one-element lists)."""
    size_cache: Dict[str, Any] = {}
    dicts = []
    for frame_id, entry in enumerate(data["annolist"]):
        try:
            name = _unwrap(entry["image"])["name"]
        except (KeyError, TypeError, IndexError):
            raise PoseTrackFormatError(
                f"{json_file}: annolist[{frame_id}] has no image[0].name"
            ) from None
        file_name = os.path.join(image_root, name)
        h, w = _image_size(file_name, json_file, size_cache)
        polygons = []
        for region in entry.get("ignore_regions") or []:
            points = region.get("point") or []
            if len(points) >= 3:
                polygons.append([float(_unwrap(p[c])) for p in points for c in ("x", "y")])
        annotations = []
        for r, rect in enumerate(entry.get("annorect") or []):
            kps = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float64)
            for point in (_unwrap(rect.get("annopoints")) or {}).get("point") or []:
                try:
                    joint = int(_unwrap(point["id"]))
                    x, y = float(_unwrap(point["x"])), float(_unwrap(point["y"]))
                except (KeyError, TypeError, ValueError):
                    raise PoseTrackFormatError(
                        f"{json_file}: frame {frame_id}: annorect[{r}] has a point without "
                        "numeric id, x and y"
                    ) from None
                if not 0 <= joint < len(POSETRACK17_TO_COCO):
                    raise PoseTrackFormatError(
                        f"{json_file}: frame {frame_id}: annorect[{r}] has joint id {joint}, "
                        "expected 0..14"
                    )
                kps[POSETRACK17_TO_COCO[joint]] = (x, y, 2.0)
            head = None
            if all(k in rect for k in ("x1", "y1", "x2", "y2")):
                head = [float(_unwrap(rect[k])) for k in ("x1", "y1", "x2", "y2")]
            track = _unwrap(rect.get("track_id"))
            a = _make_annotation(kps, None, head, None if track is None else int(track), (h, w))
            if a is not None:
                annotations.append(a)
        labeled = _unwrap(entry.get("is_labeled"))
        dicts.append(
            {
                "file_name": file_name,
                "height": h,
                "width": w,
                "image_id": f"{video_id}/{frame_id}",
                "video_id": video_id,
                "frame_id": frame_id,
                "is_labeled": bool(labeled) if labeled is not None else len(annotations) > 0,
                "ignore_regions": polygons,
                "annotation_file": json_file,
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
    try:
        with open(json_file) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise PoseTrackFormatError(f"{json_file}: file does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PoseTrackFormatError(f"{json_file}: malformed JSON: {e}") from None
    try:
        fmt = detect_posetrack_format(data)
    except ValueError as e:
        raise PoseTrackFormatError(f"{json_file}: {e}") from None
    video_id = os.path.splitext(os.path.basename(json_file))[0]
    try:
        if fmt == "2017":
            if not isinstance(data["annolist"], list):
                raise PoseTrackFormatError(f"{json_file}: 'annolist' is not a list")
            return _load_2017(data, json_file, image_root, video_id)
        if not isinstance(data["images"], list):
            raise PoseTrackFormatError(f"{json_file}: 'images' is not a list")
        return _load_2018(data, json_file, image_root, video_id)
    except PoseTrackFormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise PoseTrackFormatError(
            f"{json_file}: unexpected content for PoseTrack {fmt}: {type(e).__name__}: {e}"
        ) from None


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
