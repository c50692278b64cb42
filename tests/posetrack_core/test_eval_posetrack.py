"""PoseTrack metrics: each rule of the official toolkit on small hand-computed cases."""

import json
import os

import numpy as np
import pytest

from motmetrics_cases import (
    digest_files,
    digest_sequences,
    perturbed_predictions,
    random_sequences,
    reference,
)

from posetrack_core.evaluation import (
    ClearMOTCounter,
    evaluate_posetrack,
    evaluate_sequences,
    grouped,
    load_sequence_pair,
    pooled_metrics,
)
from posetrack_core.keypoints import KEYPOINT_NAMES, POSETRACK17_TO_COCO, posetrack_categories
from posetrack_core.posetrack_json import PoseTrackFormatError
from tubes_cli.eval_posetrack import main as eval_main

SLOT = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
JOINTS15 = [KEYPOINT_NAMES[s] for s in sorted(POSETRACK17_TO_COCO)]


def person(x, y, track=0, head=None, joints=None, score=None, skip=()):
    """A 15-joint pose around (x, y): joint k at (x + 3k, y + 5k); head box 20 px wide/tall
    (head size 0.6 * sqrt(800) = 16.97, so PCKh@0.5 tolerates 8.49 px)."""
    kps = [0.0] * 51
    for k, name in enumerate(joints or JOINTS15):
        if name in skip:
            continue
        s = SLOT[name]
        kps[3 * s : 3 * s + 3] = [x + 3 * k, y + 5 * k, 1]
    p = {
        "track_id": track,
        "keypoints": kps,
        "bbox_head": list(head) if head is not None else [x - 10, y - 20, 20, 20],
    }
    if score is not None:
        p["scores"] = [float(score)] * 17
    return p


def write_2018(path, frames, ignore=None, categories=True):
    images, anns = [], []
    for f, people in enumerate(frames):
        img = {
            "id": 1000 + f,
            "file_name": f"images/{f}.jpg",
            "frame_id": 1000 + f,
            "is_labeled": bool(people),
        }
        if ignore and f in ignore:
            img["ignore_regions_x"] = [[p[0] for p in ignore[f]]]
            img["ignore_regions_y"] = [[p[1] for p in ignore[f]]]
        images.append(img)
        for p in people:
            anns.append(dict(p, image_id=1000 + f, category_id=1))
    data = {"images": images, "annotations": anns}
    if categories:
        data["categories"] = posetrack_categories()
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)


def run(tmp_path, gt_frames, pred_frames, name="seq.json", **kw):
    write_2018(tmp_path / "gt" / name, gt_frames, kw.get("ignore"))
    write_2018(tmp_path / "pred" / name, pred_frames, categories=kw.get("categories", True))
    warnings = []
    res = evaluate_posetrack(str(tmp_path / "gt"), str(tmp_path / "pred"), warn=warnings.append)
    return res, warnings


def test_ground_truth_as_predictions_scores_100_in_2018_and_2017(tmp_path):
    gt = [
        [person(10, 10, 0), person(200, 10, 1)],
        [person(12, 10, 0), person(198, 10, 1)],
        [person(14, 10, 0)],
        [person(16, 10, 0), person(196, 12, 1)],
    ]
    res, _ = run(tmp_path, gt, gt)
    assert grouped(res["ap"]) == {
        k: 100.0 for k in ("head", "shoulder", "elbow", "wrist", "hip", "knee", "ankle", "total")
    }
    assert all(v == 100.0 for v in res["mota"]) and res["recall"][-1] == 100.0

    # The same sequence in the 2017 annolist format, ground truth and predictions.
    def to_2017(frames):
        annolist = []
        for people in frames:
            rects = []
            for p in people:
                k = np.array(p["keypoints"]).reshape(17, 3)
                pts = [
                    {"id": [j], "x": [k[s, 0]], "y": [k[s, 1]], "score": [1.0]}
                    for j, s in enumerate(POSETRACK17_TO_COCO)
                    if k[s, 2] > 0
                ]
                x, y, w, h = p["bbox_head"]
                rects.append(
                    {
                        "x1": [x],
                        "y1": [y],
                        "x2": [x + w],
                        "y2": [y + h],
                        "track_id": [p["track_id"]],
                        "annopoints": [{"point": pts}],
                    }
                )
            annolist.append({"image": [{"name": "x.jpg"}], "annorect": rects})
        return {"annolist": annolist}

    for d in ("gt17", "pr17"):
        os.makedirs(tmp_path / d)
        with open(tmp_path / d / "seq.json", "w") as f:
            json.dump(to_2017(gt), f)
    res17 = evaluate_posetrack(str(tmp_path / "gt17"), str(tmp_path / "pr17"))
    assert res17["ap"][-1] == 100.0 and res17["mota"][-1] == 100.0
    assert res17["counts"] == res["counts"]


