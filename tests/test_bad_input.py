"""Bad input, as a careful user gives it, to every command: each case asserts the exit status,
one line on stderr naming the file, key or value (no traceback), and the file system afterwards
(the user's files intact, nothing partial, no temporary file)."""

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch

ROOT = os.path.join(os.path.dirname(__file__), "..")
QUICK = os.path.join(ROOT, "configs", "quick_schedules")
T3 = os.path.join(QUICK, "tube_rcnn_R18_T3_synth.yaml")
from model_configs import TINY_TEST as TINY  # noqa: E402


def _call(main, argv, capsys):
    """(exit status, stdout, stderr) of an in-process command."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(err, *fragments):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def _tree(path):
    """Every file under ``path`` with its bytes (to show a folder is untouched)."""
    out = {}
    for folder, _, files in os.walk(path):
        for name in files:
            full = os.path.join(folder, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, path)] = f.read()
    return out


def _no_temp_files(path):
    hidden = [f for _, _, files in os.walk(path) for f in files if f.startswith(".")]
    partial = [d for _, dirs, _ in os.walk(path) for d in dirs if d.startswith(".synthetic")]
    assert not hidden and not partial, (hidden, partial)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video") / "clip"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i:06d}.jpg"), np.full((72, 96, 3), 40 * i, np.uint8))
    return str(folder)


def _track(frames, out, *extra, weights=None):
    argv = ["--config-file", T3, "--input", frames, "--output", str(out), "--no-video"]
    return argv + list(extra) + TINY + (["MODEL.WEIGHTS", weights] if weights else [])


# ---------------------------------------------------------------- config mistakes


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (
            ["SOLVER.MAX_ITR", "3"],
            ["unknown config key SOLVER.MAX_ITR", "did you mean SOLVER.MAX_ITER"],
        ),
        (
            ["SOLVER.MAX_ITER", "abc"],
            ["SOLVER.MAX_ITER takes an int (its default is 300), not 'abc'"],
        ),
        (["SOLVER.MAX_ITER"], ["KEY VALUE pairs", "SOLVER.MAX_ITER has no value"]),
        (["TRACKING.DET_THRESH", "nan"], ["TRACKING.DET_THRESH takes a float", "not 'nan'"]),
        (["TRACKING.DET_THRESH", "1.5"], ["det_thresh must be in [0, 1]"]),
    ],
)
def test_config_override_mistakes(frames, weights, tmp_path, capsys, overrides, fragments):
    from tubes_cli.track_video import main

    out = tmp_path / "out"
    code, _, err = _call(main, _track(frames, out, weights=weights) + overrides, capsys)
    assert code == 2
    _one_line(err, "track_video: error:", *fragments)
    assert not out.exists()


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("", "is empty"),
        ("MODEL: [\n", "not valid YAML"),
        (
            "MODEL:\n  WIEGHTS: x\n",
            "unknown config key MODEL.WIEGHTS (did you mean MODEL.WEIGHTS?)",
        ),
        ("- a\n- b\n", "is not a mapping of config keys"),
        ('_BASE_: "nowhere.yaml"\n', "cannot read"),
    ],
)
def test_config_file_mistakes(frames, tmp_path, capsys, content, fragment):
    from tubes_cli.track_video import main

    cfg = tmp_path / "my.yaml"
    cfg.write_text(content)
    argv = ["--config-file", str(cfg), "--input", frames, "--output", str(tmp_path / "out")]
    code, _, err = _call(main, argv, capsys)
    assert code == 2
    _one_line(err, str(cfg), fragment)
    assert sorted(os.listdir(tmp_path)) == ["my.yaml"]


# ---------------------------------------------------------------- checkpoints


def _checkpoint_cases(tmp_path, weights):
    data = open(weights, "rb").read()
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "corrupt.pkl").write_bytes(b"\x80\x04not a pickle")
    (tmp_path / "text.pth").write_text("these are not weights")
    return {
        "empty.pth": "not a readable",
        "truncated.pth": "not a readable",
        "corrupt.pkl": "not a readable pickle",
        "text.pth": "not a readable",
    }


def test_unusable_checkpoints(frames, weights, tmp_path, capsys):
    from tubes_cli.track_video import main

    for name, fragment in _checkpoint_cases(tmp_path, weights).items():
        out = tmp_path / f"out_{name}"
        code, _, err = _call(main, _track(frames, out, weights=str(tmp_path / name)), capsys)
        assert code == 2, name
        _one_line(err, str(tmp_path / name), fragment)
        assert not out.exists()
    code, _, err = _call(main, _track(frames, tmp_path / "o", weights="/no/such.pth"), capsys)
    assert code == 2
    _one_line(err, "MODEL.WEIGHTS /no/such.pth does not exist")


def test_a_checkpoint_that_does_not_fit_is_refused_at_inference(frames, weights, tmp_path, capsys):
    """A keypoint head of other shapes would run at its random initialisation: refused, naming
    the head; MODEL.WEIGHTS_ALLOW_PARTIAL True runs anyway and says what was left."""
    from tubes_cli.track_video import main

    other = ["MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", "[48,48]"]
    out = tmp_path / "out"
    code, _, err = _call(main, _track(frames, out, weights=weights) + other, capsys)
    assert code == 2
    _one_line(err, "does not fit this model", "roi_heads.keypoint_head", "WEIGHTS_ALLOW_PARTIAL")
    assert not out.exists()
    argv = _track(frames, out, weights=weights) + other + ["MODEL.WEIGHTS_ALLOW_PARTIAL", "True"]
    code, printed, _ = _call(main, argv, capsys)
    assert code == 0 and "left at their initialisation" in printed
    assert os.listdir(out) == ["clip.json"]


def test_no_backbone_checkpoint(frames, tmp_path, capsys):
    from tubes_cli.track_video import main

    path = tmp_path / "classifier.pth"
    torch.save({"model": {"fc.weight": torch.zeros(2, 3)}}, path)
    code, _, err = _call(main, _track(frames, tmp_path / "out", weights=str(path)), capsys)
    assert code == 2
    _one_line(err, str(path), "no backbone weight")


def test_input_convention_travels_inside_the_checkpoint(frames, weights, tmp_path, capsys):
    """The weights were trained on BGR: an RGB model is refused even with no config.yaml beside
    the copied checkpoint (the record is in the checkpoint)."""
    from tubes_cli.track_video import main

    copied = tmp_path / "copied.pth"
    copied.write_bytes(open(weights, "rb").read())
    argv = _track(frames, tmp_path / "out", weights=str(copied)) + ["INPUT.FORMAT", "RGB"]
    code, _, err = _call(main, argv, capsys)
    assert code == 2
    _one_line(err, str(copied), "says the checkpoint", "set INPUT.FORMAT BGR (is RGB)")


# ---------------------------------------------------------------- output paths


def test_track_video_output_problems(frames, weights, tmp_path, capsys):
    from tubes_cli.track_video import main

    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    for out, fragment in (
        (a_file, "is a file, where the output folder goes"),
        (a_file / "sub", "is a file, where a folder of"),
    ):
        code, _, err = _call(main, _track(frames, out, weights=weights), capsys)
        assert code == 2
        _one_line(err, str(a_file), fragment)
    assert a_file.read_text() == "mine"
    # Existing outputs are the user's: kept unless --overwrite.
    out = tmp_path / "out"
    out.mkdir()
    (out / "clip.json").write_text("earlier results")
    code, _, err = _call(main, _track(frames, out, weights=weights), capsys)
    assert code == 2
    _one_line(err, "clip.json exists already; pass --overwrite")
    assert (out / "clip.json").read_text() == "earlier results"
    code, _, _ = _call(main, _track(frames, out, "--overwrite", weights=weights), capsys)
    assert code == 0 and json.loads((out / "clip.json").read_text())["images"]
    _no_temp_files(tmp_path)


def test_track_video_bad_values_and_a_video_that_decodes_short(weights, tmp_path, capsys):
    from tubes_cli.track_video import main

    video = tmp_path / "short.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 72))
    rng = np.random.default_rng(0)
    for _ in range(12):
        writer.write(rng.integers(0, 255, (72, 96, 3), dtype=np.uint8))
    writer.release()
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])  # the header still says 12 frames
    out = tmp_path / "out"
    code, _, err = _call(main, _track(str(video), out, weights=weights), capsys)
    assert code == 2
    progress = [line for line in err.splitlines() if "frame" in line and "it/s" not in line]
    _one_line(err.strip().splitlines()[-1], str(video), "header says 12 frames but only")
    assert "Traceback" not in err and progress  # the progress bar, then the one line
    assert not out.exists()
    code, _, err = _call(
        main, _track(str(video), out, "--batch-size", "0", weights=weights), capsys
    )
    assert code == 2
    _one_line(err, "--batch-size must be at least 1, not 0")


def test_eval_commands_check_their_output_before_the_work(tmp_path, capsys):
    from tubes_cli.eval_mot import main as eval_mot
    from tubes_cli.eval_posetrack import main as eval_posetrack

    gt, pred = _posetrack_pair(tmp_path)
    folder = tmp_path / "a_folder"
    folder.mkdir()
    argv = ["--groundTruth", gt, "--predictions", pred, "--output", str(folder)]
    code, printed, err = _call(eval_posetrack, argv, capsys)
    assert code == 2 and printed == ""  # refused before the metrics, not after
    _one_line(err, str(folder), "is a folder, where the output file goes")
    (tmp_path / "gt.txt").write_text("1,1,10,10,20,40,1,1,1\n")
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    argv = ["--groundTruth", str(tmp_path / "gt.txt"), "--predictions", str(tmp_path / "gt.txt")]
    code, printed, err = _call(eval_mot, argv + ["--output", str(blocker / "m.json")], capsys)
    assert code == 2 and printed == ""
    _one_line(err, str(blocker), "is a file")


def test_link_output_problems(tmp_path, capsys):
    from tubes_cli.link import main

    gt, pred = _posetrack_pair(tmp_path)
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    code, _, err = _call(main, ["--input", pred, "--output", str(a_file)], capsys)
    assert code == 2
    _one_line(err, str(a_file))
    assert a_file.read_text() == "mine"
    for value, fragment in (
        ("nan", "TRACKING.DET_THRESH takes a float (its default is 0.95), not 'nan'"),
        ("-0.5", "det_thresh must be in [0, 1]"),
    ):
        out = tmp_path / f"out_{value}"
        code, _, err = _call(
            main, ["--input", pred, "--output", str(out), "TRACKING.DET_THRESH", value], capsys
        )
        assert code == 2
        _one_line(err, fragment)
        assert not out.exists()


# ---------------------------------------------------------------- data sets


def test_synthetic_never_replaces_what_it_did_not_make(tmp_path, capsys):
    from tubes_cli.synthetic import main

    real = tmp_path / "posetrack"
    (real / "images" / "val" / "seq").mkdir(parents=True)
    (real / "images" / "val" / "seq" / "000000.jpg").write_bytes(b"a real frame")
    (real / "annotations").mkdir()
    before = _tree(real)
    for extra in ([], ["--overwrite"]):
        code, _, err = _call(
            main, ["--out", str(real), "--videos", "1", "--frames", "2", *extra], capsys
        )
        assert code == 2
        _one_line(err, str(real), "no synthetic.json", "nothing in it is replaced")
        assert _tree(real) == before
    _no_temp_files(tmp_path)
    synth = tmp_path / "synth"
    args = ["--out", str(synth), "--videos", "1", "--frames", "2"]
    assert _call(main, args, capsys)[0] == 0
    made = _tree(synth)
    code, _, err = _call(main, args + ["--seed", "3"], capsys)
    assert code == 2
    _one_line(err, "holds a synthetic set already; pass --overwrite")
    assert _tree(synth) == made
    assert _call(main, args + ["--seed", "3", "--overwrite"], capsys)[0] == 0
    assert _tree(synth) != made
    _no_temp_files(tmp_path)


def test_data_coco_mistakes(tmp_path, capsys):
    from tubes_cli.export_coco import main

    out = tmp_path / "coco.json"
    code, _, err = _call(main, ["--dataset", "posetrack18_val", "--output", str(out)], capsys)
    assert code == 2
    _one_line(err, "annotation folder does not exist")
    code, _, err = _call(main, ["--dataset", "nope_val", "--output", str(out)], capsys)
    assert code == 2
    _one_line(err, "'nope_val' is not registered")
    args = ["--dataset", "posetrack_synth_val", "--output", str(out)]
    code, _, err = _call(main, args + ["--image-root", str(tmp_path)], capsys)
    assert code == 2
    _one_line(err, "frames are not under it")
    assert not out.exists()


# ---------------------------------------------------------------- evaluation inputs


def _pt18(images, annotations):
    cats = [{"id": 1, "name": "person", "keypoints": [
        "nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder",
        "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
        "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]}]  # fmt: skip
    return {"images": images, "annotations": annotations, "categories": cats}


def _person(image_id, track, head=(10, 10, 20, 20), x=30.0):
    kp = []
    for j in range(17):
        kp += [x + j, 40.0 + 3 * j, 1]
    return {"image_id": image_id, "track_id": track, "id": track, "keypoints": kp,
            "bbox_head": list(head), "bbox": [20, 20, 60, 120], "scores": [0.9] * 17,
            "score": 0.9}  # fmt: skip


def _posetrack_pair(tmp_path, gt_change=None, pred_change=None):
    images = [{"id": 100 + i, "file_name": f"images/val/seq/{i:06d}.jpg", "is_labeled": True,
               "frame_id": i, "vid_id": "000001"} for i in range(2)]  # fmt: skip
    gt = _pt18(images, [_person(100, 0), _person(101, 0)])
    pred = json.loads(json.dumps(gt))
    if gt_change:
        gt_change(gt)
    if pred_change:
        pred_change(pred)
    for folder, data in (("gt", gt), ("pred", pred)):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / "seq.json").write_text(json.dumps(data))
    return str(tmp_path / "gt"), str(tmp_path / "pred")


def _set(path, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    "gt_change, pred_change, fragment",
    [
        (_set(["annotations", 0, "bbox_head"], [10, 10, 0, 0]), None, "head box of size 0"),
        (None, lambda d: d.pop("annotations"), "no 'annotations' list"),
        (None, _set(["annotations", 1, "image_id"], 999), "image_id 999, which no image has"),
        (_set(["images", 1, "id"], 100), None, "have the same id 100"),
        (None, _set(["annotations", 0, "keypoints", 0], float("nan")), "NaN or infinite"),
        (None, _set(["annotations", 0, "keypoints", 3], float("inf")), "NaN or infinite"),
    ],
)
@pytest.mark.parametrize("kit", ["posetrack18", "posetrack21"])
def test_bad_evaluation_files(tmp_path, capsys, gt_change, pred_change, fragment, kit):
    from tubes_cli.eval_posetrack import main

    gt, pred = _posetrack_pair(tmp_path, gt_change, pred_change)
    out = tmp_path / "m.json"
    argv = ["--groundTruth", gt, "--predictions", pred, "--benchmark", kit]
    code, printed, err = _call(main, argv + ["--output", str(out)], capsys)
    assert code == 2
    _one_line(err, "seq.json", fragment)
    assert not out.exists()


def test_the_evaluation_pair_itself_scores_100(tmp_path, capsys):
    """The control for the cases above: the unchanged pair scores as ground truth should."""
    from tubes_cli.eval_posetrack import main

    gt, pred = _posetrack_pair(tmp_path)
    code, printed, err = _call(main, ["--groundTruth", gt, "--predictions", pred], capsys)
    assert code == 0, err
    assert "| 100.0 |" in printed


def test_eval_mot_empty_ground_truth(tmp_path, capsys):
    from tubes_cli.eval_mot import main

    (tmp_path / "gt.txt").write_text("")
    (tmp_path / "pred.txt").write_text("1,1,10,10,20,40,0.9,-1,-1,-1\n")
    argv = ["--groundTruth", str(tmp_path / "gt.txt"), "--predictions", str(tmp_path / "pred.txt")]
    code, printed, err = _call(main, argv, capsys)
    assert code == 2 and "MOTA" not in printed
    _one_line(err, "gt.txt", "holds no box")  # and no numpy warning before it


def test_link_refuses_non_finite_input(tmp_path, capsys):
    from tubes_cli.link import main

    _, pred = _posetrack_pair(tmp_path, None, _set(["annotations", 0, "bbox", 0], float("nan")))
    out = tmp_path / "out"
    code, _, err = _call(main, ["--input", pred, "--output", str(out)], capsys)
    assert code == 2
    _one_line(err, "seq.json", "'bbox' holds a NaN or infinite value")
    assert not out.exists()


# ---------------------------------------------------------------- other commands


@pytest.mark.parametrize(
    "command, argv, fragment",
    [
        ("demo", ["--pretrain-iters", "0"], "--pretrain-iters must be at least 1, not 0"),
        ("demo", ["--finetune-iters", "-3"], "--finetune-iters must be at least 1, not -3"),
        ("rehearse", ["--train", "posetrack_synth_trian"], "did you mean posetrack_synth_train"),
        ("rehearse", ["--iters-2d", "-1"], "--iters-2d must be at least 1, not -1"),
    ],
)
def test_training_command_values(command, argv, fragment, tmp_path, capsys):
    import importlib

    main = importlib.import_module(f"tubes_cli.{command}").main
    code, _, err = _call(main, ["--output", str(tmp_path / "out"), *argv], capsys)
    assert code == 2
    _one_line(err, fragment)
    assert not (tmp_path / "out").exists()


def test_sweep_thresholds_wrong_shape_and_lstm_steps(tmp_path, capsys):
    import pickle

    from tubes_cli.sweep_thresholds import main as sweep
    from tubes_cli.train_lstm import main as lstm

    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps({"video": {0: [1, 2, 3]}}))
    code, _, err = _call(sweep, ["--raw", str(raw), "--dataset", "posetrack_synth_val"], capsys)
    assert code == 2
    _one_line(err, str(raw), "not saved raw predictions", "regenerate it")
    code, _, err = _call(lstm, ["--output", str(tmp_path / "l.pth"), "--steps", "0"], capsys)
    assert code == 2
    _one_line(err, "--steps must be at least 1")
    assert not (tmp_path / "l.pth").exists()


# ---------------------------------------------------------------- processes, signals, disks


def _python(*argv, **kwargs):
    return subprocess.Popen(
        [sys.executable, *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, **kwargs,
    )  # fmt: skip


def test_train_net_mistakes_are_one_line(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    for argv, fragment in (
        (["--config-file", T3, "SOLVER.MAX_ITR", "3"], "did you mean SOLVER.MAX_ITER"),
        (["--config-file", str(empty)], "is empty"),
    ):
        proc = _python("train_net.py", *argv, "OUTPUT_DIR", str(tmp_path / "out"))
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 2
        _one_line(err, "train_net.py: error:", fragment)
    assert not (tmp_path / "out").exists()


def test_sigterm_leaves_nothing(frames, weights, tmp_path):
    """SIGTERM during synthetic and track_video: exit 143, one line, no temp files, no
    partial outputs."""
    _signal_synthetic(tmp_path, signal.SIGTERM, 143, "terminated")

    long_video = tmp_path / "frames"
    long_video.mkdir()
    for i in range(300):
        cv2.imwrite(str(long_video / f"{i:06d}.jpg"), np.full((72, 96, 3), i % 250, np.uint8))
    out = tmp_path / "tracks"
    proc = _python("-m", "tubes_cli.track_video", *_track(str(long_video), out, weights=weights))
    _wait_for(lambda: out.exists() and any(n.startswith(".") for n in os.listdir(out)), 120)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1] == "track_video: terminated"
    assert not out.exists()  # created by the command, empty, removed


def _wait_for(condition, timeout=180.0):
    end = time.time() + timeout
    while time.time() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _limit_file_size():
    """Where no tmpfs can be mounted: a 16 MB file-size limit (EFBIG instead of SIGXFSZ)."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))


