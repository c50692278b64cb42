"""All config keys detectron2_tubes adds to Detectron2's default config."""

from detectron2.config import CfgNode as CN

from posetrack_core.settings import OUTPUT_KEYS, TRACKING_KEYS


# long: one flat list of every key with the comment that documents it, as Detectron2's defaults.py
def add_tubes_config(cfg: CN) -> CN:
    """Add every detectron2_tubes key (with its default) to ``cfg`` in place and return it.

    Safe to call twice: keys already present keep their values.
    """
    _C = cfg
    if "CLIP" not in _C.INPUT:
        _C.INPUT.CLIP = CN()
    # T, the number of frames in a clip (the paper's T; 1 gives the 2D baseline).
    _C.INPUT.CLIP.setdefault("NUM_FRAMES", 3)
    # Distance in frames between consecutive frames of a clip (1 = adjacent frames).
    _C.INPUT.CLIP.setdefault("FRAME_STRIDE", 1)
    # Training clips: "labeled" (every frame labelled; video edges repeat the nearest frame) or
    # "release" (the authors' release: also every frame present, none repeated, each with a
    # person whose keypoints are visible; clips at video edges dropped).
    _C.INPUT.CLIP.setdefault("TRAIN_FILTER", "labeled")

    # Temporal extent of every k x k (k > 1) conv of the 3D ResNet, per stage (stem, res2, res3,
    # res4, res5 = the C4 box head); 1x1 convs stay 1x1x1. The authors' release (which produced
    # the paper's tables): 1x7x7 stem, res2 2D, res3 and res4 3, box-head res5 1. The paper's text
    # says 3x7x7 for the stem. All 1 with T = 1 is the 2D ResNet.
    _C.MODEL.RESNETS.setdefault("TEMPORAL_KERNELS", [1, 1, 3, 3, 1])
    # Activation checkpointing (torch.utils.checkpoint, non-reentrant) in training: the named
    # part's activations are recomputed in the backward pass instead of kept, for the same
    # losses and gradients with less memory and one more forward of that part. Per 3D backbone
    # stage, the C4 box head (res5) and the 3D keypoint head's convolutions; off by default.
    _C.MODEL.RESNETS.setdefault("ACTIVATION_CHECKPOINT", False)
    _C.MODEL.ROI_BOX_HEAD.setdefault("ACTIVATION_CHECKPOINT", False)
    _C.MODEL.ROI_KEYPOINT_HEAD.setdefault("ACTIVATION_CHECKPOINT", False)
    # Temporal extent of the TubeRPN head's 3x3 conv.
    _C.MODEL.RPN.setdefault("TEMPORAL_KERNEL", 3)
    # Temporal extent of the 3D keypoint head's 3x3 convs.
    _C.MODEL.ROI_KEYPOINT_HEAD.setdefault("TEMPORAL_KERNEL", 3)
    # Backbone features the keypoint head pools from; empty = MODEL.ROI_HEADS.IN_FEATURES (the
    # paper's C4 design: res4). A finer level (res3, stride 8) suits small people.
    _C.MODEL.ROI_KEYPOINT_HEAD.setdefault("IN_FEATURES", [])
    # How 2D weights become 3D when a 2D checkpoint is loaded: "center" (the 2D kernel in the
    # central time slice, zeros elsewhere; the paper's) or "mean" (repeated / extent; I3D's).
    _C.MODEL.setdefault("WEIGHTS_INFLATION", "center")
    # Inference (track_video, --eval-only, the predictors) refuses weights that leave any tensor
    # of the model at its random initialisation (a head of other shapes, a checkpoint without
    # keypoints); True runs anyway, with the checkpointer's summary line saying what was left.
    _C.MODEL.setdefault("WEIGHTS_ALLOW_PARTIAL", False)

    # Mixed precision of SOLVER.AMP.ENABLED training: "float16" (CUDA only, with Detectron2's
    # gradient scaler) or "bfloat16" (CUDA or CPU, no scaler). The heads' outputs, the losses and
    # the tube NMS stay in float32.
    _C.SOLVER.AMP.setdefault("PRECISION", "float16")
    # "SGD" (Detectron2's) or "ADAMW" (with Detectron2's parameter groups and weight decay).
    _C.SOLVER.setdefault("OPTIMIZER", "SGD")

    # The tracker's and the PoseTrack writer's keys, one set of defaults for the library and
    # the commands (their meanings: posetrack_core.settings).
    if "TRACKING" not in _C:
        _C.TRACKING = CN()
    for key, value, _ in TRACKING_KEYS:
        _C.TRACKING.setdefault(key, value)
    if "POSETRACK" not in _C.TEST:
        _C.TEST.POSETRACK = CN()
    for key, value, _ in OUTPUT_KEYS:
        _C.TEST.POSETRACK.setdefault(key, value)
    if "TRACKER_HEADS" not in _C:
        _C.TRACKER_HEADS = CN()
    # Detectron2's tracker-head name for `build_tracker_head(cfg)`.
    _C.TRACKER_HEADS.setdefault("TRACKER_NAME", "PoseTrackerHead")
    return cfg


def uses_clips(cfg) -> bool:
    """Whether the model reads clips (TubeRCNN) rather than single images (stock Detectron2)."""
    return cfg.MODEL.META_ARCHITECTURE == "TubeRCNN"
