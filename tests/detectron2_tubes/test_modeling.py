"""Tube R-CNN components: exact equivalences with 2D Detectron2, shapes, losses, configs."""

import glob
import os

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_backbone, build_model
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from model_configs import CONFIGS
from model_configs import randomise_scores as _randomise_scores  # noqa: I001
from model_configs import tiny_cfg as _tiny
from model_configs import tube_cfg as _cfg
from torchvision.ops import nms

from detectron2_tubes import add_tubes_config
from detectron2_tubes.layers import Conv3d, FrozenBatchNorm3d, conv3d, tube_nms
from detectron2_tubes.modeling import pool_tubes, tubes_to_frames
from detectron2_tubes.structures import Tubes, pairwise_tube_iou


def test_frozen_bn_3d_matches_2d_per_frame():
    bn = FrozenBatchNorm3d(4)
    bn.weight.uniform_(0.5, 2)
    bn.bias.normal_()
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 4, 3, 5, 5)
    ref = torch.nn.functional.batch_norm(
        x[:, :, 1], bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
    )
    assert torch.allclose(bn(x)[:, :, 1], ref, atol=1e-6)
    assert torch.allclose(bn(x.requires_grad_())[:, :, 1], ref, atol=1e-5)


@pytest.mark.parametrize(
    "shape,kernel,stride,padding,groups",
    [
        ((1, 16, 3, 12, 14), (3, 3, 3), 1, (1, 1, 1), 1),
        ((2, 8, 3, 11, 9), (1, 3, 3), (1, 2, 2), (0, 1, 1), 1),
        ((1, 8, 1, 10, 10), (1, 1, 1), 1, 0, 2),
    ],
)
def test_conv3d_equals_the_reference_kernel_forward_and_backward(
    shape, kernel, stride, padding, groups
):
    torch.manual_seed(0)
    c = shape[1]
    x = torch.randn(shape, requires_grad=True)
    w = torch.randn(c, c // groups, *kernel, requires_grad=True)
    b = torch.randn(c, requires_grad=True)
    out = conv3d(x, w, b, stride, padding, 1, groups)
    grads = torch.autograd.grad((out * out.detach()).sum(), (x, w, b))
    with torch.backends.mkldnn.flags(enabled=False):  # PyTorch's reference kernel
        ref = torch.nn.functional.conv3d(x, w, b, stride, padding, 1, groups)
        ref_grads = torch.autograd.grad((ref * ref.detach()).sum(), (x, w, b))
    # float32 rounding of sums of up to 16 * 27 products of unit normals
    assert out.shape == ref.shape
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-4)
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r, rtol=1e-4, atol=1e-3 * r.abs().max().item())


def test_one_clip_runs_every_conv_on_onednn():
    """PyTorch's own rule would send a single clip's 3x3 convs to its slow reference kernel."""
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this PyTorch build has no oneDNN: the reference kernel is all there is")
    from torch.profiler import ProfilerActivity, profile

    layer = Conv3d(64, 64, (3, 3, 3), padding=1).eval()
    x = torch.randn(1, 64, 3, 16, 20)  # N * C * T * H = 3072, under PyTorch's 20480
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        layer(x)
        torch.nn.functional.conv3d(x, layer.weight, layer.bias, 1, 1)
    calls = {e.key: e.count for e in prof.key_averages()}
    assert calls.get("aten::mkldnn_convolution") == 1  # ours
    assert calls.get("aten::slow_conv3d_forward") == 1  # PyTorch's choice for the same call


