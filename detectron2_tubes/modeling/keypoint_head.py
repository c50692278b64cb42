"""Keypoint heads on tubes: Detectron2's keypoint head in 3D, whose loss and inference are
Detectron2's on the tubes unrolled into frames, and a 2D head that keeps each joint's logit."""

from typing import List, Tuple

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec, cat
from detectron2.modeling.roi_heads.keypoint_head import (
    ROI_KEYPOINT_HEAD_REGISTRY,
    BaseKeypointRCNNHead,
    KRCNNConvDeconvUpsampleHead,
    keypoint_rcnn_loss,
)
from detectron2.structures import Instances, Keypoints, heatmaps_to_keypoints
from torch import nn
from torch.nn import functional as F

from ..layers import HEAD_CHUNKS, Conv3d, run_checkpointed

__all__ = [
    "keypoint_inference_with_logits",
    "KRCNNConvDeconvUpsample3DHead",
    "KRCNNConvDeconvUpsampleLogitsHead",
]


def keypoint_inference_with_logits(heatmaps: torch.Tensor, pred_instances: List[Instances]) -> None:
    """Detectron2's `keypoint_rcnn_inference`, keeping each joint's heatmap logit as well.

    Detectron2 keeps only the spatial-softmax probability of each joint's peak; the paper drops
    joints whose peak *logit* is below 1.95. Sets ``pred_keypoints`` (R, K, 3) = (x, y,
    probability), as Detectron2 does, and ``pred_keypoint_logits`` (R, K).

    Args:
        heatmaps: (R, K, S, S) heatmap logits of all instances of the batch.
        pred_instances: per image, Instances with ``pred_boxes`` (R_i boxes, sum R_i = R).
    """
    if torch.onnx.is_in_onnx_export():
        # ONNX cannot express Detectron2's per-RoI bicubic decoding (indexing of unknown rank):
        # an ONNX model outputs the heatmaps, decoded outside (detectron2_tubes.export).
        counts = [i.pred_boxes.tensor.shape[0] for i in pred_instances]
        for inst, maps in zip(pred_instances, heatmaps.split(counts)):
            inst.pred_keypoint_heatmaps = maps
        return
    boxes = cat([i.pred_boxes.tensor for i in pred_instances], dim=0)
    results = heatmaps_to_keypoints(heatmaps.detach(), boxes.detach())  # R, K, (x, y, logit, prob)
    counts = [i.pred_boxes.tensor.shape[0] for i in pred_instances]  # traced, not constants
    for inst, res in zip(pred_instances, results.split(counts)):
        inst.pred_keypoints = res[:, :, [0, 1, 3]]
        inst.pred_keypoint_logits = res[:, :, 2]


@ROI_KEYPOINT_HEAD_REGISTRY.register()
class KRCNNConvDeconvUpsampleLogitsHead(KRCNNConvDeconvUpsampleHead):
    """Detectron2's 2D keypoint head, unchanged in training, whose inference also keeps each
    joint's heatmap logit (``pred_keypoint_logits``), for the paper's keypoint cut."""

    def forward(self, x: torch.Tensor, instances: List[Instances]):
        if self.training:
            return super().forward(x, instances)
        keypoint_inference_with_logits(self.layers(x), instances)
        return instances


def _unroll(instances: Instances, tube_field: str, num_frames: int) -> Instances:
    """One clip's tubes as R*T frame boxes (tube-major), for Detectron2's keypoint functions."""
    out = Instances(instances.image_size)
    box_field = "proposal_boxes" if tube_field == "proposal_tubes" else "pred_boxes"
    out.set(box_field, instances.get(tube_field).flatten())
    if instances.has("gt_keypoints"):
        kps = instances.gt_keypoints
        out.gt_keypoints = Keypoints(kps.reshape(-1, *kps.shape[2:]))
    return out


