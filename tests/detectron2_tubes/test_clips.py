"""The clip index and ClipDatasetMapper: one transform per clip, tubes equal to annotations."""

import copy
import os

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, build_detection_train_loader
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from detectron2_tubes import add_tubes_config
from detectron2_tubes.data import (
    ClipDatasetMapper,
    build_clip_dicts,
    clip_frame_indices,
    get_clip_dataset_dicts,
    load_posetrack_split,
    register_posetrack,
)
from detectron2_tubes.structures import Tubes


def test_clip_frame_indices():
    assert clip_frame_indices(5, 3, 1, 10) == [4, 5, 6]
    assert clip_frame_indices(0, 3, 1, 10) == [0, 0, 1]  # edge frame repeated
    assert clip_frame_indices(9, 3, 2, 10) == [7, 9, 9]
    assert clip_frame_indices(4, 5, 2, 8) == [0, 2, 4, 6, 7]
    assert clip_frame_indices(0, 5, 1, 1) == [0] * 5  # video shorter than T
    assert clip_frame_indices(3, 1, 1, 10) == [3]
    assert clip_frame_indices(1, 4, 1, 10) == [0, 1, 2, 3]  # even T: key at (T - 1) // 2
    with pytest.raises(ValueError):
        clip_frame_indices(0, 0, 1, 10)


def _frames(tiny_synth, split="val"):
    root, _ = tiny_synth
    return load_posetrack_split(os.path.join(root, "annotations", split), root)


def test_build_clip_dicts_train_and_test(tiny_synth):
    frames = _frames(tiny_synth)  # one 12-frame val video, labelled on frames 0, 4, 8 + middle
    labeled = [d["frame_id"] for d in frames if d["is_labeled"]]
    train = build_clip_dicts(frames, 3, 2, labeled_only=True)
    assert [c["frame_id"] for c in train] == labeled
    test = build_clip_dicts(frames, 3, 2)
    assert [c["frame_id"] for c in test] == list(range(12))
    assert [f["frame_id"] for f in test[0]["clip_frames"]] == [0, 0, 2]
    assert [f["frame_id"] for f in test[11]["clip_frames"]] == [9, 11, 11]
    assert test[5]["file_name"] == test[5]["clip_frames"][1]["file_name"]


def test_training_clips_are_labelled_in_every_frame(tiny_synth):
    """Item 1e: as the authors' release, a training clip needs every frame labelled; a labelled
    key frame next to unlabelled frames gives no clip (its people would count as absent there)."""
    frames = [dict(d) for d in _frames(tiny_synth)]
    for d in frames:
        d["is_labeled"] = d["frame_id"] in (0, 4, 8, 9, 10, 11)
    assert [c["frame_id"] for c in build_clip_dicts(frames, 3, 2, labeled_only=True)] == [10, 11]
    assert [c["frame_id"] for c in build_clip_dicts(frames, 3, 1, labeled_only=True)] == [9, 10, 11]
    # T = 1: every labelled frame is a clip of itself.
    assert [c["frame_id"] for c in build_clip_dicts(frames, 1, 1, labeled_only=True)] == [
        0,
        4,
        8,
        9,
        10,
        11,
    ]


def _check_tubes_equal_annotations(sample, frames_by_id, flip_indices, sx, sy, out_w):
    """Every tube box/keypoint equals its frame's annotation under the clip's one transform.

    Returns the set of flips consistent with the whole clip (both when nothing tells them
    apart, e.g. a box centred in the frame with symmetric joints)."""
    inst = sample["instances"]
    clip_ids = sample["clip_frame_ids"]
    h_out = sample["image"].shape[2]
    possible = {False, True}
    for i, track in enumerate(inst.gt_track_ids.tolist()):
        for t, fid in enumerate(clip_ids):
            anns = [a for a in frames_by_id[fid]["annotations"] if a["track_id"] == track]
            box = inst.gt_tubes.tensor[i, t].numpy()
            if not anns:
                assert not inst.gt_visible[i, t] and not box.any()
                continue
            a = anns[0]
            x1, y1, x2, y2 = (np.array(a["bbox"]) * [sx, sy, sx, sy]).tolist()
            kp = np.array(a["keypoints"]).reshape(17, 3)
            kp[:, :2] *= [sx, sy]
            got_kp = inst.gt_keypoints[i, t].numpy()
            here = set()
            for flip in (False, True):
                want_box = [out_w - x2, y1, out_w - x1, y2] if flip else [x1, y1, x2, y2]
                want = kp[flip_indices].copy() if flip else kp.copy()
                if flip:
                    want[:, 0] = out_w - want[:, 0]
                # Detectron2 drops keypoints that the transform puts outside the image.
                outside = (want[:, :2] < 0).any(1) | (want[:, 0] > out_w) | (want[:, 1] > h_out)
                want[outside | (want[:, 2] == 0)] = 0
                if np.allclose(box, want_box, atol=1e-3) and np.allclose(got_kp, want, atol=1e-3):
                    here.add(flip)
            assert here, (box, [x1, y1, x2, y2])
            possible &= here
    assert possible, "no single flip explains every frame of the clip"
    return possible


