"""Loading a file never runs code: checkpoints, tracker weights and saved predictions are read as
data, and a file that would run code is refused in one line before anything in it runs."""

import collections
import importlib.util
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from detectron2_tubes import InflatingCheckpointer, add_tubes_config
from detectron2_tubes.checkpoint import CheckpointError, SafeDetectionCheckpointer
from detectron2_tubes.evaluation import load_raw_predictions, save_raw_predictions
from detectron2_tubes.tracking import load_box_lstm
from detectron2_tubes.utils.safe_load import (
    UnreadableFileError,
    UnsafeFileError,
    load_pickle,
    torch_load,
)
from posetrack_core.tracking import Detections

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
QUICK_T1 = os.path.join(ROOT, "configs", "quick_schedules", "tube_rcnn_R18_T1_synth.yaml")


class _CreatesFile:
    """Unpickling this calls os.system, which creates ``path`` (what a hostile file would do)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch '{self.path}'",))


@pytest.fixture
def hostile(tmp_path):
    """(marker, write): ``write(name)`` saves a checkpoint-shaped file whose loading would
    create ``marker``; .pth files by torch.save, anything else by pickle."""
    marker = tmp_path / "code_ran"

    def write(name):
        path = str(tmp_path / name)
        payload = {"model": {"backbone.stem.conv1.weight": _CreatesFile(str(marker))}}
        if name.endswith(".pth"):
            torch.save(payload, path)
        else:
            payload["__author__"] = "someone on the web"
            with open(path, "wb") as f:
                pickle.dump(payload, f)
        return path

    return marker, write


def _one_line_refusal(text, path):
    lines = [line for line in text.strip().splitlines() if line]
    assert len(lines) == 1, text
    assert path in lines[0] and "refused to load" in lines[0] and "system" in lines[0], lines[0]
    assert "Traceback" not in text


def test_the_hostile_file_really_runs_code_under_plain_pickle(hostile):
    """The payload is real: plain pickle.load (what Detectron2 uses for .pkl) runs it."""
    marker, write = hostile
    path = write("evil.pkl")
    with open(path, "rb") as f:
        pickle.load(f)
    assert marker.exists()


@pytest.mark.parametrize("name", ["evil.pkl", "evil.pth", "evil.pyth"])
def test_checkpointers_refuse_a_file_that_would_run_code(hostile, name):
    marker, write = hostile
    path = write(name)
    model = build_model(_cfg())
    for checkpointer in (InflatingCheckpointer(model), SafeDetectionCheckpointer(model)):
        with pytest.raises(CheckpointError) as err:
            checkpointer.load(path)
        _one_line_refusal(str(err.value), path)
    assert not marker.exists()


def test_loaders_refuse_a_file_that_would_run_code(hostile):
    marker, write = hostile
    pkl, pth = write("evil.pkl"), write("evil.pth")
    with pytest.raises(UnsafeFileError, match="refused to load: it would call posix.system"):
        load_pickle(pkl)
    with pytest.raises(UnsafeFileError, match="refused to load: it would call posix.system"):
        torch_load(pth)
    with pytest.raises(UnsafeFileError):  # the learned tracking cost's weights
        load_box_lstm(pth)
    with pytest.raises(UnsafeFileError):  # an older version's saved raw predictions
        load_raw_predictions(pkl)
    from detectron2_tubes.tracking.features import CropFeatureExtractor

    with pytest.raises(UnsafeFileError):  # the CNN tracking cost's ResNet-18
        CropFeatureExtractor(weights=pth)
    assert not marker.exists()


def test_commands_refuse_a_file_that_would_run_code(hostile, tmp_path, capsys):
    """In-process commands: sweep_thresholds --raw, link --lstm-weights: exit 2, one line."""
    from tubes_cli.link import main as link_main
    from tubes_cli.sweep_thresholds import main as sweep_main

    marker, write = hostile
    pkl, pth = write("evil.pkl"), write("evil.pth")
    assert sweep_main(["--raw", pkl, "--dataset", "posetrack_synth_val"]) == 2
    _one_line_refusal(capsys.readouterr().err, pkl)

    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.json").write_text('{"images": [], "annotations": []}')
    code = link_main(
        [
            "--input",
            str(tmp_path / "videos"),
            "--output",
            str(tmp_path / "out"),
            "TRACKING.LSTM_WEIGHTS",
            pth,
        ]
    )
    assert code == 2
    _one_line_refusal(capsys.readouterr().err, pth)
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["track_video", "train_net"])
def test_model_commands_refuse_weights_that_would_run_code(hostile, tmp_path, command):
    """MODEL.WEIGHTS to track_video and train_net.py --eval-only, as a user runs them."""
    import cv2

    marker, write = hostile
    pkl = write("evil.pkl")
    out = tmp_path / "out"
    if command == "track_video":
        frames = tmp_path / "frames"
        frames.mkdir()
        for i in range(3):
            cv2.imwrite(str(frames / f"{i:06d}.jpg"), np.full((64, 80, 3), 90, np.uint8))
        argv = [sys.executable, "-m", "tubes_cli.track_video", "--input", str(frames)]
        argv += ["--output", str(out), "--config-file", QUICK_T1]
    else:
        argv = [sys.executable, os.path.join(ROOT, "train_net.py"), "--eval-only"]
        argv += ["--config-file", QUICK_T1, "OUTPUT_DIR", str(out)]
    proc = subprocess.run(
        argv + ["MODEL.WEIGHTS", pkl], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    _one_line_refusal(last, pkl)
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


def _cfg():
    cfg = add_tubes_config(get_cfg())
    cfg.merge_from_file(QUICK_T1)
    cfg.MODEL.DEVICE = "cpu"
    return cfg


def _assert_same(a, b):
    """Deep equality of unpickled data (numpy arrays compared by dtype and value)."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    else:
        assert a == b


