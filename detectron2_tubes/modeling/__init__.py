"""Tube R-CNN components; importing this module registers them with Detectron2."""

from .backbone3d import (
    BasicBlock3D,
    BasicStem3D,
    BottleneckBlock3D,
    ResNet3D,
    build_res5_3d,
    build_resnet3d_backbone,
)
from .keypoint_head import (
    KRCNNConvDeconvUpsample3DHead,
    KRCNNConvDeconvUpsampleLogitsHead,
    keypoint_inference_with_logits,
)
from .meta_arch import TubeRCNN, tube_postprocess, tubes_to_frames
from .roi_heads import (
    Res5BoxHead3D,
    TubeOutputLayers,
    TubeROIHeads,
    pool_tubes,
    tube_rcnn_inference,
)
from .tube_rpn import TubeRPN, TubeRPNHead, find_top_tube_proposals
