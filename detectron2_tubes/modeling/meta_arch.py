"""TubeRCNN: Detectron2's GeneralizedRCNN on clips (C, T, H, W), predicting person tubes."""

from typing import Dict, List, Optional

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.structures import ImageList, Instances

__all__ = ["TubeRCNN", "tube_postprocess", "tubes_to_frames"]


def tube_postprocess(results: Instances, output_height: int, output_width: int) -> Instances:
    """`detector_postprocess` for tubes: rescale tubes and keypoints to the output size, clip,
    and drop tubes that are empty in every frame."""
    scale_x = output_width / results.image_size[1]
    scale_y = output_height / results.image_size[0]
    results = Instances((output_height, output_width), **results.get_fields())
    tubes = results.pred_tubes
    tubes.scale(scale_x, scale_y)
    tubes.clip(results.image_size)
    results = results[tubes.frame_nonempty().any(dim=1)]
    if results.has("pred_keypoints"):
        results.pred_keypoints[..., 0] *= scale_x
        results.pred_keypoints[..., 1] *= scale_y
    return results


def tubes_to_frames(instances: Instances) -> List[Instances]:
    """The per-frame view of a clip's tubes: T `Instances` with Detectron2's field names
    (``pred_boxes``, ``scores``, ``pred_classes``, ``pred_keypoints``, ``pred_keypoint_logits``),
    row i of every frame being
    tube i, so `Visualizer` and the trackers take them as they are."""
    frames = []
    for t, boxes in enumerate(instances.pred_tubes.frames()):
        f = Instances(instances.image_size)
        f.pred_boxes = boxes
        f.scores = instances.scores
        f.pred_classes = instances.pred_classes
        if instances.has("pred_keypoints"):
            f.pred_keypoints = instances.pred_keypoints[:, t]
        if instances.has("pred_keypoint_logits"):
            f.pred_keypoint_logits = instances.pred_keypoint_logits[:, t]
        frames.append(f)
    return frames


@META_ARCH_REGISTRY.register()
class TubeRCNN(GeneralizedRCNN):
    """The paper's 3D Mask R-CNN ("Tube R-CNN"): 3D backbone, TubeRPN, tube ROI heads.

    Input per clip: ``{"image": uint8 Tensor[C, T, H, W], "height", "width"}`` (plus
    ``"instances"`` with ``gt_tubes`` etc. in training); with T = 1 (``num_frames``, the
    config's ``INPUT.CLIP.NUM_FRAMES``) also Detectron2's per-image ``Tensor[C, H, W]``, a clip of
    one frame. Output per clip: ``{"instances": Instances with pred_tubes (Tubes), scores,
    pred_classes, pred_keypoints (N, T, K, 3)}, "frames": the per-frame view
    (`tubes_to_frames`)}``, in the input's original size.
    """

    @configurable
    def __init__(self, *, num_frames: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.num_frames = num_frames

    @classmethod
    def from_config(cls, cfg):
        return {**super().from_config(cfg), "num_frames": cfg.INPUT.CLIP.NUM_FRAMES}

    def preprocess_image(self, batched_inputs: List[Dict[str, torch.Tensor]]) -> ImageList:
        """Normalise and batch clips: (N, C, T, H, W), padded spatially like images."""
        mean, std = self.pixel_mean[..., None], self.pixel_std[..., None]  # (C, 1, 1, 1)
        clips = []
        for x in batched_inputs:
            image = x["image"]
            if image.dim() == 3 and self.num_frames == 1:
                image = image[:, None]  # one frame: a clip of one
            if image.dim() != 4:
                t = self.num_frames
                what = (
                    "Tensor[C, 1, H, W] or one frame as Tensor[C, H, W]"
                    if t == 1
                    else f"Tensor[C, {t}, H, W]: {t} frames stacked along dim 1 (ClipPredictor "
                    "stacks a list of frames)"
                )
                raise ValueError(
                    f"TubeRCNN (T = {t}) takes each input's \"image\" as {what}; got shape "
                    f"{tuple(image.shape)} for {x.get('file_name', 'an input')}"
                )
            clips.append((image.to(self.device) - mean) / std)
        return ImageList.from_tensors(
            clips,
            self.backbone.size_divisibility,
            padding_constraints=self.backbone.padding_constraints,
        )

    def inference(
        self,
        batched_inputs,
        detected_instances: Optional[List[Instances]] = None,
        do_postprocess: bool = True,
    ):
        assert not self.training
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        if detected_instances is None:
            proposals, _ = self.proposal_generator(images, features, None)
            results, _ = self.roi_heads(images, features, proposals, None)
        else:
            detected_instances = [x.to(self.device) for x in detected_instances]
            results = self.roi_heads.forward_with_given_boxes(features, detected_instances)
        if not do_postprocess:
            return results
        outputs = []
        for res, inp, size in zip(results, batched_inputs, images.image_sizes):
            res = Instances(size, **res.get_fields())
            inst = tube_postprocess(res, inp.get("height", size[0]), inp.get("width", size[1]))
            outputs.append({"instances": inst, "frames": tubes_to_frames(inst)})
        return outputs

    def visualize_training(self, batched_inputs, proposals):
        """Not drawn for clips (keep VIS_PERIOD at 0)."""