class _Python2Pickler(pickle.Pickler):
    """Writes numpy arrays as Python 2 wrote them, as seen after a latin1 load: the array's
    bytes as a text string (a Python 2 ``str``), which numpy re-encodes as latin1."""

    def reducer_override(self, obj):
        if type(obj) is np.ndarray:
            func, args, state = obj.__reduce__()
            version, shape, dtype, fortran, data = state
            return func, args, (version, shape, dtype, fortran, data.decode("latin1"))
        return NotImplemented


def _release_like_blobs():
    rng = np.random.default_rng(0)
    return {
        "conv1_w": rng.standard_normal((8, 3, 7, 7)).astype(np.float32),
        "res_conv1_bn_s": np.ones(8, np.float32),
        "res2_0_branch2a_w_momentum": np.zeros((8, 8, 1, 1), np.float32),
        "lr": np.float32(0.01),  # numpy scalars: numpy.core.multiarray.scalar
        "iter": np.int64(90000),
    }


@pytest.mark.parametrize("layout", ["release_py2", "release_protocol2", "zoo", "imagenet_msra"])
def test_data_pickles_read_as_plain_pickle_reads_them(tmp_path, layout):
    """The layouts users bring: the release's Detectron ``blobs`` (written by Python 2 with
    protocol 2, read with latin1), Detectron2's model zoo (``model`` + ``__author__``, an
    OrderedDict), MSRA ImageNet (a bare dict); the restricted unpickler gives what pickle gives."""
    path = str(tmp_path / f"{layout}.pkl")
    blobs = _release_like_blobs()
    with open(path, "wb") as f:
        if layout == "release_py2":  # __builtin__/copy_reg names, str array data
            _Python2Pickler(f, protocol=2, fix_imports=True).dump(
                {"blobs": blobs, "cfg": "TRAIN: ...", "done": {1, 2}}
            )
        elif layout == "release_protocol2":  # bytes as _codecs.encode(...), from Python 3
            pickle.dump({"blobs": blobs, "names": frozenset({"a"})}, f, protocol=2)
        elif layout == "zoo":
            model = collections.OrderedDict((k, v) for k, v in blobs.items() if k != "lr")
            pickle.dump({"model": model, "__author__": "Detectron2 Model Zoo"}, f)
        else:
            pickle.dump({k: v for k, v in blobs.items() if k.endswith(("_w", "_s"))}, f)
    with open(path, "rb") as f:
        want = pickle.load(f, encoding="latin1")
    _assert_same(load_pickle(path), want)
    if layout == "release_py2":
        raw = open(path, "rb").read()
        assert b"c__builtin__\nset" in raw  # really written with Python 2's module names


