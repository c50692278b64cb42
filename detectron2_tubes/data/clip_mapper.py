"""`ClipDatasetMapper`: a clip dict -> the model's clip input, one augmentation per clip."""

import copy
import logging
from typing import List, Optional, Union

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import Instances

from posetrack_core.keypoints import NUM_KEYPOINTS

from ..structures import Tubes
from .clips import key_frame_index
from .coco import keypoint_hflip_indices

logger = logging.getLogger(__name__)

__all__ = ["ClipDatasetMapper", "read_frame"]


def read_frame(file_name: str, image_format: str, source: Optional[str] = None) -> np.ndarray:
    """Read one frame (H, W, C) with Detectron2's reader; a clear error names the file."""
    where = f" (listed in {source})" if source else ""
    try:
        return utils.read_image(file_name, format=image_format)
    except FileNotFoundError:
        raise FileNotFoundError(f"{file_name}: frame image does not exist{where}") from None
    except OSError as e:
        raise OSError(f"{file_name}: cannot read frame image{where}: {e}") from None


class ClipDatasetMapper:
    """Map a clip dict (see `build_clip_dicts`) to the input Tube R-CNN takes.

    Reads the clip's T frames, draws ONE augmentation from the key frame (resize, flip) and
    applies it to every frame and every frame's annotations, then returns::

        {"image": uint8 Tensor[C, T, H, W], "height", "width" (original size),
         "file_name", "image_id", "video_id", "frame_id" (of the key frame),
         "instances" (training only): Instances with
             gt_tubes      Tubes (N, T, 4), empty boxes where the person is not visible
             gt_classes    (N,) long
             gt_keypoints  (N, T, K, 3) float, visibility 0 where not annotated
             gt_visible    (N, T) bool
             gt_track_ids  (N,) long (-1 when the dataset has no track id)}

    People are the tracks annotated in any frame of the clip, key-frame people first. A plain
    frame dict (no ``clip_frames``) is taken as a clip of itself, for T = 1.
    """

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        augmentations: List[Union[T.Augmentation, T.Transform]],
        image_format: str,
        num_frames: int,
        use_keypoint: bool = True,
        keypoint_hflip_indices: Optional[np.ndarray] = None,
    ):
        """
        Args:
            is_train: keep and transform annotations.
            augmentations: drawn once per clip, from its key frame.
            image_format: a format of `detectron2.data.detection_utils.read_image`.
            num_frames: T; clip dicts must hold this many frames.
            use_keypoint: output ``gt_keypoints``.
            keypoint_hflip_indices: see `detection_utils.create_keypoint_hflip_indices`;
                required for horizontal flips when ``use_keypoint``.
        """
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.num_frames = num_frames
        self.use_keypoint = use_keypoint
        self.keypoint_hflip_indices = keypoint_hflip_indices
        mode = "training" if is_train else "inference"
        logger.info(f"[ClipDatasetMapper] T={num_frames}, augmentations in {mode}: {augmentations}")

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        ret = {
            "is_train": is_train,
            "augmentations": utils.build_augmentation(cfg, is_train),
            "image_format": cfg.INPUT.FORMAT,
            "num_frames": cfg.INPUT.CLIP.NUM_FRAMES,
            "use_keypoint": cfg.MODEL.KEYPOINT_ON,
        }
        if cfg.MODEL.KEYPOINT_ON and is_train:
            ret["keypoint_hflip_indices"] = keypoint_hflip_indices(
                cfg.DATASETS.TRAIN, cfg.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS
            )
        return ret

    def __call__(self, dataset_dict: dict) -> dict:
        dataset_dict = copy.deepcopy(dataset_dict)
        frames = dataset_dict.pop("clip_frames", None)
        source = dataset_dict.get("annotation_file")
        if frames is None:
            frames = [
                {k: dataset_dict[k] for k in ("file_name", "annotations") if k in dataset_dict}
            ]
        if len(frames) != self.num_frames:
            raise ValueError(
                f"{dataset_dict.get('file_name')}: clip has {len(frames)} frames but the mapper "
                f"expects T = {self.num_frames} (build clips with INPUT.CLIP.NUM_FRAMES)"
            )
        images = [read_frame(f["file_name"], self.image_format, source) for f in frames]
        h0, w0 = images[0].shape[:2]
        for f, im in zip(frames, images):
            if im.shape[:2] != (h0, w0):
                raise ValueError(
                    f"{f['file_name']}: frame size {im.shape[1]}x{im.shape[0]} differs from the "
                    f"clip's first frame {frames[0]['file_name']} ({w0}x{h0})"
                )
        key = key_frame_index(self.num_frames)
        # Some datasets store no size; the test-time post-processing needs the original one.
        dataset_dict.setdefault("height", h0)
        dataset_dict.setdefault("width", w0)

        aug_input = T.AugInput(images[key])
        transforms = self.augmentations(aug_input)
        out = [
            transforms.apply_image(im) if i != key else aug_input.image
            for i, im in enumerate(images)
        ]
        image_shape = out[key].shape[:2]
        clip = np.ascontiguousarray(np.stack(out, axis=0).transpose(3, 0, 1, 2))  # C, T, H, W
        dataset_dict["image"] = torch.as_tensor(clip)

        if not self.is_train:
            dataset_dict.pop("annotations", None)
            return dataset_dict
        dataset_dict["instances"] = self._tube_instances(frames, transforms, image_shape)
        dataset_dict.pop("annotations", None)
        return dataset_dict

    def _tube_instances(self, frames: List[dict], transforms, image_shape) -> Instances:
        """Group the clip's annotations by track into tubes, after the clip's transform."""
        num_t, order, rows = len(frames), [], {}
        for t, f in enumerate(frames):
            for j, ann in enumerate(f.get("annotations") or []):
                if ann.get("iscrowd", 0):
                    continue
                # Without track ids (COCO), a person is one annotation of one image: the same
                # in every repeat of that image (static clips, video edges).
                track = ann.get("track_id")
                key = ("track", track) if track is not None else ("untracked", f["file_name"], j)
                if key not in rows:
                    rows[key] = [None] * num_t
                    order.append(key)
                rows[key][t] = ann
        # Key-frame people first, then the others by first appearance.
        centre = key_frame_index(num_t)
        order.sort(key=lambda k: rows[k][centre] is None)

        n, k = len(order), None
        boxes = np.zeros((n, num_t, 4), np.float32)
        for i, track in enumerate(order):
            for t, ann in enumerate(rows[track]):
                if ann is None:
                    continue
                # A copy: Detectron2 transforms in place, and frames repeated at video edges
                # share their annotation dicts (they would be transformed twice).
                ann = {key: v for key, v in ann.items() if self.use_keypoint or key != "keypoints"}
                a = utils.transform_instance_annotations(
                    ann, transforms, image_shape, keypoint_hflip_indices=self.keypoint_hflip_indices
                )
                boxes[i, t] = a["bbox"]
                if self.use_keypoint and "keypoints" in a:
                    kp = np.asarray(a["keypoints"], np.float32).reshape(-1, 3)
                    if k is None:
                        k = kp.shape[0]
                        keypoints = np.zeros((n, num_t, k, 3), np.float32)
                    keypoints[i, t] = kp
        tubes = Tubes(torch.from_numpy(boxes))
        visible = tubes.frame_nonempty()
        # An annotation clipped out of the image leaves nothing to learn from in that frame.
        tubes.tensor[~visible] = 0
        inst = Instances(image_shape)
        inst.gt_tubes = tubes
        inst.gt_classes = torch.zeros(n, dtype=torch.int64)
        inst.gt_visible = visible
        inst.gt_track_ids = torch.tensor(
            [t[1] if t[0] == "track" else -1 for t in order], dtype=torch.int64
        )
        if self.use_keypoint:
            kps = (
                torch.from_numpy(keypoints)
                if k is not None
                else torch.zeros((n, num_t, NUM_KEYPOINTS, 3))
            )
            kps[~visible] = 0
            inst.gt_keypoints = kps
        return inst[visible.any(dim=1)] if n else inst
