"""The raw per-frame detections `PoseTrackEvaluator` saves for threshold sweeps and benches.

One ``.npz`` file (numpy's zip of arrays, read with ``allow_pickle=False``, so it cannot carry
code): an ``index`` entry, a JSON list of {video_id, frame_id, image_size} in order, and the
arrays of frame ``i`` under ``"{i}/boxes"``, ``"{i}/scores"``, ``"{i}/keypoints"`` and, when the
model gave them, ``"{i}/keypoint_logits"``. Older versions saved the same dicts as a pickle
(``posetrack_raw_predictions.pkl``); those still read, through the restricted unpickler.
"""

import json
import zipfile
from typing import Dict

import numpy as np

from ..utils.io import atomic_path
from ..utils.safe_load import UnreadableFileError, load_pickle

__all__ = ["RAW_PREDICTIONS_FILE", "save_raw_predictions", "load_raw_predictions"]

RAW_PREDICTIONS_FILE = "posetrack_raw_predictions.npz"
_ARRAYS = ("boxes", "scores", "keypoints", "keypoint_logits")

RawPredictions = Dict[object, Dict[int, dict]]  # video_id -> frame_id -> that frame's arrays


def save_raw_predictions(raw: RawPredictions, path: str) -> None:
    """Write ``raw`` (video_id -> frame_id -> {boxes, scores, keypoints, keypoint_logits,
    image_size}) to the ``.npz`` file ``path``, atomically."""
    index, arrays = [], {}
    for vid, frames in raw.items():
        for fid, f in frames.items():
            i = len(index)
            size = f.get("image_size")
            index.append(
                {
                    "video_id": vid,
                    "frame_id": int(fid),
                    "image_size": None if size is None else [int(s) for s in size],
                }
            )
            for name in _ARRAYS:
                if f.get(name) is not None:
                    arrays[f"{i}/{name}"] = np.asarray(f[name])
    with atomic_path(path, ".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, index=np.array(json.dumps(index)), **arrays)


def _dict_of_dicts(x) -> bool:
    return isinstance(x, dict) and all(isinstance(v, dict) for v in x.values())


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
        return raw
    try:
        with np.load(path, allow_pickle=False) as z:
            index = json.loads(str(z["index"]))
            raw: RawPredictions = {}
            for i, entry in enumerate(index):
                frame = {name: z[f"{i}/{name}"] for name in _ARRAYS if f"{i}/{name}" in z.files}
                frame.setdefault("keypoint_logits", None)
                size = entry["image_size"]
                frame.update(
                    video_id=entry["video_id"],
                    frame_id=entry["frame_id"],
                    image_size=None if size is None else tuple(size),
                )
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
