"""PoseTrack21's keypoint HOTA (`evaluation.hota_pose`) on cases worked out by hand, and the
kit's input checks. Equality with the kit itself on perturbed synthetic predictions is measured by
``bench/bench_posetrack21.py`` (the kit needs numpy < 1.24, another environment)."""

import json
import math

import numpy as np
import pytest

from posetrack_core.evaluation.hota_pose import HOTA_METRICS, evaluate_posetrack21
from posetrack_core.posetrack_json import PoseTrackFormatError

# A standing person's 17 slots (ears unannotated), all well inside a 640x480 image.
_POSE = np.array(
    [[100, 60], [100, 75], [100, 40], [0, 0], [0, 0], [85, 85], [115, 85], [80, 110], [120, 110],
     [78, 135], [122, 135], [90, 140], [110, 140], [88, 175], [112, 175], [87, 210], [113, 210]],
    float,
)  # fmt: skip
_HEAD_BOX = [92, 36, 16, 24]  # xywh: head size 0.6 * hypot(16, 24) = 17.3 px


def _person(image_id, track_id, dx=0.0, dy=0.0, joints=None):
    k = np.concatenate([_POSE + [dx, dy], np.ones((17, 1))], axis=1)
    k[[3, 4]] = 0
    if joints is not None:
        k[[j for j in range(17) if j not in joints]] = 0
    return {
        "image_id": image_id,
        "track_id": track_id,
        "keypoints": k.reshape(-1).tolist(),
        "scores": [1.0] * 17,
        "bbox_head": [_HEAD_BOX[0] + dx, _HEAD_BOX[1] + dy, *_HEAD_BOX[2:]],
        "bbox": [70 + dx, 30 + dy, 60, 190],
    }


