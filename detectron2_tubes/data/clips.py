"""The clip index: for each key frame of a video, the T frame dicts of its clip."""

import logging
from typing import Dict, List, Sequence, Tuple

from detectron2.data import DatasetCatalog

logger = logging.getLogger(__name__)

__all__ = [
    "key_frame_index",
    "clip_frame_indices",
    "group_by_video",
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
    """Split per-frame dicts into videos (consecutive runs of one video), each sorted by frame_id."""
    videos: Dict[Tuple, List[dict]] = {}
    for d in frame_dicts:
        if "video_id" not in d or "frame_id" not in d:
            raise ValueError(
                f"{d.get('file_name')}: a frame dict needs 'video_id' and 'frame_id' to make clips"
            )
        videos.setdefault((d["video_id"], d.get("annotation_file")), []).append(d)
    return [sorted(v, key=lambda d: d["frame_id"]) for v in videos.values()]


def build_clip_dicts(
    frame_dicts: Sequence[dict],
    num_frames: int,
    stride: int = 1,
    *,
    labeled_only: bool = False,
    filter_empty: bool = False,
) -> List[dict]:
    """One clip dict per key frame: the key frame's dict plus ``clip_frames``, its T frames.

    Args:
        frame_dicts: per-frame dataset dicts with ``video_id`` and ``frame_id``.
        num_frames, stride: T and the frame stride (see `clip_frame_indices`).
        labeled_only: only clips whose every frame is labelled (training, as the authors'
            release did): in an unlabelled frame a person present in the image would count as
            absent, and the tube's IoU with a detected tube would be capped.
        filter_empty: skip clips with no annotated person in any frame (training).
    """
    clips = []
    for video in group_by_video(frame_dicts):
        labeled = [f.get("is_labeled", True) for f in video]
        for key, d in enumerate(video):
            idx = clip_frame_indices(key, num_frames, stride, len(video))
            if labeled_only and not all(labeled[i] for i in idx):
                continue
            frames = [{k: video[i][k] for k in _FRAME_KEYS if k in video[i]} for i in idx]
            if filter_empty and not any(f.get("annotations") for f in frames):
                continue
            clip = dict(d)
            clip["clip_frames"] = frames
            clips.append(clip)
    return clips


def get_clip_dataset_dicts(
    names, num_frames: int, stride: int = 1, *, is_train: bool = True, filter_empty: bool = True
) -> List[dict]:
    """Clip dicts of registered per-frame datasets.

    Training: one clip per key frame whose clip is labelled in every frame (clips without people
    dropped if ``filter_empty``). Testing: one clip per frame, every frame of every video.
    """
    if isinstance(names, str):
        names = [names]
    clips = []
    for name in names:
        frames = DatasetCatalog.get(name)
        if len(frames) == 0:
            raise ValueError(f"Dataset '{name}' is empty")
        c = build_clip_dicts(
            frames,
            num_frames,
            stride,
            labeled_only=is_train,
            filter_empty=is_train and filter_empty,
        )
        logger.info(f"Dataset '{name}': {len(c)} clips of {num_frames} frames (stride {stride})")
        clips.extend(c)
    if not clips:
        raise ValueError(f"No clips to {'train' if is_train else 'test'} on in {list(names)}")
    return clips