def test_conv3d_works_under_cpu_autocast_and_torch_compile():
    """The oneDNN shortcut steps aside: autocast gets its bfloat16 convolution, and
    torch.compile traces a 3D block without a graph break (the shortcut's oneDNN query is not
    traceable)."""
    from detectron2_tubes.modeling.backbone3d import BasicBlock3D

    torch.manual_seed(0)
    block = BasicBlock3D(32, 64, stride=2, norm="GN", temporal_kernel=3).eval()
    x = torch.randn(2, 32, 3, 20, 24)
    with torch.no_grad():
        ref = block(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = block.conv1(x)
        assert low.dtype == torch.bfloat16
        assert torch.allclose(low.float(), block.conv1(x), atol=0.05, rtol=0.05)
        compiled = torch.compile(block, backend="aot_eager", fullgraph=True)
        assert torch.allclose(compiled(x), ref, atol=1e-5)


def test_resnet3d_with_t1_is_detectron2_resnet():
    """T = 1, temporal extents 1: the 3D ResNet equals Detectron2's 2D ResNet, weights shared."""
    cfg2d = get_cfg()
    cfg2d.merge_from_list(
        [
            "MODEL.RESNETS.DEPTH",
            18,
            "MODEL.RESNETS.RES2_OUT_CHANNELS",
            64,
            "MODEL.RESNETS.OUT_FEATURES",
            ["res4"],
            "MODEL.RESNETS.NORM",
            "FrozenBN",
            "MODEL.BACKBONE.FREEZE_AT",
            0,
        ]
    )
    torch.manual_seed(0)
    d2 = build_backbone(cfg2d).eval()
    for m in d2.modules():  # non-trivial frozen BN statistics
        if hasattr(m, "running_var") and m.running_var is not None:
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.uniform_(0.5, 1.5)
    cfg3d = add_tubes_config(cfg2d.clone())
    cfg3d.MODEL.BACKBONE.NAME = "build_resnet3d_backbone"
    cfg3d.MODEL.RESNETS.TEMPORAL_KERNELS = [1] * 5
    r3d = build_backbone(cfg3d).eval()
    sd3 = r3d.state_dict()
    missing = r3d.load_state_dict({k: v.view(sd3[k].shape) for k, v in d2.state_dict().items()})
    assert not missing.missing_keys and not missing.unexpected_keys
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        ref = d2(x)["res4"]
        out = r3d(x[:, :, None])["res4"]
    assert out.shape == (2, 256, 1, 4, 6)
    assert torch.allclose(out[:, :, 0], ref, atol=1e-4)


def test_tube_nms_equals_box_nms_on_static_tubes():
    g = torch.Generator().manual_seed(1)
    xy = torch.rand(60, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 10 + torch.rand(60, 2, generator=g) * 40], dim=1)
    scores = torch.rand(60, generator=g)
    ref = nms(boxes, scores, 0.5)
    tubes = Tubes(boxes[:, None].repeat(1, 3, 1))  # the same box in every frame
    assert torch.equal(tube_nms(tubes, scores, 0.5), ref)
    assert torch.equal(tube_nms(tubes, scores, 0.5, max_keep=5), ref[:5])
    # A tube that overlaps another in one frame only is not suppressed by it at 0.5.
    a = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], dtype=torch.float32)
    b = torch.tensor([[0, 0, 10, 10], [50, 50, 60, 60], [80, 80, 90, 90]], dtype=torch.float32)
    keep = tube_nms(Tubes(torch.stack([a, b])), torch.tensor([0.9, 0.8]), 0.5)
    assert keep.tolist() == [0, 1]


def test_tube_nms_equals_greedy_definition_on_moving_tubes():
    """Random moving tubes (some with empty frames): the kept tubes are exactly those of the
    greedy rule written out pair by pair."""
    g = torch.Generator().manual_seed(2)
    n, t = 150, 3
    start = torch.rand(n, 1, 2, generator=g) * 80
    drift = torch.randn(n, 1, 2, generator=g) * 8 * torch.arange(t).view(1, t, 1)
    xy = start + drift
    tubes = torch.cat([xy, xy + 10 + torch.rand(n, 1, 2, generator=g) * 30], dim=2)
    tubes[::7, 0] = 0  # an empty first frame
    scores = torch.rand(n, generator=g)
    iou = pairwise_tube_iou(Tubes(tubes), Tubes(tubes))
    expected = []
    for i in torch.argsort(scores, descending=True).tolist():
        if all(iou[i, j] <= 0.4 for j in expected):
            expected.append(i)
    assert tube_nms(Tubes(tubes), scores, 0.4).tolist() == expected
    assert tube_nms(Tubes(tubes), scores, 0.4, max_keep=7).tolist() == expected[:7]
    assert tube_nms(Tubes(tubes[:0]), scores[:0], 0.4).numel() == 0


