"""The synthetic PoseTrack's videos and labels: articulated walkers rendered on cluttered scenes, in the 2018 layout.

Written by hand because no library renders articulated people with PoseTrack labels. Each video
has a static camera over a cluttered background, 2 to 6 people who walk with a gait cycle,
enter and leave the frame, cross each other (at least one crossing per video when there are
two or more people), pass behind static poles, and a few frames with motion blur. Joints that
are hidden (behind a pole or a nearer person, or outside the image) are left unannotated, as
PoseTrack annotators do. Some videos have a distant crowd inside an ignore region. The
validation split is labelled like PoseTrack's (middle 30 frames plus every 4th frame); the
training split is labelled on every frame.

Output layout (PoseTrack 2018)::

    OUT/images/{train,val}/<seq>/<frame:06d>.jpg
    OUT/annotations/{train,val}/<seq>.json
"""

import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..errors import UserError
from ..io import write_json_atomic
from ..keypoints import EVALUATED_SLOTS, NUM_KEYPOINTS, posetrack_categories

from .people import (
    IMAGE_SIZE,
    JOINT_INDEX,
    Walker,
    background_image,
    draw_person,
    make_walkers,
    random_color,
    skeleton,
)

logger = logging.getLogger(__name__)

__all__ = ["GENERATOR_VERSION", "SyntheticPerson", "SyntheticFrame", "generate_synthetic_posetrack"]

# Bumped whenever the generator's output changes, so cached copies are regenerated.
# Version 2 labels the head top whenever the head is visible (version 1 tested the pixel of a
# point that lies on the head's outline and missed 80% of them); the videos are version 1's.
GENERATOR_VERSION = 2
# The random stream the videos are drawn from: fixed, so that a labelling fix (a new version)
# keeps the same videos and the benchmark stays comparable.
_RENDER_STREAM = 1
_OCCLUDER_LABEL = 255


@dataclass
class SyntheticPerson:
    """One annotated person in one frame, as written to the JSON file."""

    track_id: int
    keypoints: np.ndarray  # (17, 3): x, y, visibility (1 = annotated, 0 = not, x = y = 0)
    bbox: List[float]  # XYXY, the person's visible silhouette extent (clipped to the image)
    bbox_head: List[float]  # XYXY


@dataclass
class SyntheticFrame:
    file_name: str  # relative to the dataset root
    image_id: int
    is_labeled: bool
    people: List[SyntheticPerson] = field(default_factory=list)  # empty when not labelled
    ignore_regions: List[List[Tuple[float, float]]] = field(default_factory=list)
    # Rendered with motion blur (known to the generator only; not written to the files).
    blurred: bool = False


def _visibility_probe(joints: np.ndarray, k: int) -> Tuple[float, float]:
    """The pixel whose owner decides whether joint ``k`` is visible (annotated).

    A joint is visible when the person's own silhouette covers it. The head top lies on the
    head's outline, where the rasterised head may stop a fraction of a pixel short of it, so it
    is tested 1.5 px inside the head, towards the head bottom (a PoseTrack annotator marks the
    head top whenever the head is visible).
    """
    x, y = joints[k]
    if k == JOINT_INDEX["head_top"]:
        down = joints[JOINT_INDEX["head_bottom"]] - joints[k]
        x, y = joints[k] + 1.5 * down / max(float(np.linalg.norm(down)), 1e-6)
    h, w = IMAGE_SIZE
    return min(max(x, 0.0), w - 1.0), min(max(y, 0.0), h - 1.0)