def test_mapper_applies_one_flip_to_every_frame(tiny_synth):
    root, _ = tiny_synth
    register_posetrack("synth_tiny_train", os.path.join(root, "annotations", "train"), root)
    frames = DatasetCatalog.get("synth_tiny_train")
    flip_indices = utils.create_keypoint_hflip_indices(["synth_tiny_train"])
    mapper = ClipDatasetMapper(
        True,
        augmentations=[T.ResizeShortestEdge(120, 1000), T.RandomFlip(prob=1.0)],
        image_format="BGR",
        num_frames=3,
        keypoint_hflip_indices=flip_indices,
    )
    clips = build_clip_dicts(frames, 3, 2, labeled_only=True)
    by_id = {(d["video_id"], d["frame_id"]): d for d in frames}
    clip = clips[7]
    before = copy.deepcopy(clip)
    out = mapper(clip)
    assert clip == before  # the dataset dict is not modified
    img = out["image"]
    assert img.dtype == torch.uint8 and img.shape == (3, 3, 120, 160)
    # Frame t of the clip tensor is frame t's image, resized and flipped.
    raw = utils.read_image(clip["clip_frames"][0]["file_name"], "BGR")
    ref = T.ResizeTransform(240, 320, 120, 160).apply_image(raw)[:, ::-1]
    assert np.abs(img[:, 0].permute(1, 2, 0).numpy().astype(int) - ref.astype(int)).mean() < 1
    out["clip_frame_ids"] = [f["frame_id"] for f in clip["clip_frames"]]
    fid = {f: by_id[(clip["video_id"], f)] for f in out["clip_frame_ids"]}
    assert len(out["instances"]) > 0
    assert isinstance(out["instances"].gt_tubes, Tubes)
    assert out["instances"].gt_keypoints.shape == (len(out["instances"]), 3, 17, 3)
    assert True in _check_tubes_equal_annotations(out, fid, flip_indices, 0.5, 0.5, 160)
    # At a video's first frame the clip repeats it ([0, 0, 1]): still one flip for all frames.
    edge = clips[0]
    assert [f["frame_id"] for f in edge["clip_frames"]] == [0, 0, 2]
    out = mapper(edge)
    out["clip_frame_ids"] = [0, 0, 2]
    fid = {f: by_id[(edge["video_id"], f)] for f in (0, 2)}
    assert True in _check_tubes_equal_annotations(out, fid, flip_indices, 0.5, 0.5, 160)


