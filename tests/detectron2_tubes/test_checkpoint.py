"""The InflatingCheckpointer on what users have: stock Detectron2 keypoint R-CNNs (FPN, .pth and
.pkl), Detectron (Caffe2) .pkl files with their own names, ImageNet ResNets from torchvision and
MSRA, each with the input convention it was trained on."""

import logging
import os
import pickle

import numpy as np
import pytest
import torch

import detectron2_tubes  # noqa: F401, I001  (first: it lets Detectron2's model zoo import, utils/compat.py)
from detectron2 import model_zoo  # noqa: I001
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from inflation_checks import assert_inflated_from
from model_configs import detectron2_r18_state, randomise_scores, tiny_cfg, tube_cfg

from detectron2_tubes import InflatingCheckpointer, add_tubes_config
from detectron2_tubes.checkpoint import CheckpointError, convert_torchvision_resnet, inflate_weight

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
TORCHVISION_INPUT = [
    "INPUT.FORMAT",
    "RGB",
    "MODEL.PIXEL_MEAN",
    [123.675, 116.28, 103.53],
    "MODEL.PIXEL_STD",
    [58.395, 57.12, 57.375],
    "MODEL.RESNETS.STRIDE_IN_1X1",
    False,
]


def _tube_cfg(name, *opts):
    cfg = add_tubes_config(get_cfg())
    cfg.merge_from_file(os.path.join(CONFIGS, name))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    return cfg


def _randomise(model, seed):
    """Every float tensor random (frozen-BN statistics included), so equality is meaningful."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + (0.5 if "running_var" in name else -0.5))
    return model


@pytest.fixture(scope="module")
def stock_r18_fpn():
    """A stock Detectron2 COCO keypoint R-CNN R-18-FPN (the release's initialisation), random."""
    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file("COCO-Keypoints/keypoint_rcnn_R_50_FPN_1x.yaml"))
    cfg.merge_from_list(
        ["MODEL.DEVICE", "cpu", "MODEL.RESNETS.DEPTH", 18, "MODEL.RESNETS.RES2_OUT_CHANNELS", 64]
    )
    model = _randomise(build_model(cfg), 0)
    return model, {k: v.clone() for k, v in model.state_dict().items()}


# Checkpoint name -> Tube R-CNN name, for the parts that must load (the FPN bottom-up into the
# backbone, its res5 into the C4 box head, the keypoint head and the RPN conv).
def _expected_source(model_key):
    if model_key.startswith("backbone."):
        return "backbone.bottom_up." + model_key[len("backbone.") :]
    if model_key.startswith("roi_heads.box_head.res5."):
        return "backbone.bottom_up." + model_key[len("roi_heads.box_head.") :]
    if model_key.startswith(("roi_heads.keypoint_head.", "proposal_generator.rpn_head.conv.")):
        return model_key
    return None


def _assert_loaded(tube_state, source, name_of=lambda k: k):
    checked = 0
    for key, value in tube_state.items():
        src = _expected_source(key)
        if src is None:
            continue
        want = source[name_of(src)]
        assert_inflated_from(value, torch.as_tensor(want), key)
        checked += 1
    return checked