def _scene_extras(rng: np.random.Generator, horizon: float):
    """A video's static occluders (0-2 poles in front of everybody) and, in some videos, a
    distant crowd inside an ignore region (people PoseTrack leaves out)."""
    h, w = IMAGE_SIZE
    poles = []
    for _ in range(int(rng.integers(0, 3))):
        px, pw = int(rng.integers(30, w - 30)), int(rng.integers(6, 13))
        poles.append((px, pw, random_color(rng, 60, 160)))
    crowd, ignore = [], []
    if rng.random() < 0.4:
        cx, cw = float(rng.uniform(40, w - 100)), float(rng.uniform(50, 80))
        base_y = horizon + float(rng.uniform(8, 18))
        for k in range(int(rng.integers(3, 6))):
            crowd.append(
                Walker(
                    track_id=-1,
                    x0=cx + k * cw / 5,
                    foot_y=base_y + float(rng.uniform(-3, 3)),
                    vx=float(rng.normal(0, 0.2)),
                    vy=0.0,
                    height=float(rng.uniform(22, 30)),
                    phase0=float(rng.uniform(0, 6.3)),
                    shirt=random_color(rng),
                    pants=random_color(rng),
                    skin=(90, 130, 190),
                    annotated=False,
                )
            )
        ignore.append(
            [
                (cx - 15, base_y - 42),
                (cx + cw + 25, base_y - 42),
                (cx + cw + 25, base_y + 8),
                (cx - 15, base_y + 8),
            ]
        )
    return poles, crowd, ignore


def _render_frame(rng, t: int, background, people: List[Walker], poles, blurred: bool):
    """Frame t: the image, a label map (track id + 1 where an annotated person is seen, the
    occluder label on poles), the people's poses far to near, and each annotated person's
    drawn mask."""
    h, w = IMAGE_SIZE
    img = background.copy()
    labels = np.zeros((h, w), np.uint8)
    state = []
    for p in people:
        x = p.x0 + p.vx * t
        foot = p.foot_y + p.vy * t
        height = p.height * foot / p.foot_y
        facing = 1.0 if p.vx >= 0 else -1.0
        phase = p.phase0 + 2 * math.pi * abs(p.vx) * t / (0.8 * p.height)
        pelvis = np.array([x, foot - 0.47 * height])
        state.append((foot, p, skeleton(pelvis, height, facing, phase), height, facing))
    state.sort(key=lambda s: s[0])  # far (higher in the image) first
    masks = {}
    for foot, p, joints, height, facing in state:
        if joints[:, 0].max() < -20 or joints[:, 0].min() > w + 20:
            continue
        draw_person(img, joints, height, (p.skin, p.shirt, p.pants), facing)
        if p.annotated:
            mask = np.zeros((h, w), np.uint8)
            draw_person(mask, joints, height, (1, 1, 1), facing, aa=False)
            labels[mask > 0] = p.track_id + 1
            masks[p.track_id] = mask
        else:
            draw_person(labels, joints, height, (0, 0, 0), facing, aa=False)
    for px, pw, color in poles:
        cv2.rectangle(img, (px, 0), (px + pw, h), color, -1)
        cv2.rectangle(img, (px + 2, 0), (px + 3, h), tuple(min(255, c + 50) for c in color), -1)
        labels[:, px : px + pw + 1] = _OCCLUDER_LABEL
    if blurred:
        k = int(rng.integers(5, 10))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        img = cv2.filter2D(img, -1, kernel)
    noise = rng.normal(0, 3, img.shape).astype(np.float32)
    img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return img, labels, state, masks


def _label_people(labels: np.ndarray, state, masks) -> List[SyntheticPerson]:
    """The annotations of a labelled frame: each annotated person seen in it, with the joints
    whose probe point shows that person (hidden joints unannotated), the visible extent as the
    box and a head box from the head's joints."""
    h, w = IMAGE_SIZE
    people = []
    for foot, p, joints, height, facing in state:
        if p.track_id not in masks:
            continue
        ys, xs = np.nonzero(labels == p.track_id + 1)
        if len(xs) == 0:
            continue  # entirely hidden or outside the image
        kps = np.zeros((NUM_KEYPOINTS, 3))
        for k, (x, y) in enumerate(joints):
            if k not in EVALUATED_SLOTS or not (0 <= x < w and 0 <= y < h):
                continue
            px, py = _visibility_probe(joints, k)
            if labels[int(py), int(px)] == p.track_id + 1:
                kps[k] = (round(float(x), 2), round(float(y), 2), 1)
        if kps[:, 2].sum() == 0:
            continue
        top, bottom = joints[JOINT_INDEX["head_top"]], joints[JOINT_INDEX["head_bottom"]]
        head_h = float(np.linalg.norm(top - bottom)) * 1.15
        hc = (top + bottom) / 2
        head = [
            hc[0] - 0.4 * head_h,
            hc[1] - 0.5 * head_h,
            hc[0] + 0.4 * head_h,
            hc[1] + 0.5 * head_h,
        ]
        bbox = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
        people.append(
            SyntheticPerson(
                track_id=p.track_id,
                keypoints=kps,
                bbox=[round(v, 2) for v in bbox],
                bbox_head=[round(float(v), 2) for v in head],
            )
        )
    people.sort(key=lambda q: q.track_id)
    return people