@ROI_KEYPOINT_HEAD_REGISTRY.register()
class KRCNNConvDeconvUpsample3DHead(BaseKeypointRCNNHead, nn.Sequential):
    """Detectron2's keypoint head in 3D: ``conv_dims`` (t, 3, 3) conv + ReLU layers, a spatial
    deconvolution and 2x upsampling to per-frame heatmaps (56x56 from 14x14 RoIs).

    Module names equal `KRCNNConvDeconvUpsampleHead`'s (``conv_fcn1``..., ``score_lowres``), so a
    2D keypoint head inflates into it. Loss and inference are Detectron2's `keypoint_rcnn_loss`
    and `keypoint_rcnn_inference` on the tubes unrolled into frames; a frame where the person is
    not visible has no labelled keypoints and adds no loss.
    """

    @configurable
    def __init__(
        self,
        input_shape: ShapeSpec,
        *,
        num_keypoints: int,
        conv_dims: Tuple[int, ...],
        temporal_kernel: int = 3,
        activation_checkpoint: bool = False,
        **kwargs,
    ):
        super().__init__(num_keypoints=num_keypoints, **kwargs)
        self.activation_checkpoint = activation_checkpoint
        t = temporal_kernel
        in_channels = input_shape.channels
        for idx, channels in enumerate(conv_dims, 1):
            self.add_module(
                f"conv_fcn{idx}",
                Conv3d(in_channels, channels, (t, 3, 3), padding=(t // 2, 1, 1)),
            )
            self.add_module(f"conv_fcn_relu{idx}", nn.ReLU())
            in_channels = channels
        self.score_lowres = nn.ConvTranspose3d(
            in_channels, num_keypoints, (1, 4, 4), stride=(1, 2, 2), padding=(0, 1, 1)
        )
        self.up_scale = 2
        for name, param in self.named_parameters():
            if "bias" in name:
                nn.init.constant_(param, 0)
            elif "weight" in name:
                nn.init.kaiming_normal_(param, mode="fan_out", nonlinearity="relu")

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret["input_shape"] = input_shape
        ret["conv_dims"] = cfg.MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS
        ret["temporal_kernel"] = cfg.MODEL.ROI_KEYPOINT_HEAD.TEMPORAL_KERNEL
        ret["activation_checkpoint"] = cfg.MODEL.ROI_KEYPOINT_HEAD.ACTIVATION_CHECKPOINT
        return ret

    def _convs(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = layer(x)
        return x

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        """(R, C, T, r, r) -> per-frame heatmap logits (R * T, K, 4r, 4r), tube-major."""
        ckpt = self.activation_checkpoint and self.training
        x = run_checkpointed(self._convs, x, ckpt, chunks=HEAD_CHUNKS)
        x = x.float()  # out of mixed precision: the spatial softmax, loss and argmax in float32
        r, k, t, h, w = x.shape
        x = x.transpose(1, 2).reshape(r * t, k, h, w)
        return F.interpolate(x, scale_factor=self.up_scale, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor, instances: List[Instances]):
        num_frames = x.shape[2]
        x = self.layers(x)
        if self.training:
            frames = [_unroll(i, "proposal_tubes", num_frames) for i in instances]
            normalizer = (
                None
                if self.loss_normalizer == "visible"
                else len(instances) * num_frames * self.loss_normalizer
            )
            return {
                "loss_keypoint": keypoint_rcnn_loss(x, frames, normalizer=normalizer)
                * self.loss_weight
            }
        frames = [_unroll(i, "pred_tubes", num_frames) for i in instances]
        keypoint_inference_with_logits(x, frames)
        for inst, fr in zip(instances, frames):
            if fr.has("pred_keypoint_heatmaps"):  # an ONNX export: (R, T, K, S, S)
                maps = fr.pred_keypoint_heatmaps
                inst.pred_keypoint_heatmaps = maps.view(-1, num_frames, *maps.shape[1:])
                continue
            inst.pred_keypoints = fr.pred_keypoints.view(-1, num_frames, self.num_keypoints, 3)
            inst.pred_keypoint_logits = fr.pred_keypoint_logits.view(
                -1, num_frames, self.num_keypoints
            )
        return instances
