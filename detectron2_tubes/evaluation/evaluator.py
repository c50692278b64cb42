"""`PoseTrackEvaluator`: after inference, track each video, write PoseTrack files, score them."""

import itertools
import logging
import os
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from posetrack_core.evaluation.hota_pose import HOTA_METRICS, format_hota_table, score_posetrack21
from posetrack_core.evaluation.posetrack_eval import (
    evaluate_sequences,
    format_tables,
    grouped,
    load_sequence_pair,
)
from posetrack_core.evaluation.writer import track_and_write
from posetrack_core.from_config import writer_options
from posetrack_core.io import write_json_atomic
from posetrack_core.keypoints import NUM_KEYPOINTS
from posetrack_core.posetrack_json import read_posetrack_file
from posetrack_core.tracking import Detections, PoseTracker

from ..data.clips import group_by_video, key_frame_index
from .raw_predictions import RAW_PREDICTIONS_FILE, save_raw_predictions

__all__ = ["PoseTrackEvaluator", "score_written"]

logger = logging.getLogger(__name__)


def score_written(videos: Sequence[List[dict]], paths: Sequence[str], warn=logger.warning) -> dict:
    """Official-toolkit metrics of written prediction files against the videos' ground truth."""
    seqs = [
        load_sequence_pair(frames[0]["annotation_file"], path, i)[0]
        for i, (frames, path) in enumerate(zip(videos, paths))
    ]
    result = evaluate_sequences(seqs, warn=warn)
    result["num_sequences"], result["num_frames"] = len(seqs), sum(len(s.gt) for s in seqs)
    return result


def _say_if_nothing_passed(raw: Dict[str, Dict[int, Detections]], det_thresh: float) -> None:
    """A table of NaN and MOTA -100 needs its reason: no detection reached the threshold."""
    scores = [float(f.scores.max()) for v in raw.values() for f in v.values() if len(f)]
    best = max(scores, default=None)
    if best is None or best < det_thresh:
        logger.warning(
            f"[PoseTrackEvaluator] no detection reached TRACKING.DET_THRESH {det_thresh:g} (the "
            + ("model detected nothing" if best is None else f"highest score was {best:.3f}")
            + "), so nothing was tracked or written: train longer, or lower TRACKING.DET_THRESH"
        )