def _small_disk(tmp_path):
    """A 16 MB tmpfs (as root), or else a 16 MB file-size limit: a checkpoint cannot fit."""
    mount = tmp_path / "disk"
    mount.mkdir()
    ok = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
        ).returncode
        == 0
    )
    return mount, ok


@pytest.mark.slow
def test_a_full_disk_during_training_leaves_no_truncated_checkpoint(tmp_path):
    """Training onto a disk too small for the checkpoint (the quick R-18's weights alone are 23 MB,
    70 MB with AdamW's state): one line, exit 2, no model_final.pth (truncated or not), no temp
    file, no last_checkpoint."""
    disk, mounted = _small_disk(tmp_path)
    try:
        preexec = None if mounted else _limit_file_size
        out = disk / "run"
        proc = _python(
            "train_net.py", "--config-file", T3, *TINY, "SOLVER.MAX_ITER", "1",
            "INPUT.MIN_SIZE_TRAIN", "(96,)", "DATASETS.TEST", "()", "OUTPUT_DIR", str(out),
            preexec_fn=preexec,
        )  # fmt: skip
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 2, err[-3000:]
        _one_line(err.strip().splitlines()[-1], "model_final.pth")
        assert "no space left" in err or "too large" in err.lower()
        assert not (out / "model_final.pth").exists() and not (out / "last_checkpoint").exists()
        _no_temp_files(out)
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)])