def test_train_loader_batch_on_the_synthetic_split():
    cfg = add_tubes_config(get_cfg())
    cfg.merge_from_list(
        [
            "DATASETS.TRAIN",
            ("posetrack_synth_train",),
            "INPUT.CLIP.NUM_FRAMES",
            3,
            "INPUT.CLIP.FRAME_STRIDE",
            1,
            "INPUT.MIN_SIZE_TRAIN",
            (160,),
            "INPUT.MAX_SIZE_TRAIN",
            1000,
            "MODEL.KEYPOINT_ON",
            True,
            "SOLVER.IMS_PER_BATCH",
            4,
            "DATALOADER.NUM_WORKERS",
            0,
        ]
    )
    dataset = get_clip_dataset_dicts(cfg.DATASETS.TRAIN, 3, 1)
    loader = build_detection_train_loader(cfg, dataset=dataset, mapper=ClipDatasetMapper(cfg, True))
    frames = DatasetCatalog.get("posetrack_synth_train")
    by_id = {(d["video_id"], d["frame_id"]): d for d in frames}
    flip_indices = utils.create_keypoint_hflip_indices(cfg.DATASETS.TRAIN)
    seen_flips = set()
    it = iter(loader)
    for _ in range(3):
        batch = next(it)
        assert len(batch) == 4
        for sample in batch:
            assert (
                sample["image"].shape == (3, 3, 160, 213) and sample["image"].dtype == torch.uint8
            )
            assert (sample["height"], sample["width"]) == (240, 320)
            inst = sample["instances"]
            assert inst.image_size == (160, 213)
            assert inst.gt_tubes.tensor.shape == (len(inst), 3, 4)
            assert inst.gt_keypoints.shape == (len(inst), 3, 17, 3)
            assert inst.gt_visible.shape == (len(inst), 3)
            n = len(by_id)
            vid, key = sample["video_id"], sample["frame_id"]
            ids = clip_frame_indices(key, 3, 1, sum(1 for v, _ in by_id if v == vid))
            sample["clip_frame_ids"] = ids
            fid = {f: by_id[(vid, f)] for f in ids}
            assert n > 0
            possible = _check_tubes_equal_annotations(
                sample, fid, flip_indices, 213 / 320, 160 / 240, 213
            )
            if len(possible) == 1:
                seen_flips |= possible
    assert seen_flips == {True, False}  # RandomFlip drew both ways across 12 clips


def test_video_shorter_than_t_and_people_outside_some_frames(tiny_synth):
    root, truth = tiny_synth
    frames = _frames(tiny_synth)[:2]  # a 2-frame "video"
    mapper = ClipDatasetMapper(True, augmentations=[], image_format="RGB", num_frames=5)
    clips = build_clip_dicts(frames, 5, 1)
    assert len(clips) == 2
    out = mapper(clips[0])
    assert out["image"].shape == (3, 5, 240, 320)
    # Frames 0, 0, 0, 1, 1: the first three are the same image.
    assert torch.equal(out["image"][:, 0], out["image"][:, 2])
    # A person annotated only in a non-key frame gets an empty, invisible box in the others.
    anns0 = {a["track_id"] for a in frames[0]["annotations"]}
    anns1 = {a["track_id"] for a in frames[1]["annotations"]}
    inst = out["instances"]
    assert set(inst.gt_track_ids.tolist()) == anns0 | anns1
    for i, track in enumerate(inst.gt_track_ids.tolist()):
        assert inst.gt_visible[i].tolist() == [track in anns0] * 3 + [track in anns1] * 2
    assert not inst.gt_tubes.tensor[~inst.gt_visible].any()


def test_clip_without_people_and_test_mode(tiny_synth):
    frames = _frames(tiny_synth)
    empty = dict(frames[0], annotations=[])
    mapper = ClipDatasetMapper(True, augmentations=[], image_format="BGR", num_frames=1)
    out = mapper(empty)  # a plain frame dict is a clip of itself for T = 1
    assert out["image"].shape == (3, 1, 240, 320) and len(out["instances"]) == 0
    assert out["instances"].gt_tubes.tensor.shape == (0, 1, 4)
    test_mapper = ClipDatasetMapper(
        False, augmentations=[T.ResizeShortestEdge(120, 1000)], image_format="BGR", num_frames=3
    )
    out = test_mapper(build_clip_dicts(frames, 3, 1)[0])
    assert out["image"].shape == (3, 3, 120, 160) and "instances" not in out
    assert "annotations" not in out and (out["height"], out["width"]) == (240, 320)
    with pytest.raises(ValueError, match="expects T = 3"):
        test_mapper(frames[0])


def test_missing_frame_image_names_the_file(tiny_synth, tmp_path):
    frames = _frames(tiny_synth)
    clip = build_clip_dicts(frames, 3, 1)[4]
    clip["clip_frames"][2]["file_name"] = str(tmp_path / "gone.jpg")
    mapper = ClipDatasetMapper(False, augmentations=[], image_format="BGR", num_frames=3)
    with pytest.raises(FileNotFoundError, match="gone.jpg: frame image does not exist"):
        mapper(clip)