def test_pool_tubes_equals_per_frame_roi_align():
    pooler = ROIPooler(7, (1 / 16,), 0, "ROIAlignV2")
    feats = torch.randn(2, 8, 3, 10, 12)
    tubes = [
        Tubes(
            torch.tensor(
                [
                    [[10, 20, 80, 120], [12, 22, 82, 122], [14, 24, 84, 124]],
                    [[0, 0, 50, 50], [0, 0, 60, 60], [0, 0, 70, 70]],
                ],
                dtype=torch.float32,
            )
        ),
        Tubes(
            torch.tensor(
                [[[30, 30, 100, 150], [35, 30, 105, 150], [40, 30, 110, 150]]], dtype=torch.float32
            )
        ),
    ]
    out = pool_tubes(pooler, [feats], tubes)
    assert out.shape == (3, 8, 3, 7, 7)
    for n, tb in enumerate(tubes):
        for t in range(3):
            ref = pooler([feats[n : n + 1, :, t]], [Boxes(tb.tensor[:, t])])
            rows = slice(0, 2) if n == 0 else slice(2, 3)
            assert torch.allclose(out[rows, :, t], ref, atol=1e-6)
    assert pool_tubes(pooler, [feats], [Tubes(torch.zeros(0, 3, 4))] * 2).shape == (0, 8, 3, 7, 7)


@pytest.mark.parametrize(
    "yaml", sorted(glob.glob(os.path.join(CONFIGS, "**", "*.yaml"), recursive=True))
)
def test_every_config_builds_and_predicts_per_frame_poses(yaml):
    """Each config's model is the one it describes (T, temporal kernels) and runs inference on
    a small clip: T per-frame results with 17 keypoints per detection."""
    from detectron2_tubes.config import uses_clips

    cfg = _cfg(yaml, "MODEL.RPN.POST_NMS_TOPK_TEST", "8", "TEST.DETECTIONS_PER_IMAGE", "4")
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0  # a random model's scores are low
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    # Detections = anchors, scoring 0.5, with flat heatmaps: on the unnormalised features of a
    # random deep model the RPN's deltas empty some frame of every tube (no proposals, tested
    # below), the class logits saturate to a person score of exactly 0 and the heatmaps to inf.
    for layer in (
        model.proposal_generator.rpn_head.anchor_deltas,
        model.roi_heads.box_predictor.cls_score,
        model.roi_heads.box_predictor.bbox_pred,
        model.roi_heads.keypoint_head.score_lowres,
    ):
        torch.nn.init.zeros_(layer.weight)
    image = torch.randint(0, 255, (3, 64, 80)).float()
    if uses_clips(cfg):
        t = cfg.INPUT.CLIP.NUM_FRAMES
        kernels = cfg.MODEL.RESNETS.TEMPORAL_KERNELS
        extents = [
            max(m.weight.shape[2] for m in stage.modules() if isinstance(m, torch.nn.Conv3d))
            for stage in (model.backbone.stem, model.backbone.res3, model.backbone.res4)
        ]
        assert extents == [kernels[0], kernels[2], kernels[3]]
        image = image[:, None].repeat(1, t, 1, 1)
    else:
        t = 1
    with torch.no_grad():
        (out,) = model([{"image": image, "height": 64, "width": 80}])
    frames = out.get("frames", [out["instances"]])
    assert len(frames) == t
    assert [len(f) for f in frames] == [len(out["instances"])] * t and len(frames[0]) > 0
    assert all(f.pred_keypoints.shape[1:] == (17, 3) for f in frames)


