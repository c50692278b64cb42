"""PoseTrack loaders on small hand-written files, with exact expected values."""

import json
import os

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.structures import BoxMode

from detectron2_tubes.data import load_posetrack_json, register_posetrack
from detectron2_tubes.data.posetrack import load_posetrack_split
from posetrack_core.keypoints import KEYPOINT_NAMES
from posetrack_core.posetrack_json import PoseTrackFormatError, detect_posetrack_format

H, W = 96, 64  # image height, width


def _write_images(root, names):
    for n in names:
        p = os.path.join(root, n)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        cv2.imwrite(p, np.full((H, W, 3), 128, np.uint8))


def _write_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)
    return str(path)


def _posetrack17(root):
    names = ["images/bonn/000001_bonn/00000.jpg", "images/bonn/000001_bonn/00001.jpg"]
    _write_images(root, names)
    pt = lambda i, x, y: {"id": [i], "x": [x], "y": [y], "is_visible": [1]}  # noqa: E731
    data = {
        "annolist": [
            {
                "image": [{"name": names[0]}],
                "imgnum": [1],
                "is_labeled": [1],
                "ignore_regions": [
                    {"point": [{"x": [0], "y": [0]}, {"x": [10], "y": [0]}, {"x": [10], "y": [12]}]}
                ],
                "annorect": [
                    {
                        "x1": [20],
                        "y1": [8],
                        "x2": [32],
                        "y2": [24],
                        "score": [1.0],
                        "track_id": [3],
                        "annopoints": [
                            {
                                "point": [
                                    pt(0, 40, 90),
                                    pt(13, 25, 15),
                                    pt(14, 25, 10),
                                    pt(12, 26, 22),
                                    pt(9, 30, 30),
                                ]
                            }
                        ],
                    },
                    {"x1": [1], "y1": [1], "x2": [5], "y2": [5], "track_id": [4]},  # no points
                ],
            },
            {"image": [{"name": names[1]}], "imgnum": [2], "is_labeled": [0], "annorect": []},
        ]
    }
    return _write_json(os.path.join(root, "annotations", "val", "000001_bonn.json"), data)


def test_posetrack17_joint_permutation_boxes_and_fields(tmp_path):
    root = str(tmp_path)
    dicts = load_posetrack_json(_posetrack17(root), root)
    assert len(dicts) == 2
    d0, d1 = dicts
    assert d0["file_name"] == os.path.join(root, "images/bonn/000001_bonn/00000.jpg")
    assert (d0["height"], d0["width"]) == (H, W)
    assert d0["video_id"] == "000001_bonn" and d0["frame_id"] == 0 and d1["frame_id"] == 1
    assert d0["is_labeled"] is True and d1["is_labeled"] is False and d1["annotations"] == []
    assert d0["ignore_regions"] == [[0.0, 0.0, 10.0, 0.0, 10.0, 12.0]]
    # The person without points has no box to learn from and is dropped.
    assert len(d0["annotations"]) == 1
    a = d0["annotations"][0]
    assert a["track_id"] == 3 and a["category_id"] == 0 and a["bbox_mode"] == BoxMode.XYXY_ABS
    assert a["bbox_head"] == [20.0, 8.0, 32.0, 24.0]
    kps = np.array(a["keypoints"]).reshape(17, 3)
    # 2017 ids -> COCO slots: right_ankle(0)->16, nose(13)->0, head_top(14)->2,
    # head_bottom(12)->1, left_shoulder(9)->5.
    expected = {16: (40, 90), 0: (25, 15), 2: (25, 10), 1: (26, 22), 5: (30, 30)}
    for slot in range(17):
        if slot in expected:
            assert tuple(kps[slot]) == (*expected[slot], 2.0), KEYPOINT_NAMES[slot]
        else:
            assert tuple(kps[slot]) == (0, 0, 0), KEYPOINT_NAMES[slot]
    # Person box: extent x 25..40, y 10..90, +1 pixel -> [25, 10, 41, 91]; dilated 20% about
    # the centre (33, 50.5) -> [23.4, 1.9, 42.6, 99.1]; clipped to the 64x96 image.
    assert a["bbox"] == pytest.approx([23.4, 1.9, 42.6, 96.0])


