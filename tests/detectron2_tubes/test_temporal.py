"""The temporal pathway: the degraded variant of the synthetic set (one frame degraded, its
neighbours intact, labels unchanged), and a centre-inflated model that learns from neighbours."""

import filecmp
import json
import os

import cv2
import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.utils.events import EventStorage

from detectron2_tubes import InflatingCheckpointer
from detectron2_tubes.data import ClipDatasetMapper, get_clip_dataset_dicts, register_posetrack
from detectron2_tubes.engine import TubeTrainer, setup_cfg
from bench.toolbox import tap_ratios
from posetrack_core.synthetic.degraded import (
    DEGRADATIONS,
    generate_degraded_variant,
    load_degraded_frames,
)

QUICK = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "quick_schedules")


def test_degraded_variant_degrades_single_frames_only(tiny_synth, tmp_path):
    root, truth = tiny_synth
    out = str(tmp_path / "degraded")
    degraded = generate_degraded_variant(root, out, fraction=0.3, seed=1)
    assert load_degraded_frames(out) == degraded and load_degraded_frames(root) is None
    kinds = set()
    for split, videos in truth.items():
        for seq, frames in videos.items():
            chosen = degraded[split][seq]
            labelled = sum(f.is_labeled for f in frames)
            assert 0 < len(chosen) <= round(0.3 * labelled)
            ann = os.path.join("annotations", split, seq + ".json")
            # The labels are the benchmark's, unchanged.
            assert filecmp.cmp(os.path.join(root, ann), os.path.join(out, ann), shallow=False)
            for t, frame in enumerate(frames):
                src, dst = os.path.join(root, frame.file_name), os.path.join(out, frame.file_name)
                if t in chosen:
                    assert frame.is_labeled and 0 < t < len(frames) - 1
                    assert t - 1 not in chosen and t + 1 not in chosen  # both neighbours intact
                    diff = np.abs(cv2.imread(src).astype(int) - cv2.imread(dst).astype(int))
                    assert diff.mean() > 8, (seq, t, chosen[t])
                    kinds.add(chosen[t])
                else:
                    assert filecmp.cmp(src, dst, shallow=False)
    assert kinds <= set(DEGRADATIONS) and len(kinds) >= 2
    with open(os.path.join(out, "degraded.json")) as f:
        assert json.load(f)["params"] == {"version": 1, "fraction": 0.3, "seed": 1}


def _tap_ratios(model, grads: bool):
    return tap_ratios((n, p.grad if grads else p) for n, p in model.named_parameters())


def test_centre_inflated_model_learns_from_its_neighbour_frames(tiny_synth, tmp_path):
    """Fine-tuned as the demo fine-tunes (stem and res2 frozen, AdamW at a quarter of the rate)
    on clips whose key frame is blank: every 3-tap layer gets gradients on its off-centre taps
    as large as on its centre, and the taps, zero at inflation, move."""
    root, _ = tiny_synth
    if "temporal_tiny_train" not in DatasetCatalog.list():
        register_posetrack("temporal_tiny_train", os.path.join(root, "annotations", "train"), root)
    opts = [
        "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS",
        "[32,32]",
        "INPUT.MIN_SIZE_TRAIN",
        "(160,)",
        "DATASETS.TRAIN",
        "('temporal_tiny_train',)",
    ]
    torch.manual_seed(0)
    model_2d = TubeTrainer.build_model(
        setup_cfg(os.path.join(QUICK, "tube_rcnn_R18_T1_synth.yaml"), opts)
    )
    path = str(tmp_path / "t1.pth")
    torch.save({"model": model_2d.state_dict()}, path)
    cfg = setup_cfg(
        os.path.join(QUICK, "tube_rcnn_R18_T3_synth.yaml"),
        opts + ["MODEL.BACKBONE.FREEZE_AT", "2", "SOLVER.BASE_LR", "0.0005"],
    )
    model = TubeTrainer.build_model(cfg)
    InflatingCheckpointer(model).load(path)
    assert set(_tap_ratios(model, grads=False).values()) == {0.0}  # centre inflation
    groups = {
        "backbone.res3",
        "backbone.res4",
        "proposal_generator.rpn_head",
        "roi_heads.keypoint_head",
    }
    assert set(_tap_ratios(model, grads=False)) == groups
    taps = [p for p in model.parameters() if p.dim() == 5 and p.shape[2] == 3]
    assert all(p.requires_grad for p in taps)  # no temporal layer is frozen

    optimizer = TubeTrainer.build_optimizer(cfg, model)
    clips = get_clip_dataset_dicts("temporal_tiny_train", 3)
    mapper = ClipDatasetMapper(cfg, True)
    rng = np.random.default_rng(0)
    model.train()
    for step in range(3):
        batch = [mapper(clips[i]) for i in rng.choice(len(clips), 2, replace=False)]
        for b in batch:
            b["image"][:, 1] = 128  # the key frame carries nothing: only the neighbours do
        with EventStorage():
            loss = sum(model(batch).values())
        optimizer.zero_grad()
        loss.backward()
        if step == 0:
            ratios = _tap_ratios(model, grads=True)
            assert min(ratios.values()) > 0.3, ratios
        optimizer.step()
    moved = _tap_ratios(model, grads=False)
    assert all(r > 0.002 for r in moved.values()), moved
    assert all(p[:, :, [0, 2]].abs().max() > 0 for p in taps)
