"""The numpy tracker on hand-built frames, with exact expected ids and cost values."""

import numpy as np
import pytest

from posetrack_core.tracking import (
    Detections,
    PoseTracker,
    WeightedCost,
    box_iou,
    greedy_match,
    hungarian_match,
    iou_cost,
    oks,
    oks_cost,
    parse_cost,
    pckh,
    pose_cost,
    track_frames,
)
from posetrack_core.tracking.motion import BoxKalman, xyah_to_xyxy, xyxy_to_xyah


def tracked(frames, **tracker_kwargs):
    """A new `PoseTracker(**tracker_kwargs)` over ``frames``: each frame's tracked detections."""
    return list(track_frames(frames, PoseTracker(**tracker_kwargs)))


def frame(*boxes, scores=None, keypoints=None, size=(480, 640)):
    boxes = np.array(boxes, dtype=float).reshape(-1, 4)
    scores = np.ones(len(boxes)) if scores is None else np.asarray(scores, float)
    return Detections(boxes, scores, keypoints, image_size=size)


def ids(results):
    return [r.track_ids.tolist() for r in results]


def test_iou_cost_exact_values():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], float)
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30]], float)
    expected_iou = np.array([[50 / 150, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert np.allclose(box_iou(a, b), expected_iou)
    cost = iou_cost(Detections(a, np.ones(2)), Detections(b, np.ones(3)))
    assert np.allclose(cost, 1 - expected_iou)


def _pose(offset=(0.0, 0.0), head=(0.0, 9.0)):
    """A pose with head_bottom at (0, head[1]) and head_top at (0, head[0]) plus 13 body joints."""
    k = np.zeros((17, 3))
    k[:, 2] = 1.0
    k[1, :2] = (0, head[1])  # head_bottom
    k[2, :2] = (0, head[0])  # head_top
    body = [0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    k[body, 0] = np.arange(13) * 10.0
    k[body, 1] = 50.0
    k[:, :2] += offset
    return k


def test_pckh_exact_values():
    ref = _pose()  # head size |top - bottom| + 1 = 10, so the PCKh@0.5 radius is 5
    same = _pose()
    shifted = _pose(offset=(4.0, 0.0))  # every joint 4 px away: all within 5
    far = _pose(offset=(6.0, 0.0))  # every joint 6 px away: none within 5
    mixed = _pose()
    mixed[[5, 6, 7], 0] += 20  # 3 of the 15 PoseTrack joints moved away
    other = np.stack([same, shifted, far, mixed])
    p = pckh(ref[None], other)
    assert np.allclose(p, [[1.0, 1.0, 0.0, 12 / 15]])
    # Ears (slots 3, 4) are not PoseTrack joints: moving them changes nothing.
    ears = _pose()
    ears[[3, 4], :2] = 1000
    assert pckh(ref[None], ears[None])[0, 0] == 1.0
    # Joints below the keypoint threshold do not count on either side.
    low = _pose()
    low[[5, 6, 7], 2] = 0.0
    assert pckh(ref[None], np.stack([mixed]), keypoint_thresh=0.5)[0, 0] == pytest.approx(12 / 15)
    assert pckh(low[None], np.stack([mixed]), keypoint_thresh=0.5)[0, 0] == 1.0
    cost = pose_cost(
        Detections(np.zeros((1, 4)), [1], ref[None]),
        Detections(np.zeros((4, 4)), np.ones(4), other),
    )
    assert np.allclose(cost, [[0.0, 0.0, 1.0, 3 / 15]])


def test_greedy_and_hungarian_differ():
    cost = np.array([[0.1, 0.2], [0.15, 0.9]])
    assert [r.tolist() for r in hungarian_match(cost)] == [[0, 1], [1, 0]]  # total 0.35
    assert [r.tolist() for r in greedy_match(cost)] == [[0, 1], [0, 1]]  # 0.1 first, then 0.9
    # The same through the tracker, with a cost given as a callable.
    fixed = lambda prev, cur: cost  # noqa: E731
    two = frame([0, 0, 10, 10], [20, 0, 30, 10])
    for matcher, expected in (("hungarian", [1, 0]), ("greedy", [0, 1])):
        result = tracked([two, two], cost=fixed, matcher=matcher, det_thresh=0, min_area=0)
        assert ids(result) == [[0, 1], expected]


def test_gate_and_empty_matrices():
    cost = np.array([[0.2, 0.95], [0.9, 0.97]])
    rows, cols = hungarian_match(cost, max_cost=0.5)
    assert rows.tolist() == [0] and cols.tolist() == [0]
    rows, cols = greedy_match(cost, max_cost=0.5)
    assert rows.tolist() == [0] and cols.tolist() == [0]
    for fn in (hungarian_match, greedy_match):
        assert [x.tolist() for x in fn(np.zeros((0, 3)))] == [[], []]
        assert [x.tolist() for x in fn(np.zeros((2, 0)))] == [[], []]
        assert [x.tolist() for x in fn(np.ones((2, 2)), max_cost=0.5)] == [[], []]


def test_two_people_crossing_keep_their_ids():
    # A walks right (shorter box), B walks left (taller box, lower); they cross at t = 6.
    frames = [
        frame([5 * t, 0, 5 * t + 20, 40], [60 - 5 * t, 10, 80 - 5 * t, 70]) for t in range(13)
    ]
    for matcher in ("hungarian", "greedy"):
        result = tracked(frames, matcher=matcher, det_thresh=0.5, min_area=0)
        assert ids(result) == [[0, 1]] * 13


def test_missing_for_one_frame_paper_vs_memory():
    person = [[10 + 3 * t, 10, 40 + 3 * t, 80] for t in range(5)]
    other = [200, 10, 230, 80]
    frames = [
        frame(person[0], other),
        frame(person[1], other),
        frame(other),
        frame(person[3], other),
        frame(person[4], other),
    ]
    paper = tracked(frames, det_thresh=0.5, min_area=0)
    assert ids(paper) == [[0, 1], [0, 1], [1], [2, 1], [2, 1]]  # the person comes back as 2
    memory = tracked(frames, det_thresh=0.5, min_area=0, memory=1, max_cost=0.9)
    assert ids(memory) == [[0, 1], [0, 1], [1], [0, 1], [0, 1]]


def test_memory_carries_the_box_forward_by_its_motion():
    # Moving 20 px a frame: after a one-frame gap the last box no longer overlaps the new one,
    # but the box moved on by the track's velocity does.
    # Boxes 35 px wide: consecutive frames overlap by 15 px (IoU 15/55, cost 0.73 <= 0.8).
    boxes = [[20 * t, 0, 20 * t + 35, 50] for t in range(5)]
    frames = [frame(boxes[0]), frame(boxes[1]), frame(), frame(boxes[3]), frame(boxes[4])]
    result = tracked(frames, det_thresh=0.5, min_area=0, memory=1, max_cost=0.8)
    assert ids(result) == [[0], [0], [], [0], [0]]
    assert box_iou(np.array([boxes[1]], float), np.array([boxes[3]], float))[0, 0] == 0


def test_empty_frames_single_frame_and_filters():
    result = tracked(
        [frame(), frame([0, 0, 20, 20]), frame(), frame([0, 0, 20, 20])], det_thresh=0.5, min_area=0
    )
    assert ids(result) == [[], [0], [], [1]]  # paper mode: a gap ends the track
    single = tracked(
        [frame([0, 0, 20, 20], [50, 50, 90, 90], [0, 0, 5, 5], scores=[0.99, 0.96, 0.99])]
    )
    # The 5x5 box (25 px^2) is below the 50 px^2 minimum; both others pass the 0.95 score.
    assert ids(single) == [[0, 1]] and len(single[0].boxes) == 2
    low = tracked([frame([0, 0, 20, 20], [50, 50, 90, 90], scores=[0.9, 0.96])])
    assert ids(low) == [[0]] and low[0].scores.tolist() == [0.96]
    # Clipped area: 62x20 px, but only 2x20 = 40 px^2 inside the 480x640 frame.
    clipped = tracked([frame([638, 0, 700, 20], scores=[1.0])])
    assert ids(clipped) == [[]]


def test_more_than_1000_tracks_reuses_the_oldest_ended_ids():
    tracker = PoseTracker(det_thresh=0, min_area=0, max_cost=0.5)
    seen = []
    for t in range(1003):
        # Two people a frame, never overlapping the previous frame's: every frame starts 2 tracks.
        x = 100 * (t % 2)
        out = tracker.update(frame([x, 0, x + 10, 10], [x + 300, 0, x + 310, 10]))
        seen.append(out.track_ids.tolist())
        assert len(set(seen[-1])) == 2
        assert all(0 <= i < 1000 for i in seen[-1])
    assert seen[0] == [0, 1] and seen[499] == [998, 999]
    # Ids run out at frame 500; those of the tracks that ended longest ago come back first.
    assert seen[500] == [0, 1] and seen[501] == [2, 3] and seen[1002] == [4, 5]
    # Live tracks never share an id: with memory, tracks still remembered keep theirs.
    small = PoseTracker(det_thresh=0, min_area=0, max_cost=0.5, memory=2, max_tracks=3)
    assert small.update(frame([0, 0, 10, 10])).track_ids.tolist() == [0]
    assert small.update(frame([100, 0, 110, 10])).track_ids.tolist() == [1]
    assert small.update(frame([200, 0, 210, 10])).track_ids.tolist() == [2]
    with pytest.raises(RuntimeError, match="more than 3 tracks are alive"):
        small.update(frame([300, 0, 310, 10]))
    recovered = PoseTracker(det_thresh=0, min_area=0, max_cost=0.5, memory=1, max_tracks=3)
    for x in (0, 100, 200):
        recovered.update(frame([x, 0, x + 10, 10]))
    # Track 0 ended at frame 2 (unseen for 2 > memory frames); 1 and 2 are still live.
    assert recovered.update(frame([300, 0, 310, 10])).track_ids.tolist() == [0]


def test_weighted_cost_and_parse():
    a = Detections([[0, 0, 10, 10]], [1], _pose()[None])
    b = Detections([[5, 0, 15, 10]], [1], _pose(offset=(6.0, 0.0))[None])
    cost = WeightedCost({"iou": (1.0, iou_cost), "pose": (3.0, pose_cost)})
    assert cost(a, b)[0, 0] == pytest.approx((1.0 * (1 - 1 / 3) + 3.0 * 1.0) / 4)
    assert parse_cost("iou") == "iou"
    assert parse_cost("iou:1,pose:0.5") == {"iou": 1.0, "pose": 0.5}
    with pytest.raises(ValueError, match="bad cost weight"):
        parse_cost("iou:x")
    with pytest.raises(ValueError, match="unknown cost"):
        PoseTracker(cost="color")
    with pytest.raises(ValueError, match="unknown matcher"):
        PoseTracker(matcher="auction")
    with pytest.raises(ValueError, match="lstm cost needs a trained model"):
        PoseTracker(cost="lstm")
    with pytest.raises(ValueError, match="cnn cost needs a feature extractor"):
        PoseTracker(cost={"iou": 1.0, "cnn": 1.0})


def test_kalman_carries_a_track_across_a_three_frame_gap():
    """A person walking 12 px a frame is missed for 3 frames: the last box is 48 px behind when
    it reappears (IoU 0 with its last box), the Kalman prediction is on it."""
    boxes = [[12 * t, 0, 12 * t + 30, 60] for t in range(10)]
    frames = [frame(b) for b in boxes[:5]] + [frame(), frame(), frame()] + [frame(boxes[8])]
    frames.append(frame(boxes[9]))
    assert box_iou(np.array([boxes[4]], float), np.array([boxes[8]], float))[0, 0] == 0
    kalman = tracked(frames, det_thresh=0.5, min_area=0, memory=3, max_cost=0.7, motion="kalman")
    assert ids(kalman) == [[0]] * 5 + [[], [], []] + [[0], [0]]
    # Without motion and without memory (the paper), the person comes back as a new track.
    paper = tracked(frames, det_thresh=0.5, min_area=0)
    assert ids(paper)[-2:] == [[1], [1]]
    # The filter's own prediction 4 frames on from the last box (48 px of motion): most of the
    # way there (it learns the velocity from 4 boxes, starting at rest), the height kept.
    kf = BoxKalman()
    mean, cov = kf.initiate(np.array([boxes[0]], float))
    for b in boxes[1:5]:
        mean, cov = kf.predict(mean, cov)
        mean, cov = kf.update(mean, cov, np.array([b], float))
    for _ in range(4):
        mean, cov = kf.predict(mean, cov)
    predicted = xyah_to_xyxy(mean)[0]
    assert 0.6 * 48 < predicted[0] - boxes[4][0] <= 48 + 6 and abs(predicted[3] - 60) < 2
    assert np.allclose(xyah_to_xyxy(xyxy_to_xyah(np.array(boxes, float))), boxes)


def test_low_score_detection_continues_a_track_but_never_starts_one():
    a, b = [0, 0, 30, 60], [100, 0, 130, 60]
    frames = [
        frame(a, scores=[0.99]),
        frame([2, 0, 32, 60], b, scores=[0.6, 0.6]),  # A occluded: low score; B new but low
        frame([4, 0, 34, 60], [102, 0, 132, 60], scores=[0.99, 0.99]),
    ]
    byte = tracked(frames, det_thresh=0.9, min_area=0, low_thresh=0.5)
    assert ids(byte) == [[0], [0], [0, 1]]
    assert byte[1].indices.tolist() == [0]  # B's low-score detection is not returned
    assert byte[1].scores.tolist() == [0.6]
    paper = tracked(frames, det_thresh=0.9, min_area=0)
    assert ids(paper) == [[0], [], [1, 2]]
    with pytest.raises(ValueError, match="low_thresh 0.95 is above det_thresh 0.9"):
        PoseTracker(det_thresh=0.9, low_thresh=0.95)


def test_oks_of_a_pose_with_itself_is_one():
    rng = np.random.default_rng(0)
    pose = np.concatenate([rng.uniform(0, 100, (2, 17, 2)), np.ones((2, 17, 1))], axis=2)
    sim = oks(pose, pose, np.array([100.0 * 100.0, 100.0 * 100.0]))
    assert np.allclose(np.diag(sim), 1.0) and (sim[0, 1] < 1)
    # A joint 10 px off at area 10^4: exp(-100 / (2 * 10^4 * (2 sigma)^2)) for that joint.
    moved = pose[:1].copy()
    moved[0, 5, 0] += 10  # left shoulder, sigma 0.079
    want = (14 + np.exp(-100 / (2 * 1e4 * (2 * 0.079) ** 2))) / 15
    assert oks(pose[:1], moved, np.array([1e4]))[0, 0] == pytest.approx(want)
    # As a tracking cost: 0 for the same pose, larger for a moved one, joints below the
    # keypoint threshold left out.
    d = Detections(np.array([[0, 0, 100, 100.0]]), np.ones(1), pose[:1])
    assert oks_cost(d, d)[0, 0] == pytest.approx(0.0)
    far = Detections(np.array([[0, 0, 100, 100.0]]), np.ones(1), moved)
    assert 0 < oks_cost(d, far)[0, 0] < 0.1
    moved[0, 5, 2] = 0.0
    assert oks_cost(d, far, keypoint_thresh=0.5)[0, 0] == pytest.approx(0.0)
    assert PoseTracker(cost="oks", det_thresh=0.5).update(d).track_ids.tolist() == [0]


def test_kalman_update_equals_the_general_kalman_equations():
    """The filter divides by the innovation covariance's diagonal: exact, since its blocks stay
    diagonal; checked against the general update (a matrix solve) over random steps."""
    rng = np.random.default_rng(0)
    kf = BoxKalman()
    boxes = np.array([[10, 20, 40, 100], [200, 50, 260, 170.0]])
    mean, cov = kf.initiate(boxes)
    for _ in range(12):
        mean, cov = kf.predict(mean, cov)
        boxes = boxes + rng.normal(0, 3, boxes.shape)
        z = xyxy_to_xyah(boxes)
        # The measurement noise written out here, not taken from the filter: standard
        # deviations h/20 for the centre and the height (h the predicted box height, ByteTrack's
        # weight) and 0.01 for the aspect ratio.
        h = mean[:, 3]
        r = np.stack(
            [np.diag([(hi / 20) ** 2, (hi / 20) ** 2, 0.01**2, (hi / 20) ** 2]) for hi in h]
        )
        s = cov[:, :4, :4] + r
        gain = np.linalg.solve(s, cov[:, :, :4].transpose(0, 2, 1)).transpose(0, 2, 1)
        want_mean = mean + np.einsum("nij,nj->ni", gain, z - mean[:, :4])
        want_cov = cov - gain @ cov[:, :, :4].transpose(0, 2, 1)
        mean, cov = kf.update(mean, cov, boxes)
        assert np.allclose(mean, want_mean) and np.allclose(cov, want_cov)
        off = cov[:, :4, :4] - np.einsum("nii->ni", cov[:, :4, :4])[:, :, None] * np.eye(4)
        assert not off.any()


def test_a_lost_track_keeps_its_size():
    """ByteTrack's rule: while a track is lost its box's height stops changing, so a long gap
    does not shrink the predicted box to nothing (a person walking away for 5 frames, then
    missed for 12)."""
    boxes = [[100 + 3 * t, 50 + t, 140 + 3 * t, 150 - t] for t in range(5)]
    t = PoseTracker(det_thresh=0.5, min_area=0, max_cost=0.8, memory=20, motion="kalman")
    for b in boxes:
        t.update(frame(b))
    for _ in range(12):
        t.update(frame())
    height = xyah_to_xyxy(t._tracks.kf_mean)[0, 3] - xyah_to_xyxy(t._tracks.kf_mean)[0, 1]
    assert abs(height - 92) < 4  # the last height (92 px), not 12 frames more of shrinking
