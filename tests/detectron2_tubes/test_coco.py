"""COCO-format keypoint image sets train Tube R-CNN: one-frame videos filtered and mapped as
stock Detectron2 does, static clips for T > 1, each dataset's own flip map, one layout at a time."""

import json
import os

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, DatasetMapper, MetadataCatalog
from detectron2.data import transforms as T
from detectron2.data.build import get_detection_dataset_dicts
from detectron2.data.datasets import register_coco_instances
from detectron2.data.datasets.builtin_meta import (
    COCO_PERSON_KEYPOINT_FLIP_MAP,
    COCO_PERSON_KEYPOINT_NAMES,
)

from detectron2_tubes import add_tubes_config
from detectron2_tubes.data import (
    ClipDatasetMapper,
    export_coco_keypoints,
    flip_map_from_names,
    get_clip_dataset_dicts,
    keypoint_hflip_indices,
    load_posetrack_split,
    register_coco_keypoints,
)
from posetrack_core.keypoints import KEYPOINT_NAMES

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
QUICK_T1 = os.path.join(ROOT, "configs", "quick_schedules", "tube_rcnn_R18_T1_synth.yaml")


@pytest.fixture(scope="module")
def coco_sets(tiny_synth, tmp_path_factory):
    """The tiny synthetic training frames as COCO keypoint JSONs: in PoseTrack's layout (as
    exported) and relabelled with COCO's keypoint names; a few images emptied or crowd-only."""
    root, _ = tiny_synth
    out = tmp_path_factory.mktemp("coco")
    frames = load_posetrack_split(os.path.join(root, "annotations", "train"), root)
    path = str(out / "synth_posetrack_layout.json")
    data = export_coco_keypoints(frames, path, root, KEYPOINT_NAMES)
    # Detectron2's filters must have something to remove: an image without people, one whose
    # only person is a crowd, one whose people have no visible keypoint.
    anns = data["annotations"]
    data["annotations"] = [a for a in anns if a["image_id"] != 1]
    for a in data["annotations"]:
        if a["image_id"] == 2:
            a["iscrowd"] = 1
        if a["image_id"] == 3:
            a["keypoints"] = [0.0] * len(a["keypoints"])
            a["num_keypoints"] = 0
    with open(path, "w") as f:
        json.dump(data, f)
    coco_layout = dict(
        data, categories=[dict(data["categories"][0], keypoints=COCO_PERSON_KEYPOINT_NAMES)]
    )
    coco_path = str(out / "synth_coco_layout.json")
    with open(coco_path, "w") as f:
        json.dump(coco_layout, f)
    for name, p in (("tiny_images_pt", path), ("tiny_images_coco", coco_path)):
        if name not in DatasetCatalog.list():
            register_coco_keypoints(name, p, root)
    return root, data, frames


def test_flip_maps_from_keypoint_names():
    assert sorted(flip_map_from_names(COCO_PERSON_KEYPOINT_NAMES)) == sorted(
        COCO_PERSON_KEYPOINT_FLIP_MAP
    )
    posetrack = dict(flip_map_from_names(KEYPOINT_NAMES))
    assert "head_bottom" not in posetrack and "head_top" not in posetrack
    assert posetrack["left_ear"] == "right_ear" and len(posetrack) == 7


