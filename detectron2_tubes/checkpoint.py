"""`InflatingCheckpointer`: load 2D checkpoints into 3D models (the paper's initialisation).

What it reads, and how each is mapped onto the model (one renaming table, `RENAME_RULES`):

- a Detectron2 checkpoint of the same model (resuming): loaded as it is;
- a stock Detectron2 keypoint R-CNN, FPN (``backbone.bottom_up.*``) or C4 (``roi_heads.res5.*``),
  like the COCO-trained R-18-FPN the authors' release started from: the ResNet into the
  backbone, res5 into the C4 box head, RPN, box predictor and keypoint head where shapes match;
- a Detectron (Caffe2) ``.pkl`` (``res2_0_branch2a_w``, ``conv_fcn1_w``...), renamed with
  Detectron2's own `convert_c2_detectron_names`, then as above;
- ImageNet ResNets: Detectron2/MSRA ``.pkl`` (``res2.0.conv1.weight``) and torchvision state dicts
  (``layer1.0.conv1.weight``), each checked against the input convention it was trained with.

Every file is read as data (`SafeDetectionCheckpointer`): ``.pkl`` through a restricted
unpickler, everything else through ``torch.load(weights_only=True)``; a file that would run
code when loaded is refused before anything in it runs.
"""

import errno
import logging
import os
import re
import shutil
from typing import Dict, List, Optional, Tuple

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.checkpoint.c2_model_loading import convert_c2_detectron_names

from posetrack_core.errors import UserError
from posetrack_core.io import atomic_path

from .utils.safe_load import UnreadableFileError, UnsafeFileError, load_pickle, torch_load

__all__ = [
    "InflatingCheckpointer",
    "SafeDetectionCheckpointer",
    "CheckpointError",
    "inflate_weight",
    "convert_torchvision_resnet",
    "rename_to_model",
    "INPUT_CONVENTIONS",
]

logger = logging.getLogger(__name__)
INFLATION_MODES = ("center", "mean")
# Buffers a checkpoint may lack or carry without meaning anything about the architecture.
_IGNORED = ("pixel_mean", "pixel_std", "anchor_generator.cell_anchors", "num_batches_tracked")

# A checkpoint key prefix -> the model prefixes it may stand for, tried in order; the first that
# names a tensor of the model wins. Keys the model has under their own name are never renamed.
# Together these read Detectron2 FPN and C4 detectors, ImageNet ResNets (Detectron2/MSRA and
# torchvision, once renamed) and Caffe2 Detectron checkpoints (once renamed by Detectron2) into a
# C4 Tube R-CNN, and ImageNet or C4 backbones into a stock FPN model.
_STAGES = ("stem", "res2", "res3", "res4")
RENAME_RULES: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    # res5 is the C4 box head of Tube R-CNN (and of Detectron2's Res5ROIHeads).
    ("backbone.bottom_up.res5.", ("roi_heads.box_head.res5.", "roi_heads.res5.")),
    ("roi_heads.res5.", ("roi_heads.box_head.res5.", "backbone.bottom_up.res5.")),
    ("res5.", ("roi_heads.box_head.res5.", "roi_heads.res5.", "backbone.bottom_up.res5.")),
    ("backbone.bottom_up.", ("backbone.",)),
    *((f"{s}.", (f"backbone.{s}.", f"backbone.bottom_up.{s}.")) for s in _STAGES),
    ("backbone.", ("backbone.bottom_up.",)),
    # Caffe2 Detectron's head names, as Detectron2's converter leaves them.
    ("cls_score.", ("roi_heads.box_predictor.cls_score.",)),
    ("bbox_pred.", ("roi_heads.box_predictor.bbox_pred.",)),
    ("box_head.", ("roi_heads.box_head.",)),
    ("fpn_", ("backbone.fpn_",)),
)

# The input each family of ImageNet weights was trained on: channel order, mean and std of the
# pixels (0-255, in that order) and, for bottleneck ResNets, whether the stride sits in the 1x1
# conv (MSRA's original nets) or in the 3x3 (torchvision's).
INPUT_CONVENTIONS = {
    "torchvision": dict(
        format="RGB",
        mean=(123.675, 116.28, 103.53),
        std=(58.395, 57.12, 57.375),
        stride_in_1x1=False,
    ),
    "caffe2": dict(
        format="BGR", mean=(103.53, 116.28, 123.675), std=(1.0, 1.0, 1.0), stride_in_1x1=True
    ),
}


class CheckpointError(UserError, ValueError):
    """A checkpoint this model cannot use, or cannot use with this config (one line)."""


