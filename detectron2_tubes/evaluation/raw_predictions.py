"""The raw per-frame detections `PoseTrackEvaluator` saves for threshold sweeps and benches:
``{video_id: {frame_id: Detections}}``, the tracker's input type from the model to the writer.

One ``.npz`` file (numpy's zip of arrays, read with ``allow_pickle=False``, so it cannot carry
code): an ``index`` entry, a JSON list of {video_id, frame_id, image_size} in order, and the
arrays of frame ``i`` under ``"{i}/boxes"``, ``"{i}/scores"``, ``"{i}/keypoints"`` and, when the
model gave them, ``"{i}/keypoint_logits"``, in float32 (the model's precision, so nothing is
lost). Older versions saved the same dicts as a pickle
(``posetrack_raw_predictions.pkl``); those still read, through the restricted unpickler.
"""

import json
import zipfile
from typing import Dict

import numpy as np

from posetrack_core.io import atomic_path
from posetrack_core.keypoints import NUM_KEYPOINTS
from posetrack_core.tracking.detections import Detections

from ..utils.safe_load import UnreadableFileError, load_pickle

__all__ = ["RAW_PREDICTIONS_FILE", "save_raw_predictions", "load_raw_predictions"]

RAW_PREDICTIONS_FILE = "posetrack_raw_predictions.npz"
_ARRAYS = ("boxes", "scores", "keypoints", "keypoint_logits")

RawPredictions = Dict[object, Dict[int, Detections]]  # video_id -> frame_id -> detections


def save_raw_predictions(raw: RawPredictions, path: str) -> None:
    """Write ``raw`` (video_id -> frame_id -> `Detections`) to the ``.npz`` file ``path``,
    atomically."""
    index, arrays = [], {}
    for vid, frames in raw.items():
        for fid, dets in frames.items():
            i = len(index)
            size = dets.image_size
            index.append(
                {
                    "video_id": vid,
                    "frame_id": int(fid),
                    "image_size": None if size is None else [int(s) for s in size],
                }
            )
            for name in _ARRAYS:
                if getattr(dets, name) is not None:
                    arrays[f"{i}/{name}"] = np.asarray(getattr(dets, name), np.float32)
    with atomic_path(path, ".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, index=np.array(json.dumps(index)), **arrays)


def _dict_of_dicts(x) -> bool:
    return isinstance(x, dict) and all(isinstance(v, dict) for v in x.values())


def _detections(arrays: dict, image_size) -> Detections:
    """One frame's saved arrays (boxes, scores, keypoints, keypoint_logits) as `Detections`."""
    keypoints = arrays.get("keypoints")
    if keypoints is None:
        keypoints = np.zeros((len(arrays["boxes"]), NUM_KEYPOINTS, 3))
    return Detections(
        arrays["boxes"],
        arrays["scores"],
        keypoints,
        image_size=None if image_size is None else tuple(int(s) for s in image_size),
        keypoint_logits=arrays.get("keypoint_logits"),
    )


def load_raw_predictions(path: str) -> RawPredictions:
    """Read what `save_raw_predictions` wrote (or an older version's ``.pkl``) as data only.

    Raises `UnreadableFileError` (one line naming the file) for anything that is not such a file;
    an old ``.pkl`` that would build anything but data raises `UnsafeFileError`.
    """
    if path.endswith(".pkl"):
        raw = load_pickle(path)
        frames = [f for v in raw.values() for f in v.values()] if _dict_of_dicts(raw) else None
        if frames is None or not all(
            isinstance(f, dict) and {"boxes", "scores"} <= set(f) for f in frames
        ):
            raise UnreadableFileError(
                f"{path}: not saved raw predictions (video -> frame -> boxes, scores, ...); "
                f"regenerate it with train_net.py --eval-only, which writes {RAW_PREDICTIONS_FILE}"
            )
        return {
            vid: {fid: _detections(f, f.get("image_size")) for fid, f in frames.items()}
            for vid, frames in raw.items()
        }
    try:
        with np.load(path, allow_pickle=False) as z:
            index = json.loads(str(z["index"]))
            raw: RawPredictions = {}
            for i, entry in enumerate(index):
                arrays = {name: z[f"{i}/{name}"] for name in _ARRAYS if f"{i}/{name}" in z.files}
                frame = _detections(arrays, entry["image_size"])
                raw.setdefault(entry["video_id"], {})[entry["frame_id"]] = frame
    except FileNotFoundError:
        raise UnreadableFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UnreadableFileError(f"{path}: is a folder, not a file") from None
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        zipfile.BadZipFile,
        EOFError,
    ) as e:
        raise UnreadableFileError(
            f"{path}: not saved raw predictions ({e}); regenerate it with "
            f"train_net.py --eval-only, which writes {RAW_PREDICTIONS_FILE}"
        ) from None
    return raw