def _summary(caplog):
    lines = [r.getMessage() for r in caplog.records if "[InflatingCheckpointer]" in r.getMessage()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("fmt", ["pth", "pkl"])
@pytest.mark.parametrize("config", ["tube_rcnn_R18_T3.yaml", "tube_rcnn_R18_T1.yaml"])
def test_stock_detectron2_r18_fpn_keypoint_rcnn_loads(stock_r18_fpn, tmp_path, caplog, fmt, config):
    model2d, state = stock_r18_fpn
    if fmt == "pth":
        DetectionCheckpointer(model2d, str(tmp_path)).save("model_final")
        path = str(tmp_path / "model_final.pth")
    else:  # Detectron2's model-zoo .pkl: numpy arrays and an author
        path = str(tmp_path / "model_final.pkl")
        with open(path, "wb") as f:
            blobs = {k: v.numpy() for k, v in state.items()}
            pickle.dump({"model": blobs, "__author__": "Detectron2 Model Zoo"}, f)
    tube = build_model(_tube_cfg(config))
    with caplog.at_level(logging.INFO):
        InflatingCheckpointer(tube).load(path)
    tube_state = tube.state_dict()
    n = _assert_loaded(tube_state, state)
    # stem, res2-res4, res5 (box head), 8 keypoint convs and the deconvolution, the RPN conv
    assert n == sum(1 for k in tube_state if _expected_source(k) is not None) > 100
    summary = _summary(caplog)
    # Left at initialisation: the RPN's 12-anchor outputs (FPN has 3 per level) and the box
    # predictor (res5's 512 features, not the FPN head's 1024): 6 tensors.
    assert " 6 left at their initialisation " in summary, summary
    assert "proposal_generator.rpn_head.objectness_logits.weight (3, 256, 1, 1) vs" in summary
    inflated = 0 if config.endswith("T1.yaml") else n
    assert f"inflated to 3D (center)" in summary
    if inflated:
        assert torch.equal(
            tube_state["backbone.res3.0.conv1.weight"][:, :, 1],
            state["backbone.bottom_up.res3.0.conv1.weight"],
        )


def _to_caffe2_names(state):
    """A stock Detectron2 keypoint R-CNN FPN under Detectron's (Caffe2) blob names, as the
    release's e2e_keypoint_rcnn_R-18-FPN .pkl stores it (AffineChannel norms: scale and bias)."""
    blobs = {}
    for key, value in state.items():
        v = value.numpy()
        if key.endswith(("running_mean", "running_var")):
            continue
        k = key.replace("backbone.bottom_up.", "")
        k = k.replace("stem.conv1.norm.", "res_conv1_bn_").replace("stem.conv1.", "conv1_")
        k = k.replace(".conv1.norm.", "_branch2a_bn_").replace(".conv2.norm.", "_branch2b_bn_")
        k = k.replace(".shortcut.norm.", "_branch1_bn_").replace(".conv1.", "_branch2a_")
        k = k.replace(".conv2.", "_branch2b_").replace(".shortcut.", "_branch1_")
        k = k.replace("proposal_generator.rpn_head.conv.", "conv_rpn_fpn2_")
        k = k.replace("proposal_generator.rpn_head.objectness_logits.", "rpn_cls_logits_fpn2_")
        k = k.replace("proposal_generator.rpn_head.anchor_deltas.", "rpn_bbox_pred_fpn2_")
        k = k.replace("roi_heads.box_head.fc1.", "fc6_").replace("roi_heads.box_head.fc2.", "fc7_")
        k = k.replace("roi_heads.keypoint_head.score_lowres.", "kps_score_lowres_")
        k = k.replace("roi_heads.keypoint_head.", "").replace("roi_heads.box_predictor.", "")
        if k.startswith("backbone.fpn_lateral"):
            k = f"fpn_inner_res{k[len('backbone.fpn_lateral')]}_1_sum_lateral_" + k.split(".")[-1]
        elif k.startswith("backbone.fpn_output"):
            k = f"fpn_res{k[len('backbone.fpn_output')]}_1_sum_" + k.split(".")[-1]
        k = k.replace("cls_score.", "cls_score_").replace("bbox_pred.", "bbox_pred_")
        k = k.replace(".", "_").replace("_weight", "_w").replace("_bias", "_b")
        k = k.replace("_bn_w", "_bn_s")
        if k.startswith("cls_score"):  # Detectron puts the background class first
            v = np.concatenate([v[-1:], v[:-1]])
        elif k.startswith("bbox_pred"):
            v = np.concatenate([np.zeros_like(v), v])
        blobs[k] = v
    return blobs


def test_caffe2_named_keypoint_rcnn_pkl_loads(stock_r18_fpn, tmp_path, caplog):
    _, state = stock_r18_fpn
    blobs = _to_caffe2_names(state)
    assert {"conv1_w", "res_conv1_bn_s", "res2_0_branch2a_w", "res3_0_branch1_bn_b"} <= set(blobs)
    assert {"conv_fcn8_w", "kps_score_lowres_w", "conv_rpn_fpn2_w", "fc6_w"} <= set(blobs)
    path = str(tmp_path / "e2e_keypoint_rcnn_R-18-FPN_1x_trainedCOCO.pkl")
    with open(path, "wb") as f:
        pickle.dump({"blobs": blobs}, f)
    tube = build_model(_tube_cfg("tube_rcnn_R18_T3.yaml"))
    with caplog.at_level(logging.INFO):
        InflatingCheckpointer(tube).load(path)
    tube_state = tube.state_dict()

    def c2_name(src):
        return _to_caffe2_names({src: state[src]}).popitem()[0]

    checked = 0
    for key, value in tube_state.items():
        src = _expected_source(key)
        if src is None or src.endswith(("running_mean", "running_var")):
            continue
        want = torch.as_tensor(blobs[c2_name(src)])
        got = value[:, :, value.shape[2] // 2] if value.dim() == 5 and want.dim() == 4 else value
        assert torch.equal(got, want), key
        checked += 1
    assert checked > 70  # conv weights and biases, affine norms (statistics: none in Caffe2)
    # AffineChannel has no statistics: the frozen norms use mean 0 and variance 1.
    assert not tube_state["backbone.res2.0.conv1.norm.running_mean"].any()
    assert " 6 left at their initialisation " in _summary(caplog)


def test_checkpoint_without_backbone_is_a_one_line_error(tmp_path):
    path = str(tmp_path / "not_a_detector.pth")
    torch.save({"model": {"classifier.weight": torch.zeros(3, 4)}}, path)
    tube = build_model(_tube_cfg("tube_rcnn_R18_T1.yaml"))
    with pytest.raises(CheckpointError) as err:
        InflatingCheckpointer(tube).load(path)
    msg = str(err.value)
    assert msg.startswith(path + ": no backbone weight") and "\n" not in msg
    assert "classifier.weight" in msg
    # The demo's half-width R-18 into the paper's R-18: the names match, no backbone shape does.
    quick = build_model(_tube_cfg("quick_schedules/tube_rcnn_R18_T1_synth.yaml"))
    torch.save({"model": quick.state_dict()}, path)
    with pytest.raises(CheckpointError, match="no backbone weight"):
        InflatingCheckpointer(tube).load(path)


@pytest.mark.parametrize("depth", [18, 50])
def test_torchvision_resnet_gives_torchvision_res4_features(tmp_path, depth):
    """Loaded with torchvision's input convention, the T = 1 model's res4 is torchvision's
    layer3 on the same image (the stride in the 3x3 conv matters for R-50)."""
    import torchvision

    net = getattr(torchvision.models, f"resnet{depth}")(weights=None).eval()
    _randomise(net, depth)
    with torch.no_grad():  # keep activations in a sane range through the random blocks
        for name, t in net.state_dict().items():
            if name.endswith("running_var"):
                t.mul_(4.0)
    path = str(tmp_path / f"resnet{depth}.pth")
    torch.save(net.state_dict(), path)
    cfg = _tube_cfg(f"tube_rcnn_R{depth}_T1.yaml", *TORCHVISION_INPUT)
    model = build_model(cfg).eval()
    InflatingCheckpointer(model).load(path)

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (3, 96, 128), dtype=np.uint8)
    with torch.no_grad():
        x = torch.as_tensor(rgb).float() / 255 - torch.tensor([0.485, 0.456, 0.406])[:, None, None]
        x = x / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
        t = net.layer3(net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x[None])))))))
        images = model.preprocess_image([{"image": torch.as_tensor(rgb)[:, None]}])
        ours = model.backbone(images.tensor)["res4"][:, :, 0]
    assert ours.shape == t.shape
    assert torch.allclose(ours, t, rtol=1e-4, atol=1e-4 * t.abs().max().item())


