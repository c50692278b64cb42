"""Appearance features for the tracker's CNN cost: a ResNet-18 (res3) on person crops, as the
paper's CNN-feature matching."""

import logging
from typing import Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..utils.safe_load import torch_load

__all__ = ["CropFeatureExtractor", "resnet18_res3"]

logger = logging.getLogger(__name__)


def resnet18_res3(weights: Optional[str] = None) -> nn.Module:
    """torchvision's ResNet-18 up to res3 (``layer2``): 128 channels at stride 8.

    ``weights``: a path to a torchvision ResNet-18 state dict (nothing is downloaded). Without
    it the network is randomly initialised, which still gives usable colour/texture features.
    """
    import torchvision

    net = torchvision.models.resnet18(weights=None)
    if weights:
        state = torch_load(weights)  # data only; one-line errors naming the file
        state = state.get("model", state) if isinstance(state, dict) else state
        missing = net.load_state_dict(state, strict=False)
        if missing.missing_keys:
            raise ValueError(
                f"{weights}: not a torchvision ResNet-18 state dict "
                f"(missing {missing.missing_keys[:3]}...)"
            )
    else:
        logger.warning("CNN features from a randomly initialised ResNet-18 (no weights given)")
    return nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2).eval()


class CropFeatureExtractor:
    """Appearance features of person crops: RoIAlign each box to ``crop_size`` (H, W), run the
    network (ResNet-18 res3 by default, as the paper), average-pool, L2-normalise."""

    def __init__(
        self,
        model: Optional[nn.Module] = None,
        weights: Optional[str] = None,
        crop_size: Tuple[int, int] = (128, 64),
        device: str = "cpu",
    ):
        self.model = (model if model is not None else resnet18_res3(weights)).to(device).eval()
        self.crop_size = crop_size
        self.device = device
        # ImageNet statistics, RGB (what torchvision's ResNets expect).
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1) * 255

    @torch.no_grad()
    def __call__(self, image_bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """image (H, W, 3) BGR uint8, boxes (N, 4) -> (N, D) unit-norm features."""
        from torchvision.ops import roi_align

        if len(boxes) == 0:
            return np.zeros((0, 1), np.float32)
        img = torch.as_tensor(np.ascontiguousarray(image_bgr[:, :, ::-1]), device=self.device)
        img = img.permute(2, 0, 1)[None].float()
        rois = torch.as_tensor(boxes, dtype=torch.float32, device=self.device)
        crops = roi_align(
            img, [rois], self.crop_size, spatial_scale=1.0, sampling_ratio=2, aligned=True
        )
        feats = self.model((crops - self.mean) / self.std).mean(dim=(2, 3))
        return torch.nn.functional.normalize(feats, dim=1).cpu().numpy()
