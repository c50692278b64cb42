"""Train and test loaders of clips, built with Detectron2's own loader builders."""

from detectron2.data import build_detection_test_loader, build_detection_train_loader

from .clip_mapper import ClipDatasetMapper
from .clips import get_clip_dataset_dicts

__all__ = ["build_clip_train_loader", "build_clip_test_loader"]


def build_clip_train_loader(cfg, mapper=None):
    """Detectron2's train loader over the clips of ``cfg.DATASETS.TRAIN`` labelled in every frame."""
    dataset = get_clip_dataset_dicts(
        cfg.DATASETS.TRAIN,
        cfg.INPUT.CLIP.NUM_FRAMES,
        cfg.INPUT.CLIP.FRAME_STRIDE,
        is_train=True,
        filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS,
        min_keypoints=(
            cfg.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE if cfg.MODEL.KEYPOINT_ON else 0
        ),
        train_filter=cfg.INPUT.CLIP.TRAIN_FILTER,
    )
    return build_detection_train_loader(
        cfg, dataset=dataset, mapper=mapper or ClipDatasetMapper(cfg, True)
    )


def build_clip_test_loader(cfg, dataset_name, mapper=None):
    """Detectron2's test loader over one clip per frame (every frame) of ``dataset_name``."""
    dataset = get_clip_dataset_dicts(
        [dataset_name], cfg.INPUT.CLIP.NUM_FRAMES, cfg.INPUT.CLIP.FRAME_STRIDE, is_train=False
    )
    return build_detection_test_loader(
        dataset=dataset,
        mapper=mapper or ClipDatasetMapper(cfg, False),
        num_workers=cfg.DATALOADER.NUM_WORKERS,
    )