def test_each_dataset_flips_with_its_own_map(coco_sets):
    pt = keypoint_hflip_indices(["tiny_images_pt"], 17)
    coco = keypoint_hflip_indices(["tiny_images_coco"], 17)
    assert list(pt[:5]) == [0, 1, 2, 4, 3]  # head_bottom and head_top stay
    assert list(coco[:5]) == [0, 2, 1, 4, 3]  # the eyes swap
    assert list(pt[5:]) == list(coco[5:]) == [6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    # A training set that mixes the two layouts is refused.
    with pytest.raises(ValueError, match="DATASETS.TRAIN mixes keypoint layouts: 'tiny_images_pt'"):
        keypoint_hflip_indices(["tiny_images_pt", "tiny_images_coco"], 17)
    with pytest.raises(ValueError, match="has 17 keypoints but MODEL.ROI_KEYPOINT_HEAD"):
        keypoint_hflip_indices(["tiny_images_pt"], 15)
    # Registered without keypoint metadata (Detectron2's register_coco_instances with {}).
    if "tiny_images_nometa" not in DatasetCatalog.list():
        register_coco_instances("tiny_images_nometa", {}, "/x.json", "/")
    with pytest.raises(ValueError, match="'tiny_images_nometa' declares no keypoint_names"):
        keypoint_hflip_indices(["tiny_images_nometa"])


def test_exported_json_round_trips(coco_sets):
    root, data, frames = coco_sets
    labelled = [f for f in frames if f["is_labeled"]]
    assert len(data["images"]) == len(labelled)
    loaded = DatasetCatalog.get("tiny_images_pt")
    d, f = loaded[5], labelled[5]  # images 1-3 were edited; 6 is as exported
    assert d["file_name"] == f["file_name"] and (d["height"], d["width"]) == (
        f["height"],
        f["width"],
    )
    assert len(d["annotations"]) == len(f["annotations"]) > 0
    for a, b in zip(d["annotations"], f["annotations"]):
        x, y, w, h = a["bbox"]
        assert np.allclose([x, y, x + w, y + h], b["bbox"], atol=1e-4)
        ka, kb = np.reshape(a["keypoints"], (-1, 3)), np.reshape(b["keypoints"], (-1, 3))
        labelled = kb[:, 2] > 0
        assert labelled.any() and np.array_equal(ka[:, 2], kb[:, 2])
        assert np.allclose(ka[labelled], kb[labelled], atol=1e-3)


def test_image_sets_are_filtered_as_detectron2_filters_them(coco_sets):
    clips = get_clip_dataset_dicts("tiny_images_pt", 1, is_train=True, min_keypoints=1)
    stock = get_detection_dataset_dicts("tiny_images_pt", filter_empty=True, min_keypoints=1)
    assert [c["file_name"] for c in clips] == [d["file_name"] for d in stock]
    all_images = DatasetCatalog.get("tiny_images_pt")
    assert len(stock) == len(all_images) - 3  # the empty, crowd-only and keypoint-less images
    # Testing keeps every image.
    assert len(get_clip_dataset_dicts("tiny_images_pt", 1, is_train=False)) == len(all_images)


def test_t1_mapper_gives_detectron2s_instances(coco_sets):
    """T = 1 on an image: the same image, boxes and keypoints as Detectron2's DatasetMapper under
    the same (here deterministic, flipping) augmentation."""
    augs = [T.ResizeShortestEdge(160, 333), T.RandomFlip(prob=1.0)]
    flip = keypoint_hflip_indices(["tiny_images_pt"])
    ours = ClipDatasetMapper(
        True, augmentations=augs, image_format="BGR", num_frames=1, keypoint_hflip_indices=flip
    )
    stock = DatasetMapper(
        True, augmentations=augs, image_format="BGR", use_keypoint=True, keypoint_hflip_indices=flip
    )
    for d in get_clip_dataset_dicts("tiny_images_pt", 1, is_train=True)[:4]:
        a, b = ours(d), stock(d)
        assert torch.equal(a["image"][:, 0], b["image"])
        ia, ib = a["instances"], b["instances"]
        assert len(ia) == len(ib) > 0
        assert torch.allclose(ia.gt_tubes.tensor[:, 0], ib.gt_boxes.tensor)
        assert torch.allclose(ia.gt_keypoints[:, 0], ib.gt_keypoints.tensor)


def test_image_sets_train_t3_on_static_clips(coco_sets):
    clips = get_clip_dataset_dicts("tiny_images_pt", 3, is_train=True)
    frames = clips[0]["clip_frames"]
    assert len(frames) == 3 and len({f["file_name"] for f in frames}) == 1
    mapper = ClipDatasetMapper(
        True,
        augmentations=[T.ResizeShortestEdge(160, 333)],
        image_format="BGR",
        num_frames=3,
        keypoint_hflip_indices=keypoint_hflip_indices(["tiny_images_pt"]),
    )
    out = mapper(clips[0])
    inst = out["instances"]
    # Each person is one tube over the three copies, not three one-frame tubes.
    assert len(inst) == len(clips[0]["annotations"])
    assert inst.gt_visible.all()
    assert torch.equal(inst.gt_tubes.tensor[:, 0], inst.gt_tubes.tensor[:, 2])
    assert torch.equal(out["image"][:, 0], out["image"][:, 1])


def test_train_net_trains_t1_on_a_coco_keypoint_json(coco_sets, tmp_path):
    """Through train_net.py's main: the quick-width 2D Tube R-CNN on the COCO-format images."""
    from detectron2.engine import default_argument_parser

    from tubes_cli import train_net

    out = str(tmp_path / "coco_t1")
    args = default_argument_parser().parse_args(
        [
            "--config-file",
            QUICK_T1,
            "DATASETS.TRAIN",
            "('tiny_images_pt',)",
            "DATASETS.TEST",
            "()",
            "SOLVER.MAX_ITER",
            "4",
            "SOLVER.IMS_PER_BATCH",
            "2",
            "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS",
            "[32]",
            "INPUT.MIN_SIZE_TRAIN",
            "(128,)",
            "OUTPUT_DIR",
            out,
        ]
    )
    train_net.main(args)
    with open(os.path.join(out, "metrics.json")) as f:
        records = [json.loads(line) for line in f if "total_loss" in line]
    assert records and all(np.isfinite(r["loss_keypoint"]) for r in records)
    assert os.path.isfile(os.path.join(out, "model_final.pth"))
    assert MetadataCatalog.get("tiny_images_pt").evaluator_type == "coco"
