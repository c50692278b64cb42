"""Export with Detectron2's tools: TorchScript that runs with torch and torchvision alone, ONNX
with onnxruntime, both equal to the eager model on inputs of other sizes and other numbers of
people; track_video from an export gives the eager model's tracks."""

import glob
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from model_configs import QUICK_T3

from detectron2_tubes.data import register_posetrack
from detectron2_tubes.engine import ClipPredictor, setup_cfg
from detectron2_tubes.experiments.recipe import quick_config, train
from detectron2_tubes.export import ExportedClipPredictor, ExportError, export_model
from tubes_cli.export import main as export_main
from tubes_cli.track_video import main as track_main

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
QUICK_T1 = quick_config("tube_rcnn_R18_T1_synth.yaml")
# Quick width, small inputs, scores spread so that the two test clips keep different numbers.
SMALL = ["INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MIN_SIZE_TEST", "128", "INPUT.MAX_SIZE_TEST",
         "256", "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", "[32,32]", "TEST.DETECTIONS_PER_IMAGE", "12",
         "MODEL.RPN.PRE_NMS_TOPK_TEST", "200", "MODEL.RPN.POST_NMS_TOPK_TEST", "200"]  # fmt: skip


@pytest.fixture(scope="module")
def frames(tiny_synth):
    root, _ = tiny_synth
    folders = sorted(glob.glob(os.path.join(root, "images", "*", "*")))
    return [[cv2.imread(f) for f in sorted(glob.glob(os.path.join(d, "*.jpg")))] for d in folders]


@pytest.fixture(scope="module", params=[1, 3], ids=["T1", "T3"])
def trained(request, tiny_synth, frames, tmp_path_factory):
    """(T, cfg): a quick-width model, seeded, trained 12 iterations on the tiny synthetic set."""
    num_frames = request.param
    root, _ = tiny_synth
    name = "export_test_train"
    if name not in DatasetCatalog.list():
        register_posetrack(name, os.path.join(root, "annotations", "train"), root)
    config = QUICK_T1 if num_frames == 1 else QUICK_T3
    out = str(tmp_path_factory.mktemp(f"trained_t{num_frames}"))
    opts = SMALL + ["DATASETS.TRAIN", f"('{name}',)", "SOLVER.MAX_ITER", "12", "SOLVER.STEPS",
                    "()", "SOLVER.WARMUP_ITERS", "0", "SEED", "0", "DATALOADER.NUM_WORKERS", "0"]  # fmt: skip
    weights = train(config, out, opts)
    cfg = setup_cfg(config, SMALL + ["MODEL.WEIGHTS", weights, "MODEL.ROI_HEADS.SCORE_THRESH_TEST",
                                     "0.0"])  # fmt: skip
    pred = ClipPredictor(cfg)
    scores = [_eager(pred, clip)["scores"] for clip in _clips(pred, frames[0])]
    # a score threshold that keeps some detections of each clip, and not as many of both
    cuts = sorted(np.concatenate(scores), reverse=True)
    counts = [(a, sorted(int((s >= a).sum()) for s in scores)) for a in cuts]
    kept = next(a for a, (low, high) in counts if 0 < low < high)
    thresh = (kept + max([c for c in cuts if c < kept], default=0.0)) / 2
    cfg = setup_cfg(config, SMALL + ["MODEL.WEIGHTS", weights, "MODEL.ROI_HEADS.SCORE_THRESH_TEST",
                                     str(thresh)])  # fmt: skip
    return num_frames, cfg


def _clips(pred, frames):
    """Two clips as the model takes them: another place in the video, another size."""
    t = pred.num_frames
    a = pred.model_input(frames[2 : 2 + t])["image"]
    b = pred.model_input([cv2.resize(f, (300, 220)) for f in frames[6 : 6 + t]])["image"]
    assert a.shape[-2:] != b.shape[-2:]
    return a, b


def _inputs(trained, frames):
    _, cfg = trained
    pred = ClipPredictor(cfg)
    return (pred, *_clips(pred, frames[0]))


