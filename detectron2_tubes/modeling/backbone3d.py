"""ResNet inflated to 3D: Detectron2's ResNet with every k x k conv given a temporal extent.

`ResNet3D` subclasses Detectron2's `ResNet` and overrides `forward` only; its stages are built
with `ResNet.make_stage(..., temporal_kernel=t)` from the 3D blocks below.

Module names equal Detectron2's `ResNet` (``stem.conv1``, ``res2.0.conv1``, ``.norm``,
``.shortcut``), so a 2D checkpoint's keys map one to one and the `InflatingCheckpointer` only
adds the time axis. Temporal stride is 1 everywhere and temporal padding keeps T, so the output
of res4 is (N, C, T, H/16, W/16). With T = 1 and all temporal extents 1 it is exactly the 2D
ResNet.
"""

from typing import Dict, List, Sequence

import torch
from detectron2.layers import CNNBlockBase, ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, ResNet
from fvcore.nn import weight_init as winit
from torch import nn
from torch.nn import functional as F

from ..layers import Conv3d, FrozenBatchNorm3d, get_norm3d, run_checkpointed

__all__ = [
    "BasicStem3D",
    "BasicBlock3D",
    "BottleneckBlock3D",
    "ResNet3D",
    "build_resnet3d_backbone",
    "build_res5_3d",
    "STAGE_NAMES",
]

# Stage names in the order of MODEL.RESNETS.TEMPORAL_KERNELS.
STAGE_NAMES = ("stem", "res2", "res3", "res4", "res5")
_BLOCKS_PER_STAGE = {
    18: [2, 2, 2, 2],
    34: [3, 4, 6, 3],
    50: [3, 4, 6, 3],
    101: [3, 4, 23, 3],
    152: [3, 8, 36, 3],
}


