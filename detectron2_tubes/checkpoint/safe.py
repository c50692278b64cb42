"""`SafeDetectionCheckpointer`: Detectron2's checkpointer reading every file as data and saving
atomically."""

import errno
import logging
import os
import shutil

import torch
from detectron2.checkpoint import DetectionCheckpointer

from posetrack_core.errors import UserError
from posetrack_core.io import atomic_path

from ..utils.safe_load import UnreadableFileError, UnsafeFileError, load_pickle, torch_load
from .conventions import input_record

__all__ = ["SafeDetectionCheckpointer", "CheckpointError"]


class CheckpointError(UserError, ValueError):
    """A checkpoint this model cannot use, or cannot use with this config (one line)."""


class SafeDetectionCheckpointer(DetectionCheckpointer):
    """Detectron2's `DetectionCheckpointer`, reading every file as data.

    Detectron2 reads ``.pkl`` checkpoints with ``pickle.load``, which runs whatever callable the
    file names. Here ``.pkl`` files go through `load_pickle` (containers, numbers, strings and
    numpy arrays only) and every other file through ``torch.load(weights_only=True)``; the
    layouts Detectron2 understands (its model zoo's ``model`` + ``__author__``, Detectron's
    ``blobs``, bare ImageNet dicts, pycls ``.pyth``) are read as Detectron2 reads them. A file
    that would build anything else, or that is missing, empty, truncated or corrupt, raises a
    one-line `CheckpointError` naming it.
    """

    def load(self, path: str, *args, **kwargs):
        local = path.split("?")[0] if path else path
        if local and "://" not in local and not os.path.isfile(local):
            what = "is a folder, not a file" if os.path.isdir(local) else "no such file"
            raise CheckpointError(f"{local}: {what}")
        try:
            return super().load(path, *args, **kwargs)
        finally:
            self._parsed_url_during_load = None  # Detectron2 leaves it set when loading fails

    def _load_file(self, filename: str) -> dict:
        try:
            if filename.endswith(".pkl"):
                return _detectron2_pkl_layout(load_pickle(filename), filename)
            if filename.endswith(".pyth"):
                data = torch_load(filename)
                if not isinstance(data, dict) or "model_state" not in data:
                    raise CheckpointError(f"{filename}: a pycls .pyth file holds 'model_state'")
                state = {
                    k: v
                    for k, v in data["model_state"].items()
                    if not k.endswith("num_batches_tracked")
                }
                return {
                    "model": state,
                    "__author__": "pycls",
                    "matching_heuristics": True,
                }
            # Detectron2's own path: _torch_load below, then its URL-query handling.
            return super()._load_file(filename)
        except (UnsafeFileError, UnreadableFileError) as e:
            raise CheckpointError(str(e)) from None

    def _torch_load(self, f: str) -> dict:
        loaded = torch_load(f)
        if not isinstance(loaded, dict):
            raise CheckpointError(f"{f}: not a checkpoint (holds a {type(loaded).__name__})")
        return loaded

    def save(self, name: str, **kwargs) -> None:
        """Detectron2's save, written beside its target and renamed into place (a full disk or a
        signal leaves the previous file, never a truncated one), with the input convention the
        weights were trained on (``__input__``: pixel format, mean, std, stride placement)."""
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        record = input_record(self.model)
        if record is not None:
            data["__input__"] = record
        basename = f"{name}.pth"
        path = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {path}")
        with atomic_path(path) as tmp:
            # Our own handle, closed on any exit: a failed save must not keep the partial file's
            # space held (the traceback would keep torch's handle open after the file is removed).
            with open(tmp, "wb") as f:
                try:
                    torch.save(data, f)
                except RuntimeError:  # PyTorch's zip writer reports a full disk this way
                    f.close()
                    if shutil.disk_usage(self.save_dir).free > (1 << 20):
                        raise
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path) from None
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        with atomic_path(os.path.join(self.save_dir, "last_checkpoint"), ".tmp") as tmp:
            with open(tmp, "w") as f:
                f.write(last_filename_basename)

    def _log_incompatible_keys(self, incompatible) -> None:
        # fvcore's per-tensor blocks repeat what `InflatingCheckpointer`'s summary line says.
        level = self.logger.level
        self.logger.setLevel(max(level, logging.ERROR))
        try:
            super()._log_incompatible_keys(incompatible)
        finally:
            self.logger.setLevel(level)


def _detectron2_pkl_layout(data, filename: str) -> dict:
    """A .pkl's data as Detectron2's `DetectionCheckpointer._load_file` lays it out."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{filename}: not a checkpoint (holds a {type(data).__name__})")
    if "model" in data and "__author__" in data:  # Detectron2 model zoo and its converters
        return data
    if "blobs" in data:  # Detectron (Caffe2) detection models; ImageNet files are bare dicts
        data = data["blobs"]
    data = {k: v for k, v in data.items() if not k.endswith("_momentum")}
    return {"model": data, "__author__": "Caffe2", "matching_heuristics": True}
