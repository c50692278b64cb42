"""PoseTrack keypoints in the COCO 17-slot order that models use.

PoseTrack 2018/2021 files already store 17 slots in COCO order, but slot 1 holds ``head_bottom``
and slot 2 ``head_top`` (not the eyes), and slots 3 and 4 (ears) are never annotated.
PoseTrack 2017 files number 15 joints differently; ``POSETRACK17_TO_COCO`` maps them.
"""

from typing import List, Optional, Sequence, Tuple

import numpy as np

# Names of the 17 slots, exactly as PoseTrack 2018 prediction files list them in `categories`.
KEYPOINT_NAMES: Tuple[str, ...] = (
    "nose",
    "head_bottom",
    "head_top",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)

# Left/right pairs swapped by a horizontal flip. head_bottom and head_top lie on the body's
# axis, so unlike COCO's eyes they are NOT swapped.
KEYPOINT_FLIP_MAP: Tuple[Tuple[str, str], ...] = tuple(
    (name, "right_" + name[len("left_") :]) for name in KEYPOINT_NAMES if name.startswith("left_")
)

# PoseTrack 2017 joint id (0..14) -> COCO-17 slot (POSETRACK.md section 1).
POSETRACK17_TO_COCO: Tuple[int, ...] = (16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, 1, 0, 2)
POSETRACK17_JOINT_NAMES: Tuple[str, ...] = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "head_bottom",
    "nose",
    "head_top",
)

# The 15 slots PoseTrack annotates and evaluates (ears excluded), in COCO-17 slot indices.
EVALUATED_SLOTS: Tuple[int, ...] = tuple(sorted(POSETRACK17_TO_COCO))

# The PoseTrack 2018 skeleton (1-based slot pairs), as listed in its `categories`.
SKELETON_1BASED: Tuple[Tuple[int, int], ...] = (
    (16, 14),
    (14, 12),
    (17, 15),
    (15, 13),
    (12, 13),
    (6, 12),
    (7, 13),
    (6, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (9, 11),
    (2, 3),
    (1, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
    (5, 7),
)

_LEFT, _RIGHT, _MID = (255, 140, 0), (0, 140, 255), (0, 200, 80)


def _side_color(a: str, b: str) -> Tuple[int, int, int]:
    if a.startswith("left_") or b.startswith("left_"):
        return _LEFT
    if a.startswith("right_") or b.startswith("right_"):
        return _RIGHT
    return _MID


# Detectron2's `keypoint_connection_rules`: (name_a, name_b, RGB colour) for drawing skeletons.
# Limbs only between annotated slots; the head is drawn as head_top - nose - head_bottom.
_EDGES = (
    ("head_top", "nose"),
    ("nose", "head_bottom"),
    ("head_bottom", "left_shoulder"),
    ("head_bottom", "right_shoulder"),
    ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_hip", "right_hip"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
)
KEYPOINT_CONNECTION_RULES: List[Tuple[str, str, Tuple[int, int, int]]] = [
    (a, b, _side_color(a, b)) for a, b in _EDGES
]


def posetrack_categories() -> List[dict]:
    """The `categories` entry PoseTrack 2018 files carry (the toolkit reads slot names from it)."""
    return [
        {
            "id": 1,
            "name": "person",
            "supercategory": "person",
            "keypoints": list(KEYPOINT_NAMES),
            "skeleton": [list(e) for e in SKELETON_1BASED],
        }
    ]


def posetrack_metadata() -> dict:
    """Metadata every PoseTrack-format split registers in `MetadataCatalog`."""
    return dict(
        thing_classes=["person"],
        keypoint_names=list(KEYPOINT_NAMES),
        keypoint_flip_map=list(KEYPOINT_FLIP_MAP),
        keypoint_connection_rules=KEYPOINT_CONNECTION_RULES,
        evaluator_type="posetrack",
    )


# Person boxes made from keypoints are dilated by this factor (Detect-and-Track's 20%).
BOX_DILATION = 1.2


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