def _write(path, people_per_frame, ignore=None, labeled=None, first_id=100):
    images, anns = [], []
    for t, people in enumerate(people_per_frame):
        img = {
            "id": first_id + t,
            "file_name": f"images/val/seq/{t:06d}.jpg",
            "is_labeled": True,
            "ignore_regions_x": [],
            "ignore_regions_y": [],
        }
        if labeled is not None:
            img["is_labeled"] = labeled[t]
        if ignore and t in ignore:
            xs, ys = zip(*ignore[t])
            img["ignore_regions_x"], img["ignore_regions_y"] = [list(xs)], [list(ys)]
        images.append(img)
        for p in people:
            anns.append({**p, "image_id": first_id + t, "id": len(anns)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": anns}))


def _evaluate(tmp_path, gt_frames, pred_frames, **gt_options):
    _write(tmp_path / "gt" / "seq.json", gt_frames, **gt_options)
    _write(tmp_path / "pred" / "seq.json", pred_frames)
    return evaluate_posetrack21(str(tmp_path / "gt"), str(tmp_path / "pred"))


def _two_people(frames=4):
    return [[_person(0, 1), _person(0, 2, dx=300)] for _ in range(frames)]


def test_perfect_predictions_score_100(tmp_path):
    gt = _two_people()
    res = _evaluate(tmp_path, gt, gt)
    for k in HOTA_METRICS:
        assert res[k] == pytest.approx([100.0] * 16), k
    assert res["joints"][-1] == "Total" and len(res["joints"]) == 16
    assert res["HOTA_TP(0)"][-1] == 4 * 2 * 15


def test_one_identity_swap_lowers_assa_as_worked_out(tmp_path):
    # Two people, 4 frames, exact positions: the predicted ids swap after frame 1. Per joint,
    # every (gt, pred) pair is matched in 2 frames; each id has 4 joints over the sequence:
    # AssA = sum over the 4 pairs of 2 * 2 / (4 + 4 - 2), over TP = 8  ->  1/3.
    gt = _two_people()
    pred = [[_person(0, 7), _person(0, 8, dx=300)] for _ in range(2)]
    pred += [[_person(0, 8), _person(0, 7, dx=300)] for _ in range(2)]
    res = _evaluate(tmp_path, gt, pred)
    assert res["AssA"] == pytest.approx([100 / 3] * 16)
    assert res["AssRe"] == pytest.approx([50.0] * 16)  # 4 * 2 * 2 / 4 / 8
    assert res["DetA"] == pytest.approx([100.0] * 16)
    assert res["HOTA"] == pytest.approx([100 * math.sqrt(1 / 3)] * 16)


def test_localisation_error_lowers_loca_and_detection_by_alpha(tmp_path):
    # Every joint off by 0.25 head sizes: similarity 1 - 0.25 / 0.5001, matched at the alphas
    # up to it (10 of 19: 0.05 .. 0.50), so DetA = 10/19. LocA is the similarity where joints
    # match and, as in the kit, 1 at the alphas without any match (0 / 0 read as 1).
    head = 0.6 * math.hypot(*_HEAD_BOX[2:])
    gt = [[_person(0, 1)] for _ in range(3)]
    pred = [[_person(0, 1, dx=0.25 * head)] for _ in range(3)]
    res = _evaluate(tmp_path, gt, pred)
    sim = 1 - 0.25 / 0.5001
    assert res["DetA"][-1] == pytest.approx(
        100 * sum(a <= sim for a in np.arange(0.05, 0.99, 0.05)) / 19
    )
    assert res["LocA"][-1] == pytest.approx(100 * (10 * sim + 9) / 19)
    assert res["HOTA(0)"][-1] == pytest.approx(100.0) and res["LocA(0)"][-1] == pytest.approx(
        100 * sim
    )


def test_empty_prediction_scores_0(tmp_path):
    res = _evaluate(tmp_path, _two_people(), [[] for _ in range(4)])
    assert res["HOTA"] == pytest.approx([0.0] * 16)
    assert res["DetRe"] == pytest.approx([0.0] * 16)
    assert res["HOTA_TP(0)"][-1] == 0


def test_ignore_regions_as_in_the_kit(tmp_path):
    gt = [[_person(0, 1)] for _ in range(2)]
    # a false positive wholly inside frame 0's ignore region, one on its edge in frame 1
    region = {0: [(390, 20), (520, 20), (520, 240), (390, 240)]}
    fp_inside = _person(0, 9, dx=350)  # x 430..470, y 40..210: inside
    pred = [[_person(0, 1), fp_inside], [_person(0, 1)]]
    res = _evaluate(tmp_path, gt, pred, ignore=region)
    assert res["DetPr"] == pytest.approx([100.0] * 16)  # removed, not a false positive
    # Without the region the same false positive costs precision: 2 of 3 detections right.
    res = _evaluate(tmp_path / "no_region", gt, pred)
    assert res["DetPr"][-1] == pytest.approx(100 * 2 / 3)
    # Strictly inside only: joints on the region's edge stay (shapely's Polygon.contains).
    edge = {0: [(100, 0), (300, 0), (300, 300), (100, 300)]}  # left edge at x = 100
    res = _evaluate(tmp_path / "edge", gt, [[_person(0, 1)], [_person(0, 1)]], ignore=edge)
    # The nose, neck and head of the person lie on x = 100: on the edge, so kept and matched;
    # the right-side joints (x > 100) are inside and removed from both files.
    assert res["HOTA"][0:3] == pytest.approx([100.0] * 3)
    assert res["HOTA_TP(0)"][4] == 1  # RS: frame 1 only
    # A ground-truth joint inside the region is no miss.
    assert res["DetRe"][4] == pytest.approx(100.0)


def test_unlabeled_frames_are_skipped_and_empty_frames_count_as_the_kit_does(tmp_path):
    gt = [[_person(0, 1)], [], [_person(0, 1)]]
    pred = [[_person(0, 1)], [_person(0, 1)], [_person(0, 1)]]
    res = _evaluate(tmp_path / "unlabeled", gt, pred, labeled=[True, False, True])
    assert res["HOTA"][-1] == pytest.approx(100.0) and res["num_frames"] == 2
    # Frame 1 has no prediction: the kit adds the sequence's whole count of ground-truth joints
    # (3 per joint), not the frame's 1, to the misses: DetA = 2 / (2 + 3) (the kit gives 40.0).
    res = _evaluate(tmp_path / "no_prediction", [[_person(0, 1)]] * 3, [pred[0], [], pred[2]])
    assert res["DetA"] == pytest.approx([40.0] * 16)
    # A labelled frame without ground-truth people (the kit itself fails on one) counts the
    # same way: the sequence's 3 predicted joints as false positives.
    res = _evaluate(tmp_path / "no_people", gt, pred)
    assert res["DetA"] == pytest.approx([40.0] * 16)


def test_input_checks_name_the_file_and_frame(tmp_path):
    gt = _two_people(2)
    _write(tmp_path / "gt" / "seq.json", gt)
    (tmp_path / "pred").mkdir()
    with pytest.raises(PoseTrackFormatError, match=r"seq.json: prediction file missing"):
        evaluate_posetrack21(str(tmp_path / "gt"), str(tmp_path / "pred"))
    _write(tmp_path / "pred" / "seq.json", gt[:1])
    with pytest.raises(PoseTrackFormatError, match=r"pred/seq.json: 1 frames, the ground truth"):
        evaluate_posetrack21(str(tmp_path / "gt"), str(tmp_path / "pred"))
    _write(tmp_path / "pred" / "seq.json", [gt[0], [_person(0, 3), _person(0, 3, dx=300)]])
    with pytest.raises(PoseTrackFormatError, match=r"seq.json: frame 1: .*track id 3 more than"):
        evaluate_posetrack21(str(tmp_path / "gt"), str(tmp_path / "pred"))
    # Frames numbered from 0 (track_video's files): the kit's image-id check, or position only.
    _write(tmp_path / "pred" / "seq.json", gt, first_id=0)
    with pytest.raises(PoseTrackFormatError, match=r"seq.json: frame 0 has image id 0, .* 100"):
        evaluate_posetrack21(str(tmp_path / "gt"), str(tmp_path / "pred"))
    res = evaluate_posetrack21(str(tmp_path / "gt"), str(tmp_path / "pred"), check_image_ids=False)
    assert res["HOTA"][-1] == pytest.approx(100.0)
    (tmp_path / "pred" / "seq.json").write_text('{"images": [')
    with pytest.raises(PoseTrackFormatError, match=r"pred/seq.json: .*JSON"):
        evaluate_posetrack21(str(tmp_path / "gt"), str(tmp_path / "pred"))


def test_cli_prints_the_kit_table_and_writes_json(tmp_path, capsys):
    from tubes_cli.eval_posetrack import main

    gt = _two_people()
    pred = [[_person(0, 7), _person(0, 8, dx=300)] for _ in range(2)]
    pred += [[_person(0, 8), _person(0, 7, dx=300)] for _ in range(2)]
    _write(tmp_path / "gt" / "seq.json", gt)
    _write(tmp_path / "pred" / "seq.json", pred)
    argv = ["--benchmark", "posetrack21", "--groundTruth", str(tmp_path / "gt")]
    out_json = tmp_path / "m.json"
    assert main(argv + ["--predictions", str(tmp_path / "pred"), "--output", str(out_json)]) == 0
    out = capsys.readouterr().out
    header, hota_row = [line for line in out.splitlines() if line.startswith(("Metric ", "HOTA "))]
    assert header.split()[1:] == ["Nose", "Neck", "Head", "LS", "RS", "LE", "RE", "LW", "RW",
                                  "LH", "RH", "LK", "RK", "LA", "RA", "Total"]  # fmt: skip
    assert hota_row.split()[-1] == "57.74"
    assert json.loads(out_json.read_text())["AssA"][-1] == pytest.approx(100 / 3)
    # A missing prediction file: one line naming it, exit status 2, nothing written.
    (tmp_path / "pred" / "seq.json").unlink()
    out_json.unlink()
    assert main(argv + ["--predictions", str(tmp_path / "pred"), "--output", str(out_json)]) == 2
    err = capsys.readouterr().err
    assert "seq.json: prediction file missing" in err and not out_json.exists()
