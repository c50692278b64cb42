"""Tube ROI heads: spatio-temporal RoIAlign, a 3D res5 box head with 4T box regression, and the
heads' matching and sampling on tubes (the keypoint heads are in `keypoint_head`)."""

import logging
import math
from typing import Dict, List

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec, cat, cross_entropy
from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.modeling.poolers import ROIPooler
from detectron2.modeling.roi_heads import ROI_BOX_HEAD_REGISTRY, build_box_head
from detectron2.modeling.roi_heads.fast_rcnn import FastRCNNOutputLayers, _log_classification_stats
from detectron2.modeling.roi_heads.roi_heads import select_foreground_proposals
from detectron2.structures import Instances
from detectron2.utils.events import get_event_storage
from fvcore.nn import smooth_l1_loss
from torch import nn

from ..layers import HEAD_CHUNKS, batched_tube_nms, run_checkpointed
from ..structures import Tubes, pairwise_tube_iou
from .backbone3d import build_res5_3d

logger = logging.getLogger(__name__)

__all__ = [
    "pool_tubes",
    "Res5BoxHead3D",
    "TubeOutputLayers",
    "tube_rcnn_inference",
    "TubeROIHeads",
]


def pool_tubes(pooler: ROIPooler, features: List[torch.Tensor], tubes: List[Tubes]) -> torch.Tensor:
    """Spatio-temporal RoIAlign: each frame's box pooled from that frame's features.

    Time is folded into the batch (clip n, frame t -> n * T + t) so Detectron2's `ROIPooler`
    pools every frame's boxes at once.

    Args:
        features: L tensors (N, C, T, H, W).
        tubes: N `Tubes` (R_n, T, 4), one per clip.
    Returns:
        (sum R_n, C, T, r, r), clip-major then tube, like Detectron2's pooled boxes.
    """
    n, c, t = features[0].shape[:3]
    folded = [f.transpose(1, 2).reshape(n * t, f.shape[1], *f.shape[3:]) for f in features]
    boxes = [tb.frame(i) for tb in tubes for i in range(t)]
    pooled = pooler(folded, boxes)  # (sum_n T * R_n, C, r, r), ordered (n, t, r)
    out, start = [], 0
    for tb in tubes:
        r = tb.tensor.shape[0]  # a tensor when tracing, so that exports take any count
        chunk = pooled[start : start + r * t]
        out.append(chunk.view(t, r, *chunk.shape[1:]).permute(1, 2, 0, 3, 4))
        start += r * t
    return cat(out, dim=0) if out else pooled.new_zeros((0, c, t, *pooled.shape[2:]))


