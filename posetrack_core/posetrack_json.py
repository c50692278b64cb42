"""The one reader of PoseTrack JSON: 2017 ("annolist"), 2018 and 2021 files, ground truth or
predictions, into per-frame people with their keypoints in COCO slot order.

The dataset loader (`load_posetrack_json`), the evaluator and the linking tool are thin
adapters over `read_posetrack_file` / `parse_posetrack`; each applies its own rules (the
toolkit's, the training set's) to what is read here. A file that cannot be read raises
`PoseTrackFormatError`, whose message names the file and, where there is one, the frame.
"""

import json
import math
import os
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import numpy as np

from .errors import UserError
from .keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS, POSETRACK17_JOINT_NAMES, POSETRACK17_TO_COCO

__all__ = [
    "PoseTrackFormatError",
    "PoseTrackPerson",
    "PoseTrackFrame",
    "PoseTrackFile",
    "detect_posetrack_format",
    "parse_posetrack",
    "read_posetrack_file",
    "unwrap",
]


class PoseTrackFormatError(UserError, ValueError):
    """A PoseTrack file that cannot be read or used; the message names the file and frame."""


@dataclass
class PoseTrackPerson:
    """One person (or detection) of one frame.

    keypoints   (17, 3) in COCO slot order: x, y and the file's third value (2018: the written
                visibility; 2017: 1 for every listed point); zeros for joints the file lacks
    present     (17,) the toolkit's rule: a 2018 joint is absent only when x = y = v = 0, a
                2017 joint is present when listed
    joint_scores (17,) per-joint scores (2018 "scores" of full length, 2017 point "score"),
                NaN where a joint has none; None when the file gives none for this person
    score       the detection's "score", else the mean of its "scores", else None
    track_id    as written (one-element lists unwrapped), None when absent
    bbox        person box XYXY (2018 "bbox" is XYWH in the file), None when absent
    bbox_head   head box XYXY (2018 "bbox_head", 2017 x1/y1/x2/y2), None when absent
    source      the annotation (2018) or annorect (2017) dict itself
    """

    keypoints: np.ndarray
    present: np.ndarray
    joint_scores: Optional[np.ndarray]
    score: Optional[float]
    track_id: Any
    bbox: Optional[List[float]]
    bbox_head: Optional[List[float]]
    source: dict


@dataclass
class PoseTrackFrame:
    """One frame, in file order: position ``index``, the image's id (2018/2021) and file name,
    whether it is labelled (None when the file does not say), its ignore polygons ((K, 2) arrays
    of at least 3 points) and its people (every annotation of the frame, empty ones included)."""

    index: int
    image_id: Any
    file_name: Optional[str]
    is_labeled: Optional[bool]
    ignore_regions: List[np.ndarray]
    people: List[PoseTrackPerson]


@dataclass
class PoseTrackFile:
    path: str
    format: str  # "2017", "2018" or "2021"
    data: dict  # the parsed JSON
    frames: List[PoseTrackFrame]

    @property
    def video_id(self) -> str:
        """The sequence name: the file's stem (which also names prediction files)."""
        return os.path.splitext(os.path.basename(self.path))[0]


def unwrap(value: Any) -> Any:
    """PoseTrack 2017 wraps most scalars in one-element lists: [625] -> 625."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


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


def read_posetrack_file(path: str, what: str = "PoseTrack", **options) -> PoseTrackFile:
    """Read and parse one PoseTrack file; ``what`` ("ground-truth", "prediction") words the
    missing-file error. ``options`` as `parse_posetrack`."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise PoseTrackFormatError(f"{path}: {what} file does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PoseTrackFormatError(f"{path}: malformed JSON: {e}") from None
    except OSError as e:
        raise PoseTrackFormatError(f"{path}: cannot read: {e}") from None
    return parse_posetrack(data, path, **options)


def parse_posetrack(
    data: Any,
    path: str = "<input>",
    *,
    require_categories: bool = False,
    require_keypoints: bool = True,
    require_file_names: bool = False,
) -> PoseTrackFile:
    """Parse a loaded PoseTrack file.

    Args:
        require_categories: a 2018/2021 file must carry ``categories`` (the toolkit's rule for
            prediction files: their keypoint names give the slot order); without it the slots
            are taken in COCO order.
        require_keypoints: every 2018 annotation must have ``keypoints`` (detections with a box
            only are allowed when False).
        require_file_names: every frame must name its image (the dataset loader needs them).
    """
    try:
        fmt = detect_posetrack_format(data)
    except ValueError as e:
        raise PoseTrackFormatError(f"{path}: {e}") from None
    try:
        if fmt == "2017":
            frames = _parse_2017(data, path, require_file_names)
        else:
            frames = _parse_2018(
                data, path, require_categories, require_keypoints, require_file_names
            )
    except PoseTrackFormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise PoseTrackFormatError(
            f"{path}: unexpected content for PoseTrack {fmt}: {type(e).__name__}: {e}"
        ) from None
    return PoseTrackFile(path, fmt, data, frames)


