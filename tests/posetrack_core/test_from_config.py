"""The one loader of the tracker's and the writer's settings (`posetrack_core.from_config`):
a config file and overrides into `PoseTracker`'s arguments, the networks asked of a loader only
when a setting needs them, the writer's options; and the one tracking loop, `track_frames`."""

import numpy as np
import pytest

from posetrack_core.from_config import (
    build_tracker,
    needs_networks,
    tracker_kwargs,
    tracking_config,
    writer_options,
)
from posetrack_core.settings import ConfigError, output_defaults, tracking_defaults
from posetrack_core.tracking import Detections, PoseTracker, TrackerSettingError, track_frames


def test_defaults_are_the_papers_tracker_and_writer():
    cfg = tracking_config()
    assert tracker_kwargs(cfg.TRACKING) == dict(
        cost="iou", matcher="hungarian", det_thresh=0.95, min_area=50.0, max_cost=None, memory=0,
        motion="none", low_thresh=None, second_max_cost=0.5, keypoint_thresh=None,
    )  # fmt: skip
    assert writer_options(cfg) == {
        "keypoint_thresh": 1.95, "keypoint_thresh_on": "logit", "keypoint_score": "box",
    }  # fmt: skip
    assert dict(cfg.TRACKING) == tracking_defaults()
    assert dict(cfg.TEST.POSETRACK) == output_defaults()


def test_a_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("MODEL:\n  WEIGHTS: x.pth\nTRACKING:\n  DET_THRESH: 0.5\n  MEMORY: 4\n")
    cfg = tracking_config(str(path), ["TRACKING.MEMORY", "8", "TRACKING.COST", "iou:1,pose:0.5"])
    kwargs = tracker_kwargs(cfg.TRACKING)
    assert (kwargs["det_thresh"], kwargs["memory"]) == (0.5, 8)
    assert kwargs["cost"] == {"iou": 1.0, "pose": 0.5}
    tracker = build_tracker(cfg)
    assert (tracker.det_thresh, tracker.memory) == (0.5, 8)
    with pytest.raises(ConfigError, match="only TRACKING.\\* settings apply here"):
        tracking_config(opts=["MODEL.WEIGHTS", "y.pth"], groups=["TRACKING"])
    with pytest.raises(ConfigError, match="the cnn cost needs the frame images"):
        tracking_config(opts=["TRACKING.COST", "cnn"], frames=False)


def test_networks_are_loaded_only_when_a_setting_asks_for_them():
    asked = []

    def networks(tracking, **wanted):
        asked.append(wanted)
        return (
            {"lstm": (lambda prev, cur: np.zeros((len(prev), len(cur))))} if wanted["lstm"] else {}
        )

    build_tracker(tracking_config(), networks)
    assert asked == []  # the paper's tracker needs none
    cfg = tracking_config(opts=["TRACKING.COST", "lstm", "TRACKING.LSTM_WEIGHTS", "w.pth"])
    assert needs_networks(cfg.TRACKING) == {"lstm": True, "cnn": False}
    assert build_tracker(cfg, networks).needs_history and asked == [{"lstm": True, "cnn": False}]
    with pytest.raises(TrackerSettingError, match="TRACKING.LSTM_WEIGHTS needs torch"):
        build_tracker(cfg)  # no loader: one line naming the setting
    cnn = tracking_config(opts=["TRACKING.COST", "iou:1,cnn:0.5"])
    assert needs_networks(cnn.TRACKING) == {"lstm": False, "cnn": True}


def test_track_frames_resets_and_takes_images_where_given():
    def frame(x):
        return Detections(np.array([[x, 0.0, x + 40, 80]]), np.ones(1))

    tracker = PoseTracker(det_thresh=0.5, min_area=0)
    first = [d.track_ids.tolist() for d in track_frames([frame(0), frame(2)], tracker)]
    again = [d.track_ids.tolist() for d in track_frames([frame(0), frame(2)], tracker)]
    assert first == again == [[0], [0]]  # reset between videos: ids start again from 0
    seen = []

    def features(image, boxes):
        seen.append(image.shape)
        return np.ones((len(boxes), 4)) / 2

    cnn = PoseTracker(cost="cnn", feature_extractor=features, det_thresh=0.5, min_area=0)
    image = np.zeros((90, 120, 3), np.uint8)
    out = list(track_frames([(frame(0), image), (frame(2), image)], cnn))
    assert [d.track_ids.tolist() for d in out] == [[0], [0]] and seen == [(90, 120, 3)] * 2
