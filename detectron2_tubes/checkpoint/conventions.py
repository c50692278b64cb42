"""The input convention weights were trained on (pixel order, mean, std, where a bottleneck
strides), as checkpoints record it, and the check that a model reads the same."""

import os
from typing import List, Optional

import torch

__all__ = [
    "INPUT_CONVENTIONS",
    "input_record",
    "trained_input",
    "stride_in_1x1",
    "convention_problems",
]

# The input each family of ImageNet weights was trained on: channel order, mean and std of the
# pixels (0-255, in that order) and, for bottleneck ResNets, whether the stride sits in the 1x1
# conv (MSRA's original nets) or in the 3x3 (torchvision's).
INPUT_CONVENTIONS = {
    "torchvision": dict(
        format="RGB",
        mean=(123.675, 116.28, 103.53),
        std=(58.395, 57.12, 57.375),
        stride_in_1x1=False,
    ),
    "caffe2": dict(
        format="BGR",
        mean=(103.53, 116.28, 123.675),
        std=(1.0, 1.0, 1.0),
        stride_in_1x1=True,
    ),
}


def input_record(model) -> Optional[dict]:
    """The input convention ``model`` reads (pixel format, mean, std, stride placement), as
    `SafeDetectionCheckpointer.save` stores it in checkpoints; None for models without one."""
    fmt = getattr(model, "input_format", None)
    mean, std = getattr(model, "pixel_mean", None), getattr(model, "pixel_std", None)
    if fmt is None or mean is None or std is None:
        return None
    return {
        "format": str(fmt),
        "mean": [round(float(v), 4) for v in mean.flatten()],  # float32 buffers: 123.675
        "std": [round(float(v), 4) for v in std.flatten()],  # reads back as 123.67500305...
        "stride_in_1x1": stride_in_1x1(model),
    }


def trained_input(filename: str) -> Optional[dict]:
    """The input convention of the training that wrote ``filename``, from the config.yaml that
    Detectron2's trainers write beside their checkpoints (None when there is none)."""
    import yaml

    path = os.path.join(os.path.dirname(os.path.abspath(filename)), "config.yaml")
    try:
        with open(path) as f:
            cfg = yaml.safe_load(f)
        return dict(
            __source__="a model trained (says the config.yaml beside it)",
            format=cfg["INPUT"]["FORMAT"],
            mean=tuple(float(v) for v in cfg["MODEL"]["PIXEL_MEAN"]),
            std=tuple(float(v) for v in cfg["MODEL"]["PIXEL_STD"]),
            stride_in_1x1=bool(cfg["MODEL"]["RESNETS"]["STRIDE_IN_1X1"]),
        )
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return None


def stride_in_1x1(model) -> Optional[bool]:
    """Whether the model's strided bottleneck blocks stride in their 1x1 conv (None: no
    bottleneck blocks, as in ResNet-18/34)."""
    for module in model.modules():
        conv1, conv2 = getattr(module, "conv1", None), getattr(module, "conv2", None)
        if conv1 is None or conv2 is None or not hasattr(module, "conv3"):
            continue
        s1, s2 = max(conv1.stride[-2:]), max(conv2.stride[-2:])
        if s1 > 1 or s2 > 1:
            return s1 > 1
    return None


def convention_problems(model, want: dict) -> List[str]:
    """Where ``model``'s input differs from the convention ``want`` (an `INPUT_CONVENTIONS` entry
    or a checkpoint's ``__input__``), each as the setting that would fix it; [] when it reads
    the same input."""
    problems = []
    fmt = getattr(model, "input_format", None)
    if fmt is not None and fmt != want["format"]:
        problems.append(f"INPUT.FORMAT {want['format']} (is {fmt})")
    for name in ("mean", "std"):
        buf: Optional[torch.Tensor] = getattr(model, f"pixel_{name}", None)
        if buf is None:
            continue
        have = [round(float(v), 3) for v in buf.flatten()]
        tol = 1.0 if name == "mean" else 0.05
        if len(have) != 3 or any(abs(a - b) > tol for a, b in zip(have, want[name])):
            problems.append(f"MODEL.PIXEL_{name.upper()} {list(want[name])} (is {have})")
    strides_in_1x1 = stride_in_1x1(model)
    wanted_stride = want.get("stride_in_1x1")
    if None not in (strides_in_1x1, wanted_stride) and strides_in_1x1 != wanted_stride:
        problems.append(f"MODEL.RESNETS.STRIDE_IN_1X1 {want['stride_in_1x1']}")
    return problems