@ROI_BOX_HEAD_REGISTRY.register()
class Res5BoxHead3D(nn.Module):
    """The C4 box head on tubes, as the authors' release built it: res5 with temporal kernel 1
    and spatial stride 1 on the 7x7 tube features, then the mean over H and W only, so each
    frame keeps its own feature vector for its own box."""

    @configurable
    def __init__(self, *, res5: nn.Module, activation_checkpoint: bool = False):
        super().__init__()
        self.res5 = res5
        self._out_channels = list(res5.children())[-1].out_channels
        self.activation_checkpoint = activation_checkpoint

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        return {
            "res5": build_res5_3d(cfg),
            "activation_checkpoint": cfg.MODEL.ROI_BOX_HEAD.ACTIVATION_CHECKPOINT,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(R, C, T, r, r) -> (R, C5, T)."""
        ckpt = self.activation_checkpoint and self.training
        # Slicing the RoIs is exact unless a norm takes statistics across them (trainable BN).
        batch_stats = any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
            for m in self.res5.modules()
        )
        chunks = 1 if batch_stats else HEAD_CHUNKS
        return run_checkpointed(self.res5, x, ckpt, chunks=chunks).mean(dim=(3, 4))

    @property
    def output_shape(self) -> ShapeSpec:
        return ShapeSpec(channels=self._out_channels)


def _tube_inference_single(boxes, scores, image_shape, score_thresh, nms_thresh, topk):
    """boxes (R, K, T, 4) or (R, 1, T, 4) class-agnostic; scores (R, K + 1)."""
    valid = torch.isfinite(boxes).flatten(1).all(dim=1) & torch.isfinite(scores).all(dim=1)
    if torch.jit.is_tracing() or not valid.all():
        boxes, scores = boxes[valid], scores[valid]
    scores = scores[:, :-1]
    num_reg, num_frames = boxes.shape[1], boxes.shape[2]
    tubes = Tubes(boxes.reshape(-1, num_frames, 4))
    tubes.clip(image_shape)
    boxes = tubes.tensor.view(-1, num_reg, num_frames, 4)
    filter_mask = scores > score_thresh
    filter_inds = filter_mask.nonzero()
    boxes = boxes[filter_inds[:, 0], 0] if num_reg == 1 else boxes[filter_mask]
    scores = scores[filter_mask]
    keep = batched_tube_nms(Tubes(boxes), scores, filter_inds[:, 1], nms_thresh, max_keep=topk)
    if topk >= 0:
        keep = keep[:topk]
    result = Instances(image_shape)
    result.pred_tubes = Tubes(boxes[keep])
    result.scores = scores[keep]
    result.pred_classes = filter_inds[keep, 1]
    return result, filter_inds[keep, 0]


def tube_rcnn_inference(boxes, scores, image_shapes, score_thresh, nms_thresh, topk_per_image):
    """`fast_rcnn_inference` for tubes: threshold, clip, per-class tube NMS, top-k per clip.

    Args:
        boxes: per clip (R, K, T, 4) decoded tubes per class. scores: per clip (R, K + 1).
    Returns:
        (list of Instances with ``pred_tubes``, ``scores``, ``pred_classes``; kept proposal indices)
    """
    out = [
        _tube_inference_single(b, s, shape, score_thresh, nms_thresh, topk_per_image)
        for b, s, shape in zip(boxes, scores, image_shapes)
    ]
    return [o[0] for o in out], [o[1] for o in out]


class TubeOutputLayers(FastRCNNOutputLayers):
    """Class scores per tube and 4T box deltas per class (one box per frame), from per-frame
    features (R, C, T): the class logits of the T frames are averaged (one score per tube), and
    each frame's box is regressed from that frame's features by the same layer (the release's
    3D box outputs). The layers have the 2D predictor's shapes, so a 2D predictor loads as is.

    Deltas are laid out (K, T, 4) per tube; frame t's deltas apply to the proposal's frame-t box
    with Detectron2's `Box2BoxTransform`.
    """

    @configurable
    def __init__(self, input_shape: ShapeSpec, **kwargs):
        super().__init__(input_shape, **kwargs)
        if self.use_sigmoid_ce or self.use_fed_loss:
            raise ValueError("TubeOutputLayers supports softmax cross-entropy only")
        if self.box_reg_loss_type != "smooth_l1":
            raise ValueError(
                f"TubeOutputLayers supports the smooth_l1 loss, not {self.box_reg_loss_type}"
            )

    def forward(self, x: torch.Tensor):
        """x: (R, C, T) per-frame features -> scores (R, K + 1), deltas (R, K * T * 4)."""
        if x.dim() != 3:
            raise ValueError(
                f"TubeOutputLayers takes per-frame features (R, C, T), got {tuple(x.shape)}"
            )
        x = x.transpose(1, 2)  # R, T, C
        # float32 out of mixed precision: box decoding, losses and the tube NMS are computed on it
        scores = self.cls_score(x).float().mean(dim=1)
        deltas = self.bbox_pred(x).float()  # R, T, K * 4
        r, t = deltas.shape[:2]
        k = deltas.shape[2] // 4  # explicit: no RoIs (r = 0) leaves -1 ambiguous
        return scores, deltas.view(r, t, k, 4).transpose(1, 2).flatten(1)

    def _decode(self, deltas: torch.Tensor, proposal_tubes: torch.Tensor) -> torch.Tensor:
        """deltas (R, K*T*4), proposals (R, T, 4) -> tubes (R, K, T, 4)."""
        r, t = proposal_tubes.shape[:2]
        k = deltas.shape[1] // (4 * t)
        per_frame = deltas.view(r, k, t, 4).transpose(1, 2).reshape(r * t, k * 4)
        boxes = self.box2box_transform.apply_deltas(per_frame, proposal_tubes.reshape(r * t, 4))
        return boxes.view(r, t, k, 4).transpose(1, 2)

    def losses(self, predictions, proposals: List[Instances]) -> Dict[str, torch.Tensor]:
        scores, deltas = predictions
        gt_classes = cat([p.gt_classes for p in proposals], dim=0) if proposals else torch.empty(0)
        _log_classification_stats(scores, gt_classes)
        loss_cls = cross_entropy(scores, gt_classes, reduction="mean")
        proposal_tubes = cat([p.proposal_tubes.tensor for p in proposals], dim=0)
        gt_tubes = cat([p.gt_tubes.tensor for p in proposals], dim=0)
        gt_visible = cat([p.gt_visible for p in proposals], dim=0)
        loss_box = self.tube_reg_loss(proposal_tubes, gt_tubes, gt_visible, deltas, gt_classes)
        losses = {"loss_cls": loss_cls, "loss_box_reg": loss_box}
        return {k: v * self.loss_weight.get(k, 1.0) for k, v in losses.items()}

    def tube_reg_loss(self, proposal_tubes, gt_tubes, gt_visible, pred_deltas, gt_classes):
        """Smooth-L1 over the visible frames of foreground tubes, / T, / number of RoIs."""
        r, t = proposal_tubes.shape[:2]
        fg = ((gt_classes >= 0) & (gt_classes < self.num_classes)).nonzero().squeeze(1)
        deltas = pred_deltas.view(r, pred_deltas.shape[1] // (4 * t), t, 4)
        fg_deltas = deltas[fg, 0] if deltas.shape[1] == 1 else deltas[fg, gt_classes[fg]]
        visible = gt_visible[fg]
        target = self.box2box_transform.get_deltas(
            proposal_tubes[fg][visible], gt_tubes[fg][visible]
        )
        loss = smooth_l1_loss(fg_deltas[visible], target, self.smooth_l1_beta, reduction="sum")
        return loss / t / max(gt_classes.numel(), 1.0)

    def predict_boxes(self, predictions, proposals: List[Instances]) -> List[torch.Tensor]:
        """Per clip (R, K, T, 4) tubes."""
        if not len(proposals):
            return []
        _, deltas = predictions
        tubes = cat([p.proposal_tubes.tensor for p in proposals], dim=0)
        decoded = self._decode(deltas, tubes)
        return decoded.split([len(p) for p in proposals])

    def predict_boxes_for_gt_classes(self, predictions, proposals):
        raise NotImplementedError("TubeOutputLayers does not train on predicted boxes")

    def inference(self, predictions, proposals: List[Instances]):
        boxes = self.predict_boxes(predictions, proposals)
        scores = self.predict_probs(predictions, proposals)
        image_shapes = [x.image_size for x in proposals]
        return tube_rcnn_inference(
            boxes,
            scores,
            image_shapes,
            self.test_score_thresh,
            self.test_nms_thresh,
            self.test_topk_per_image,
        )


def _fill_empty_frames(tubes: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Copy into each invisible frame the box of the nearest visible frame (for gt proposals)."""
    if visible.all():
        return tubes
    t = tubes.shape[1]
    frames = torch.arange(t, device=tubes.device)
    dist = (frames[:, None] - frames[None, :]).abs().float()  # (T, T)
    dist = dist[None].expand(len(tubes), -1, -1).clone()
    dist[~visible[:, None, :].expand(-1, t, -1)] = math.inf
    nearest = dist.argmin(dim=2)  # (R, T): source frame of each frame
    return torch.gather(tubes, 1, nearest[..., None].expand(-1, -1, 4))


@ROI_HEADS_REGISTRY.register()
class TubeROIHeads(StandardROIHeads):
    """`StandardROIHeads` on tubes (C4: res4 features in, 3D res5 box head).

    Proposals are matched to ground-truth tubes by the mean-over-T IoU; RoIs are pooled per
    frame (`pool_tubes`): 7x7 for the box head, 14x14 for the keypoint head.
    """

    @classmethod
    def _init_box_head(cls, cfg, input_shape):
        in_features = cfg.MODEL.ROI_HEADS.IN_FEATURES
        resolution = cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION
        channels = {input_shape[f].channels for f in in_features}
        if len(channels) != 1:
            raise ValueError(f"TubeROIHeads needs one channel count for {in_features}")
        if cfg.MODEL.MASK_ON:
            raise ValueError("TubeROIHeads has no mask head; set MODEL.MASK_ON False")
        box_pooler = ROIPooler(
            output_size=resolution,
            scales=tuple(1.0 / input_shape[k].stride for k in in_features),
            sampling_ratio=cfg.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO,
            pooler_type=cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE,
        )
        box_head = build_box_head(
            cfg, ShapeSpec(channels=channels.pop(), height=resolution, width=resolution)
        )
        return {
            "box_in_features": in_features,
            "box_pooler": box_pooler,
            "box_head": box_head,
            "box_predictor": TubeOutputLayers(cfg, box_head.output_shape),
        }

    @classmethod
    def _init_keypoint_head(cls, cfg, input_shape):
        """Detectron2's keypoint head init, pooling from MODEL.ROI_KEYPOINT_HEAD.IN_FEATURES when
        given (e.g. the finer res3) instead of the box head's features."""
        features = cfg.MODEL.ROI_KEYPOINT_HEAD.IN_FEATURES
        if features:
            cfg = cfg.clone()
            cfg.defrost()
            cfg.MODEL.ROI_HEADS.IN_FEATURES = list(features)
        return super()._init_keypoint_head(cfg, input_shape)

    @torch.no_grad()
    def label_and_sample_proposals(self, proposals: List[Instances], targets: List[Instances]):
        """Match proposal tubes to ground-truth tubes (mean-over-T IoU) and sample RoIs."""
        if self.proposal_append_gt:
            proposals = [self._add_gt_proposals(p, t) for p, t in zip(proposals, targets)]
        sampled, num_fg, num_bg = [], [], []
        for props, gt in zip(proposals, targets):
            quality = pairwise_tube_iou(gt.gt_tubes, props.proposal_tubes)
            matched_idxs, matched_labels = self.proposal_matcher(quality)
            idxs, gt_classes = self._sample_proposals(matched_idxs, matched_labels, gt.gt_classes)
            props = props[idxs]
            props.gt_classes = gt_classes
            if len(gt) > 0:
                for name, value in gt[matched_idxs[idxs]].get_fields().items():
                    if name.startswith("gt_") and not props.has(name):
                        props.set(name, value)
            else:
                props.gt_tubes = Tubes(torch.zeros_like(props.proposal_tubes.tensor))
                props.gt_visible = torch.zeros(
                    props.proposal_tubes.tensor.shape[:2],
                    dtype=torch.bool,
                    device=gt_classes.device,
                )
            num_bg.append((gt_classes == self.num_classes).sum().item())
            num_fg.append(gt_classes.numel() - num_bg[-1])
            sampled.append(props)
        storage = get_event_storage()
        storage.put_scalar("roi_head/num_fg_samples", sum(num_fg) / max(len(num_fg), 1))
        storage.put_scalar("roi_head/num_bg_samples", sum(num_bg) / max(len(num_bg), 1))
        return sampled

    @staticmethod
    def _add_gt_proposals(proposals: Instances, gt: Instances) -> Instances:
        """Append the ground-truth tubes as proposals (empty frames filled from the nearest
        visible frame), with a large objectness logit, as `add_ground_truth_to_proposals` does."""
        if len(gt) == 0:
            return proposals
        extra = Instances(proposals.image_size)
        extra.proposal_tubes = Tubes(_fill_empty_frames(gt.gt_tubes.tensor, gt.gt_visible))
        extra.objectness_logits = torch.full(
            (len(gt),), math.log((1.0 - 1e-10) / 1e-10), device=gt.gt_tubes.device
        )
        return Instances.cat([proposals, extra])

    def _forward_box(self, features: Dict[str, torch.Tensor], proposals: List[Instances]):
        feats = [features[f] for f in self.box_in_features]
        box_features = pool_tubes(self.box_pooler, feats, [p.proposal_tubes for p in proposals])
        predictions = self.box_predictor(self.box_head(box_features))
        del box_features
        if self.training:
            return self.box_predictor.losses(predictions, proposals)
        pred_instances, _ = self.box_predictor.inference(predictions, proposals)
        return pred_instances

    def forward_with_given_boxes(self, features, instances: List[Instances]):
        """Keypoints for given tubes (fields ``pred_tubes`` and ``pred_classes``)."""
        assert not self.training
        assert instances[0].has("pred_tubes") and instances[0].has("pred_classes")
        return self._forward_keypoint(features, instances)

    def _forward_keypoint(self, features: Dict[str, torch.Tensor], instances: List[Instances]):
        if not self.keypoint_on:
            return {} if self.training else instances
        if self.training:
            instances, _ = select_foreground_proposals(instances, self.num_classes)
            instances = [i[_has_visible_keypoints(i)] for i in instances]
        feats = [features[f] for f in self.keypoint_in_features]
        tubes = [x.proposal_tubes if self.training else x.pred_tubes for x in instances]
        return self.keypoint_head(pool_tubes(self.keypoint_pooler, feats, tubes), instances)


def _has_visible_keypoints(instances: Instances) -> torch.Tensor:
    """(R,) bool: the tube has a labelled keypoint inside its own box in some frame (the tube
    version of `select_proposals_with_visible_keypoints`)."""
    if len(instances) == 0:
        return torch.zeros(0, dtype=torch.bool, device=instances.gt_classes.device)
    kps = instances.gt_keypoints  # R, T, K, 3
    boxes = instances.proposal_tubes.tensor[:, :, None, :]  # R, T, 1, 4
    x, y = kps[..., 0], kps[..., 1]
    inside = (
        (x >= boxes[..., 0]) & (x <= boxes[..., 2]) & (y >= boxes[..., 1]) & (y <= boxes[..., 3])
    )
    return ((kps[..., 2] > 0) & inside).flatten(1).any(dim=1)