def _xywh_to_xyxy(box) -> Optional[List[float]]:
    if box is None or len(box) != 4:
        return None
    x, y, w, h = (float(v) for v in box)
    return [x, y, x + w, y + h]


def _detection_score(entry: dict) -> Optional[float]:
    if entry.get("score") is not None:
        return float(unwrap(entry["score"]))
    if entry.get("scores"):
        return float(np.mean(entry["scores"]))
    return None


def _slot_map(data: dict, path: str, require_categories: bool) -> Tuple[List[Tuple[int, int]], int]:
    """(slot in the file's keypoints, COCO slot) pairs, and the file's number of slots."""
    cats = data.get("categories")
    if not cats:
        if require_categories:
            raise PoseTrackFormatError(
                f"{path}: a PoseTrack 2018 prediction file needs 'categories' "
                "(its keypoint names give the slot order)"
            )
        names = list(KEYPOINT_NAMES)
    else:
        names = list(cats[0].get("keypoints") or [])
    for joint in POSETRACK17_JOINT_NAMES:
        if joint not in names:
            raise PoseTrackFormatError(
                f"{path}: categories keypoints lack {joint!r} (names: {names})"
            )
    coco = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
    return [(k, coco[name]) for k, name in enumerate(names) if name in coco], len(names)


def _ignore_2018(img: dict, path: str, frame: int) -> List[np.ndarray]:
    xs_all, ys_all = img.get("ignore_regions_x") or [], img.get("ignore_regions_y") or []
    if len(xs_all) != len(ys_all):
        raise PoseTrackFormatError(
            f"{path}: frame {frame}: ignore_regions_x and ignore_regions_y differ in length"
        )
    polygons = []
    for xs, ys in zip(xs_all, ys_all):
        if len(xs) != len(ys):
            raise PoseTrackFormatError(
                f"{path}: frame {frame}: an ignore polygon has {len(xs)} x and {len(ys)} y "
                "coordinates"
            )
        if len(xs) >= 3:
            polygons.append(np.stack([np.asarray(xs, float), np.asarray(ys, float)], axis=1))
    return polygons


def _check_finite(ann: dict, path: str, frame: int) -> None:
    """NaN or infinite coordinates and scores are refused, as the MOT reader refuses them (the
    official kits would count them as joints, or fail deep inside)."""
    for key in ("keypoints", "bbox", "bbox_head", "scores", "score"):
        value = ann.get(key)
        if value is None:
            continue
        try:
            finite = np.isfinite(np.asarray(unwrap(value), float)).all()
        except (TypeError, ValueError):
            raise PoseTrackFormatError(
                f"{path}: frame {frame}: annotation {ann.get('id')}: '{key}' is not numeric"
            ) from None
        if not finite:
            raise PoseTrackFormatError(
                f"{path}: frame {frame}: annotation {ann.get('id')}: '{key}' holds a NaN or "
                f"infinite value"
            )


def _parse_2018(data, path, require_categories, require_keypoints, require_file_names):
    """PoseTrack 2018 and 2021 (COCO style)."""
    if not isinstance(data["images"], list):
        raise PoseTrackFormatError(f"{path}: 'images' is not a list")
    if not isinstance(data.get("annotations"), list):
        what = "no 'annotations' list" if "annotations" not in data else "'annotations' not a list"
        raise PoseTrackFormatError(f"{path}: {what} (an empty list when nobody is there)")
    slots, num_slots = _slot_map(data, path, require_categories)
    by_image = _annotations_by_image(data, path)
    frames = []
    for f, img in enumerate(data["images"]):
        for key in ("id", "file_name") if require_file_names else ("id",):
            if not isinstance(img, dict) or key not in img:
                raise PoseTrackFormatError(f"{path}: images[{f}] has no '{key}'")
        people = [
            _person_2018(ann, slots, num_slots, require_keypoints, path, f)
            for ann in by_image.get(img["id"], [])
        ]
        labeled = img.get("is_labeled")
        frames.append(
            PoseTrackFrame(
                f,
                img["id"],
                img.get("file_name"),
                None if labeled is None else bool(labeled),
                _ignore_2018(img, path, f),
                people,
            )
        )
    return frames


def _annotations_by_image(data, path) -> dict:
    """{image id: its annotations}; duplicate image ids, annotations of no image and
    non-finite values refused."""
    image_ids = {}
    for f, img in enumerate(data["images"]):
        if isinstance(img, dict) and "id" in img:
            if img["id"] in image_ids:
                raise PoseTrackFormatError(
                    f"{path}: images[{image_ids[img['id']]}] and images[{f}] have the same id "
                    f"{img['id']!r}"
                )
            image_ids[img["id"]] = f
    by_image = {}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise PoseTrackFormatError(f"{path}: annotations[{i}] has no 'image_id'")
        if ann["image_id"] not in image_ids:
            raise PoseTrackFormatError(
                f"{path}: annotations[{i}] has image_id {ann['image_id']!r}, which no image has"
            )
        _check_finite(ann, path, image_ids[ann["image_id"]])
        by_image.setdefault(ann["image_id"], []).append(ann)
    return by_image