def test_no_proposals_give_empty_frames_not_an_error():
    model = build_model(_tiny(3)).eval()
    model.proposal_generator.post_nms_topk = {True: 0, False: 0}
    image = torch.randint(0, 255, (3, 3, 64, 80)).float()
    with torch.no_grad():
        (out,) = model([{"image": image, "height": 64, "width": 80}])
    assert len(out["instances"]) == 0 and [len(f) for f in out["frames"]] == [0, 0, 0]
    assert out["frames"][1].pred_keypoints.shape == (0, 17, 3)


def test_a_frame_is_a_clip_of_one_for_t1():
    """T = 1 takes Detectron2's per-image input, Tensor[C, H, W], with the outputs of
    Tensor[C, 1, H, W]; T = 3 refuses one frame with a line saying what to pass."""
    torch.manual_seed(0)
    model = build_model(_tiny(1, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0)).eval()
    _randomise_scores(model)
    assert model.num_frames == 1
    image = torch.randint(0, 255, (3, 96, 128), dtype=torch.uint8)
    with torch.no_grad():
        (frame,) = model([{"image": image, "height": 96, "width": 128}])
        (clip,) = model([{"image": image[:, None], "height": 96, "width": 128}])
    assert len(frame["instances"]) > 0 and len(frame["frames"]) == 1
    a, b = frame["frames"][0], clip["frames"][0]
    assert torch.equal(a.pred_boxes.tensor, b.pred_boxes.tensor)
    assert torch.equal(a.scores, b.scores) and torch.equal(a.pred_keypoints, b.pred_keypoints)
    three = build_model(_tiny(3)).eval()
    assert three.num_frames == 3
    wanted = r"T = 3\) takes each input's \"image\" as Tensor\[C, 3, H, W\]: 3 frames stacked"
    with pytest.raises(ValueError, match=wanted):
        three([{"image": image, "height": 96, "width": 128, "file_name": "f.jpg"}])


def _clip(num_frames, people=True, size=(96, 128)):
    h, w = size
    g = torch.Generator().manual_seed(num_frames)
    inst = Instances(size)
    if people:
        base = torch.tensor([[10.0, 20.0, 50.0, 90.0], [60.0, 10.0, 110.0, 80.0]])
        tubes = torch.stack([base + 3 * t for t in range(num_frames)], dim=1)
        inst.gt_tubes = Tubes(tubes)
        kps = torch.zeros(2, num_frames, 17, 3)
        kps[..., 0] = tubes[..., None, 0] + torch.rand(2, num_frames, 17, generator=g) * 30
        kps[..., 1] = tubes[..., None, 1] + torch.rand(2, num_frames, 17, generator=g) * 60
        kps[..., 2] = 2
        visible = torch.ones(2, num_frames, dtype=torch.bool)
        if num_frames > 1:  # person 1 absent from the last frame
            visible[1, -1] = False
            inst.gt_tubes.tensor[1, -1] = 0
            kps[1, -1] = 0
        inst.gt_keypoints, inst.gt_visible = kps, visible
        inst.gt_classes = torch.zeros(2, dtype=torch.int64)
    else:
        inst.gt_tubes = Tubes(torch.zeros(0, num_frames, 4))
        inst.gt_keypoints = torch.zeros(0, num_frames, 17, 3)
        inst.gt_visible = torch.zeros(0, num_frames, dtype=torch.bool)
        inst.gt_classes = torch.zeros(0, dtype=torch.int64)
    image = torch.randint(0, 255, (3, num_frames, h, w), generator=g, dtype=torch.uint8)
    return {"image": image, "instances": inst, "height": h, "width": w}


