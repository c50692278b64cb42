"""The clip index: for each key frame of a video, the T frame dicts of its clip."""

import logging
from typing import Dict, List, Sequence, Tuple

from detectron2.data import DatasetCatalog
from detectron2.data.build import (
    filter_images_with_few_keypoints,
    filter_images_with_only_crowd_annotations,
)

logger = logging.getLogger(__name__)

__all__ = [
    "key_frame_index",
    "clip_frame_indices",
    "group_by_video",
    "is_image_set",
    "build_clip_dicts",
    "get_clip_dataset_dicts",
]

# Frame fields a clip keeps for each of its frames (the key frame's other fields stay on top).
_FRAME_KEYS = ("file_name", "height", "width", "image_id", "frame_id", "is_labeled", "annotations")


def key_frame_index(num_frames: int) -> int:
    """Position of the key frame in a clip of T frames: (T - 1) // 2, the centre for odd T. A
    clip's predictions for this frame are the ones kept in dense video inference."""
    return (num_frames - 1) // 2


def clip_frame_indices(key: int, num_frames: int, stride: int, video_length: int) -> List[int]:
    """Indices of the T frames of the clip around ``key`` in a video of ``video_length`` frames.

    The key frame sits at `key_frame_index` (the centre for odd T); the others are ``stride``
    frames apart. Indices past either end of the video repeat the nearest frame, so a video
    shorter than T still gives full clips.
    """
    if num_frames < 1 or stride < 1:
        raise ValueError(f"clip length and stride must be >= 1, got {num_frames}, {stride}")
    centre = key_frame_index(num_frames)
    return [min(max(key + (i - centre) * stride, 0), video_length - 1) for i in range(num_frames)]


def group_by_video(frame_dicts: Sequence[dict]) -> List[List[dict]]:
    """Split per-frame dicts into videos, each sorted by frame_id.

    A dict without ``video_id`` (an image of a COCO-format set) is a one-frame video of its own:
    its clips repeat it T times (static clips; with T = 1, the image itself).
    """
    videos: Dict[Tuple, List[dict]] = {}
    for i, d in enumerate(frame_dicts):
        if "video_id" not in d:
            videos[("image", i)] = [d]
            continue
        if "frame_id" not in d:
            raise ValueError(f"{d.get('file_name')}: a video frame dict needs a 'frame_id'")
        videos.setdefault((d["video_id"], d.get("annotation_file")), []).append(d)
    return [sorted(v, key=lambda d: d.get("frame_id", 0)) for v in videos.values()]


def is_image_set(frame_dicts: Sequence[dict]) -> bool:
    """A dataset of images (no ``video_id`` anywhere), such as COCO."""
    return not any("video_id" in d for d in frame_dicts)


def _has_visible_keypoints(frame: dict, min_keypoints: int) -> bool:
    """A labelled frame whose (non-crowd) people show ``min_keypoints`` visible joints in all
    (Detectron2's MIN_KEYPOINTS_PER_IMAGE rule; the release's with 1)."""
    visible = sum(
        sum(v > 0 for v in a.get("keypoints", [])[2::3])
        for a in frame.get("annotations") or []
        if not a.get("iscrowd", 0)
    )
    return frame.get("is_labeled", True) and visible >= min_keypoints


def build_clip_dicts(
    frame_dicts: Sequence[dict],
    num_frames: int,
    stride: int = 1,
    *,
    labeled_only: bool = False,
    filter_empty: bool = False,
    complete_only: bool = False,
    min_keypoints: int = 1,
) -> List[dict]:
    """One clip dict per key frame: the key frame's dict plus ``clip_frames``, its T frames.

    Args:
        frame_dicts: per-frame dataset dicts with ``video_id`` and ``frame_id``.
        num_frames, stride: T and the frame stride (see `clip_frame_indices`).
        labeled_only: only clips whose every frame is labelled (training, as the authors'
            release did): in an unlabelled frame a person present in the image would count as
            absent, and the tube's IoU with a detected tube would be capped.
        filter_empty: skip clips with no annotated person in any frame (training).
        complete_only: the release's training clips: every frame of the clip exists in the
            video (no repeated edge frames; a clip whose neighbour frame id is missing is
            dropped) and shows people with ``min_keypoints`` visible joints. One-frame videos
            (images) keep their static clips.
    """
    clips = []
    for video in group_by_video(frame_dicts):
        labeled = [f.get("is_labeled", True) for f in video]
        usable = {f.get("frame_id", 0): _has_visible_keypoints(f, min_keypoints) for f in video}
        centre = key_frame_index(num_frames)
        for key, d in enumerate(video):
            idx = clip_frame_indices(key, num_frames, stride, len(video))
            if labeled_only and not all(labeled[i] for i in idx):
                continue
            if complete_only and len(video) > 1:
                wanted = [d["frame_id"] + (i - centre) * stride for i in range(num_frames)]
                if not all(usable.get(f, False) for f in wanted):
                    continue
                idx = [key + (i - centre) * stride for i in range(num_frames)]
                if any(video[i]["frame_id"] != f for i, f in zip(idx, wanted)):
                    continue  # frame ids with gaps: positions do not match ids
            frames = [{k: video[i][k] for k in _FRAME_KEYS if k in video[i]} for i in idx]
            if filter_empty and not any(f.get("annotations") for f in frames):
                continue
            clip = dict(d)
            clip["clip_frames"] = frames
            clips.append(clip)
    return clips


def get_clip_dataset_dicts(
    names,
    num_frames: int,
    stride: int = 1,
    *,
    is_train: bool = True,
    filter_empty: bool = True,
    min_keypoints: int = 0,
    train_filter: str = "labeled",
) -> List[dict]:
    """Clip dicts of registered per-frame datasets.

    Training: one clip per key frame whose clip is labelled in every frame (clips without people
    dropped if ``filter_empty``). An image set (COCO format: no ``video_id``) is filtered first as
    Detectron2's `get_detection_dataset_dicts` filters it (images with only crowd annotations if
    ``filter_empty``, images with fewer than ``min_keypoints`` visible keypoints), then each
    image is a one-frame video. ``train_filter`` "release" keeps only the authors' release's
    training clips (see ``complete_only`` of `build_clip_dicts`). Testing: one clip per frame,
    every frame of every video.
    """
    if train_filter not in ("labeled", "release"):
        raise ValueError(
            f"INPUT.CLIP.TRAIN_FILTER must be labeled or release, not {train_filter!r}"
        )
    if isinstance(names, str):
        names = [names]
    clips = []
    for name in names:
        frames = DatasetCatalog.get(name)
        if len(frames) == 0:
            raise ValueError(f"Dataset '{name}' is empty")
        if is_train and is_image_set(frames):
            if filter_empty:
                frames = filter_images_with_only_crowd_annotations(frames)
            if min_keypoints > 0:
                frames = filter_images_with_few_keypoints(frames, min_keypoints)
            if num_frames > 1:
                logger.info(
                    f"Dataset '{name}' holds images, not videos: each trains as a static clip "
                    f"of {num_frames} identical frames"
                )
        c = build_clip_dicts(
            frames,
            num_frames,
            stride,
            labeled_only=is_train,
            filter_empty=is_train and filter_empty,
            complete_only=is_train and train_filter == "release",
            min_keypoints=max(min_keypoints, 1),
        )
        logger.info(f"Dataset '{name}': {len(c)} clips of {num_frames} frames (stride {stride})")
        clips.extend(c)
    if not clips:
        raise ValueError(f"No clips to {'train' if is_train else 'test'} on in {list(names)}")
    return clips
