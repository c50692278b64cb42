"""The paper configs carry the authors' release's settings (README, "Settings: paper, release,
here"): each row read back from the built config, model or optimizer."""

import glob
import os

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import Instances
from detectron2.utils.events import EventStorage
from model_configs import tube_cfg

from detectron2_tubes import add_tubes_config
from detectron2_tubes.data import build_clip_dicts
from detectron2_tubes.engine import TubeTrainer, setup_cfg
from detectron2_tubes.structures import Tubes

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
PAPER = sorted(glob.glob(os.path.join(CONFIGS, "tube_rcnn_*.yaml")))


@pytest.fixture(scope="module")
def r18_t3():
    cfg = setup_cfg(os.path.join(CONFIGS, "tube_rcnn_R18_T3.yaml"), ["MODEL.DEVICE", "cpu"])
    return cfg, TubeTrainer.build_model(cfg)


@pytest.mark.parametrize("path", PAPER, ids=os.path.basename)
def test_paper_configs_have_the_release_settings(path):
    cfg = setup_cfg(path)
    # Schedule: 8 GPUs x 2 clips at lr 0.001, 13k iterations (drops at 10k, 12k), 500 linear
    # warm-up iterations from 1/3, weight decay 1e-4, momentum 0.9.
    s = cfg.SOLVER
    assert (s.IMS_PER_BATCH, s.BASE_LR, s.MAX_ITER, tuple(s.STEPS)) == (
        16,
        0.001,
        13000,
        (10000, 12000),
    )
    assert (s.WARMUP_ITERS, s.WARMUP_METHOD, s.WEIGHT_DECAY, s.MOMENTUM) == (
        500,
        "linear",
        1e-4,
        0.9,
    )
    assert s.WARMUP_FACTOR == pytest.approx(1 / 3) and s.OPTIMIZER == "SGD"
    assert (s.BIAS_LR_FACTOR, s.WEIGHT_DECAY_BIAS) == (2.0, 0.0)
    # Input: multi-scale training at 128/196/256, testing at 256, longer side <= 333, flips.
    i = cfg.INPUT
    assert (tuple(i.MIN_SIZE_TRAIN), i.MIN_SIZE_TRAIN_SAMPLING, i.MAX_SIZE_TRAIN) == (
        (128, 196, 256),
        "choice",
        333,
    )
    assert (i.MIN_SIZE_TEST, i.MAX_SIZE_TEST, i.RANDOM_FLIP) == (256, 333, "horizontal")
    assert i.CLIP.TRAIN_FILTER == "release" and i.CLIP.FRAME_STRIDE == 1
    m = cfg.MODEL
    assert (m.RESNETS.NORM, m.BACKBONE.FREEZE_AT, m.RESNETS.OUT_FEATURES) == (
        "FrozenBN",
        2,
        ["res4"],
    )
    # RPN: 4 sizes x 3 ratios at stride 16, 256 anchors (half positive) at IoU 0.3 / 0.7,
    # 2000 / 2000 proposals in training, 1000 / 1000 in testing, NMS 0.7, beta 1/9, no anchors
    # across the border.
    assert m.ANCHOR_GENERATOR.SIZES == [[64, 128, 256, 512]]
    assert m.ANCHOR_GENERATOR.ASPECT_RATIOS == [[0.5, 1.0, 2.0]]
    r = m.RPN
    assert (r.BATCH_SIZE_PER_IMAGE, r.POSITIVE_FRACTION, tuple(r.IOU_THRESHOLDS)) == (
        256,
        0.5,
        (0.3, 0.7),
    )
    assert (
        r.PRE_NMS_TOPK_TRAIN,
        r.POST_NMS_TOPK_TRAIN,
        r.PRE_NMS_TOPK_TEST,
        r.POST_NMS_TOPK_TEST,
    ) == (
        2000,
        2000,
        1000,
        1000,
    )
    assert (r.NMS_THRESH, r.BOUNDARY_THRESH) == (0.7, 0) and r.SMOOTH_L1_BETA == pytest.approx(
        1 / 9
    )
    # RoIs: 512 per image, a quarter foreground at IoU 0.5; box loss beta 1; Caffe2's RoIAlign.
    h = m.ROI_HEADS
    assert (h.BATCH_SIZE_PER_IMAGE, h.POSITIVE_FRACTION, tuple(h.IOU_THRESHOLDS)) == (
        512,
        0.25,
        (0.5,),
    )
    assert (h.NMS_THRESH_TEST, h.SCORE_THRESH_TEST, cfg.TEST.DETECTIONS_PER_IMAGE) == (
        0.5,
        0.05,
        100,
    )
    b, k = m.ROI_BOX_HEAD, m.ROI_KEYPOINT_HEAD
    assert (b.POOLER_TYPE, b.POOLER_RESOLUTION, b.POOLER_SAMPLING_RATIO, b.SMOOTH_L1_BETA) == (
        "ROIAlign",
        7,
        2,
        1.0,
    )
    assert tuple(b.BBOX_REG_WEIGHTS) == (10.0, 10.0, 5.0, 5.0)
    assert (k.POOLER_TYPE, k.POOLER_RESOLUTION, k.POOLER_SAMPLING_RATIO) == ("ROIAlign", 14, 2)
    assert list(k.CONV_DIMS) == [512] * 8 and k.NUM_KEYPOINTS == 17
    assert k.NORMALIZE_LOSS_BY_VISIBLE_KEYPOINTS
    # Keypoints: cut at logit 1.95, scored by the box; tracking from detections >= 0.95, Hungarian
    # on box IoU between adjacent frames.
    p = cfg.TEST.POSETRACK
    assert (p.KEYPOINT_THRESH, p.KEYPOINT_THRESH_ON, p.KEYPOINT_SCORE) == (1.95, "logit", "box")
    t = cfg.TRACKING
    assert (t.DET_THRESH, t.COST, t.MATCHER, t.MEMORY, t.MAX_COST) == (
        0.95,
        "iou",
        "hungarian",
        0,
        -1.0,
    )