@pytest.mark.parametrize("num_frames", [1, 3, 5])
def test_forward_backward_and_inference_shapes(num_frames):
    torch.manual_seed(0)
    model = build_model(_tiny(num_frames))
    with EventStorage():
        losses = model([_clip(num_frames), _clip(num_frames, people=False)])
        assert set(losses) == {
            "loss_cls",
            "loss_box_reg",
            "loss_keypoint",
            "loss_rpn_cls",
            "loss_rpn_loc",
        }
        assert all(torch.isfinite(v) for v in losses.values())
        sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        (out,) = model([{"image": _clip(num_frames)["image"], "height": 192, "width": 256}])
    inst = out["instances"]
    n = len(inst)
    assert inst.image_size == (192, 256)
    assert inst.pred_tubes.tensor.shape == (n, num_frames, 4)
    assert inst.pred_keypoints.shape == (n, num_frames, 17, 3)
    assert (inst.pred_tubes.tensor[..., 2] <= 256).all() and (inst.pred_tubes.tensor >= 0).all()
    frames = out["frames"]
    assert len(frames) == num_frames and all(isinstance(f.pred_boxes, Boxes) for f in frames)
    assert torch.equal(frames[-1].pred_keypoints, inst.pred_keypoints[:, -1])
    assert tubes_to_frames(inst)[0].scores is inst.scores


def test_clip_without_people_trains():
    torch.manual_seed(0)
    model = build_model(_tiny(3))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with EventStorage():
        for _ in range(2):
            losses = model([_clip(3, people=False)])
            assert losses["loss_box_reg"].item() == 0 and losses["loss_rpn_loc"].item() == 0
            assert losses["loss_keypoint"].item() == 0
            assert losses["loss_cls"].item() > 0 and losses["loss_rpn_cls"].item() > 0
            opt.zero_grad()
            sum(losses.values()).backward()
            opt.step()


def test_invisible_frames_add_no_rpn_regression_loss():
    """The RPN's tube regression: moving a person's box in a frame where they are invisible
    changes no loss (anchor labels are fixed here; they use the tube IoU, which sees the box)."""
    rpn = build_model(_tiny(3)).proposal_generator
    anchors = [Boxes(torch.tensor([[10.0, 20.0, 50.0, 90.0]]))]
    deltas = [torch.zeros(1, 1, 3, 4)]
    labels = [torch.tensor([1])]
    vis = [torch.tensor([[True, True, False]])]
    tube_a = [torch.tensor([[[10.0, 20, 50, 90], [13, 23, 53, 93], [0, 0, 0, 0]]])]
    tube_b = [torch.tensor([[[10.0, 20, 50, 90], [13, 23, 53, 93], [5, 5, 99, 99]]])]
    logits = [torch.zeros(1, 1)]
    with EventStorage():
        loss_a = rpn.losses(anchors, logits, labels, deltas, tube_a, vis)["loss_rpn_loc"]
        loss_b = rpn.losses(anchors, logits, labels, deltas, tube_b, vis)["loss_rpn_loc"]
    assert loss_a.item() == loss_b.item() > 0