def test_frames_paired_by_position_and_unlabelled_frames_ignored(tmp_path):
    gt = [[person(10, 10)], [], [person(14, 10)], [person(16, 10)]]
    # Predictions on the unlabelled frame 1 (a far-away person) never count.
    pred = [[person(10, 10)], [person(300, 300, 5)], [person(14, 10)], [person(16, 10)]]
    res, _ = run(tmp_path, gt, pred)
    assert res["ap"][-1] == 100.0 and res["mota"][-1] == 100.0 and res["num_frames"] == 3
    # Shifted frames (by position) are scored as wrong poses: the frame order is what counts.
    res2, _ = run(
        tmp_path, gt, [[], [person(10, 10)], [person(16, 10)], [person(14, 10)]], name="seq.json"
    )
    assert res2["mota"][-1] < 100.0


def test_ignore_regions_remove_points_and_empty_people(tmp_path):
    gt = [
        [person(10, 10), person(200, 10, 1)],
        [person(10, 10), person(200, 10, 1)],
        [person(10, 10)],
    ]
    # A spurious prediction fully inside the ignore polygon (not a false positive), and person 1
    # (ground truth too) lies inside it as well.
    polygon = [(150, 0), (320, 0), (320, 200), (150, 200)]
    pred = [
        [person(10, 10), person(250, 20, 7)],
        [person(10, 10), person(250, 20, 7)],
        [person(10, 10)],
    ]
    res, _ = run(tmp_path, gt, pred, ignore={0: polygon, 1: polygon})
    assert res["ap"][-1] == 100.0 and res["mota"][-1] == 100.0
    assert res["counts"]["objects"][0] == 2  # person 1 removed; the last frame is skipped


def test_ignore_polygon_contains_strictly_as_shapely_does():
    """The toolkit's shapely Polygon.contains: inside a concave polygon, not on an edge or a
    vertex, not in the notch."""
    from posetrack_core.evaluation.sequences import inside_polygons

    # An L shape: the notch (x > 10 and y > 10) is outside.
    poly = np.array([(0, 0), (20, 0), (20, 10), (10, 10), (10, 20), (0, 20)], float)
    points = np.array(
        [
            (5, 5),  # inside
            (15, 5),  # inside, right arm
            (5, 15),  # inside, upper arm
            (15, 15),  # the notch
            (20, 5),  # on an edge
            (10, 15),  # on the inner edge
            (0, 0),  # a vertex
            (10.0001, 10.0001),  # just inside the notch: outside
            (9.9999, 10.0001),  # just left of the inner edge: inside
            (-1, 5),  # outside
        ]
    )
    got = inside_polygons(points, [poly])
    want = [True, True, True, False, False, False, False, False, True, False]
    assert got.tolist() == want
    # Two polygons: inside either counts.
    square = np.array([(14, 14), (16, 14), (16, 16), (14, 16)], float)
    assert inside_polygons(points, [poly, square])[3]


def test_last_frame_of_each_sequence_is_skipped_by_tracking(tmp_path):
    gt = [[person(10, 10)], [person(12, 10)], [person(14, 10)]]
    wrong_last = [[person(10, 10)], [person(12, 10)], [person(100, 100)]]
    res, _ = run(tmp_path, gt, wrong_last)
    assert res["mota"][-1] == 100.0 and res["counts"]["objects"] == [2.0] * 15
    assert res["ap"][-1] < 100.0  # AP uses every evaluated frame
    wrong_first = [[person(100, 100)], [person(12, 10)], [person(14, 10)]]
    res, _ = run(tmp_path, gt, wrong_first)
    # Frame 0: one miss and one false positive per joint out of 2 objects -> MOTA 0.
    assert res["mota"][-1] == pytest.approx(0.0)


def test_frame_without_predictions_costs_one_miss_and_one_fp_per_joint(tmp_path):
    gt = [
        [person(10, 10), person(100, 10, 1), person(200, 10, 2)],
        [person(12, 10)],
        [person(14, 10)],
    ]
    pred = [[], [person(12, 10)], [person(14, 10)]]
    res, _ = run(tmp_path, gt, pred)
    c = res["counts"]
    # 3 people in frame 0 but one dummy object: objects = 1 + 1, misses = 1, FP = 1 per joint.
    assert c["objects"] == [2.0] * 15 and c["misses"] == [1.0] * 15 and c["fps"] == [1.0] * 15
    assert res["mota"][-1] == pytest.approx(0.0)


def test_pckh_threshold_and_head_size(tmp_path):
    # Head size 0.6 * |(20, 20)| = 16.97: 8.4 px is a match, 8.6 px is not.
    gt = [[person(10, 10)], [person(10, 10)]]
    near = [[person(18.4, 10)], [person(18.4, 10)]]
    far = [[person(18.6, 10)], [person(18.6, 10)]]
    assert run(tmp_path, gt, near)[0]["ap"][-1] == 100.0
    res, _ = run(tmp_path, gt, far)
    assert res["ap"][-1] == 0.0 and res["mota"][-1] == pytest.approx(-100.0)


