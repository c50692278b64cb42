"""The paper's recipe end to end (item 6 of the real-data path): COCO-format images -> stock
Detectron2 keypoint R-CNN R-18-FPN -> inflated into Tube R-CNN T = 3 -> fine-tuned on clips ->
PoseTrack metrics, on a tiny synthetic set."""

import math
import os

import pytest
import torch
from detectron2.data import DatasetCatalog
from inflation_checks import assert_inflated_from

from detectron2_tubes.data import register_posetrack
from detectron2_tubes.experiments import recipe, rehearsal
from detectron2_tubes.experiments.recipe import quick_config

SMALL = ["INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MIN_SIZE_TEST", "128", "SOLVER.IMS_PER_BATCH", "2",
         "SEED", "3"]  # fmt: skip
# A few iterations leave a weak model: keep every detection and joint (the 10 best of each
# frame) so that there is something to score.
WRITE_ALL = [
    "MODEL.ROI_HEADS.SCORE_THRESH_TEST",
    "0.0",
    "TEST.DETECTIONS_PER_IMAGE",
    "10",
    "TRACKING.DET_THRESH",
    "0.0",
    "TEST.POSETRACK.KEYPOINT_THRESH",
    "-1e9",
]


def _source(key):
    """The 2D (FPN) checkpoint's name for a Tube R-CNN tensor that must come from it."""
    if key.startswith("backbone."):
        return "backbone.bottom_up." + key[len("backbone.") :]
    if key.startswith("roi_heads.box_head.res5."):
        return "backbone.bottom_up." + key[len("roi_heads.box_head.") :]
    if key.startswith("roi_heads.keypoint_head.") and "conv_fcn1." not in key:
        return key  # conv_fcn1 reads res3 (128 channels) here, FPN levels (256) there
    return None


@pytest.mark.slow
def test_paper_recipe_rehearsal(tiny_synth, tmp_path):
    root, _ = tiny_synth
    for split in ("train", "val"):
        if f"rehearsal_{split}" not in DatasetCatalog.list():
            register_posetrack(f"rehearsal_{split}", os.path.join(root, "annotations", split), root)
    out = str(tmp_path)
    images = rehearsal.export_images("rehearsal_train", out)
    assert os.path.isfile(os.path.join(out, "coco", f"{images}.json"))
    model_2d = rehearsal.pretrain_2d(images, out, 4, SMALL)
    state_2d = torch.load(model_2d, map_location="cpu", weights_only=True)["model"]
    assert "backbone.bottom_up.res2.0.conv1.weight" in state_2d  # a stock Detectron2 FPN model

    trainer = rehearsal.finetune_3d(model_2d, "rehearsal_train", out, 3, SMALL)
    model = trainer.model.module if hasattr(trainer.model, "module") else trainer.model
    checked = 0
    for key, value in model.state_dict().items():
        src = _source(key)
        if src is None:
            continue
        assert_inflated_from(value, state_2d[src], key)
        checked += 1
    # stem 3, res2-res5 60 (GroupNorm: weight and bias), keypoint convs 2-4 and deconvolution 8
    assert checked == 68
    assert model.backbone.res3[0].conv1.weight.shape[2] == 3  # a 3-tap res3, centre-inflated

    trainer.train()
    model_3d = os.path.join(trainer.cfg.OUTPUT_DIR, "model_final.pth")
    assert os.path.isfile(model_3d)
    for config, weights, opts in (
        (rehearsal.STOCK_CONFIG_2D, model_2d, rehearsal.STOCK_2D[2:]),
        (recipe.CONFIG_3D, model_3d, rehearsal.WIDTH_3D),
    ):
        opts = [*opts, *SMALL, *WRITE_ALL]
        r = recipe.evaluate(quick_config(config), weights, "rehearsal_val", opts=opts)
        assert {"AP", "MOTA", "Precision", "Recall"} <= set(r)
        assert math.isfinite(r["MOTA"]) and r["Precision"] > 0, r
