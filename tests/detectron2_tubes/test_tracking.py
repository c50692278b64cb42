"""The tracker in Detectron2: Instances in and out, the tracker head from a config, the CNN cost."""

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.structures import Boxes, Instances
from detectron2.tracking.base_tracker import build_tracker_head

from detectron2_tubes import add_tubes_config
from detectron2_tubes.tracking import PoseTrackerHead, build_pose_tracker
from posetrack_core.tracking import Detections, PoseTracker


def test_instances_in_and_out():
    def inst(boxes, scores):
        i = Instances((100, 200))
        i.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        i.scores = torch.tensor(scores)
        i.pred_classes = torch.zeros(len(scores), dtype=torch.int64)
        i.pred_keypoints = torch.zeros(len(scores), 17, 3)
        return i

    tracker = PoseTrackerHead()  # the one Instances adapter of the PoseTracker
    given = inst([[0, 0, 20, 20], [30, 30, 60, 60], [70, 0, 90, 30]], [0.99, 0.5, 0.97])
    out = tracker.update(given)
    assert len(given) == 3 and not given.has("track_ids")  # the input is not modified
    assert len(out) == 2 and out.track_ids.tolist() == [0, 1] and out.ID == [0, 1]
    assert out.pred_keypoints.shape == (2, 17, 3)
    out = tracker.update(inst([[71, 1, 91, 31], [1, 0, 21, 20]], [0.99, 0.99]))
    assert out.ID == [1, 0]
    assert len(tracker.update(inst([], []))) == 0
    tracker.reset()
    assert tracker.update(inst([[0, 0, 20, 20]], [0.99])).ID == [0]
    # The core tracker takes Detections only, and says how to pass Instances.
    with pytest.raises(TypeError, match="Detections.from_instances"):
        PoseTracker().update(given)
    # Detections out: every field filtered with the kept detections, with their positions.
    logits = np.arange(3 * 17, dtype=float).reshape(3, 17)
    dets = Detections.from_instances(given)
    dets.keypoint_logits = logits
    kept = PoseTracker().update(dets)
    assert kept.indices.tolist() == [0, 2] and kept.track_ids.tolist() == [0, 1]
    assert np.array_equal(kept.keypoint_logits, logits[[0, 2]]) and kept.image_size == (100, 200)


def test_cnn_cost_tells_appearance_apart():
    from detectron2_tubes.tracking import CropFeatureExtractor

    torch.manual_seed(0)
    extractor = CropFeatureExtractor()
    img = np.zeros((120, 200, 3), np.uint8)
    img[10:110, 10:50] = (0, 0, 255)  # a red person
    img[10:110, 110:150] = (255, 0, 0)  # a blue person
    img2 = np.zeros_like(img)
    img2[10:110, 20:60] = (255, 0, 0)  # blue is now on the left
    img2[10:110, 140:180] = (0, 0, 255)  # and red on the right
    tracker = PoseTracker(cost="cnn", det_thresh=0, min_area=0, feature_extractor=extractor)
    boxes1 = np.array([[10, 10, 50, 110], [110, 10, 150, 110]], float)
    boxes2 = np.array([[20, 10, 60, 110], [140, 10, 180, 110]], float)
    first = tracker.update(Detections(boxes1, np.ones(2), image_size=(120, 200)), image=img)
    second = tracker.update(Detections(boxes2, np.ones(2), image_size=(120, 200)), image=img2)
    assert first.track_ids.tolist() == [0, 1] and second.track_ids.tolist() == [1, 0]
    with pytest.raises(ValueError, match="needs the frame image"):
        tracker.update(Detections(boxes2, np.ones(2), image_size=(120, 200)))


def test_detectron2_tracker_head():
    cfg = add_tubes_config(get_cfg())
    cfg.TRACKING.COST = "iou:1,pose:1"
    cfg.TRACKING.MEMORY = 2
    head = build_tracker_head(cfg)
    assert head.tracker.memory == 2 and head.tracker.det_thresh == 0.95
    tracker = build_pose_tracker(cfg)
    weights = {name: w for name, (w, _) in tracker.cost_fn.costs.items()}
    assert tracker.memory == 2 and weights == {"iou": 1.0, "pose": 1.0}
    i = Instances(
        (100, 100),
        pred_boxes=Boxes(torch.tensor([[0.0, 0, 20, 20]])),
        scores=torch.tensor([0.99]),
        pred_keypoints=torch.ones(1, 17, 3),
    )
    assert head.update(i).ID == [0]


def test_tracking_config_keys_build_the_new_parts():
    cfg = add_tubes_config(get_cfg())
    assert (cfg.TRACKING.MOTION, cfg.TRACKING.LOW_THRESH) == ("none", -1.0)
    paper = build_pose_tracker(cfg)
    assert paper.kalman is None and paper.low_thresh is None
    cfg.merge_from_list(["TRACKING.MOTION", "kalman", "TRACKING.LOW_THRESH", "0.3"])
    t = build_pose_tracker(cfg)
    assert t.kalman is not None and t.low_thresh == 0.3 and t.second_max_cost == 0.5