def test_assignment_by_pckh_not_score_and_missing_scores(tmp_path):
    gt = [[person(10, 10)], [person(10, 10)]]
    # A: every joint right but a low score. B: only the 5 head/shoulder/elbow joints right
    # (the rest 50 px off) but a high score. A wins the ground truth by PCKh; B is a false
    # positive for every joint it carries.
    good = person(10, 10, 0, score=0.1)
    half = person(10, 10, 1, score=0.9)
    k = np.array(half["keypoints"]).reshape(17, 3)
    for name in JOINTS15[5:]:
        k[SLOT[name], 0] += 50
    half["keypoints"] = k.reshape(-1).tolist()
    res, _ = run(tmp_path, gt, [[good, half], [good, half]])
    ap = np.array(res["ap"][:15])
    # For each joint: 2 predictions per frame, the false positive ranked first -> AP = 0.5.
    assert np.allclose(ap, 50.0)
    # Without scores (-9999 each) the order falls to the toolkit's argsort: still 2 TP + 2 FP.
    del good["scores"], half["scores"]
    res, _ = run(tmp_path, gt, [[good, half], [good, half]])
    assert np.all((np.array(res["ap"][:15]) > 0) & (np.array(res["ap"][:15]) <= 100))


def test_total_ignores_nan_joints(tmp_path):
    no_ankles = ("left_ankle", "right_ankle")
    gt = [[person(10, 10, skip=no_ankles)], [person(10, 10, skip=no_ankles)]]
    res, _ = run(tmp_path, gt, gt)
    g = grouped(res["ap"])
    assert np.isnan(g["ankle"]) and g["total"] == 100.0 and g["knee"] == 100.0
    assert np.isnan(grouped(res["mota"])["ankle"]) and res["mota"][-1] == 100.0


def test_track_id_rules(tmp_path):
    gt = [[person(10, 10), person(100, 10, 1)], [person(10, 10), person(100, 10, 1)]]
    with pytest.raises(
        PoseTrackFormatError, match=r"pred.seq.json: frame 1: track id 3 appears twice"
    ):
        run(tmp_path, gt, [gt[0], [person(10, 10, 3), person(100, 10, 3)]])
    with pytest.raises(PoseTrackFormatError, match="frame 0: track id 1.5 is not an integer"):
        run(tmp_path, gt, [[person(10, 10, 1.5)], gt[1]])
    with pytest.raises(PoseTrackFormatError, match="track id 10000 is outside 0..9999"):
        run(tmp_path, gt, [[person(10, 10, 10000)], gt[1]])
    res, warnings = run(
        tmp_path,
        gt,
        [[person(10, 10, 5000), person(100, 10, 1)], [person(10, 10, 5000), person(100, 10, 1)]],
    )
    assert res["mota"][-1] == 100.0 and any("challenge asks for ids 0..999" in w for w in warnings)
    p = person(10, 10)
    del p["track_id"]
    with pytest.raises(PoseTrackFormatError, match="frame 0: a prediction without track_id"):
        run(tmp_path, gt, [[p], gt[1]])


def test_bad_files(tmp_path):
    gt = [[person(10, 10)], [person(12, 10)]]
    with pytest.raises(PoseTrackFormatError, match=r"pred.seq.json: 1 frames but the ground truth"):
        run(tmp_path, gt, gt[:1])
    with pytest.raises(PoseTrackFormatError, match="needs 'categories'"):
        run(tmp_path, gt, gt, categories=False)
    write_2018(tmp_path / "gt" / "other.json", gt)
    with pytest.raises(
        PoseTrackFormatError, match=r"other.json: prediction file for ground truth .* not found"
    ):
        evaluate_posetrack(str(tmp_path / "gt"), str(tmp_path / "pred"))
    (tmp_path / "pred" / "other.json").write_text("{oops")
    with pytest.raises(PoseTrackFormatError, match=r"other.json: malformed JSON"):
        evaluate_posetrack(str(tmp_path / "gt"), str(tmp_path / "pred"))
    no_head = person(10, 10)
    del no_head["bbox_head"]
    with pytest.raises(
        PoseTrackFormatError, match="frame 0: a ground-truth person without a head box"
    ):
        run(tmp_path, [[no_head]], [[person(10, 10)]], name="other.json")


def test_one_evaluated_frame_is_handled(tmp_path):
    res, warnings = run(tmp_path, [[person(10, 10)]], [[person(10, 10)]])
    assert res["ap"][-1] == 100.0
    assert any("left out of tracking metrics" in w for w in warnings)