def test_the_built_model_and_optimizer_use_them(r18_t3):
    cfg, model = r18_t3
    rpn, heads = model.proposal_generator, model.roi_heads
    assert rpn.smooth_l1_beta == pytest.approx(1 / 9) and rpn.anchor_boundary_thresh == 0
    assert heads.box_predictor.smooth_l1_beta == 1.0
    # Detectron2's "ROIAlign" is RoIAlign without the half-pixel shift (aligned=False).
    for pooler in (heads.box_pooler, heads.keypoint_pooler):
        assert all(p.aligned is False for p in pooler.level_poolers)
    # The release's temporal layout: 1x7x7 stem, 2D res2, 3-tap res3 and res4, 2D res5 head,
    # 3-tap RPN and keypoint convs.
    assert model.backbone.stem.conv1.weight.shape[2] == 1
    assert model.backbone.res2[0].conv1.weight.shape[2] == 1
    assert model.backbone.res3[0].conv1.weight.shape[2] == 3
    assert model.backbone.res4[1].conv2.weight.shape[2] == 3
    assert heads.box_head.res5[0].conv1.weight.shape[2] == 1
    assert rpn.rpn_head.conv.weight.shape[2] == 3
    assert heads.keypoint_head.conv_fcn8.weight.shape[2] == 3
    optimizer = TubeTrainer.build_optimizer(cfg, model)
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optimizer.param_groups:
        for param in group["params"]:
            if names[id(param)].endswith(".bias"):
                assert (group["lr"], group["weight_decay"]) == (0.002, 0.0), names[id(param)]
            else:
                assert (group["lr"], group["weight_decay"]) == (0.001, 1e-4), names[id(param)]