def test_roi_tube_regression_loss_is_over_visible_foreground_frames_only():
    """TubeOutputLayers.tube_reg_loss: smooth-L1 over the visible frames of foreground RoIs,
    divided by T and by the number of RoIs; invisible frames and background RoIs add nothing
    (no loss, no gradient), whatever their boxes."""
    predictor = build_model(_tiny(3)).roi_heads.box_predictor
    transform, beta = predictor.box2box_transform, predictor.smooth_l1_beta
    g = torch.Generator().manual_seed(0)
    base = torch.tensor([20.0, 20.0, 60.0, 100.0])
    proposals = base + torch.rand(3, 3, 4, generator=g) * 8
    gt = base + torch.rand(3, 3, 4, generator=g) * 8
    visible = torch.tensor([[True, True, False], [True, True, True], [True, True, True]])
    classes = torch.tensor([0, 0, 1])  # RoI 2 is background
    deltas = (torch.rand(3, 3 * 4, generator=g) - 0.5).requires_grad_()
    loss = predictor.tube_reg_loss(proposals, gt, visible, deltas, classes)

    per_frame = deltas.detach().view(3, 3, 4)
    want = 0.0
    for r, t in [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]:
        target = transform.get_deltas(proposals[r, t : t + 1], gt[r, t : t + 1])[0]
        diff = (per_frame[r, t] - target).abs()
        want += torch.where(diff < beta, 0.5 * diff**2 / beta, diff - 0.5 * beta).sum()
    assert loss.item() == pytest.approx(want.item() / 3 / 3, rel=1e-5)

    loss.backward()
    grad = deltas.grad.view(3, 3, 4)
    assert not grad[0, 2].any() and not grad[2].any()
    assert grad[0, :2].abs().sum() > 0 and grad[1].abs().sum() > 0
    # Another box where RoI 0's person is invisible, or for the background RoI: the same loss.
    moved = gt.clone()
    moved[0, 2] = torch.tensor([0.0, 0.0, 90.0, 90.0])
    moved[2] = torch.tensor([1.0, 1.0, 5.0, 5.0])
    same = predictor.tube_reg_loss(proposals, moved, visible, deltas, classes)
    assert same.item() == loss.item()
    moved[0, 1] += 4.0  # a visible frame moved: the loss changes
    assert predictor.tube_reg_loss(proposals, moved, visible, deltas, classes).item() != loss.item()


def test_box_head_regresses_each_frame_from_its_own_features():
    """Item 1a (the release's 3D box head): res5 with temporal kernel 1 and spatial stride 1 on the
    7x7 tube features, pooled over H and W only; a frame's deltas come from that frame's features
    through one shared layer, and the class logits are the mean of the frames' logits."""
    torch.manual_seed(0)
    cfg = _tiny(
        3, "MODEL.ROI_HEADS.NUM_CLASSES", 2, "MODEL.RESNETS.TEMPORAL_KERNELS", [1, 1, 3, 3, 1]
    )
    model = build_model(cfg).eval()
    head, predictor = model.roi_heads.box_head, model.roi_heads.box_predictor
    first = head.res5[0]
    assert first.conv1.weight.shape[2] == 1 and first.conv1.stride == (1, 1, 1)
    x = torch.randn(4, head.res5[0].in_channels, 3, 7, 7)
    feats = head(x)
    assert feats.shape == (4, head.output_shape.channels, 3)
    # res5 at stride 1 sees every position of the 7x7 RoI: its mean over H, W is the output.
    assert torch.allclose(feats, head.res5(x).mean(dim=(3, 4)))
    # A change in frame 2's RoI features changes no delta of frames 0 and 1.
    x2 = x.clone()
    x2[:, :, 2] += torch.randn_like(x2[:, :, 2])
    with torch.no_grad():
        s1, d1 = predictor(head(x))
        s2, d2 = predictor(head(x2))
    d1, d2 = d1.view(4, 2, 3, 4), d2.view(4, 2, 3, 4)  # R, K, T, 4
    assert torch.equal(d1[:, :, :2], d2[:, :, :2]) and not torch.allclose(d1[:, :, 2], d2[:, :, 2])
    # The per-frame layer is the 2D one; class logits are the frames' mean.
    with torch.no_grad():
        f = head(x)
        per_frame = predictor.bbox_pred(f.transpose(1, 2))  # R, T, K * 4
        assert torch.allclose(d1.permute(0, 2, 1, 3).reshape(4, 3, 8), per_frame, atol=1e-6)
        assert torch.allclose(s1, predictor.cls_score(f.transpose(1, 2)).mean(dim=1), atol=1e-6)
    assert predictor.bbox_pred.weight.shape == (2 * 4, head.output_shape.channels)