def _signal_synthetic(tmp_path, sig, code, fragment):
    """tubes_cli.synthetic stopped by ``sig`` while it writes: exit ``code``, one line, nothing left."""
    # As a terminal starts it: a job started in the background of a script (as CI may run
    # this suite) inherits SIGINT ignored, and Python then keeps it ignored.
    proc = _python(
        "-m", "tubes_cli.synthetic", "--out", str(tmp_path / "s"), "--videos", "40",
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    _wait_for(lambda: any(n.startswith(".synthetic-partial") for n in os.listdir(tmp_path)))
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == code
    _one_line(err, fragment)
    assert os.listdir(tmp_path) == []


def test_ctrl_c_is_one_line_and_130(tmp_path):
    _signal_synthetic(tmp_path, signal.SIGINT, 130, "synthetic: interrupted")


def test_link_says_when_every_detection_was_dropped(tmp_path, capsys):
    from tubes_cli.link import main

    _, pred = _posetrack_pair(tmp_path)  # scores 0.9, below the paper's 0.95
    code, printed, err = _call(main, ["--input", pred, "--output", str(tmp_path / "out")], capsys)
    assert code == 0 and "0 detections tracked, 2 dropped" in printed
    _one_line(err, "every detection was dropped", "TRACKING.DET_THRESH at or below")


def test_demo_does_not_trust_a_truncated_model(tmp_path):
    from detectron2_tubes.experiments.recipe import checkpoint_problem

    good = tmp_path / "model_final.pth"
    torch.save({"model": {"w": torch.ones(3)}}, good)
    assert checkpoint_problem(str(good)) is None
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    assert "not a readable" in checkpoint_problem(str(good))
    torch.save({"iteration": 3}, good)
    assert checkpoint_problem(str(good)) == "no model weights in it"


def test_train_net_output_dir_is_a_file(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    proc = _python("train_net.py", "--config-file", T3, "OUTPUT_DIR", str(a_file))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2
    _one_line(err, str(a_file), "is a file, where the output folder goes")
    assert a_file.read_text() == "mine"


@pytest.mark.slow
def test_evaluation_without_the_input_keys_is_refused_in_every_process(tmp_path):
    """The paper recipe's stage 3 in miniature: weights trained on RGB, evaluated without the
    input keys with --num-gpus 2, OUTPUT_DIR the training folder, then the weights copied away:
    one line each time, the training's config.yaml untouched, no folder left behind."""
    t1 = os.path.join(QUICK, "tube_rcnn_R18_T1_synth.yaml")
    rgb = ["INPUT.FORMAT", "RGB", "MODEL.PIXEL_MEAN", "[123.675,116.28,103.53]"]
    train = tmp_path / "train"
    proc = _python("train_net.py", "--config-file", t1, *TINY, *rgb, "SOLVER.MAX_ITER", "1",
                   "SOLVER.IMS_PER_BATCH", "1", "DATASETS.TEST", "()", "OUTPUT_DIR", str(train))  # fmt: skip
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    config = (train / "config.yaml").read_bytes()
    copied = tmp_path / "elsewhere" / "model.pth"
    copied.parent.mkdir()
    copied.write_bytes((train / "model_final.pth").read_bytes())
    for weights in (train / "model_final.pth", copied):
        proc = _python("train_net.py", "--num-gpus", "2", "--eval-only", "--config-file", T3,
                       *TINY, "MODEL.WEIGHTS", str(weights), "OUTPUT_DIR", str(train))  # fmt: skip
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 2, err[-2000:]
        _one_line(err, str(weights), "says the checkpoint", "set INPUT.FORMAT RGB (is BGR)")
        assert (train / "config.yaml").read_bytes() == config
        assert not (train / "inference").exists()


def test_an_incomplete_cache_with_foreign_files_is_never_deleted(tmp_path, monkeypatch):
    from detectron2_tubes.data.builtin import ensure_synthetic_dataset, synthetic_root
    from posetrack_core.errors import UserError

    monkeypatch.setenv("DETECTRON2_TUBES_CACHE", str(tmp_path))
    root = synthetic_root()
    os.makedirs(os.path.join(root, "images"))
    with open(os.path.join(root, "notes.txt"), "w") as f:
        f.write("mine")
    with pytest.raises(UserError, match="notes.txt, which this package did not write"):
        ensure_synthetic_dataset()
    assert open(os.path.join(root, "notes.txt")).read() == "mine"