def test_imagenet_weights_refused_with_another_input_convention(tmp_path):
    import torchvision

    path = str(tmp_path / "resnet50.pth")
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)
    # The paper config reads BGR with Detectron2's mean, std 1, stride in the 1x1 conv.
    model = build_model(_tube_cfg("tube_rcnn_R50_T1.yaml"))
    with pytest.raises(CheckpointError) as err:
        InflatingCheckpointer(model).load(path)
    msg = str(err.value)
    assert "torchvision weights, trained on RGB input" in msg and "\n" not in msg
    for key in ("INPUT.FORMAT RGB", "MODEL.PIXEL_MEAN", "MODEL.PIXEL_STD", "STRIDE_IN_1X1 False"):
        assert key in msg
    # Only the stride placement wrong: named alone.
    model = build_model(_tube_cfg("tube_rcnn_R50_T1.yaml", *TORCHVISION_INPUT[:-2]))
    with pytest.raises(CheckpointError, match=r"set MODEL.RESNETS.STRIDE_IN_1X1 False$"):
        InflatingCheckpointer(model).load(path)

    # MSRA/Caffe2 ImageNet weights (Detectron2's R-50.pkl layout) fit the paper config as it is,
    # and are refused by a model that normalises like torchvision.
    r18 = build_model(_tube_cfg("tube_rcnn_R18_T1.yaml"))
    blobs = {"conv1_w": r18.state_dict()["backbone.stem.conv1.weight"][:, :, 0].numpy()}
    blobs["res_conv1_bn_s"] = np.ones(64, np.float32)
    blobs["res2_0_branch2a_w"] = r18.state_dict()["backbone.res2.0.conv1.weight"][:, :, 0].numpy()
    blobs["fc1000_w"] = np.zeros((1000, 512), np.float32)
    msra = str(tmp_path / "R-18.pkl")
    with open(msra, "wb") as f:
        pickle.dump(blobs, f)
    InflatingCheckpointer(build_model(_tube_cfg("tube_rcnn_R18_T3.yaml"))).load(msra)
    torchvision_like = build_model(_tube_cfg("tube_rcnn_R18_T1.yaml", *TORCHVISION_INPUT))
    with pytest.raises(CheckpointError, match="Caffe2/MSRA weights, trained on BGR input"):
        InflatingCheckpointer(torchvision_like).load(msra)