def test_keypoint_inference_keeps_heatmap_logits():
    """Item 1c: the heatmap peak logit is kept beside Detectron2's probability, at the same
    location; Detectron2's own (x, y, probability) are unchanged."""
    from detectron2.modeling.roi_heads.keypoint_head import keypoint_rcnn_inference
    from detectron2.structures import heatmaps_to_keypoints

    from detectron2_tubes.modeling import keypoint_inference_with_logits

    torch.manual_seed(0)
    heatmaps = torch.randn(5, 17, 56, 56) * 3
    boxes = torch.tensor(
        [[10.0, 10, 60, 120], [0, 0, 30, 30], [5, 5, 100, 50], [1, 2, 3, 4], [20, 30, 80, 90]]
    )
    ours, ref = [Instances((200, 200)), Instances((200, 200))], [
        Instances((200, 200)),
        Instances((200, 200)),
    ]
    for group in (ours, ref):
        group[0].pred_boxes, group[1].pred_boxes = Boxes(boxes[:2]), Boxes(boxes[2:])
    keypoint_inference_with_logits(heatmaps, ours)
    keypoint_rcnn_inference(heatmaps, ref)
    full = heatmaps_to_keypoints(heatmaps, boxes)
    for o, r, rows in zip(ours, ref, (slice(0, 2), slice(2, 5))):
        assert torch.equal(o.pred_keypoints, r.pred_keypoints)
        assert torch.equal(o.pred_keypoint_logits, full[rows, :, 2])
    # Logits are heatmap values, not probabilities: well above 1 for these peaks.
    assert (ours[0].pred_keypoint_logits > 1.95).any() and (
        ours[0].pred_keypoints[..., 2] < 1
    ).all()


def test_tube_model_outputs_keypoint_logits_per_frame():
    torch.manual_seed(0)
    model = build_model(_tiny(3)).eval()
    _randomise_scores(model)
    with torch.no_grad():
        (out,) = model([{"image": _clip(3)["image"], "height": 96, "width": 128}])
    inst = out["instances"]
    assert len(inst) > 0 and inst.pred_keypoint_logits.shape == (len(inst), 3, 17)
    for t, f in enumerate(out["frames"]):
        assert torch.equal(f.pred_keypoint_logits, inst.pred_keypoint_logits[:, t])


def test_frame_group_norm_is_the_2d_group_norm_per_frame():
    from detectron2_tubes.layers import FrameGroupNorm, get_norm3d

    torch.manual_seed(0)
    norm = get_norm3d("GN", 64)
    assert isinstance(norm, FrameGroupNorm)
    norm.weight.data.uniform_(0.5, 2)
    norm.bias.data.normal_()
    ref = torch.nn.GroupNorm(32, 64)
    ref.load_state_dict(norm.state_dict())
    x = torch.randn(2, 64, 3, 5, 6) * torch.tensor([1.0, 5.0, 20.0]).view(1, 1, 3, 1, 1)
    y = norm(x)
    for t in range(3):
        assert torch.allclose(y[:, :, t], ref(x[:, :, t]), atol=1e-5)


def test_keypoint_head_can_pool_from_a_finer_level():
    """MODEL.ROI_KEYPOINT_HEAD.IN_FEATURES: keypoints from res3 (stride 8), boxes from res4."""
    cfg = _tiny(
        3,
        "MODEL.RESNETS.OUT_FEATURES",
        ["res3", "res4"],
        "MODEL.ROI_KEYPOINT_HEAD.IN_FEATURES",
        ["res3"],
    )
    model = build_model(cfg)
    heads = model.roi_heads
    assert heads.keypoint_in_features == ["res3"] and heads.box_in_features == ["res4"]
    assert heads.keypoint_pooler.level_poolers[0].spatial_scale == 1 / 8
    assert (
        heads.keypoint_head.conv_fcn1.in_channels == model.backbone.output_shape()["res3"].channels
    )
    with EventStorage():
        losses = model([_clip(3)])
    assert torch.isfinite(losses["loss_keypoint"]) and losses["loss_keypoint"] > 0