def test_detectron2_imagenet_converter_output_loads(tmp_path):
    """A torchvision ResNet-18 converted by Detectron2's own tools/convert-torchvision-to-d2.py
    (from its wheel) loads into the T = 3 model, every backbone tensor equal (centre slice)."""
    import torchvision

    spec = importlib.util.find_spec("tools")
    script = os.path.join(os.path.dirname(spec.origin), "convert-torchvision-to-d2.py")
    assert os.path.isfile(script), "Detectron2's wheel installs tools/convert-torchvision-to-d2.py"
    net = torchvision.models.resnet18(weights=None)
    torch.save(net.state_dict(), tmp_path / "r18.pth")
    subprocess.run(
        [sys.executable, script, str(tmp_path / "r18.pth"), str(tmp_path / "R-18.pkl")],
        check=True,
        capture_output=True,
    )
    cfg = add_tubes_config(get_cfg())
    cfg.merge_from_file(os.path.join(ROOT, "configs", "tube_rcnn_R18_T3.yaml"))
    cfg.merge_from_list(
        [
            "MODEL.DEVICE",
            "cpu",
            "INPUT.FORMAT",
            "RGB",
            "MODEL.PIXEL_MEAN",
            [123.675, 116.28, 103.53],
        ]
        + ["MODEL.PIXEL_STD", [58.395, 57.12, 57.375]]
    )
    model = build_model(cfg)
    InflatingCheckpointer(model).load(str(tmp_path / "R-18.pkl"))
    state = model.state_dict()
    conv = state["backbone.res3.0.conv1.weight"]
    assert torch.equal(conv[:, :, conv.shape[2] // 2], net.layer2[0].conv1.weight.detach())
    assert torch.equal(state["backbone.stem.conv1.norm.running_var"], net.bn1.running_var.detach())


@pytest.mark.parametrize("content", [b"", b"\x80\x04\x95", b"not a checkpoint at all"])
@pytest.mark.parametrize("name", ["w.pkl", "w.pth"])
def test_empty_truncated_or_corrupt_files_are_one_line_errors(tmp_path, content, name):
    path = str(tmp_path / name)
    with open(path, "wb") as f:
        f.write(content)
    with pytest.raises(CheckpointError) as err:
        InflatingCheckpointer(build_model(_cfg())).load(path)
    msg = str(err.value)
    assert msg.startswith(path + ": not a readable") and "\n" not in msg
    with pytest.raises(CheckpointError, match="no such file"):
        InflatingCheckpointer(build_model(_cfg())).load(str(tmp_path / "missing.pth"))


def test_a_trained_checkpoint_with_optimizer_and_scheduler_reads_weights_only(tmp_path):
    """The project's own checkpoints (Detectron2's trainer: model, optimizer, scheduler,
    iteration) are read by torch.load(weights_only=True) without loss."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.solver import build_lr_scheduler

    cfg = _cfg()
    model = build_model(cfg)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = build_lr_scheduler(cfg, opt)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    sched.step()
    DetectionCheckpointer(model, str(tmp_path), optimizer=opt, scheduler=sched).save(
        "model_final", iteration=7
    )
    loaded = torch_load(str(tmp_path / "model_final.pth"))
    assert loaded["iteration"] == 7 and set(loaded) >= {"model", "optimizer", "scheduler"}
    other = build_model(cfg)
    opt2 = torch.optim.SGD(other.parameters(), lr=0.1, momentum=0.9)
    extra = SafeDetectionCheckpointer(other, optimizer=opt2).load(str(tmp_path / "model_final.pth"))
    assert extra["iteration"] == 7
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), k
    assert opt2.state_dict()["state"][0]["momentum_buffer"].abs().sum() > 0


def _frame_dict(boxes, scores, keypoints, logits, size, vid, fid):
    return {"video_id": vid, "frame_id": fid, "boxes": boxes, "scores": scores,
            "keypoints": keypoints, "keypoint_logits": logits, "image_size": size}  # fmt: skip


def _assert_same_detections(a, b):
    assert set(a) == set(b)
    for vid in a:
        assert set(a[vid]) == set(b[vid])
        for fid in a[vid]:
            x, y = a[vid][fid], b[vid][fid]
            assert isinstance(x, Detections) and isinstance(y, Detections)
            assert x.image_size == y.image_size
            for name in ("boxes", "scores", "keypoints", "keypoint_logits"):
                u, v = getattr(x, name), getattr(y, name)
                assert (u is None) == (v is None), name
                if u is not None:
                    assert u.shape == v.shape and np.array_equal(u, v), name


def test_raw_predictions_round_trip_and_old_pickles(tmp_path):
    rng = np.random.default_rng(1)
    frames = [  # (video, frame, boxes, scores, keypoints, keypoint logits, image size)
        ("000001_mpii", 0, rng.random((2, 4), dtype=np.float32), rng.random(2, dtype=np.float32),
         rng.random((2, 17, 3), dtype=np.float32), rng.random((2, 17, 4, 4), dtype=np.float32),
         (240, 320)),
        ("000001_mpii", 4, np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
         np.zeros((0, 17, 3), np.float32), None, (240, 320)),
        (7, 3, np.ones((1, 4), np.float32), np.ones(1, np.float32),
         np.ones((1, 17, 3), np.float32), None, None),
    ]  # fmt: skip
    raw, old_dicts = {}, {}
    for vid, fid, boxes, scores, kps, logits, size in frames:
        raw.setdefault(vid, {})[fid] = Detections(
            boxes, scores, kps, image_size=size, keypoint_logits=logits
        )
        old_dicts.setdefault(vid, {})[fid] = _frame_dict(boxes, scores, kps, logits, size, vid, fid)
    path = str(tmp_path / "posetrack_raw_predictions.npz")
    save_raw_predictions(raw, path)
    _assert_same_detections(load_raw_predictions(path), raw)
    assert os.listdir(tmp_path) == ["posetrack_raw_predictions.npz"]  # no temp file left
    # An older version's pickle of per-frame dicts reads as the same detections.
    old = str(tmp_path / "posetrack_raw_predictions.pkl")
    with open(old, "wb") as f:
        pickle.dump(old_dicts, f)
    _assert_same_detections(load_raw_predictions(old), raw)
    # An .npz holding a pickled object array cannot be read as data: refused, not unpickled.
    bad = str(tmp_path / "objects.npz")
    np.savez(bad, index=np.array([_CreatesFile(str(tmp_path / "ran"))], dtype=object))
    with pytest.raises(UnreadableFileError, match="regenerate it with train_net.py --eval-only"):
        load_raw_predictions(bad)
    assert not (tmp_path / "ran").exists()
