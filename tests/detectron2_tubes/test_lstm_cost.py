"""The learned LSTM tracking cost: trains, saves, loads, and links tracks."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from detectron2_tubes.data.posetrack import load_posetrack_split
from detectron2_tubes.tracking import LSTMCost, load_box_lstm, save_box_lstm, train_box_lstm
from detectron2_tubes.tracking.lstm import collect_tracks
from posetrack_core.tracking import Detections, PoseTracker, track_frames

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


@pytest.fixture(scope="module")
def trained(tiny_synth):
    root, _ = tiny_synth
    dicts = load_posetrack_split(os.path.join(root, "annotations", "train"), root)
    model, losses = train_box_lstm(dicts, steps=300, batch=128, log_every=50)
    return model, losses, dicts


def test_collect_tracks_from_ground_truth(tiny_synth):
    root, truth = tiny_synth
    dicts = load_posetrack_split(os.path.join(root, "annotations", "train"), root)
    segments = collect_tracks(dicts)
    # Every segment is one person on consecutive frames; together they hold every annotation
    # that has a neighbour in time.
    assert segments and all(
        len(boxes) >= 2 and len(others) == len(boxes) for boxes, others in segments
    )
    total = sum(len(b) for b, _ in segments)
    people = sum(len(f.people) for v in truth["train"].values() for f in v)
    assert 0.8 * people <= total <= people


def test_training_loss_falls_and_scores_make_sense(trained):
    model, losses, _ = trained
    assert len(losses) == 6 and all(np.isfinite(losses))
    assert losses[-1] < 0.6 * losses[0]
    # A track walking right by 5 px a frame: its next box is cheap, a far box is not.
    history = np.array([[10 + 5 * t, 50, 50 + 5 * t, 150] for t in range(6)], float)
    prev = Detections(history[-1:], [1], histories=[history])
    cur = Detections([[60, 50, 100, 150], [200, 40, 240, 140], [40, 60, 70, 120]], np.ones(3))
    cost = LSTMCost(model)(prev, cur)
    assert cost.shape == (1, 3) and cost[0, 0] < 0.5 < min(cost[0, 1], cost[0, 2])


def test_save_load_round_trip_and_errors(trained, tmp_path):
    model, _, _ = trained
    path = str(tmp_path / "lstm.pth")
    save_box_lstm(model, path)
    loaded = load_box_lstm(path)
    h, c = torch.rand(4, 8, 4) * 100, torch.rand(4, 4) * 100
    h[..., 2:] += h[..., :2] + 10
    c[:, 2:] += c[:, :2] + 10
    with torch.no_grad():
        assert torch.equal(model(h, c), loaded(h, c))
    with pytest.raises(FileNotFoundError, match="nope.pth: LSTM tracker weights not found"):
        load_box_lstm(str(tmp_path / "nope.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth: not a saved tracking LSTM"):
        load_box_lstm(str(tmp_path / "junk.pth"))


def test_lstm_cost_in_the_tracker(trained):
    model, _, _ = trained
    frames = [
        Detections(
            np.array([[5 * t, 0, 5 * t + 20, 40], [60 - 5 * t, 10, 80 - 5 * t, 70]], float),
            np.ones(2),
        )
        for t in range(13)
    ]
    tracker = PoseTracker(cost="lstm", lstm=model, det_thresh=0.5, min_area=0)
    result = list(track_frames(frames, tracker))
    assert [r.track_ids.tolist() for r in result] == [[0, 1]] * 13
    assert PoseTracker(cost="lstm", lstm=model).needs_history


def test_training_cli(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = tmp_path / "lstm.pth"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "tubes_cli.train_lstm",
            "--output",
            str(out),
            "--steps",
            "100",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "loss" in p.stdout and out.exists()
    load_box_lstm(str(out))
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "tubes_cli.train_lstm",
            "--output",
            str(out),
            "--dataset",
            "no_such_set",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert p.returncode == 2 and "unknown dataset(s) ['no_such_set']" in p.stderr
