"""What Detectron2 lacks for clips: 3D convs with norms, a frozen BatchNorm for 5D tensors,
and NMS on tubes. Each is small and follows its 2D twin in `detectron2.layers`."""

from typing import Optional, Union

import numpy as np
import torch
from detectron2.layers import FrozenBatchNorm2d
from torch import nn
from torch.nn import functional as F

from .structures import Tubes, pairwise_tube_iou

__all__ = [
    "conv3d",
    "Conv3d",
    "FrozenBatchNorm3d",
    "FrameGroupNorm",
    "get_norm3d",
    "tube_nms",
    "batched_tube_nms",
    "run_checkpointed",
    "HEAD_CHUNKS",
]

# Slices of the RoIs a checkpointed head recomputes one at a time in the backward pass: the
# head's activations held at once fall to about a quarter (the heads normalise per RoI:
# FrozenBN or GroupNorm, never batch statistics across RoIs).
HEAD_CHUNKS = 4


def run_checkpointed(fn, x: torch.Tensor, enabled: bool, chunks: int = 1) -> torch.Tensor:
    """``fn(x)``; when ``enabled`` (pass the module's switch and its ``training``) and gradients
    are on, through PyTorch's non-reentrant activation checkpointing: the activations inside
    ``fn`` are recomputed in the backward pass instead of kept (less memory, one more forward).

    ``chunks`` > 1 (for ``fn`` that treats each row of ``x`` on its own, as the RoI heads do):
    each of that many slices of ``x`` along dim 0 is checkpointed apart, so that the backward
    pass recomputes one slice at a time; one checkpoint around a whole head would recompute all
    of its activations at once when its backward starts, and the peak would not move."""
    if not (enabled and torch.is_grad_enabled()):
        return fn(x)
    from torch.utils.checkpoint import checkpoint

    if chunks <= 1 or x.shape[0] < 2:
        return checkpoint(fn, x, use_reentrant=False)
    return torch.cat([checkpoint(fn, part, use_reentrant=False) for part in x.chunk(chunks)])


