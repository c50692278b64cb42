"""``make demo``: the whole job on the built-in synthetic data.

Stages that exist so far: generate the synthetic PoseTrack set, load training clips through
Detectron2's loader with the clip mapper, and draw a few clips with their ground-truth tubes.
"""
import argparse
import os
import time
from typing import List, Optional

import numpy as np
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.utils.colormap import colormap
from detectron2.utils.visualizer import Visualizer

from .config import add_tubes_config
from .data import build_clip_train_loader, ensure_synthetic_dataset


def draw_clip(sample: dict, metadata) -> np.ndarray:
    """Frames of a mapped clip side by side (RGB), each with its tube boxes, poses and track ids."""
    image, inst = sample["image"], sample.get("instances")
    panels, palette = [], colormap(rgb=True, maximum=1)
    for t in range(image.shape[1]):
        frame = image[:, t].permute(1, 2, 0).numpy()[:, :, ::-1]  # BGR -> RGB
        vis = Visualizer(frame, metadata)
        if inst is not None and len(inst):
            keep = inst.gt_visible[:, t]
            vis.overlay_instances(
                boxes=inst.gt_tubes.tensor[keep, t].numpy(),
                keypoints=inst.gt_keypoints[keep, t].numpy(),
                labels=[f"id {i}" for i in inst.gt_track_ids[keep].tolist()],
                assigned_colors=[palette[i % len(palette)] for i in inst.gt_track_ids[keep].tolist()],
            )
        panels.append(vis.get_output().get_image())
    return np.concatenate(panels, axis=1)


def main(argv: Optional[List[str]] = None) -> None:
    import cv2

    parser = argparse.ArgumentParser(prog="python -m detectron2_tubes.demo", description=__doc__)
    parser.add_argument("--output", default="output/demo", help="folder for everything written")
    parser.add_argument("--num-clips", type=int, default=4, help="clips to draw")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    root = ensure_synthetic_dataset()
    print(f"[1] synthetic PoseTrack set: {root}")
    cfg = add_tubes_config(get_cfg())
    cfg.merge_from_list(["DATASETS.TRAIN", ("posetrack_synth_train",), "MODEL.KEYPOINT_ON", True,
                         "INPUT.MIN_SIZE_TRAIN", (240,), "SOLVER.IMS_PER_BATCH", 1,
                         "DATALOADER.NUM_WORKERS", 0])  # fmt: skip
    loader = iter(build_clip_train_loader(cfg))
    meta = MetadataCatalog.get("posetrack_synth_train")
    out_dir = os.path.join(args.output, "clips")
    os.makedirs(out_dir, exist_ok=True)
    for i in range(args.num_clips):
        (sample,) = next(loader)
        inst = sample["instances"]
        path = os.path.join(out_dir, f"clip_{i}_{sample['video_id']}_{sample['frame_id']:04d}.jpg")
        cv2.imwrite(path, draw_clip(sample, meta)[:, :, ::-1])
        print(f"[2] clip {i}: image {tuple(sample['image'].shape)} (C, T, H, W), "
              f"{len(inst)} tubes, visible per frame {inst.gt_visible.sum(0).tolist()} -> {path}")
    print(f"done in {time.perf_counter() - start:.1f} s; clips drawn in {out_dir}")


if __name__ == "__main__":
    main()
