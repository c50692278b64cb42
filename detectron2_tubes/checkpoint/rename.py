"""Checkpoint names onto the model's: one table of prefixes (`RENAME_RULES`) and the torchvision
ResNet converter. Caffe2 Detectron names are converted by Detectron2's own
`convert_c2_detectron_names` first."""

import logging
import re
from typing import Dict, Tuple

import torch

__all__ = ["RENAME_RULES", "rename_to_model", "convert_torchvision_resnet", "is_torchvision_resnet"]

logger = logging.getLogger(__name__)

# A checkpoint key prefix -> the model prefixes it may stand for, tried in order; the first that
# names a tensor of the model wins. Keys the model has under their own name are never renamed.
# Together these read Detectron2 FPN and C4 detectors, ImageNet ResNets (Detectron2/MSRA and
# torchvision, once renamed) and Caffe2 Detectron checkpoints (once renamed by Detectron2) into a
# C4 Tube R-CNN, and ImageNet or C4 backbones into a stock FPN model.
_STAGES = ("stem", "res2", "res3", "res4")
RENAME_RULES: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    # res5 is the C4 box head of Tube R-CNN (and of Detectron2's Res5ROIHeads).
    ("backbone.bottom_up.res5.", ("roi_heads.box_head.res5.", "roi_heads.res5.")),
    ("roi_heads.res5.", ("roi_heads.box_head.res5.", "backbone.bottom_up.res5.")),
    (
        "res5.",
        ("roi_heads.box_head.res5.", "roi_heads.res5.", "backbone.bottom_up.res5."),
    ),
    ("backbone.bottom_up.", ("backbone.",)),
    *((f"{s}.", (f"backbone.{s}.", f"backbone.bottom_up.{s}.")) for s in _STAGES),
    ("backbone.", ("backbone.bottom_up.",)),
    # Caffe2 Detectron's head names, as Detectron2's converter leaves them.
    ("cls_score.", ("roi_heads.box_predictor.cls_score.",)),
    ("bbox_pred.", ("roi_heads.box_predictor.bbox_pred.",)),
    ("box_head.", ("roi_heads.box_head.",)),
    ("fpn_", ("backbone.fpn_",)),
)

_TV_LAYER = re.compile(r"^layer(\d)\.(\d+)\.(.*)$")


def convert_torchvision_resnet(
    state: Dict[str, torch.Tensor],
) -> Dict[str, torch.Tensor]:
    """Rename a torchvision ResNet state dict to Detectron2's ResNet names (``stem.conv1``,
    ``res2.0.conv1.norm``, ``res2.0.shortcut``); the classifier (``fc``) is dropped."""
    out = {}
    for key, value in state.items():
        if key.startswith("fc.") or key.endswith("num_batches_tracked"):
            continue
        new = key
        if key.startswith("conv1."):
            new = "stem." + key
        elif key.startswith("bn1."):
            new = "stem.conv1.norm." + key[len("bn1.") :]
        else:
            m = _TV_LAYER.match(key)
            if m:
                stage, block, rest = int(m.group(1)) + 1, m.group(2), m.group(3)
                rest = re.sub(r"^bn(\d)\.", r"conv\1.norm.", rest)
                rest = rest.replace("downsample.0.", "shortcut.").replace(
                    "downsample.1.", "shortcut.norm."
                )
                new = f"res{stage}.{block}.{rest}"
        out[new] = value
    return out


def is_torchvision_resnet(state: dict) -> bool:
    """Whether ``state`` is a torchvision ResNet's (``conv1``, ``layer1.0.``...)."""
    return "conv1.weight" in state and any(k.startswith("layer1.0.") for k in state)


def rename_to_model(state: Dict[str, torch.Tensor], model_keys) -> Dict[str, torch.Tensor]:
    """Checkpoint names -> the model's, by `RENAME_RULES`; keys no rule maps keep their name."""
    model_keys = set(model_keys)
    out = {}
    for key, value in state.items():
        new = key
        if key not in model_keys:
            for prefix, targets in RENAME_RULES:
                if key.startswith(prefix):
                    for target in targets:
                        if target + key[len(prefix) :] in model_keys:
                            new = target + key[len(prefix) :]
                            break
                    break
        if new in out:
            logger.warning(f"[InflatingCheckpointer] {key} and another key both map to {new}")
            continue
        out[new] = value
    return out