def _render_video(
    rng: np.random.Generator,
    num_frames: int,
    labeled: List[bool],
    seq_name: str,
    split: str,
    image_id_base: int,
    out_root: Optional[str],
):
    """Render one video; write its frames under ``out_root`` if given; return its frames."""
    background, horizon = background_image(rng)
    walkers = make_walkers(rng, num_frames, horizon)
    poles, crowd, ignore = _scene_extras(rng, horizon)
    blur_frames = set(np.flatnonzero(rng.random(num_frames) < 0.12).tolist())
    frames = []
    for t in range(num_frames):
        img, labels, state, masks = _render_frame(
            rng, t, background, walkers + crowd, poles, t in blur_frames
        )
        rel_name = f"images/{split}/{seq_name}/{t:06d}.jpg"
        if out_root is not None:
            path = os.path.join(out_root, rel_name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        frames.append(
            SyntheticFrame(
                file_name=rel_name,
                image_id=image_id_base + t,
                is_labeled=labeled[t],
                people=_label_people(labels, state, masks) if labeled[t] else [],
                ignore_regions=ignore,
                blurred=t in blur_frames,
            )
        )
    return frames


def _xywh(box):
    return [box[0], box[1], round(box[2] - box[0], 2), round(box[3] - box[1], 2)]


def _posetrack18_json(frames: List[SyntheticFrame], vid_id: str) -> dict:
    images, annotations = [], []
    for f in frames:
        images.append(
            {
                "id": f.image_id,
                "file_name": f.file_name,
                "vid_id": vid_id,
                "frame_id": f.image_id,
                "nframes": len(frames),
                "is_labeled": f.is_labeled,
                "ignore_regions_x": [[round(x, 2) for x, _ in poly] for poly in f.ignore_regions],
                "ignore_regions_y": [[round(y, 2) for _, y in poly] for poly in f.ignore_regions],
            }
        )
        for p in f.people:
            annotations.append(
                {
                    "id": len(annotations),
                    "image_id": f.image_id,
                    "track_id": p.track_id,
                    "category_id": 1,
                    "keypoints": [float(v) for v in p.keypoints.reshape(-1)],
                    "scores": [],
                    "bbox": _xywh(p.bbox),
                    "bbox_head": _xywh(p.bbox_head),
                }
            )
    return {"images": images, "annotations": annotations, "categories": posetrack_categories()}


def _labeled_frames(split: str, num_frames: int) -> List[bool]:
    if split == "train":
        return [True] * num_frames
    # PoseTrack validation: the middle 30 frames densely, plus every 4th frame.
    lo = max(0, (num_frames - 30) // 2)
    return [lo <= t < lo + 30 or t % 4 == 0 for t in range(num_frames)]


def _render_split(split_idx: int, split: str, count: int, num_frames: int, seed: int, work):
    """``count`` videos of one split, their annotations written under ``work`` (if not None):
    {sequence name: frames}. Each video draws from its own seeded stream."""
    out = {}
    for v in range(count):
        seq_num = v + 1 + 1000 * split_idx
        seq = f"{seq_num:06d}_synth_{split}"
        rng = np.random.default_rng([seed, split_idx, v, _RENDER_STREAM])
        frames = _render_video(
            rng,
            num_frames,
            _labeled_frames(split, num_frames),
            seq,
            split,
            10000000000 + 10000 * seq_num,
            work,
        )
        out[seq] = frames
        if work is not None:
            write_json_atomic(
                _posetrack18_json(frames, f"{seq_num:06d}"),
                os.path.join(work, "annotations", split, seq + ".json"),
            )
    return out


def _move_into_place(work: str, out_dir: str) -> None:
    """The finished set's images/, annotations/ and synthetic.json renamed into ``out_dir``
    (a synthetic set's own parts there moved aside into ``work`` first), the marker last."""
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(os.path.join(work, "replaced"))
    for name in ("images", "annotations", "synthetic.json"):  # the marker last
        target = os.path.join(out_dir, name)
        if os.path.exists(target):  # a synthetic set's own (checked by the caller)
            os.replace(target, os.path.join(work, "replaced", name))
        os.replace(os.path.join(work, name), target)


def generate_synthetic_posetrack(
    out_dir: Optional[str],
    num_videos: int = 10,
    num_frames: int = 60,
    seed: int = 0,
    num_val_videos: Optional[int] = None,
    *,
    overwrite: bool = False,
) -> Dict[str, Dict[str, List[SyntheticFrame]]]:
    """Generate the synthetic dataset; write it under ``out_dir`` (if not None) atomically.

    Args:
        out_dir: dataset root to create (PoseTrack 2018 layout). A folder that already holds
            ``images/``, ``annotations/`` or ``synthetic.json`` is refused before any work
            (`OutputExistsError`), unless ``overwrite`` and it holds a synthetic set (its
            ``synthetic.json``): then its ``images/`` and ``annotations/`` are replaced once
            the whole new set has been written. Anything else there is never touched.
        num_videos: training videos; ``num_val_videos`` (default ``max(1, num_videos // 2)``)
            validation videos.
        num_frames: frames per video.
        seed: the dataset is a pure function of its arguments.

    Returns:
        ``{split: {sequence name: [SyntheticFrame per frame]}}``, the generated ground truth.
    """
    if num_videos < 1 or num_frames < 1:
        raise ValueError(f"need at least one video and one frame, got {num_videos}, {num_frames}")
    if num_val_videos is None:
        num_val_videos = max(1, num_videos // 2)
    work = None
    if out_dir is not None:
        _check_replaceable(out_dir, overwrite)
        parent = os.path.dirname(os.path.abspath(out_dir))
        os.makedirs(parent, exist_ok=True)
        work = tempfile.mkdtemp(prefix=".synthetic-partial-", dir=parent)
    result: Dict[str, Dict[str, List[SyntheticFrame]]] = {}
    try:
        for split_idx, (split, count) in enumerate(
            (("train", num_videos), ("val", num_val_videos))
        ):
            result[split] = _render_split(split_idx, split, count, num_frames, seed, work)
        if work is not None:
            params = dict(
                version=GENERATOR_VERSION,
                num_videos=num_videos,
                num_frames=num_frames,
                seed=seed,
                num_val_videos=num_val_videos,
                # OpenCV draws the people: its major releases rasterise some outlines 1 px
                # apart, so the set (and what is trained on it) depends on it (doc/install.md)
                opencv=cv2.__version__,
            )
            write_json_atomic(params, os.path.join(work, "synthetic.json"))
            _move_into_place(work, out_dir)
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    return result


_OWN = ("images", "annotations", "synthetic.json")


def _check_replaceable(out_dir: str, overwrite: bool) -> None:
    from ..io import OutputExistsError, check_output_folder

    check_output_folder(out_dir)
    present = [n for n in _OWN if os.path.exists(os.path.join(out_dir, n))]
    if not present:
        return
    if not os.path.isfile(os.path.join(out_dir, "synthetic.json")):
        raise UserError(
            f"{out_dir} holds {', '.join(present)} but no synthetic.json: it is not a synthetic "
            f"set, and nothing in it is replaced; choose an empty or new folder"
        )
    if not overwrite:
        raise OutputExistsError(
            f"{out_dir} holds a synthetic set already; pass --overwrite to replace it"
        )