def _posetrack18(root, year=2018):
    names = [f"images/val/000002_mpii/{i:06d}.jpg" for i in range(3)]
    _write_images(root, names)
    ids = [10000020000 + i for i in range(3)]
    kp_a = [0.0] * 51
    kp_a[0:3] = [10, 20, 1]  # nose
    kp_a[3:6] = [11, 30, 1]  # head_bottom
    kp_a[6:9] = [12, 5, 1]  # head_top
    kp_a[15:18] = [20, 40, 0]  # left_shoulder: v = 0 but x, y set -> annotated (toolkit rule)
    kp_b = [0.0] * 51
    kp_b[45:48] = [30, 80, 1]  # left_ankle
    kp_b[48:51] = [50, 90, 1]  # right_ankle
    images = [
        {
            "id": ids[0],
            "file_name": names[0],
            "vid_id": "000002",
            "frame_id": ids[0],
            "nframes": 3,
            "is_labeled": True,
            "ignore_regions_x": [[1, 9, 9], [40, 50]],
            "ignore_regions_y": [[1, 1, 9], [40, 50]],
        },
        {
            "id": ids[1],
            "file_name": names[1],
            "vid_id": "000002",
            "frame_id": ids[1],
            "nframes": 3,
            "is_labeled": False,
            "ignore_regions_x": [],
            "ignore_regions_y": [],
        },
        {
            "id": ids[2],
            "file_name": names[2],
            "vid_id": "000002",
            "frame_id": ids[2],
            "nframes": 3,
            "is_labeled": True,
        },
    ]
    annotations = [
        {
            "id": 0,
            "image_id": ids[0],
            "track_id": 7,
            "category_id": 1,
            "keypoints": kp_a,
            "bbox": [5, 2, 30, 50],
            "bbox_head": [8, 4, 6, 28],
        },
        {
            "id": 1,
            "image_id": ids[2],
            "track_id": 2,
            "category_id": 1,
            "keypoints": kp_b,
            "bbox_head": [40, 10, 10, 12],
        },
    ]
    if year == 2021:
        for a in annotations:
            a["person_id"] = 100 + a["track_id"]
        for im in images:
            im["has_labeled_person"] = im["is_labeled"]
    return _write_json(
        os.path.join(root, "annotations", "val", "000002_mpii.json"),
        {"images": images, "annotations": annotations, "categories": []},
    )


@pytest.mark.parametrize("year", [2018, 2021])
def test_posetrack18_and_21_exact_values(tmp_path, year):
    root = str(tmp_path)
    path = _posetrack18(root, year)
    with open(path) as f:
        assert detect_posetrack_format(json.load(f)) == str(year)
    d = load_posetrack_json(path, root)
    assert [x["frame_id"] for x in d] == [0, 1, 2]
    assert [x["image_id"] for x in d] == [10000020000, 10000020001, 10000020002]
    assert [x["is_labeled"] for x in d] == [True, False, True]
    # The two-point polygon is not a region and is dropped.
    assert d[0]["ignore_regions"] == [[1.0, 1.0, 9.0, 1.0, 9.0, 9.0]]
    assert d[1]["annotations"] == [] and d[2]["ignore_regions"] == []
    a = d[0]["annotations"][0]
    assert a["track_id"] == 7
    assert a["bbox"] == [5.0, 2.0, 35.0, 52.0]  # the file's box, XYWH -> XYXY
    assert a["bbox_head"] == [8.0, 4.0, 14.0, 32.0]
    k = np.array(a["keypoints"]).reshape(17, 3)
    assert k[5].tolist() == [20, 40, 2] and k[0].tolist() == [10, 20, 2]
    assert int((k[:, 2] > 0).sum()) == 4
    b = d[2]["annotations"][0]
    assert b["track_id"] == 2 and b["bbox_head"] == [40.0, 10.0, 50.0, 22.0]
    # No person box in the file: ankles x 30..50, y 80..90 -> [30, 80, 51, 91] dilated 20%
    # about (40.5, 85.5) -> [27.9, 78.9, 53.1, 92.1], clipped to height 96 (no change).
    assert b["bbox"] == pytest.approx([27.9, 78.9, 53.1, 92.1])


def test_posetrack18_person_box_past_the_image_is_clipped(tmp_path):
    """Some 2018 files have person boxes that run past the image (a box 1092 px high from
    y = 15 in a 1080 px frame): clipped to the image, as boxes made from keypoints are."""
    root = str(tmp_path)
    path = _posetrack18(root)
    with open(path) as f:
        data = json.load(f)
    data["annotations"][0]["bbox"] = [-4, 15, 30, 120]  # x from -4, y to 135 in a 64x96 image
    _write_json(path, data)
    a = load_posetrack_json(path, root)[0]["annotations"][0]
    assert a["bbox"] == [0.0, 15.0, 26.0, 96.0]