def _conv(cin, cout, k, t, *, stride=1, dilation=1, groups=1, norm="BN"):
    """A (t, k, k) conv with temporal stride 1 and 'same' temporal padding."""
    return Conv3d(
        cin,
        cout,
        kernel_size=(t, k, k),
        stride=(1, stride, stride),
        padding=(t // 2, dilation * (k // 2), dilation * (k // 2)),
        dilation=(1, dilation, dilation),
        groups=groups,
        bias=False,
        norm=get_norm3d(norm, cout),
    )


class _Block3D(CNNBlockBase):
    def freeze(self):
        for p in self.parameters():
            p.requires_grad = False
        FrozenBatchNorm3d.convert_frozen_batchnorm(self)
        return self


class BasicBlock3D(_Block3D):
    """ResNet-18/34 block: two (t, 3, 3) convs and a 1x1x1 projection shortcut if needed."""

    def __init__(self, in_channels, out_channels, *, stride=1, norm="BN", temporal_kernel=3):
        super().__init__(in_channels, out_channels, stride)
        t = temporal_kernel
        self.shortcut = (
            _conv(in_channels, out_channels, 1, 1, stride=stride, norm=norm)
            if in_channels != out_channels
            else None
        )
        self.conv1 = _conv(in_channels, out_channels, 3, t, stride=stride, norm=norm)
        self.conv2 = _conv(out_channels, out_channels, 3, t, norm=norm)
        for layer in (self.conv1, self.conv2, self.shortcut):
            if layer is not None:
                winit.c2_msra_fill(layer)

    def forward(self, x):
        out = F.relu_(self.conv1(x))
        out = self.conv2(out)
        out += self.shortcut(x) if self.shortcut is not None else x
        return F.relu_(out)


class BottleneckBlock3D(_Block3D):
    """ResNet-50+ block: 1x1x1, (t, 3, 3), 1x1x1 convs and a projection shortcut if needed."""

    def __init__(
        self,
        in_channels,
        out_channels,
        *,
        bottleneck_channels,
        stride=1,
        num_groups=1,
        norm="BN",
        stride_in_1x1=False,
        dilation=1,
        temporal_kernel=3,
    ):
        super().__init__(in_channels, out_channels, stride)
        self.shortcut = (
            _conv(in_channels, out_channels, 1, 1, stride=stride, norm=norm)
            if in_channels != out_channels
            else None
        )
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = _conv(in_channels, bottleneck_channels, 1, 1, stride=s1, norm=norm)
        self.conv2 = _conv(
            bottleneck_channels,
            bottleneck_channels,
            3,
            temporal_kernel,
            stride=s3,
            dilation=dilation,
            groups=num_groups,
            norm=norm,
        )
        self.conv3 = _conv(bottleneck_channels, out_channels, 1, 1, norm=norm)
        for layer in (self.conv1, self.conv2, self.conv3, self.shortcut):
            if layer is not None:
                winit.c2_msra_fill(layer)

    def forward(self, x):
        out = F.relu_(self.conv1(x))
        out = F.relu_(self.conv2(out))
        out = self.conv3(out)
        out += self.shortcut(x) if self.shortcut is not None else x
        return F.relu_(out)


class BasicStem3D(_Block3D):
    """(t, 7, 7) conv with spatial stride 2, then a spatial 3x3 max pool with stride 2."""

    def __init__(self, in_channels=3, out_channels=64, norm="BN", temporal_kernel=3):
        super().__init__(in_channels, out_channels, 4)
        self.conv1 = Conv3d(
            in_channels,
            out_channels,
            kernel_size=(temporal_kernel, 7, 7),
            stride=(1, 2, 2),
            padding=(temporal_kernel // 2, 3, 3),
            bias=False,
            norm=get_norm3d(norm, out_channels),
        )
        winit.c2_msra_fill(self.conv1)

    def forward(self, x):
        x = F.relu_(self.conv1(x))
        return F.max_pool3d(x, kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))


class ResNet3D(ResNet):
    """Detectron2's `ResNet` on clips (N, C, T, H, W): its construction, `freeze`,
    `output_shape` and `make_stage` as they are; only `forward` differs (5-D input, checked with
    a clear error). Outputs are named like ResNet's."""

    def __init__(
        self,
        stem: nn.Module,
        stages: Sequence[List[nn.Module]],
        out_features: Sequence[str],
        freeze_at: int = 0,
        activation_checkpoint: bool = False,
    ):
        known = {"stem"} | {f"res{i + 2}" for i in range(len(stages))}
        for f in out_features:
            if f not in known:
                raise ValueError(f"ResNet3D has no output {f!r}; built: {sorted(known)}")
        super().__init__(stem, stages, out_features=list(out_features), freeze_at=freeze_at)
        # Each stage's activations recomputed in the backward pass (MODEL.RESNETS.
        # ACTIVATION_CHECKPOINT): the same losses and gradients, less memory, more time.
        self.activation_checkpoint = activation_checkpoint

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """x: (N, C, T, H, W) -> {name: (N, C_i, T, H / stride_i, W / stride_i)}."""
        if x.dim() != 5:
            raise ValueError(f"ResNet3D takes (N, C, T, H, W) clips, got shape {tuple(x.shape)}")
        outputs = {}
        x = self.stem(x)
        if "stem" in self._out_features:
            outputs["stem"] = x
        for name, stage in zip(self.stage_names, self.stages):
            x = run_checkpointed(stage, x, self.activation_checkpoint and self.training)
            if name in self._out_features:
                outputs[name] = x
        return outputs


def _stage_kwargs(cfg, stage_idx: int) -> dict:
    """Block class and arguments of stage res{stage_idx} (2..5) from MODEL.RESNETS."""
    r = cfg.MODEL.RESNETS
    depth = r.DEPTH
    if depth not in _BLOCKS_PER_STAGE:
        raise ValueError(
            f"MODEL.RESNETS.DEPTH must be one of {sorted(_BLOCKS_PER_STAGE)}, got {depth}"
        )
    kernels = list(r.TEMPORAL_KERNELS)
    if len(kernels) != len(STAGE_NAMES) or any(k < 1 or k % 2 == 0 for k in kernels):
        raise ValueError(
            f"MODEL.RESNETS.TEMPORAL_KERNELS needs 5 odd extents for {STAGE_NAMES}, got {kernels}"
        )
    i = stage_idx - 2
    out_channels = r.RES2_OUT_CHANNELS * 2**i
    dilation = r.RES5_DILATION if stage_idx == 5 else 1
    kw = dict(
        num_blocks=_BLOCKS_PER_STAGE[depth][i],
        out_channels=out_channels,
        norm=r.NORM,
        temporal_kernel=kernels[stage_idx - 1],
        first_stride=1 if stage_idx == 2 or dilation == 2 else 2,
    )
    if depth in (18, 34):
        # Unlike Detectron2's ResNet, R18/R34 may be narrower than 64 (small CPU models);
        # checkpoints of the standard R18/R34 need STEM_OUT_CHANNELS = RES2_OUT_CHANNELS = 64.
        if r.RES2_OUT_CHANNELS != r.STEM_OUT_CHANNELS:
            raise ValueError(
                "MODEL.RESNETS.RES2_OUT_CHANNELS must equal STEM_OUT_CHANNELS for R18/R34"
            )
        if dilation != 1:
            raise ValueError("MODEL.RESNETS.RES5_DILATION must be 1 for R18/R34")
        kw["block_class"] = BasicBlock3D
    else:
        kw.update(
            block_class=BottleneckBlock3D,
            stride_in_1x1=r.STRIDE_IN_1X1,
            num_groups=r.NUM_GROUPS,
            dilation=dilation,
            bottleneck_channels=r.NUM_GROUPS * r.WIDTH_PER_GROUP * 2**i,
        )
    return kw


def _stage_in_channels(cfg, stage_idx: int) -> int:
    r = cfg.MODEL.RESNETS
    if stage_idx == 2:
        return r.STEM_OUT_CHANNELS
    return r.RES2_OUT_CHANNELS * 2 ** (stage_idx - 3)


def _build_stage(cfg, stage_idx: int, **overrides) -> List[nn.Module]:
    kw = _stage_kwargs(cfg, stage_idx)
    kw.update(overrides)
    block_class, num_blocks = kw.pop("block_class"), kw.pop("num_blocks")
    first_stride = kw.pop("first_stride")
    return ResNet.make_stage(
        block_class,
        num_blocks,
        in_channels=_stage_in_channels(cfg, stage_idx),
        stride_per_block=[first_stride] + [1] * (num_blocks - 1),
        **kw,
    )


@BACKBONE_REGISTRY.register()
def build_resnet3d_backbone(cfg, input_shape: ShapeSpec) -> ResNet3D:
    """ResNet3D from MODEL.RESNETS (DEPTH 18/34/50/101/152, TEMPORAL_KERNELS, NORM, OUT_FEATURES)."""
    r = cfg.MODEL.RESNETS
    stem = BasicStem3D(
        input_shape.channels,
        r.STEM_OUT_CHANNELS,
        norm=r.NORM,
        temporal_kernel=r.TEMPORAL_KERNELS[0],
    )
    out_features = r.OUT_FEATURES
    # res{i} is stage i; stages after the last output are not built.
    last = max(STAGE_NAMES.index(f) + 1 if f != "stem" else 1 for f in out_features)
    stages = [_build_stage(cfg, idx) for idx in range(2, last + 1)]
    return ResNet3D(
        stem,
        stages,
        out_features,
        freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
        activation_checkpoint=r.ACTIVATION_CHECKPOINT,
    )


def build_res5_3d(cfg) -> nn.Sequential:
    """The res5 stage on its own, the C4 box head of the authors' release: spatial stride 1 on
    the 7x7 pooled tube features (their stride is 7 / ROI resolution) and the temporal kernel of
    the res5 entry of MODEL.RESNETS.TEMPORAL_KERNELS (1 in the release)."""
    return nn.Sequential(*_build_stage(cfg, 5, first_stride=1))
