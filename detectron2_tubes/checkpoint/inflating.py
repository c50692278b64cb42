"""`InflatingCheckpointer`: any 2D or 3D checkpoint into a Tube R-CNN (renamed, inflated, its
input convention checked, one summary line), and `load_model`, a config's model with its
weights."""

import logging
from typing import Dict, List

import torch
from detectron2.checkpoint.c2_model_loading import convert_c2_detectron_names

from .conventions import INPUT_CONVENTIONS, convention_problems, trained_input
from .inflation import IGNORED, INFLATION_MODES, inflate_state
from .rename import convert_torchvision_resnet, is_torchvision_resnet, rename_to_model
from .safe import CheckpointError, SafeDetectionCheckpointer

__all__ = ["InflatingCheckpointer", "load_model"]

logger = logging.getLogger(__name__)


class InflatingCheckpointer(SafeDetectionCheckpointer):
    """A `DetectionCheckpointer` that loads 2D checkpoints into 3D models.

    Checkpoint names are mapped onto the model's (the package docstring; `RENAME_RULES`).
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
            model,
            save_dir,
            inflation=cfg.MODEL.WEIGHTS_INFLATION,
            complete=complete,
            **kwargs,
        )

    def _load_file(self, filename: str) -> dict:
        self._path = filename
        loaded = super()._load_file(filename)
        if is_torchvision_resnet(loaded["model"]):
            loaded["model"] = convert_torchvision_resnet(loaded["model"])
            loaded["__author__"] = "torchvision"
        if not isinstance(loaded.get("__input__"), dict):  # older checkpoints: the side file
            loaded["__input__"] = trained_input(filename)
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
            source = checkpoint["__input__"].get(
                "__source__", "a model trained (says the checkpoint)"
            )
            self._check_input_convention(checkpoint["__input__"], source)
        model_state = self.model.state_dict()
        state = rename_to_model(state, model_state)
        state, report = inflate_state(state, model_state, self.inflation)
        checkpoint["model"] = state
        # Names are already the model's: Detectron2's suffix heuristics must not run again.
        checkpoint["matching_heuristics"] = False
        self._summarise(report, model_state)
        return super()._load_model(checkpoint)

    def _summarise(self, report: Dict[str, List[str]], model_state: Dict[str, torch.Tensor]):
        """One summary line; a `CheckpointError` when no backbone weight loads."""
        given = set(report["loaded"]) | set(report["inflated"])
        absent = [
            k
            for k in model_state
            if k not in given
            and not k.endswith(IGNORED)
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
        problems = convention_problems(self.model, want)
        if problems:
            raise CheckpointError(
                f"{self._path} holds {source} on {want['format']} input with "
                f"pixel mean {list(want['mean'])} and std {list(want['std'])}; this model's "
                f"input differs: set {', '.join(problems)}"
            )


def load_model(cfg):
    """``cfg``'s model in eval mode with ``MODEL.WEIGHTS`` loaded by the `InflatingCheckpointer`
    (every tensor required unless ``MODEL.WEIGHTS_ALLOW_PARTIAL``): ``(model, summary line)``,
    the summary empty without weights."""
    from detectron2.modeling import build_model

    model = build_model(cfg).eval()
    if not cfg.MODEL.WEIGHTS:
        return model, ""
    checkpointer = InflatingCheckpointer.from_config(cfg, model, inference=True)
    checkpointer.load(cfg.MODEL.WEIGHTS)
    return model, checkpointer.summary


def _shorten(keys: List[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")
