"""Configs and weights the model and checkpoint tests share."""

import os

import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_backbone

from detectron2_tubes import add_tubes_config

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs")
QUICK_T3 = os.path.join(CONFIGS, "quick_schedules", "tube_rcnn_R18_T3_synth.yaml")
# The quick T = 3 config made smaller still for tests that run whole commands.
TINY_TEST = ["MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", "[32,32]", "INPUT.MIN_SIZE_TEST", "96"]


def tube_cfg(path, *opts):
    cfg = add_tubes_config(get_cfg())
    cfg.merge_from_file(path)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    return cfg


def tiny_cfg(num_frames=3, *opts):
    """The quick config shrunk further for unit tests."""
    t = 1 if num_frames == 1 else 3
    return tube_cfg(
        QUICK_T3,
        "INPUT.CLIP.NUM_FRAMES",
        num_frames,
        "MODEL.RESNETS.TEMPORAL_KERNELS",
        [t] * 5,
        "MODEL.RPN.TEMPORAL_KERNEL",
        t,
        "MODEL.ROI_KEYPOINT_HEAD.TEMPORAL_KERNEL",
        t,
        "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS",
        [32, 32],
        *opts,
    )


def randomise_scores(model):
    """Random init gives all scores near 0.5; spread them so that the comparison is sharp."""
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.weight.normal_(0, 0.2)


def detectron2_r18_state():
    cfg = get_cfg()
    cfg.merge_from_list(
        [
            "MODEL.RESNETS.DEPTH",
            18,
            "MODEL.RESNETS.RES2_OUT_CHANNELS",
            64,
            "MODEL.RESNETS.OUT_FEATURES",
            ["res5"],
            "MODEL.RESNETS.NORM",
            "FrozenBN",
        ]
    )
    torch.manual_seed(1)
    return {k: v.clone() for k, v in build_backbone(cfg).state_dict().items()}