def test_anchors_across_the_border_are_ignored_in_training(r18_t3):
    _, model = r18_t3
    rpn = model.proposal_generator
    gt = Instances((320, 480))
    gt.gt_tubes = Tubes(torch.tensor([[[100.0, 60.0, 200.0, 250.0]] * 3]))
    gt.gt_visible = torch.ones(1, 3, dtype=torch.bool)
    features = torch.zeros(1, 256, 3, 20, 30)
    anchors = rpn.anchor_generator([features])
    with EventStorage():
        labels, _, _ = rpn.label_and_sample_anchors(anchors, [gt])
    inside = anchors[0].inside_box((320, 480), 0)
    assert not inside.all() and inside.any()
    assert (labels[0][~inside] == -1).all()  # neither positive nor negative
    assert (labels[0][inside] == 1).any() and (labels[0][inside] == 0).any()


def _video(labelled_with_people, n=6):
    frames = []
    for i in range(n):
        ann = [{"bbox": [0, 0, 10, 10], "keypoints": [1.0, 1.0, 2.0] * 17, "track_id": 0}]
        people = i in labelled_with_people
        frames.append(
            dict(
                file_name=f"{i}.jpg",
                video_id=0,
                frame_id=i,
                is_labeled=True,
                annotations=ann if people else [],
            )
        )
    return frames


def test_the_release_training_clip_filter():
    """Every frame of a training clip present and showing a visible keypoint: video edges and
    frames beside a person-less or missing frame give no clip."""
    frames = _video({0, 1, 2, 3, 5})  # frame 4 has nobody
    keys = lambda clips: [c["frame_id"] for c in clips]  # noqa: E731
    ours = build_clip_dicts(frames, 3, labeled_only=True, filter_empty=True)
    assert keys(ours) == [0, 1, 2, 3, 4, 5]  # edges repeat the nearest frame
    release = build_clip_dicts(frames, 3, labeled_only=True, filter_empty=True, complete_only=True)
    assert keys(release) == [1, 2]
    assert [f["frame_id"] for f in release[0]["clip_frames"]] == [0, 1, 2]
    missing = [f for f in frames if f["frame_id"] != 2]  # frame 2 absent from the file
    assert keys(build_clip_dicts(missing, 3, labeled_only=True, complete_only=True)) == []
    occluded = [dict(f) for f in _video({0, 1, 2, 3, 4, 5})]
    occluded[3]["annotations"] = [dict(occluded[3]["annotations"][0], keypoints=[0.0] * 51)]
    assert keys(build_clip_dicts(occluded, 3, labeled_only=True, complete_only=True)) == [1]


def test_paper_configs_use_the_release_temporal_kernels():
    """Item 1b: 1x7x7 stem, 2D res2, 3-tap res3/res4, RPN and keypoint head, 2D box-head res5;
    the paper text's 3x7x7 stem is a variant config."""
    model = build_model(tube_cfg(os.path.join(CONFIGS, "tube_rcnn_R18_T3.yaml")))
    b = model.backbone
    assert b.stem.conv1.weight.shape[2] == 1
    assert b.res2[0].conv1.weight.shape[2] == 1 and b.res2[1].conv2.weight.shape[2] == 1
    assert b.res3[0].conv1.weight.shape[2] == 3 and b.res4[1].conv2.weight.shape[2] == 3
    assert model.proposal_generator.rpn_head.conv.weight.shape[2] == 3
    assert model.roi_heads.keypoint_head.conv_fcn1.weight.shape[2] == 3
    assert model.roi_heads.box_head.res5[0].conv1.weight.shape[2] == 1
    text = build_model(tube_cfg(os.path.join(CONFIGS, "tube_rcnn_R18_T3_3x7x7.yaml")))
    assert (
        text.backbone.stem.conv1.weight.shape[2] == 3
        and text.backbone.res2[0].conv1.weight.shape[2] == 3
    )
    assert add_tubes_config(get_cfg()).MODEL.RESNETS.TEMPORAL_KERNELS == [1, 1, 3, 3, 1]