def _proposals(pred, clip) -> int:
    model = pred.model
    with torch.no_grad():
        images = model.preprocess_image([{"image": clip}])
        proposals, _ = model.proposal_generator(images, model.backbone(images.tensor), None)
    return len(proposals[0])


def _eager(pred, clip):
    from detectron2_tubes.export import export_outputs

    with torch.no_grad():
        return {k: v.numpy() for k, v in export_outputs(pred.model, [{"image": clip}]).items()}


def _assert_equal(eager, got):
    assert len(got["scores"]) == len(eager["scores"]) > 0
    for key in ("tubes", "keypoints", "scores", "keypoint_logits"):
        np.testing.assert_allclose(got[key], eager[key], atol=2e-3, err_msg=key)
    assert np.array_equal(got["classes"], eager["classes"])


def test_torchscript_runs_without_detectron2_and_equals_eager(trained, frames, tmp_path):
    num_frames, cfg = trained
    pred, a, b = _inputs(trained, frames)
    out = tmp_path / "export"
    result = export_model(cfg, "torchscript", str(out), frames[0][2 : 2 + num_frames])
    assert result["max_diff_px"] < 1e-2
    eager = [_eager(pred, a), _eager(pred, b)]
    # other numbers of people, and of proposals (the counts a trace must not fix)
    assert len(eager[0]["scores"]) != len(eager[1]["scores"])
    assert _proposals(pred, a) != _proposals(pred, b)
    torch.save({"a": a, "b": b}, tmp_path / "inputs.pt")
    code = (
        "import sys, numpy, torch, torchvision\n"
        f"m = torch.jit.load({str(out / 'model.ts')!r})\n"
        f"x = torch.load({str(tmp_path / 'inputs.pt')!r})\n"
        "outs = {k: [t.numpy() for t in m(v)] for k, v in x.items()}\n"
        f"numpy.save({str(tmp_path / 'outs.npy')!r}, outs, allow_pickle=True)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('detectron2', "
        "'detectron2_tubes', 'posetrack_core', 'tubes_cli')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"  # torch and torchvision only
    names = json.loads((out / "export.json").read_text())["outputs"]
    outs = np.load(tmp_path / "outs.npy", allow_pickle=True).item()
    for key, want in zip("ab", eager):
        _assert_equal(want, dict(zip(names, outs[key])))


def test_onnx_with_onnxruntime_equals_eager(trained, frames, tmp_path):
    """Everything in the graph but Detectron2's keypoint decoding (decode_keypoint_heatmaps)."""
    from detectron2_tubes.export import ExportedModel

    num_frames, cfg = trained
    pred, a, b = _inputs(trained, frames)
    export_model(cfg, "onnx", str(tmp_path), frames[0][2 : 2 + num_frames])
    model = ExportedModel(str(tmp_path))
    assert model.spec["outputs"] == ["classes", "keypoint_heatmaps", "scores", "tubes"]
    for clip in (a, b):
        _assert_equal(_eager(pred, clip), model(clip.numpy()))


def test_track_video_from_an_export_gives_the_same_tracks(trained, frames, tmp_path):
    num_frames, cfg = trained
    video = tmp_path / "walk"
    video.mkdir()
    for i, f in enumerate(frames[0][:8]):
        cv2.imwrite(str(video / f"{i:06d}.png"), f)  # lossless: the same pixels for both runs
    export_model(cfg, "torchscript", str(tmp_path / "export"), frames[0][2 : 2 + num_frames])
    config = tmp_path / "config.yaml"
    config.write_text(cfg.dump())
    keep = ["TRACKING.DET_THRESH", "0.0", "TRACKING.MIN_AREA", "0.0"]
    assert track_main(["--config-file", str(config), "--input", str(video), "--output",
                       str(tmp_path / "eager"), "--no-video", *keep]) == 0  # fmt: skip
    assert track_main(["--exported", str(tmp_path / "export"), "--input", str(video),
                       "--output", str(tmp_path / "exported"), "--no-video", *keep]) == 0  # fmt: skip
    want = json.loads((tmp_path / "eager" / "walk.json").read_text())["annotations"]
    got = json.loads((tmp_path / "exported" / "walk.json").read_text())["annotations"]
    assert len(want) == len(got) > 0
    assert [(x["image_id"], x["track_id"]) for x in got] == [
        (x["image_id"], x["track_id"]) for x in want
    ]
    for x, y in zip(got, want):
        np.testing.assert_allclose(x["keypoints"], y["keypoints"], atol=0.02)
        np.testing.assert_allclose(x["bbox"], y["bbox"], atol=0.02)


def test_export_command_and_its_mistakes(trained, frames, tmp_path, capsys):
    num_frames, cfg = trained
    config = tmp_path / "config.yaml"
    config.write_text(cfg.dump())
    sample = tmp_path / "sample"
    sample.mkdir()
    for i, f in enumerate(frames[0][:4]):
        cv2.imwrite(str(sample / f"{i:06d}.png"), f)
    out = tmp_path / "out"
    args = ["--config-file", str(config), "--format", "torchscript", "--output", str(out),
            "--sample", str(sample)]  # fmt: skip
    assert export_main(args) == 0
    printed = capsys.readouterr().out
    assert "equal to the eager model's" in printed and "wrote" in printed
    assert sorted(os.listdir(out)) == ["config.yaml", "export.json", "model.ts"]
    before = (out / "model.ts").read_bytes()
    assert export_main(args) == 2  # exists: kept
    assert "--overwrite" in capsys.readouterr().err and (out / "model.ts").read_bytes() == before
    with pytest.raises(SystemExit) as exit_:
        export_main([*args[:-1], str(tmp_path / "missing")])
    assert exit_.value.code == 2 and "does not exist" in capsys.readouterr().err
    blank = tmp_path / "blank"
    blank.mkdir()
    for i in range(3):
        cv2.imwrite(str(blank / f"{i:06d}.png"), np.zeros((64, 64, 3), np.uint8))
    empty = [*args[:-3], str(tmp_path / "o2"), "--sample", str(blank),
             "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.999"]  # fmt: skip
    assert export_main(empty) == 2
    err = capsys.readouterr().err
    assert "no detections" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o2" / "model.ts").exists()
    with pytest.raises(ExportError, match="not a folder written by the export"):
        ExportedClipPredictor(str(tmp_path))


def test_a_stock_detectron2_keypoint_rcnn_exports(frames, tmp_path):
    """GeneralizedRCNN (FPN, one frame): boxes come out as tubes of one frame."""
    from detectron2.modeling import build_model

    config = quick_config("keypoint_rcnn_R18_FPN_synth.yaml")
    opts = ["INPUT.MIN_SIZE_TEST", "160", "TEST.DETECTIONS_PER_IMAGE", "6"]
    torch.manual_seed(0)
    model = build_model(setup_cfg(config, opts))
    with torch.no_grad():  # spread the random scores so that some pass the threshold
        model.roi_heads.box_predictor.cls_score.weight.normal_(0, 0.05)
    torch.save({"model": model.state_dict()}, tmp_path / "stock.pth")
    cfg = setup_cfg(config, opts + ["MODEL.WEIGHTS", str(tmp_path / "stock.pth")])
    export_model(cfg, "torchscript", str(tmp_path / "export"), frames[0][:1])
    eager, exported = ClipPredictor(cfg), ExportedClipPredictor(str(tmp_path / "export"))
    for clip in ([frames[0][3]], [cv2.resize(frames[-1][7], (280, 200))]):
        want, got = eager(clip)["frames"][0], exported(clip)["frames"][0]
        assert len(got) == len(want) > 0 and got.image_size == want.image_size
        for field in ("pred_boxes", "pred_keypoints", "scores"):
            a, b = got.get(field), want.get(field)
            a, b = getattr(a, "tensor", a), getattr(b, "tensor", b)
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-3, err_msg=field)