def test_register_split_and_metadata(tmp_path):
    root = str(tmp_path)
    _posetrack18(root)
    _posetrack17(root)
    register_posetrack("pt_test_mixed", os.path.join(root, "annotations", "val"), root)
    dicts = DatasetCatalog.get("pt_test_mixed")
    # Files sorted by name: 000001_bonn (2 frames, 2017) then 000002_mpii (3 frames, 2018).
    assert [(d["video_id"], d["frame_id"]) for d in dicts] == [
        ("000001_bonn", 0),
        ("000001_bonn", 1),
        ("000002_mpii", 0),
        ("000002_mpii", 1),
        ("000002_mpii", 2),
    ]
    meta = MetadataCatalog.get("pt_test_mixed")
    assert meta.evaluator_type == "posetrack"
    assert meta.keypoint_names[:3] == ["nose", "head_bottom", "head_top"]
    # Flipping swaps left/right joints but keeps head_bottom and head_top in place.
    flip = utils.create_keypoint_hflip_indices(["pt_test_mixed"])
    assert flip[1] == 1 and flip[2] == 2 and flip[0] == 0
    assert flip[5] == 6 and flip[6] == 5 and flip[15] == 16 and flip[3] == 4
    names = set(meta.keypoint_names)
    assert all(a in names and b in names for a, b, _ in meta.keypoint_connection_rules)


def test_builtin_names_registered():
    import detectron2_tubes  # noqa: F401

    for name in (
        "posetrack17_train",
        "posetrack17_val",
        "posetrack18_train",
        "posetrack18_val",
        "posetrack21_train",
        "posetrack21_val",
        "posetrack_synth_train",
        "posetrack_synth_val",
    ):
        assert name in DatasetCatalog.list()
        assert MetadataCatalog.get(name).evaluator_type == "posetrack"
    assert MetadataCatalog.get("posetrack18_val").annotation_dir.endswith(
        os.path.join("posetrack18", "annotations", "val")
    )
    assert MetadataCatalog.get("posetrack21_train").annotation_dir.endswith(
        os.path.join("posetrack21", "posetrack_data", "train")
    )


def _expect_error(path, root, *fragments):
    with pytest.raises(PoseTrackFormatError) as e:
        load_posetrack_json(path, root)
    msg = str(e.value)
    assert str(path) in msg or any(str(path) in f for f in fragments)
    for f in fragments:
        assert f in msg, msg
    return msg


def test_bad_input_gives_clear_errors(tmp_path):
    root = str(tmp_path)
    bad = tmp_path / "malformed.json"
    bad.write_text('{"images": [ ')
    _expect_error(str(bad), root, "malformed JSON")
    unknown = _write_json(tmp_path / "unknown.json", {"frames": []})
    _expect_error(unknown, root, "unknown PoseTrack format")
    _expect_error(str(tmp_path / "missing.json"), root, "does not exist")

    path = _posetrack18(root)
    with open(path) as f:
        good = json.load(f)

    def variant(name, edit):
        data = json.loads(json.dumps(good))
        edit(data)
        return _write_json(tmp_path / name, data)

    _expect_error(
        variant("no_file_name.json", lambda d: d["images"][1].pop("file_name")),
        root,
        "images[1]",
        "file_name",
    )
    _expect_error(
        variant("no_image_id.json", lambda d: d["annotations"][0].pop("image_id")),
        root,
        "annotations[0]",
        "image_id",
    )
    _expect_error(
        variant("short_kps.json", lambda d: d["annotations"][1].update(keypoints=[1] * 45)),
        root,
        "frame 2",
        "45 keypoint values",
        "expected 51",
    )
    _expect_error(
        variant("no_kps.json", lambda d: d["annotations"][0].pop("keypoints")),
        root,
        "frame 0",
        "keypoints",
    )
    _expect_error(
        variant(
            "no_image.json", lambda d: d["images"][0].update(file_name="images/val/nope/000000.jpg")
        ),
        root,
        "images/val/nope/000000.jpg",
        "does not exist",
    )
    _expect_error(
        variant("images_not_list.json", lambda d: d.update(images={"a": 1})),
        root,
        "'images' is not a list",
    )
    p17 = _posetrack17(root)
    with open(p17) as f:
        d17 = json.load(f)
    d17["annolist"][0]["annorect"][0]["annopoints"][0]["point"][0]["id"] = [15]
    _expect_error(_write_json(tmp_path / "bad17.json", d17), root, "joint id 15")
    d17["annolist"][0].pop("image")
    _expect_error(_write_json(tmp_path / "bad17b.json", d17), root, "annolist[0]", "image")

    empty = tmp_path / "empty_split"
    empty.mkdir()
    with pytest.raises(PoseTrackFormatError, match="no .json sequence files"):
        load_posetrack_split(str(empty), root)
    with pytest.raises(PoseTrackFormatError, match="does not exist"):
        load_posetrack_split(str(tmp_path / "nope"), root)
