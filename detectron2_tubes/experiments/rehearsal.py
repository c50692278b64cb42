"""The paper's recipe rehearsed end to end on a CPU, along the path a researcher takes on real
data, with the synthetic set standing in for COCO and PoseTrack:

1. 2D pretraining data as a COCO keypoint JSON of single images (here: the synthetic training
   frames, written by `export_coco_keypoints`), registered with `register_coco_keypoints`;
2. a stock Detectron2 keypoint R-CNN R-18-FPN trained on it by Detectron2's own `DefaultTrainer`
   (the release started from such a model, trained on COCO) and saved as Detectron2 saves it;
3. that checkpoint inflated into Tube R-CNN T = 3 by the `InflatingCheckpointer` (the FPN's
   bottom-up into the backbone, its res5 into the box head, the keypoint head) and fine-tuned on
   PoseTrack-format clips by `TubeTrainer`;
4. both models scored with the PoseTrack metrics on the validation videos.

Each stage is a function, so that a test can look between them.
"""

import logging
import os
import weakref
from typing import Sequence

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import DefaultTrainer

from ..checkpoint import SafeDetectionCheckpointer
from ..data.coco import export_coco_keypoints, register_coco_keypoints
from .recipe import CONFIG_3D, FINETUNE_OPTS, quick_config, schedule_opts, seeded_trainer
from ..engine.trainer import TubeTrainer, setup_cfg

__all__ = ["export_images", "pretrain_2d", "finetune_3d", "STOCK_CONFIG_2D", "STOCK_2D", "WIDTH_3D"]

logger = logging.getLogger(__name__)

# The stock Detectron2 keypoint R-CNN the 2D stage trains (configs/quick_schedules); the 3D
# stage fine-tunes the demo's Tube R-CNN T = 3 (`recipe.CONFIG_3D`).
STOCK_CONFIG_2D = "keypoint_rcnn_R18_FPN_synth.yaml"
# Stock Detectron2 builds R-18 only at its full width (64 channels after the stem), so the 3D
# model takes that width too; both keypoint heads have the quick config's 4 convs of 128.
WIDTH_3D = ["MODEL.RESNETS.STEM_OUT_CHANNELS", "64", "MODEL.RESNETS.RES2_OUT_CHANNELS", "64"]
STOCK_2D = [
    "MODEL.ROI_KEYPOINT_HEAD.NAME",
    "KRCNNConvDeconvUpsampleHead",
    "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS",
    "[128, 128, 128, 128]",
]


def export_images(train_name: str, out_dir: str) -> str:
    """Write ``train_name``'s labelled frames as a COCO keypoint JSON of single images and
    register it; returns the image set's dataset name."""
    name = f"{train_name}_images"
    frames = DatasetCatalog.get(train_name)
    root = os.path.commonpath([f["file_name"] for f in frames])
    json_file = os.path.join(out_dir, "coco", f"{name}.json")
    export_coco_keypoints(frames, json_file, root, MetadataCatalog.get(train_name).keypoint_names)
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    register_coco_keypoints(name, json_file, root)
    return name


def _trainer(trainer_class, config: str, dataset: str, out_dir: str, opts: Sequence[str]):
    """``trainer_class`` on ``config`` trained on ``dataset`` into ``out_dir`` (`seeded_trainer`)."""
    cfg = setup_cfg(
        quick_config(config),
        [*opts, "DATASETS.TRAIN", f"('{dataset}',)", "DATASETS.TEST", "()", "OUTPUT_DIR", out_dir],
    )
    return seeded_trainer(trainer_class, cfg)


class _Stock2DTrainer(DefaultTrainer):
    """Detectron2's `DefaultTrainer` as it is, but reading its checkpoints as data."""

    def build_hooks(self):
        # DefaultTrainer.__init__ makes its checkpointer just before it builds the hooks.
        self.checkpointer = SafeDetectionCheckpointer(
            self.checkpointer.model, self.cfg.OUTPUT_DIR, trainer=weakref.proxy(self)
        )
        return super().build_hooks()


def pretrain_2d(images_name: str, out_dir: str, iters: int, opts: Sequence[str] = ()) -> str:
    """Train the stock keypoint R-CNN R-18-FPN with Detectron2's `DefaultTrainer`; returns the
    final checkpoint (Detectron2's format)."""
    out = os.path.join(out_dir, "model_2d")
    _trainer(
        _Stock2DTrainer, STOCK_CONFIG_2D, images_name, out, [*STOCK_2D, *schedule_opts(iters), *opts]
    ).train()
    return os.path.join(out, "model_final.pth")


def finetune_3d(
    weights: str, train_name: str, out_dir: str, iters: int, opts: Sequence[str] = ()
) -> TubeTrainer:
    """A `TubeTrainer` for the quick T = 3 config at R-18's full width, ``weights`` inflated into
    its model (centre inflation); call ``.train()`` on it to fine-tune."""
    opts = [*WIDTH_3D, *schedule_opts(iters), *FINETUNE_OPTS, "MODEL.WEIGHTS", weights, *opts]
    return _trainer(TubeTrainer, CONFIG_3D, train_name, os.path.join(out_dir, "model_3d"), opts)