def test_checkpoint_beside_its_config_yaml_must_match_its_input(tmp_path):
    """Detectron2's trainers write config.yaml beside their checkpoints: a model that reads its
    pixels differently is refused (here: the 2D model trained on RGB, the 3D one reading BGR)."""
    cfg2d = _tube_cfg("quick_schedules/tube_rcnn_R18_T1_synth.yaml")
    path = str(tmp_path / "model_final.pth")
    torch.save({"model": build_model(cfg2d).state_dict()}, path)
    (tmp_path / "config.yaml").write_text(cfg2d.dump())
    model3d = build_model(_tube_cfg("quick_schedules/tube_rcnn_R18_T3_synth.yaml"))
    InflatingCheckpointer(model3d).load(path)  # the same input: loads
    cfg2d.INPUT.FORMAT = "RGB"
    (tmp_path / "config.yaml").write_text(cfg2d.dump())
    with pytest.raises(CheckpointError) as err:
        InflatingCheckpointer(model3d).load(path)
    msg = str(err.value)
    assert "says the config.yaml beside it" in msg and msg.endswith("set INPUT.FORMAT RGB (is BGR)")


def test_stock_detectron2_c4_checkpoint_loads(tmp_path):
    """A Detectron2 C4 detector (R-50, res5 in Res5ROIHeads) into the R-50 Tube R-CNN: backbone
    as it is (centre slices), its res5 into the box head."""
    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file("COCO-Detection/faster_rcnn_R_50_C4_1x.yaml"))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.ROI_HEADS.NUM_CLASSES", 1])
    c4 = _randomise(build_model(cfg), 5)
    state = {k: v.clone() for k, v in c4.state_dict().items()}
    assert "roi_heads.res5.0.conv1.weight" in state
    DetectionCheckpointer(c4, str(tmp_path)).save("c4")
    tube = build_model(_tube_cfg("tube_rcnn_R50_T3.yaml"))
    InflatingCheckpointer(tube).load(str(tmp_path / "c4.pth"))
    checked = 0
    for key, value in tube.state_dict().items():
        if key.startswith("backbone."):
            src = key
        elif key.startswith("roi_heads.box_head.res5."):
            src = "roi_heads." + key[len("roi_heads.box_head.") :]
        else:
            continue
        want = state[src]
        got = value[:, :, value.shape[2] // 2] if value.dim() == 5 and want.dim() == 4 else value
        assert torch.equal(got, want), key
        checked += 1
    assert checked > 250
    # The 2-class predictor on res5's 2048 features: the same shapes, loaded as they are.
    assert torch.equal(
        tube.state_dict()["roi_heads.box_predictor.cls_score.weight"],
        state["roi_heads.box_predictor.cls_score.weight"],
    )


def test_inflate_weight_modes():
    w = torch.arange(24.0).view(2, 3, 2, 2)
    c = inflate_weight(w, 3, "center")
    assert c.shape == (2, 3, 3, 2, 2)
    assert torch.equal(c[:, :, 1], w) and not c[:, :, 0].any() and not c[:, :, 2].any()
    m = inflate_weight(w, 3, "mean")
    assert torch.allclose(m.sum(dim=2), w) and torch.allclose(m[:, :, 0], w / 3)
    with pytest.raises(ValueError, match="Unknown inflation"):
        inflate_weight(w, 3, "spread")


def test_center_inflation_of_t1_model_gives_t1_outputs_on_identical_frames(tmp_path):
    """Acceptance: a random tube_rcnn_R18_T1 checkpoint loaded with centre inflation into the
    T = 3 model gives, on 3 identical frames, for every frame, the T = 1 model's outputs."""
    torch.manual_seed(0)
    few = ["MODEL.RESNETS.NORM", "GN", "TEST.DETECTIONS_PER_IMAGE", 25]  # heads on 25 people
    cfg1 = tube_cfg(os.path.join(CONFIGS, "tube_rcnn_R18_T1.yaml"), *few)
    cfg3 = tube_cfg(os.path.join(CONFIGS, "tube_rcnn_R18_T3.yaml"), *few)
    m1 = build_model(cfg1).eval()
    randomise_scores(m1)
    path = str(tmp_path / "r18_t1.pth")
    torch.save({"model": m1.state_dict()}, path)
    m3 = build_model(cfg3).eval()
    InflatingCheckpointer(m3, inflation="center").load(path)
    conv = m3.backbone.res3[0].conv1.weight
    assert conv.shape[2] == 3 and not conv[:, :, 0].any() and not conv[:, :, 2].any()
    # Each frame's box comes from the 2D regression layer, loaded as is.
    assert torch.equal(
        m3.roi_heads.box_predictor.bbox_pred.weight, m1.roi_heads.box_predictor.bbox_pred.weight
    )

    rng = np.random.default_rng(0)
    frame = torch.as_tensor(rng.integers(0, 255, (3, 192, 256), dtype=np.uint8))
    with torch.no_grad():
        (o1,) = m1([{"image": frame[:, None], "height": 192, "width": 256}])
        (o3,) = m3([{"image": frame[:, None].repeat(1, 3, 1, 1), "height": 192, "width": 256}])
    ref = o1["frames"][0]
    assert len(ref) > 10  # random weights still give plenty of detections to compare
    for f in o3["frames"]:
        assert len(f) == len(ref)
        assert torch.allclose(f.pred_boxes.tensor, ref.pred_boxes.tensor, atol=1e-4)
        assert torch.allclose(f.scores, ref.scores, atol=1e-4)
        assert torch.allclose(f.pred_keypoints, ref.pred_keypoints, atol=1e-4)


def test_detectron2_format_r18_checkpoint_loads_and_inflates(tmp_path):
    """A Detectron2-format ImageNet-style R-18 (.pkl, Detectron2 names, numpy arrays) loads into
    the T = 1 model as is and into the T = 3 model inflated, res5 going to the box head."""
    state = detectron2_r18_state()
    path = str(tmp_path / "R-18.pkl")
    with open(path, "wb") as f:
        pickle.dump(
            {
                "model": {k: v.numpy() for k, v in state.items()},
                "__author__": "test",
                "matching_heuristics": True,
            },
            f,
        )
    for cfg_name in (
        "tube_rcnn_R18_T1.yaml",
        "tube_rcnn_R18_T3.yaml",
        "tube_rcnn_R18_T3_3x7x7.yaml",
    ):
        cfg = tube_cfg(os.path.join(CONFIGS, cfg_name))
        extent = dict(
            zip(("stem", "res2", "res3", "res4", "res5"), cfg.MODEL.RESNETS.TEMPORAL_KERNELS)
        )
        model = build_model(cfg)
        for mode in ("center", "mean"):
            InflatingCheckpointer(model, inflation=mode).load(path)
            # model key -> (checkpoint key, temporal extent: 1x1 shortcuts stay 1x1x1)
            pairs = {
                "backbone.stem.conv1.weight": ("stem.conv1.weight", extent["stem"]),
                "backbone.res2.1.conv2.weight": ("res2.1.conv2.weight", extent["res2"]),
                "backbone.res3.1.conv2.weight": ("res3.1.conv2.weight", extent["res3"]),
                "backbone.res4.0.shortcut.weight": ("res4.0.shortcut.weight", 1),
                "roi_heads.box_head.res5.0.conv1.weight": ("res5.0.conv1.weight", extent["res5"]),
            }
            sd = model.state_dict()
            for mk, (ck, t) in pairs.items():
                w = sd[mk]
                assert w.shape[2] == t
                if mode == "center" or w.shape[2] == 1:
                    assert torch.equal(w[:, :, w.shape[2] // 2], state[ck])
                else:
                    assert torch.allclose(w.sum(dim=2), state[ck], atol=1e-6)
            assert torch.equal(
                sd["backbone.res3.0.conv1.norm.running_var"], state["res3.0.conv1.norm.running_var"]
            )


def test_torchvision_resnet_state_dict_loads(tmp_path):
    import torchvision

    torch.manual_seed(2)
    tv = torchvision.models.resnet18(weights=None).state_dict()
    renamed = convert_torchvision_resnet(tv)
    assert "stem.conv1.norm.running_mean" in renamed and "res3.0.shortcut.norm.weight" in renamed
    assert not any(k.startswith("fc.") for k in renamed)
    path = str(tmp_path / "resnet18.pth")
    torch.save(tv, path)
    # With the input torchvision's nets were trained on (above: refused otherwise)
    rgb = ["INPUT.FORMAT", "RGB", "MODEL.PIXEL_MEAN", [123.675, 116.28, 103.53]]
    rgb += ["MODEL.PIXEL_STD", [58.395, 57.12, 57.375]]
    model = build_model(tube_cfg(os.path.join(CONFIGS, "tube_rcnn_R18_T3.yaml"), *rgb))
    InflatingCheckpointer(model).load(path)
    sd = model.state_dict()
    # The release's layout: 1x7x7 stem, 3-tap res3 (centre slice), 2D box-head res5.
    assert torch.equal(sd["backbone.stem.conv1.weight"][:, :, 0], tv["conv1.weight"])
    assert torch.equal(sd["backbone.stem.conv1.norm.weight"], tv["bn1.weight"])
    assert torch.equal(sd["backbone.res3.0.conv1.weight"][:, :, 1], tv["layer2.0.conv1.weight"])
    assert torch.equal(
        sd["backbone.res3.0.shortcut.weight"][:, :, 0], tv["layer2.0.downsample.0.weight"]
    )
    assert torch.equal(
        sd["roi_heads.box_head.res5.1.conv2.weight"][:, :, 0], tv["layer4.1.conv2.weight"]
    )


def test_own_checkpoint_round_trip_is_unchanged(tmp_path):
    torch.manual_seed(3)
    model = build_model(tiny_cfg(3))
    path = str(tmp_path / "m.pth")
    torch.save({"model": model.state_dict()}, path)
    other = build_model(tiny_cfg(3))
    InflatingCheckpointer(other).load(path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, other.state_dict()[k]), k