def _person_2018(ann, slots, num_slots, require_keypoints, path, f) -> PoseTrackPerson:
    """One 2018 / 2021 annotation, its joints moved from the file's slots to COCO's."""
    file_slots = [k for k, _ in slots]
    coco_slots = [c for _, c in slots]
    kp = ann.get("keypoints")
    if kp is None and require_keypoints:
        raise PoseTrackFormatError(
            f"{path}: frame {f}: annotation {ann.get('id')} has no 'keypoints'"
        )
    if kp is not None and len(kp) != 3 * num_slots:
        raise PoseTrackFormatError(
            f"{path}: frame {f}: annotation {ann.get('id')} has {len(kp)} keypoint "
            f"values, expected {3 * num_slots} ({num_slots} x 3)"
        )
    keypoints = np.zeros((NUM_KEYPOINTS, 3))
    if kp is not None:
        keypoints[coco_slots] = np.asarray(kp, float).reshape(num_slots, 3)[file_slots]
    present = ~(keypoints == 0).all(axis=1)
    joint_scores = None
    scores = ann.get("scores") or []
    if len(scores) == num_slots:
        joint_scores = np.full(NUM_KEYPOINTS, np.nan)
        joint_scores[coco_slots] = np.asarray(scores, float)[file_slots]
    return PoseTrackPerson(
        keypoints,
        present,
        joint_scores,
        _detection_score(ann),
        unwrap(ann.get("track_id")),
        _xywh_to_xyxy(ann.get("bbox")),
        _xywh_to_xyxy(ann.get("bbox_head")),
        ann,
    )


def _person_2017(rect: dict, path: str, frame: int, r: int) -> PoseTrackPerson:
    keypoints = np.zeros((NUM_KEYPOINTS, 3))
    present = np.zeros(NUM_KEYPOINTS, bool)
    joint_scores = np.full(NUM_KEYPOINTS, np.nan)
    for point in (unwrap(rect.get("annopoints")) or {}).get("point") or []:
        try:
            joint = int(unwrap(point["id"]))
            x, y = float(unwrap(point["x"])), float(unwrap(point["y"]))
        except (KeyError, TypeError, ValueError):
            raise PoseTrackFormatError(
                f"{path}: frame {frame}: annorect[{r}] has a point without numeric id, x and y"
            ) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise PoseTrackFormatError(
                f"{path}: frame {frame}: annorect[{r}] has a NaN or infinite point coordinate"
            )
        if not 0 <= joint < len(POSETRACK17_TO_COCO):
            raise PoseTrackFormatError(
                f"{path}: frame {frame}: annorect[{r}] has joint id {joint}, expected 0..14"
            )
        slot = POSETRACK17_TO_COCO[joint]
        keypoints[slot], present[slot] = (x, y, 1.0), True
        if point.get("score") is not None:
            joint_scores[slot] = float(unwrap(point["score"]))
    head = None
    if all(k in rect for k in ("x1", "y1", "x2", "y2")):
        head = [float(unwrap(rect[k])) for k in ("x1", "y1", "x2", "y2")]
    return PoseTrackPerson(
        keypoints,
        present,
        None if np.isnan(joint_scores).all() else joint_scores,
        _detection_score(rect),
        unwrap(rect.get("track_id")),
        None,  # 2017 files have head boxes only
        head,
        rect,
    )


def _ignore_2017(entry: dict) -> List[np.ndarray]:
    polygons = []
    for region in entry.get("ignore_regions") or []:
        points = region.get("point") or []
        if len(points) >= 3:
            polygons.append(
                np.array([(float(unwrap(p["x"])), float(unwrap(p["y"]))) for p in points])
            )
    return polygons


def _parse_2017(data, path, require_file_names):
    """PoseTrack 2017 "annolist" files (15 joints, head boxes, values in one-element lists)."""
    if not isinstance(data["annolist"], list):
        raise PoseTrackFormatError(f"{path}: 'annolist' is not a list")
    frames = []
    for f, entry in enumerate(data["annolist"]):
        image = unwrap(entry.get("image"))
        name = image.get("name") if isinstance(image, dict) else None
        if name is None and require_file_names:
            raise PoseTrackFormatError(f"{path}: annolist[{f}] has no image[0].name")
        people = [
            _person_2017(rect, path, f, r) for r, rect in enumerate(entry.get("annorect") or [])
        ]
        labeled = unwrap(entry.get("is_labeled"))
        frames.append(
            PoseTrackFrame(
                f,
                None,
                name,
                None if labeled is None else bool(labeled),
                _ignore_2017(entry),
                people,
            )
        )
    return frames