class PoseTrackEvaluator(DatasetEvaluator):
    """Evaluate a video dataset the PoseTrack way after inference.

    `process` keeps, per frame, the detections of the frame (the centre frame of each clip for
    Tube R-CNN, the image's for a 2D model) as `Detections`, the tracker's input. `evaluate` gathers them from
    all processes (and returns {} on the others), links each video with the tracker, writes the
    PoseTrack 2018 files under ``output_dir/posetrack_predictions`` (the raw detections too, for
    threshold sweeps) and returns the official metrics in Detectron2's format.

    ``benchmark``: "posetrack18" (AP, MOTA, ... of the official 2017/2018 toolkit) or
    "posetrack21" (those and the PoseTrack21 kit's keypoint HOTA, DetA, AssA, LocA, ...); by
    default "posetrack21" when the dataset's ground-truth files are PoseTrack21 files.
    """

    def __init__(
        self,
        dataset_name: str,
        output_dir: Optional[str] = None,
        *,
        tracker: Optional[PoseTracker] = None,
        distributed: bool = True,
        benchmark: Optional[str] = None,
        **write_options,
    ):
        if benchmark not in (None, "posetrack18", "posetrack21"):
            raise ValueError(f"unknown benchmark {benchmark!r}: use posetrack18 or posetrack21")
        self.benchmark = benchmark
        self.dataset_name = dataset_name
        self.output_dir = output_dir
        self.tracker = tracker or PoseTracker()
        self.write_options = write_options
        self.distributed = distributed
        self._frames: List[tuple] = []  # (video_id, frame_id, Detections)

    @classmethod
    def from_config(
        cls, cfg, dataset_name: str, output_dir: Optional[str] = None
    ) -> "PoseTrackEvaluator":
        from ..tracking.tracker import build_pose_tracker

        return cls(dataset_name, output_dir, tracker=build_pose_tracker(cfg), **writer_options(cfg))

    def reset(self) -> None:
        self._frames = []

    def process(self, inputs, outputs) -> None:
        for inp, out in zip(inputs, outputs):
            if "frames" in out:  # Tube R-CNN: keep the key (centre) frame of the clip
                inst = out["frames"][key_frame_index(len(out["frames"]))]
            else:
                inst = out["instances"]
            dets = Detections.from_instances(inst)
            if dets.keypoints is None:  # a model without a keypoint head: no joints written
                dets.keypoints = np.zeros((len(dets), NUM_KEYPOINTS, 3))
            self._frames.append((inp["video_id"], inp["frame_id"], dets))

    def evaluate(self):
        frames = self._frames
        if self.distributed:
            comm.synchronize()
            frames = list(itertools.chain(*comm.gather(frames, dst=0)))
            if not comm.is_main_process():
                return {}
        if not frames:
            logger.warning(f"[PoseTrackEvaluator] no predictions for {self.dataset_name}")
            return {}
        raw: Dict[str, Dict[int, Detections]] = defaultdict(dict)
        for video_id, frame_id, dets in frames:
            raw[video_id][frame_id] = dets
        videos = [
            v
            for v in group_by_video(DatasetCatalog.get(self.dataset_name))
            if v[0]["video_id"] in raw
        ]
        out_dir = os.path.join(self.output_dir or ".", "posetrack_predictions")
        if self.output_dir:
            save_raw_predictions(raw, os.path.join(self.output_dir, RAW_PREDICTIONS_FILE))
        meta = MetadataCatalog.get(self.dataset_name)
        paths = track_and_write(
            raw,
            videos,
            out_dir,
            self.tracker,
            image_root=meta.get("image_root"),
            **self.write_options,
        )
        result = score_written(videos, paths)
        _say_if_nothing_passed(raw, self.tracker.det_thresh)
        table = format_tables(result)
        metrics = self.to_detectron2(result)
        gt_paths = [v[0]["annotation_file"] for v in videos]
        benchmark = self.benchmark or (
            "posetrack21" if read_posetrack_file(gt_paths[0]).format == "2021" else "posetrack18"
        )
        if benchmark == "posetrack21":
            hota = score_posetrack21(list(zip(gt_paths, paths)))
            table += "\nPoseTrack21 keypoint HOTA:\n" + format_hota_table(hota)
            metrics.update(self.hota_to_detectron2(hota))
        logger.info(
            f"PoseTrack evaluation of {self.dataset_name} ({len(videos)} videos; predictions in "
            f"{out_dir}):\n" + table
        )
        if self.output_dir:
            # NaN (no prediction of a joint) as null, as eval_posetrack --output writes it.
            write_json_atomic(
                {k: None if np.isnan(v) else float(v) for k, v in metrics.items()},
                os.path.join(self.output_dir, "posetrack_metrics.json"),
                indent=1,
            )
        return OrderedDict(posetrack=metrics)

    @staticmethod
    def hota_to_detectron2(result: dict) -> Dict[str, float]:
        """{"HOTA": total, "DetA", "AssA", "LocA", ..., "HOTA-Nose", ...} (PoseTrack21's)."""
        res = {k: result[k][-1] for k in HOTA_METRICS}
        for name, v in zip(result["joints"][:-1], result["HOTA"]):
            res[f"HOTA-{name}"] = v
        return res

    @staticmethod
    def to_detectron2(result: dict) -> Dict[str, float]:
        """{"AP": total, "MOTA": total, "MOTP", "Precision", "Recall", "AP-Head", ...}."""
        ap, mota = grouped(result["ap"]), grouped(result["mota"])
        res = {
            "AP": ap["total"],
            "MOTA": mota["total"],
            "MOTP": result["motp"][-1],
            "Precision": result["precision"][-1],
            "Recall": result["recall"][-1],
        }
        for name in ap:
            if name != "total":
                res[f"AP-{name.capitalize()}"] = ap[name]
                res[f"MOTA-{name.capitalize()}"] = mota[name]
        return res