def inflate_weight(weight: torch.Tensor, extent: int, mode: str = "center") -> torch.Tensor:
    """A 2D conv weight (O, I, kh, kw) -> 3D (O, I, extent, kh, kw).

    "center": the 2D kernel in the central time slice, zeros elsewhere (Detect-and-Track), so a
    clip of identical frames gives the 2D output. "mean": the kernel repeated over time and
    divided by the extent (I3D), so a constant-in-time input gives the 2D output away from the
    clip's ends.
    """
    if mode == "center":
        out = weight.new_zeros((weight.shape[0], weight.shape[1], extent, *weight.shape[2:]))
        out[:, :, extent // 2] = weight
        return out
    if mode == "mean":
        return weight.unsqueeze(2).repeat(1, 1, extent, 1, 1) / extent
    raise ValueError(f"Unknown inflation mode {mode!r}; use one of {INFLATION_MODES}")


_TV_LAYER = re.compile(r"^layer(\d)\.(\d+)\.(.*)$")


def convert_torchvision_resnet(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename a torchvision ResNet state dict to Detectron2's ResNet names (``stem.conv1``,
    ``res2.0.conv1.norm``, ``res2.0.shortcut``); the classifier (``fc``) is dropped."""
    out = {}
    for key, value in state.items():
        if key.startswith("fc.") or key.endswith("num_batches_tracked"):
            continue
        new = key
        if key.startswith("conv1."):
            new = "stem." + key
        elif key.startswith("bn1."):
            new = "stem.conv1.norm." + key[len("bn1.") :]
        else:
            m = _TV_LAYER.match(key)
            if m:
                stage, block, rest = int(m.group(1)) + 1, m.group(2), m.group(3)
                rest = re.sub(r"^bn(\d)\.", r"conv\1.norm.", rest)
                rest = rest.replace("downsample.0.", "shortcut.").replace(
                    "downsample.1.", "shortcut.norm."
                )
                new = f"res{stage}.{block}.{rest}"
        out[new] = value
    return out


def _is_torchvision_resnet(state: dict) -> bool:
    return "conv1.weight" in state and any(k.startswith("layer1.0.") for k in state)


def rename_to_model(state: Dict[str, torch.Tensor], model_keys) -> Dict[str, torch.Tensor]:
    """Checkpoint names -> the model's, by `RENAME_RULES`; keys no rule maps keep their name."""
    model_keys = set(model_keys)
    out = {}
    for key, value in state.items():
        new = key
        if key not in model_keys:
            for prefix, targets in RENAME_RULES:
                if key.startswith(prefix):
                    for target in targets:
                        if target + key[len(prefix) :] in model_keys:
                            new = target + key[len(prefix) :]
                            break
                    break
        if new in out:
            logger.warning(f"[InflatingCheckpointer] {key} and another key both map to {new}")
            continue
        out[new] = value
    return out


def _shorten(keys: List[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


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
                return {"model": state, "__author__": "pycls", "matching_heuristics": True}
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


def input_record(model) -> Optional[dict]:
    """The input convention ``model`` reads (pixel format, mean, std, stride placement), as
    `SafeDetectionCheckpointer.save` stores it in checkpoints; None for models without one."""
    fmt = getattr(model, "input_format", None)
    mean, std = getattr(model, "pixel_mean", None), getattr(model, "pixel_std", None)
    if fmt is None or mean is None or std is None:
        return None
    return {
        "format": str(fmt),
        "mean": [round(float(v), 4) for v in mean.flatten()],  # float32 buffers: 123.675
        "std": [round(float(v), 4) for v in std.flatten()],  # reads back as 123.67500305...
        "stride_in_1x1": _stride_in_1x1(model),
    }


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


class InflatingCheckpointer(SafeDetectionCheckpointer):
    """A `DetectionCheckpointer` that loads 2D checkpoints into 3D models.

    Checkpoint names are mapped onto the model's (see the module docstring and `RENAME_RULES`).
    Every convolution whose checkpoint weight has one dimension fewer than the model's (or a
    temporal extent of 1 where the model's is larger) is inflated along time (``inflation`` =
    "center", the paper's and the default, or "mean"); the box predictor regresses each frame's
    box with the 2D layer's shapes, so it loads unchanged. Tensors whose shapes differ stay at
    their initialisation. One summary line says what was loaded, inflated, left at
    initialisation and unused; a checkpoint from which no backbone weight loads raises a
    `CheckpointError`, as does ImageNet weights whose input convention (pixel order, mean, std,
    stride placement) differs from the model's. Checkpoints of the same 3D model load unchanged,
    so `resume_or_load` works as usual.

    Use it as Detectron2's: ``InflatingCheckpointer(model).load(path)``.
    """

    def __init__(
        self,
        model,
        save_dir: str = "",
        *,
        inflation: str = "center",
        complete: bool = False,
        **kwargs,
    ):
        if inflation not in INFLATION_MODES:
            raise ValueError(f"Unknown inflation mode {inflation!r}; use one of {INFLATION_MODES}")
        super().__init__(model, save_dir, **kwargs)
        self.inflation = inflation
        # Inference: every tensor must come from the checkpoint (a head left at its random
        # initialisation gives random outputs); training may start parts from scratch.
        self.complete = complete
        self._path = ""
        self.summary = ""  # the last load's summary line

    @classmethod
    def from_config(cls, cfg, model, save_dir: str = "", *, inference: bool = False, **kwargs):
        """The checkpointer ``cfg`` asks for: its inflation mode, and at inference (``inference``)
        every tensor required from the checkpoint unless MODEL.WEIGHTS_ALLOW_PARTIAL."""
        complete = inference and not cfg.MODEL.WEIGHTS_ALLOW_PARTIAL
        return cls(
            model, save_dir, inflation=cfg.MODEL.WEIGHTS_INFLATION, complete=complete, **kwargs
        )

    def _load_file(self, filename: str) -> dict:
        self._path = filename
        loaded = super()._load_file(filename)
        if _is_torchvision_resnet(loaded["model"]):
            loaded["model"] = convert_torchvision_resnet(loaded["model"])
            loaded["__author__"] = "torchvision"
        if not isinstance(loaded.get("__input__"), dict):  # older checkpoints: the side file
            loaded["__input__"] = _trained_input(filename)
        return loaded

    def _load_model(self, checkpoint: dict):
        state = checkpoint["model"]
        self._convert_ndarray_to_tensor(state)
        author = checkpoint.get("__author__")
        if author == "Caffe2":
            state, _ = convert_c2_detectron_names(state)
        family = {"Caffe2": "caffe2", "torchvision": "torchvision"}.get(author)
        if family:
            source = {"torchvision": "torchvision", "caffe2": "Caffe2/MSRA"}[family]
            self._check_input_convention(INPUT_CONVENTIONS[family], f"{source} weights, trained")
        elif checkpoint.get("__input__"):
            self._check_input_convention(
                checkpoint["__input__"],
                checkpoint["__input__"].get("__source__", "a model trained (says the checkpoint)"),
            )
        model_state = self.model.state_dict()
        state = rename_to_model(state, model_state)
        state, report = self._inflate(state, model_state)
        checkpoint["model"] = state
        # Names are already the model's: Detectron2's suffix heuristics must not run again.
        checkpoint["matching_heuristics"] = False
        self._summarise(report, model_state)
        return super()._load_model(checkpoint)

    def _inflate(self, state: Dict[str, torch.Tensor], model_state: Dict[str, torch.Tensor]):
        """Keep tensors of the model's shape, inflate 2D convs, drop other shapes.

        Returns the state to load and a report {"loaded", "inflated", "mismatched", "unused"}.
        """
        out: Dict[str, torch.Tensor] = {}
        report: Dict[str, List[str]] = {
            "loaded": [],
            "inflated": [],
            "mismatched": [],
            "unused": [],
        }
        for key, value in state.items():
            target = model_state.get(key)
            if target is None or not isinstance(value, torch.Tensor):
                if not key.endswith(_IGNORED):
                    report["unused"].append(key)
                out[key] = value
                continue
            if value.shape == target.shape:
                out[key] = value
                report["loaded"].append(key)
                continue
            if value.dim() == 5 and value.shape[2] == 1 and target.dim() == 5:
                value = value[:, :, 0]  # a 2D model built in 3D (T = 1, temporal extent 1)
            if (
                value.dim() == 4
                and target.dim() == 5
                and value.shape[:2] + value.shape[2:] == target.shape[:2] + target.shape[3:]
            ):
                out[key] = inflate_weight(value, target.shape[2], self.inflation).to(target.dtype)
                report["inflated"].append(key)
                logger.debug(
                    f"[InflatingCheckpointer] inflated {key}: {tuple(value.shape)} -> "
                    f"{tuple(target.shape)} ({self.inflation})"
                )
            else:
                report["mismatched"].append(
                    f"{key} {tuple(state[key].shape)} vs {tuple(target.shape)}"
                )
        return out, report

    def _summarise(self, report: Dict[str, List[str]], model_state: Dict[str, torch.Tensor]):
        """One summary line; a `CheckpointError` when no backbone weight loads."""
        given = set(report["loaded"]) | set(report["inflated"])
        absent = [
            k
            for k in model_state
            if k not in given
            and not k.endswith(_IGNORED)
            and not any(m.startswith(k + " ") for m in report["mismatched"])
            # Affine-only norms (Caffe2's AffineChannel): the statistics stay 0 and 1.
            and not (
                k.endswith(("running_mean", "running_var"))
                and k.rsplit(".", 1)[0] + ".weight" in given
            )
        ]
        backbone = [k for k in model_state if k.startswith("backbone.")]
        if backbone and not any(k.startswith("backbone.") for k in given):
            raise CheckpointError(
                f"{self._path}: no backbone weight of this model is in the checkpoint (its keys "
                f"look like {_shorten(sorted(report['unused']), 3)}); it is not a ResNet or a "
                f"keypoint R-CNN of this depth and width"
            )
        loaded_backbone = sum(k.startswith("backbone.") for k in given)
        if loaded_backbone < len(backbone) / 2:
            logger.warning(
                f"[InflatingCheckpointer] only {loaded_backbone} of the backbone's {len(backbone)} "
                f"tensors are in {self._path}: is it the right depth and width?"
            )
        left = report["mismatched"] + absent
        self.summary = (
            f"{self._path}: {len(report['loaded'])} tensors loaded, "
            f"{len(report['inflated'])} inflated to 3D ({self.inflation}), {len(left)} left at "
            f"their initialisation"
            + (f" ({_shorten(left)})" if left else "")
            + f", {len(report['unused'])} checkpoint tensors unused"
            + (f" ({_shorten(sorted(report['unused']))})" if report["unused"] else "")
        )
        logger.info(f"[InflatingCheckpointer] {self.summary}")
        if self.complete and left:
            parts = sorted({".".join(k.split(" ")[0].split(".")[:2]) for k in left})
            raise CheckpointError(
                f"{self._path} does not fit this model: {len(left)} of its tensors would stay at "
                f"their random initialisation, in {_shorten(parts)}; give weights trained with "
                f"this config, or set MODEL.WEIGHTS_ALLOW_PARTIAL True to run anyway"
            )

    def _check_input_convention(self, want: dict, source: str) -> None:
        """Weights only work on the input they were trained with: refuse any other."""
        model = self.model
        problems = []
        fmt = getattr(model, "input_format", None)
        if fmt is not None and fmt != want["format"]:
            problems.append(f"INPUT.FORMAT {want['format']} (is {fmt})")
        for name in ("mean", "std"):
            buf: Optional[torch.Tensor] = getattr(model, f"pixel_{name}", None)
            if buf is None:
                continue
            have = [round(float(v), 3) for v in buf.flatten()]
            tol = 1.0 if name == "mean" else 0.05
            if len(have) != 3 or any(abs(a - b) > tol for a, b in zip(have, want[name])):
                problems.append(f"MODEL.PIXEL_{name.upper()} {list(want[name])} (is {have})")
        stride_in_1x1 = _stride_in_1x1(model)
        wanted_stride = want.get("stride_in_1x1")
        if None not in (stride_in_1x1, wanted_stride) and stride_in_1x1 != wanted_stride:
            problems.append(f"MODEL.RESNETS.STRIDE_IN_1X1 {want['stride_in_1x1']}")
        if problems:
            raise CheckpointError(
                f"{self._path} holds {source} on {want['format']} input with "
                f"pixel mean {list(want['mean'])} and std {list(want['std'])}; this model's "
                f"input differs: set {', '.join(problems)}"
            )


def _trained_input(filename: str) -> Optional[dict]:
    """The input convention of the training that wrote ``filename``, from the config.yaml that
    Detectron2's trainers write beside their checkpoints (None when there is none)."""
    import yaml

    path = os.path.join(os.path.dirname(os.path.abspath(filename)), "config.yaml")
    try:
        with open(path) as f:
            cfg = yaml.safe_load(f)
        return dict(
            __source__="a model trained (says the config.yaml beside it)",
            format=cfg["INPUT"]["FORMAT"],
            mean=tuple(float(v) for v in cfg["MODEL"]["PIXEL_MEAN"]),
            std=tuple(float(v) for v in cfg["MODEL"]["PIXEL_STD"]),
            stride_in_1x1=bool(cfg["MODEL"]["RESNETS"]["STRIDE_IN_1X1"]),
        )
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return None


def _stride_in_1x1(model) -> Optional[bool]:
    """Whether the model's strided bottleneck blocks stride in their 1x1 conv (None: no
    bottleneck blocks, as in ResNet-18/34)."""
    for module in model.modules():
        conv1, conv2 = getattr(module, "conv1", None), getattr(module, "conv2", None)
        if conv1 is None or conv2 is None or not hasattr(module, "conv3"):
            continue
        s1, s2 = max(conv1.stride[-2:]), max(conv2.stride[-2:])
        if s1 > 1 or s2 > 1:
            return s1 > 1
    return None