class FrozenBatchNorm3d(FrozenBatchNorm2d):
    """Detectron2's `FrozenBatchNorm2d` for (N, C, T, H, W) tensors: fixed statistics and affine.

    Its buffers have the same names and shapes as the 2D one, so 2D checkpoints load unchanged.
    """

    def forward(self, x):
        if x.requires_grad:
            scale = self.weight * (self.running_var + self.eps).rsqrt()
            bias = self.bias - self.running_mean * scale
            shape = (1, -1) + (1,) * (x.dim() - 2)
            return x * scale.reshape(shape).to(x.dtype) + bias.reshape(shape).to(x.dtype)
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=False,
            eps=self.eps,
        )

    @classmethod
    def convert_frozen_batchnorm(cls, module: nn.Module) -> nn.Module:
        """Replace every BatchNorm3d / SyncBatchNorm in ``module`` with a frozen one (recursively)."""
        if isinstance(module, (nn.BatchNorm3d, nn.SyncBatchNorm)):
            res = cls(module.num_features, eps=module.eps)
            if module.affine:
                res.weight.data = module.weight.data.clone().detach()
                res.bias.data = module.bias.data.clone().detach()
            res.running_mean.data = module.running_mean.data
            res.running_var.data = module.running_var.data
            return res
        for name, child in module.named_children():
            new_child = cls.convert_frozen_batchnorm(child)
            if new_child is not child:
                module.add_module(name, new_child)
        return module


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm of (N, C, T, H, W) tensors with statistics per frame, as the 2D model computes
    them: a 2D GroupNorm checkpoint means the same thing here, and a layer with temporal kernel
    1 keeps frames independent (a whole-clip GroupNorm would mix them through its statistics)."""

    def forward(self, x):
        if x.dim() != 5:
            return super().forward(x)
        n, c, t, h, w = x.shape
        y = super().forward(x.transpose(1, 2).reshape(n * t, c, h, w))
        return y.view(n, t, c, h, w).transpose(1, 2)


def get_norm3d(norm: Union[str, None], out_channels: int) -> Optional[nn.Module]:
    """A norm for 5D tensors by name, as `detectron2.layers.get_norm` gives for 4D ones.

    "BN", "SyncBN", "FrozenBN", "GN" (32 groups, statistics per frame: `FrameGroupNorm`) or "" /
    None for no norm.
    """
    if not norm:
        return None
    if norm == "BN":
        return nn.BatchNorm3d(out_channels)
    if norm == "SyncBN":
        return nn.SyncBatchNorm(out_channels)
    if norm == "FrozenBN":
        return FrozenBatchNorm3d(out_channels)
    if norm == "GN":
        return FrameGroupNorm(32, out_channels)
    raise ValueError(f"Unknown norm for 3D layers: {norm!r} (use BN, SyncBN, FrozenBN or GN)")


def _triple(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v, v)


_ONEDNN = torch.backends.mkldnn.is_available()


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """`torch.nn.functional.conv3d`, on a CPU always through oneDNN (MKL-DNN).

    PyTorch chooses between oneDNN and its reference kernel (`slow_conv3d`, im2col and a
    matrix product) with a size rule written for 2D inputs: it looks at N * C * T * H, leaving
    out W. One clip of 3 frames falls under that rule at every 3x3 layer of a ResNet, so video
    inference (one clip at a time) ran on the reference kernel, several times slower than oneDNN
    on the same convolution (doc/results.md), while training (4 clips a batch) already ran on oneDNN. The two
    kernels agree to float32 rounding, and oneDNN has a backward.

    The shortcut steps aside for ``torch.compile`` (whose tracer may not call into
    ``torch.backends.mkldnn``, and which picks its own kernels) and under CPU autocast (the
    direct oneDNN call is not an autocast op, so it would stay in float32).
    """
    if (
        not torch.compiler.is_compiling()
        and not torch.onnx.is_in_onnx_export()  # ONNX has the portable convolution only
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.numel() > 0
        and not isinstance(padding, str)
        and not torch.is_autocast_enabled("cpu")
        and _ONEDNN
        and torch.backends.mkldnn.enabled
    ):
        return torch.ops.aten.mkldnn_convolution(
            x, weight, bias, _triple(padding), _triple(stride), _triple(dilation), groups
        )
    return F.conv3d(x, weight, bias, stride, padding, dilation, groups)


class Conv3d(nn.Conv3d):
    """`torch.nn.Conv3d` with an optional norm and activation, like `detectron2.layers.Conv2d`.

    Submodule names (``weight``, ``bias``, ``norm``) match Detectron2's `Conv2d`, so a 2D
    checkpoint's keys land on the same names (the inflating checkpointer adds the time axis).
    """

    def __init__(self, *args, norm: Optional[nn.Module] = None, activation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation

    def forward(self, x):
        x = conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


def tube_nms(
    tubes: Tubes, scores: torch.Tensor, iou_threshold: float, max_keep: Optional[int] = None
) -> torch.Tensor:
    """Greedy NMS on tubes with the mean-over-time IoU; returns kept indices by decreasing score.

    ``max_keep`` stops once that many are kept (the result's prefix is unchanged by it).

    A tube is suppressed when its IoU with a kept, higher-scoring tube is > ``iou_threshold``
    (torchvision's rule). For T = 1 this is torchvision's `nms`, which is used then. Written by
    hand because no library runs NMS with a custom overlap: the IoU of every pair is computed
    once, in one batched call, and the greedy pass then only reads that matrix (a loop of
    vectorised ops per kept tube cost more than the rest of the RPN on a CPU).
    """
    if tubes.num_frames == 1:
        from torchvision.ops import nms

        keep = nms(tubes.tensor[:, 0], scores, iou_threshold)
        return keep if max_keep is None else keep[:max_keep]
    tracing = torch.jit.is_tracing()
    if tracing:  # (ONNX has no stable sort; model scores tie with probability ~0)
        order = torch.sort(scores, descending=True).indices
    else:
        order = torch.argsort(scores, descending=True, stable=True)
        if order.numel() == 0:
            return order
    sorted_tubes = tubes[order]
    overlaps = pairwise_tube_iou(sorted_tubes, sorted_tubes) > iou_threshold
    if tracing:  # the greedy pass inside the exported graph, as a loop
        return order[_greedy_keep(overlaps, -1 if max_keep is None else max_keep)]
    overlaps = overlaps.cpu().numpy()
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        if max_keep is not None and len(keep) >= max_keep:
            break
        suppressed |= overlaps[i]
    return order[torch.as_tensor(keep, dtype=torch.long, device=order.device)]


@torch.jit.script_if_tracing
def _greedy_keep(overlaps: torch.Tensor, max_keep: int) -> torch.Tensor:
    """`tube_nms`'s greedy pass over an (N, N) bool overlap matrix in decreasing score order,
    in TorchScript so that an exported model keeps the loop (a trace would record one input's
    result); the same rule as the host loop of `tube_nms`, which eager inference runs."""
    n = overlaps.shape[0]
    suppressed = torch.zeros([n], dtype=torch.bool, device=overlaps.device)
    kept = torch.zeros([n], dtype=torch.bool, device=overlaps.device)
    count = 0
    for i in range(n):
        if not bool(suppressed[i]):
            kept[i] = True
            count += 1
            if max_keep >= 0 and count >= max_keep:
                break
            suppressed = suppressed | overlaps[i]
    return torch.nonzero(kept).flatten()


def batched_tube_nms(
    tubes: Tubes,
    scores: torch.Tensor,
    idxs: torch.Tensor,
    iou_threshold: float,
    max_keep: Optional[int] = None,
) -> torch.Tensor:
    """Tube NMS within each category of ``idxs`` independently (torchvision's offset trick)."""
    if not torch.jit.is_tracing() and len(tubes) == 0:
        return torch.empty((0,), dtype=torch.int64, device=scores.device)
    if torch.jit.is_tracing():  # also defined for no tubes (the guard above is not traced)
        flat = tubes.tensor.flatten()
        max_coord = torch.cat([flat, flat.new_zeros(1)]).max()
    else:
        max_coord = tubes.tensor.max()
    offsets = idxs.to(tubes.tensor) * (max_coord + 1)
    return tube_nms(Tubes(tubes.tensor + offsets[:, None, None]), scores, iou_threshold, max_keep)
