"""TubeRPN: Detectron2's RPN with 2D anchors replicated over T frames (paper section 3.1.1).

Like `RRPN`, it keeps the RPN's configuration, anchor generator, matcher and sampling, and swaps
what changes for tubes: the head (a 3D conv, objectness pooled over time, 4T deltas per anchor),
anchor labelling by the mean-over-T tube IoU, a regression loss over visible frames scaled by
1/T, and proposal selection by tube NMS.
"""

from typing import Dict, List, Optional, Tuple

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec, cat
from detectron2.modeling import PROPOSAL_GENERATOR_REGISTRY
from detectron2.modeling.anchor_generator import build_anchor_generator
from detectron2.modeling.proposal_generator.rpn import RPN, RPN_HEAD_REGISTRY
from detectron2.structures import Boxes, ImageList, Instances
from detectron2.utils.events import get_event_storage
from fvcore.nn import smooth_l1_loss
from torch import nn
from torch.nn import functional as F

from ..layers import Conv3d, batched_tube_nms
from ..structures import Tubes, pairwise_tube_iou

__all__ = ["TubeRPNHead", "TubeRPN", "find_top_tube_proposals"]


@RPN_HEAD_REGISTRY.register()
class TubeRPNHead(nn.Module):
    """A (t, 3, 3) conv over the clip's features, then per anchor one objectness logit (averaged
    over time: one score per tube) and 4 box deltas per frame (4T per tube).

    Parameter names equal `StandardRPNHead`'s, so a 2D RPN inflates into it.
    """

    @configurable
    def __init__(self, *, in_channels: int, num_anchors: int, temporal_kernel: int = 3):
        super().__init__()
        t = temporal_kernel
        self.conv = Conv3d(
            in_channels,
            in_channels,
            kernel_size=(t, 3, 3),
            padding=(t // 2, 1, 1),
            activation=nn.ReLU(),
        )
        self.objectness_logits = Conv3d(in_channels, num_anchors, kernel_size=1)
        self.anchor_deltas = Conv3d(in_channels, num_anchors * 4, kernel_size=1)
        for layer in self.modules():
            if isinstance(layer, nn.Conv3d):
                nn.init.normal_(layer.weight, std=0.01)
                nn.init.constant_(layer.bias, 0)

    @classmethod
    def from_config(cls, cfg, input_shape: List[ShapeSpec]):
        channels = {s.channels for s in input_shape}
        if len(channels) != 1:
            raise ValueError(f"TubeRPNHead needs one channel count for all levels, got {channels}")
        num_anchors = set(build_anchor_generator(cfg, input_shape).num_anchors)
        if len(num_anchors) != 1:
            raise ValueError("TubeRPNHead needs the same number of anchors at every level")
        return {
            "in_channels": channels.pop(),
            "num_anchors": num_anchors.pop(),
            "temporal_kernel": cfg.MODEL.RPN.TEMPORAL_KERNEL,
        }

    def forward(self, features: List[torch.Tensor]):
        """
        Args:
            features: L tensors of shape (N, C, T, Hi, Wi).
        Returns:
            L tensors (N, A, Hi, Wi): objectness logits, averaged over time.
            L tensors (N, A * 4, T, Hi, Wi): per-frame box deltas.
        """
        logits, deltas = [], []
        for x in features:
            t = self.conv(x)
            # float32 out of mixed precision: anchors, losses and the tube NMS are computed on it
            logits.append(self.objectness_logits(t).float().mean(dim=2))
            deltas.append(self.anchor_deltas(t).float())
        return logits, deltas


def find_top_tube_proposals(
    proposals: List[torch.Tensor],
    pred_objectness_logits: List[torch.Tensor],
    image_sizes: List[Tuple[int, int]],
    nms_thresh: float,
    pre_nms_topk: int,
    post_nms_topk: int,
    min_box_size: float,
    training: bool,
) -> List[Instances]:
    """`find_top_rpn_proposals` for tubes: per level top-k, clip, drop tubes with an empty or too
    small frame, tube NMS per level, keep ``post_nms_topk``.

    Args:
        proposals: L tensors (N, Hi*Wi*A, T, 4).
        pred_objectness_logits: L tensors (N, Hi*Wi*A).
    Returns:
        N Instances with ``proposal_tubes`` (Tubes) and ``objectness_logits``, by decreasing score.
    """
    num_images = len(image_sizes)
    device = proposals[0].device
    batch_idx = torch.arange(num_images, device=device)
    topk_scores, topk_proposals, level_ids = [], [], []
    for level, (props, logits) in enumerate(zip(proposals, pred_objectness_logits)):
        k = min(logits.shape[1], pre_nms_topk)
        scores_i, idx = logits.topk(k, dim=1)
        topk_proposals.append(props[batch_idx[:, None], idx])  # N x k x T x 4
        topk_scores.append(scores_i)
        level_ids.append(torch.full((k,), level, dtype=torch.int64, device=device))
    topk_scores, topk_proposals = cat(topk_scores, dim=1), cat(topk_proposals, dim=1)
    level_ids = cat(level_ids, dim=0)

    results = []
    for n, image_size in enumerate(image_sizes):
        tubes, scores, lvl = Tubes(topk_proposals[n]), topk_scores[n], level_ids
        valid = torch.isfinite(tubes.tensor).flatten(1).all(dim=1) & torch.isfinite(scores)
        if torch.jit.is_tracing():  # an exported model selects whatever the input gives
            tubes, scores, lvl = tubes[valid], scores[valid], lvl[valid]
        elif not valid.all():
            if training:
                raise FloatingPointError(
                    "Predicted tubes or scores contain Inf/NaN. Training has diverged."
                )
            tubes, scores, lvl = tubes[valid], scores[valid], lvl[valid]
        tubes.clip(image_size)
        keep = tubes.nonempty(threshold=min_box_size)
        if torch.jit.is_tracing() or not keep.all():
            tubes, scores, lvl = tubes[keep], scores[keep], lvl[keep]
        keep = batched_tube_nms(tubes, scores, lvl, nms_thresh, max_keep=post_nms_topk)
        keep = keep[:post_nms_topk]
        res = Instances(image_size)
        res.proposal_tubes = tubes[keep]
        res.objectness_logits = scores[keep]
        results.append(res)
    return results


@PROPOSAL_GENERATOR_REGISTRY.register()
class TubeRPN(RPN):
    """The tube proposal network: RPN over clips (features (N, C, T, H, W)).

    Inherits the RPN's configuration (`from_config`), anchor sampling (`_subsample_labels`),
    anchor generator and matcher. Proposals carry ``proposal_tubes`` instead of boxes.
    """

    @configurable
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.box_reg_loss_type != "smooth_l1":
            raise ValueError(
                f"TubeRPN supports the smooth_l1 box loss, not {self.box_reg_loss_type}"
            )

    def forward(
        self,
        images: ImageList,
        features: Dict[str, torch.Tensor],
        gt_instances: Optional[List[Instances]] = None,
    ):
        features = [features[f] for f in self.in_features]
        anchors = self.anchor_generator(features)  # L x Boxes (Hi*Wi*A, 4), frame-independent
        pred_logits, pred_deltas = self.rpn_head(features)
        # (N, A, Hi, Wi) -> (N, Hi*Wi*A), the anchor generator's order
        pred_logits = [score.permute(0, 2, 3, 1).flatten(1) for score in pred_logits]
        # (N, A*4, T, Hi, Wi) -> (N, A, 4, T, Hi, Wi) -> (N, Hi, Wi, A, T, 4) -> (N, Hi*Wi*A, T, 4)
        pred_deltas = [
            x.view(x.shape[0], -1, 4, *x.shape[2:]).permute(0, 4, 5, 1, 3, 2).flatten(1, 3)
            for x in pred_deltas
        ]
        if self.training:
            if gt_instances is None:
                raise ValueError("TubeRPN needs gt_instances in training")
            gt_labels, gt_tubes, gt_visible = self.label_and_sample_anchors(anchors, gt_instances)
            losses = self.losses(anchors, pred_logits, gt_labels, pred_deltas, gt_tubes, gt_visible)
        else:
            losses = {}
        proposals = self.predict_proposals(anchors, pred_logits, pred_deltas, images.image_sizes)
        return proposals, losses

    @torch.no_grad()
    def label_and_sample_anchors(self, anchors: List[Boxes], gt_instances: List[Instances]):
        """Label anchor tubes by the mean-over-T IoU with the ground-truth tubes, ignore those
        crossing the image border if MODEL.RPN.BOUNDARY_THRESH >= 0, then sample.

        Returns:
            labels: N tensors (R,) in {-1, 0, 1}.
            matched tubes: N tensors (R, T, 4), meaningful where the label is 1.
            matched visibility: N bool tensors (R, T): frames where the matched person is visible.
        """
        anchors = Boxes.cat(anchors).tensor
        gt_labels, matched_tubes, matched_visible = [], [], []
        for gt in gt_instances:
            num_frames = gt.gt_tubes.num_frames
            anchor_tubes = Tubes(anchors[:, None, :].expand(-1, num_frames, -1))
            quality = pairwise_tube_iou(gt.gt_tubes, anchor_tubes)
            matched_idxs, labels = self.anchor_matcher(quality)
            labels = labels.to(device=anchors.device)
            if self.anchor_boundary_thresh >= 0:
                # The release's training (RPN_STRADDLE_THRESH 0): anchors crossing the image
                # border by more than the threshold are neither positive nor negative.
                inside = Boxes(anchors).inside_box(gt.image_size, self.anchor_boundary_thresh)
                labels[~inside] = -1
            labels = self._subsample_labels(labels)
            if len(gt) == 0:
                matched = torch.zeros_like(anchor_tubes.tensor)
                visible = torch.zeros(matched.shape[:2], dtype=torch.bool, device=anchors.device)
            else:
                matched = gt.gt_tubes.tensor[matched_idxs]
                visible = gt.gt_visible[matched_idxs]
            gt_labels.append(labels)
            matched_tubes.append(matched)
            matched_visible.append(visible)
        return gt_labels, matched_tubes, matched_visible

    def losses(
        self, anchors, pred_objectness_logits, gt_labels, pred_anchor_deltas, gt_tubes, gt_visible
    ) -> Dict[str, torch.Tensor]:
        """Objectness loss as the RPN's; smooth-L1 box loss over the visible frames of positive
        anchors, divided by T (so T = 1 gives the 2D RPN's loss)."""
        num_images = len(gt_labels)
        gt_labels = torch.stack(gt_labels)
        pos_mask = gt_labels == 1
        storage = get_event_storage()
        storage.put_scalar("rpn/num_pos_anchors", pos_mask.sum().item() / num_images)
        storage.put_scalar("rpn/num_neg_anchors", (gt_labels == 0).sum().item() / num_images)

        anchors = Boxes.cat(anchors).tensor
        deltas = cat(pred_anchor_deltas, dim=1)  # N, R, T, 4
        num_frames = deltas.shape[2]
        visible = torch.stack(gt_visible)[pos_mask]  # P, T
        src = anchors[None, :, None, :].expand_as(deltas)[pos_mask][visible]  # V, 4
        target = torch.stack(gt_tubes)[pos_mask][visible]
        gt_deltas = self.box2box_transform.get_deltas(src, target)
        loc_loss = (
            smooth_l1_loss(
                deltas[pos_mask][visible], gt_deltas, self.smooth_l1_beta, reduction="sum"
            )
            / num_frames
        )

        valid = gt_labels >= 0
        objectness_loss = F.binary_cross_entropy_with_logits(
            cat(pred_objectness_logits, dim=1)[valid],
            gt_labels[valid].to(torch.float32),
            reduction="sum",
        )
        normalizer = self.batch_size_per_image * num_images
        losses = {
            "loss_rpn_cls": objectness_loss / normalizer,
            "loss_rpn_loc": loc_loss / normalizer,
        }
        return {k: v * self.loss_weight.get(k, 1.0) for k, v in losses.items()}

    def predict_proposals(self, anchors, pred_objectness_logits, pred_anchor_deltas, image_sizes):
        with torch.no_grad():
            proposals = self._decode_proposals(anchors, pred_anchor_deltas)
            return find_top_tube_proposals(
                proposals,
                pred_objectness_logits,
                image_sizes,
                self.nms_thresh,
                self.pre_nms_topk[self.training],
                self.post_nms_topk[self.training],
                self.min_box_size,
                self.training,
            )

    def _decode_proposals(self, anchors: List[Boxes], pred_anchor_deltas: List[torch.Tensor]):
        """Apply each frame's deltas to the anchor: L tensors (N, Hi*Wi*A, T, 4)."""
        proposals = []
        for anchors_i, deltas_i in zip(anchors, pred_anchor_deltas):
            n, r, t, _ = deltas_i.shape
            boxes = anchors_i.tensor[None].expand(n, -1, -1).reshape(-1, 4)
            # Box2BoxTransform decodes (M, k*4) deltas against M boxes: here k = T frames.
            decoded = self.box2box_transform.apply_deltas(deltas_i.reshape(n * r, t * 4), boxes)
            proposals.append(decoded.view(n, r, t, 4))
        return proposals