def test_clear_mot_counter_equals_motmetrics_on_random_sequences():
    # py-motmetrics 1.4.0's MOTAccumulator on these sequences: tests/data/motmetrics_reference.json
    sequences = random_sequences()
    ref = reference("random_sequences")
    assert digest_sequences(sequences) == ref["inputs_sha256"], "inputs changed: remake it"
    assert len(ref["sequences"]) == len(sequences) == 150
    for frames, expected in zip(sequences, ref["sequences"]):
        fast = ClearMOTCounter()
        for oids, hids, d in frames:
            fast.update(oids, hids, d)
        for name in ("misses", "switches", "false_positives", "objects", "detections"):
            assert getattr(fast, name) == expected[name], name
        assert fast.sum_d == pytest.approx(expected["sum_d"], abs=1e-9)


def test_fast_backend_equals_motmetrics_backend_on_perturbed_synthetic(tiny_synth, tmp_path):
    # evaluate_posetrack(mot_backend="motmetrics") on these files, stored with their digest
    root, _ = tiny_synth
    gt_dir = os.path.join(root, "annotations", "val")
    perturbed_predictions(gt_dir, str(tmp_path / "pred"))
    ref = reference("perturbed_synthetic")
    assert digest_files(gt_dir, str(tmp_path / "pred")) == ref["inputs_sha256"], "inputs changed"
    fast = evaluate_posetrack(gt_dir, str(tmp_path / "pred"))
    for key in ("misses", "switches", "fps", "objects", "dets"):
        assert np.asarray(fast["counts"][key]).tolist() == ref["counts"][key], key
    assert np.allclose(fast["counts"]["sum_d"], ref["counts"]["sum_d"], rtol=0, atol=1e-9)
    assert np.allclose(fast["motp"], ref["motp"]) and np.allclose(fast["mota"], ref["mota"])
    assert 0 < fast["ap"][-1] < 100 and 0 < fast["mota"][-1] < 100
    assert sum(fast["counts"]["switches"]) > 0


def test_pooled_per_sequence_parts_equal_one_evaluation(tiny_synth, tmp_path):
    """What a bootstrap over videos pools: per-sequence parts give, for any multiset of
    sequences, the AP and MOTA of evaluating those sequences together."""
    root, _ = tiny_synth
    gt_dir = os.path.join(root, "annotations", "train")
    perturbed_predictions(gt_dir, str(tmp_path / "pred"), seed=4)
    names = sorted(os.listdir(gt_dir))
    seqs = [
        load_sequence_pair(os.path.join(gt_dir, n), str(tmp_path / "pred" / n), i)[0]
        for i, n in enumerate(names)
    ]
    parts = [evaluate_sequences([s], return_parts=True) for s in seqs]
    for pick in ([0, 1], [1, 1, 0], [0]):
        want = evaluate_sequences([seqs[i] for i in pick])
        got = pooled_metrics([parts[i] for i in pick])
        assert np.array_equal(got["ap"], want["ap"], equal_nan=True), pick
        assert np.array_equal(got["mota"], want["mota"], equal_nan=True), pick
    assert 0 < want["ap"][-1] < 100 and want["mota"][-1] < 100


def test_cli_tables_and_json(tmp_path, capsys):
    gt = [
        [person(10, 10), person(100, 10, 1)],
        [person(12, 10), person(102, 10, 1)],
        [person(14, 10)],
    ]
    write_2018(tmp_path / "gt" / "a.json", gt)
    write_2018(tmp_path / "pred" / "a.json", gt)
    out = tmp_path / "m.json"
    assert (
        eval_main(
            [
                "--groundTruth",
                str(tmp_path / "gt"),
                "--predictions",
                str(tmp_path / "pred"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "Average Precision (AP) metric:" in text and "MOTA Total" in text
    m = json.loads(out.read_text())
    assert set(m["ap"]) == {"head", "shoulder", "elbow", "wrist", "hip", "knee", "ankle", "total"}
    assert set(m["mota"]) == set(m["ap"]) and m["mota"]["total"] == 100.0
    for k in ("motp_total", "precision_total", "recall_total"):
        assert isinstance(m[k], float)
    assert (
        eval_main(
            [
                "--groundTruth",
                str(tmp_path / "gt"),
                "--predictions",
                str(tmp_path / "nope"),
                "--output",
                str(tmp_path / "n.json"),
            ]
        )
        == 2
    )
    assert "prediction folder not found" in capsys.readouterr().err
    assert not (tmp_path / "n.json").exists()
    assert (
        eval_main(
            [
                "--groundTruth",
                str(tmp_path / "gt"),
                "--predictions",
                str(tmp_path / "pred"),
                "--evalPoseEstimation",
            ]
        )
        == 0
    )
    assert "MOTA" not in capsys.readouterr().out
