"""All config keys detectron2_tubes adds to Detectron2's default config."""

from detectron2.config import CfgNode as CN


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

    if "TRACKING" not in _C:
        _C.TRACKING = CN()
    # Cost between detections of adjacent frames: "iou", "pose" (PCKh), "oks", "cnn", "lstm", or
    # a "name:weight,name:weight" weighted sum (e.g. "iou:1,pose:1").
    _C.TRACKING.setdefault("COST", "iou")
    # "hungarian" (optimal) or "greedy" matching.
    _C.TRACKING.setdefault("MATCHER", "hungarian")
    # Detections below this score are not tracked (the paper's 0.95, Table 1).
    _C.TRACKING.setdefault("DET_THRESH", 0.95)
    # Detections whose box, clipped to the frame, is smaller than this (px^2) are not tracked.
    _C.TRACKING.setdefault("MIN_AREA", 50.0)
    # Pairs costlier than this are never matched; -1 = no gate (the paper).
    _C.TRACKING.setdefault("MAX_COST", -1.0)
    # Frames a track may go unmatched and still be continued; 0 = the paper (previous frame only).
    _C.TRACKING.setdefault("MEMORY", 0)
    # How a track's box is carried into the next frame before matching: "none" (its last box,
    # the paper's; with MEMORY, moved on by its recent velocity) or "kalman" (a constant-velocity
    # Kalman filter, as SORT and ByteTrack).
    _C.TRACKING.setdefault("MOTION", "none")
    # ByteTrack's second association: detections scoring in [LOW_THRESH, DET_THRESH) are matched
    # to tracks seen in the previous frame that the first association left unmatched (never
    # starting a track); -1 = off (the paper: detections below DET_THRESH are dropped).
    _C.TRACKING.setdefault("LOW_THRESH", -1.0)
    # The most 1 - IoU a pair of the second association may have (ByteTrack's 0.5).
    _C.TRACKING.setdefault("SECOND_MAX_COST", 0.5)
    # Joints scoring below this do not count in the pose and OKS costs; -1 = every joint counts.
    _C.TRACKING.setdefault("KEYPOINT_THRESH", -1.0)
    # Weights of the learned LSTM cost (from python -m detectron2_tubes.tracking.lstm).
    _C.TRACKING.setdefault("LSTM_WEIGHTS", "")
    # torchvision ResNet-18 weights for the CNN cost ("" = random init; nothing is downloaded).
    _C.TRACKING.setdefault("CNN_WEIGHTS", "")
    if "POSETRACK" not in _C.TEST:
        _C.TEST.POSETRACK = CN()
    # Joints whose heatmap peak logit is below this are written as absent: the paper's 1.95
    # (tuned on PoseTrack validation). Re-tune with python -m detectron2_tubes.sweep_thresholds.
    _C.TEST.POSETRACK.setdefault("KEYPOINT_THRESH", 1.95)
    # What KEYPOINT_THRESH applies to: "logit" (the heatmap peak logit; the paper's) or "prob"
    # (Detectron2's spatial-softmax probability of the peak).
    _C.TEST.POSETRACK.setdefault("KEYPOINT_THRESH_ON", "logit")
    # Each written joint's score, which ranks joints for AP: "box" (the detection's score, as the
    # authors' release did: KEYPOINT_CONFIDENCE bbox) or "prob" (the joint's own probability).
    _C.TEST.POSETRACK.setdefault("KEYPOINT_SCORE", "box")
    if "TRACKER_HEADS" not in _C:
        _C.TRACKER_HEADS = CN()
    # Detectron2's tracker-head name for `build_tracker_head(cfg)`.
    _C.TRACKER_HEADS.setdefault("TRACKER_NAME", "PoseTrackerHead")
    return cfg


def tracking_defaults():
    """The TRACKING keys' defaults (the paper's tracker), which `PoseTracker`'s arguments take
    as theirs."""
    from detectron2.config import get_cfg

    return add_tubes_config(get_cfg()).TRACKING
