"""Exporting a trained model with Detectron2's export tools, and running what was exported.

`export_model` traces Tube R-CNN (T = 1 or more) or a stock Detectron2 keypoint R-CNN with
Detectron2's `TracingAdapter` into TorchScript or ONNX. The exported model takes one clip as the
model takes it (uint8, (C, T, H, W) for Tube R-CNN, (C, H, W) for a stock model; resized as the
config says, in its channel order) and returns plain tensors at that size:

    classes (N,), scores (N,), tubes (N, T, 4) XYXY per frame,
    keypoints (N, T, K, 3) (x, y, probability), keypoint_logits (N, T, K)

in that order (`OUTPUTS`). Everything runs inside the graph, the tube NMS too (a TorchScript
loop, see `layers._greedy_keep`), so the file gives the eager model's outputs on any input size
and any number of people. One step is outside the ONNX graph: Detectron2 decodes keypoint
heatmaps with a per-RoI bicubic upsampling that ONNX cannot express (indexing of unknown rank),
so an ONNX model returns ``keypoint_heatmaps`` (N, T, K, S, S) in place of the two keypoint
outputs, and `decode_keypoint_heatmaps` (Detectron2's own decoding) finishes the job.

`ExportedModel` runs an export folder (TorchScript needs only torch and torchvision; ONNX needs
onnxruntime, an optional dependency), and `ExportedClipPredictor` gives it `ClipPredictor`'s
interface, so that `VideoPredictor`, the tracker and the writer take its outputs unchanged.
"""

import json
import logging
import os
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from detectron2.export import TracingAdapter
from detectron2.export.torchscript_patch import patch_builtin_len
from detectron2.structures import Instances, heatmaps_to_keypoints

from posetrack_core.errors import UserError
from posetrack_core.io import atomic_path, write_json_atomic

from .checkpoint import load_model
from .data.clip_inputs import ClipInputs
from .modeling.meta_arch import tube_postprocess, tubes_to_frames
from .structures import Tubes

__all__ = [
    "FORMATS",
    "OUTPUTS",
    "ExportError",
    "export_outputs",
    "export_model",
    "decode_keypoint_heatmaps",
    "ExportedModel",
    "ExportedClipPredictor",
]

logger = logging.getLogger(__name__)

FORMATS = {"torchscript": "model.ts", "onnx": "model.onnx"}
# The exported model's outputs, in order (TracingAdapter flattens a dict by sorted keys).
OUTPUTS = ("classes", "keypoint_logits", "keypoints", "scores", "tubes")
ONNX_OUTPUTS = ("classes", "keypoint_heatmaps", "scores", "tubes")
METADATA = "export.json"


class ExportError(UserError, RuntimeError):
    """A model that cannot be exported, or an export folder that cannot be used (one line)."""


def export_outputs(model, inputs) -> Dict[str, torch.Tensor]:
    """`TracingAdapter`'s inference function: one clip's detections as plain tensors at the
    model's input size (before `tube_postprocess`, which the runner applies), tubes and
    keypoints with a time axis for stock 2D models too."""
    inst = model.inference(inputs, do_postprocess=False)[0]
    if inst.has("pred_tubes"):
        tubes = inst.pred_tubes.tensor
    else:  # a stock Detectron2 model: one frame
        tubes = inst.pred_boxes.tensor[:, None]
    out = {"tubes": tubes, "scores": inst.scores, "classes": inst.pred_classes}
    if inst.has("pred_keypoint_heatmaps"):  # an ONNX export (see the module doc)
        maps = inst.pred_keypoint_heatmaps
        out["keypoint_heatmaps"] = maps if maps.dim() == 5 else maps[:, None]
        return out
    keypoints = inst.pred_keypoints
    if inst.has("pred_keypoint_logits"):
        logits = inst.pred_keypoint_logits
    else:  # Detectron2's own keypoint head keeps no logits
        logits = torch.full_like(keypoints[..., 0], float("nan"))
    if keypoints.dim() == 3:
        keypoints, logits = keypoints[:, None], logits[:, None]
    out.update(keypoints=keypoints, keypoint_logits=logits)
    return out


def decode_keypoint_heatmaps(heatmaps, tubes):
    """The ONNX model's post-processing: Detectron2's `heatmaps_to_keypoints` on (N, T, K, S, S)
    heatmaps and (N, T, 4) tubes -> keypoints (N, T, K, 3) (x, y, probability) and their
    logits (N, T, K), as the TorchScript model returns them."""
    maps, tubes = torch.as_tensor(heatmaps), torch.as_tensor(tubes)
    n, t, k = maps.shape[:3]
    decoded = heatmaps_to_keypoints(maps.reshape(n * t, k, *maps.shape[3:]), tubes.reshape(-1, 4))
    return decoded[..., [0, 1, 3]].reshape(n, t, k, 3), decoded[..., 2].reshape(n, t, k)


def _input_spec(cfg) -> dict:
    """`ClipInputs.settings` as export.json records them."""
    s = ClipInputs.settings(cfg)
    return {
        "reads_clips": s["reads_clips"],
        "num_frames": s["num_frames"],
        "format": s["input_format"],
        "min_size_test": s["min_size"],
        "max_size_test": s["max_size"],
    }


def export_model(cfg, fmt: str, output_dir: str, sample: Sequence[np.ndarray]) -> dict:
    """Export ``cfg``'s model (``MODEL.WEIGHTS`` loaded) to ``output_dir`` in ``fmt``
    ("torchscript" or "onnx"), traced on the clip ``sample`` (T BGR frames, any size). The
    exported model is run on the sample before its file is moved into place, and must give the
    eager model's detections; returns that check ({"detections", "max_diff_px"}) with the paths.
    Writes ``model.ts`` or ``model.onnx``, ``config.yaml`` and ``export.json``."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: use one of {sorted(FORMATS)}")
    model = load_model(cfg)[0].requires_grad_(False)
    clip = ClipInputs(**ClipInputs.settings(cfg)).model_input(list(sample))["image"]
    with torch.no_grad():
        eager = {k: v.cpu() for k, v in export_outputs(model, [{"image": clip}]).items()}
    if len(eager["scores"]) == 0:
        raise ExportError(
            "the sample clip gives no detections, so the heads would not be traced on data: "
            "give --sample frames with people in them"
        )
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, FORMATS[fmt])
    with atomic_path(path) as tmp:
        _trace_to(model, clip, fmt, tmp)
        got = ExportedModel.run_file(tmp, fmt, clip)
        check = _compare(eager, got, path)
    spec = {
        "format": fmt,
        "file": FORMATS[fmt],
        "outputs": list(OUTPUTS if fmt == "torchscript" else ONNX_OUTPUTS),
        "input": _input_spec(cfg),
        "score_thresh_test": cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST,
        "weights": cfg.MODEL.WEIGHTS,
        "torch": torch.__version__,
    }
    config_path = os.path.join(output_dir, "config.yaml")
    with atomic_path(config_path) as tmp, open(tmp, "w") as f:
        f.write(cfg.dump())
    write_json_atomic(spec, os.path.join(output_dir, METADATA), indent=1)
    return {"paths": [path, config_path, os.path.join(output_dir, METADATA)], **check}


# The modules whose len() of boxes, tubes and Instances must stay a traced size (Detectron2's
# patch_builtin_len does so for its own heads), so that a count (proposals, detections) is not
# recorded as a constant of the traced input.
_SIZED_MODULES = [
    "detectron2_tubes.layers",
    "detectron2_tubes.structures.tubes",
    "detectron2_tubes.modeling.meta_arch",
    "detectron2_tubes.modeling.tube_rpn",
    "detectron2_tubes.modeling.roi_heads",
    "detectron2_tubes.modeling.keypoint_head",
]


def _trace_to(model, clip: torch.Tensor, fmt: str, path: str) -> None:
    """Trace with a fresh `TracingAdapter` (it records the outputs' structure on first use)."""
    adapter = TracingAdapter(model, [{"image": clip}], inference_func=export_outputs)
    with torch.no_grad(), warnings.catch_warnings(), patch_builtin_len(_SIZED_MODULES):
        # The tracer's notes on Python values read from tensors: each one read here is constant
        # for a model (T, a shape check, an assert) or taken on every input (see the module
        # doc), and every export is checked against the eager model after it is written.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch.onnx")
        if fmt == "torchscript":
            traced = torch.jit.trace(adapter, adapter.flattened_inputs, check_trace=False)
            torch.jit.save(traced, path)
            return
        axes = {"clip": {clip.dim() - 2: "height", clip.dim() - 1: "width"}}
        axes.update({name: {0: "detections"} for name in ONNX_OUTPUTS})
        torch.onnx.export(
            adapter,
            adapter.flattened_inputs,
            path,
            dynamo=False,  # the TorchScript exporter: it keeps the tube NMS loop
            opset_version=17,
            input_names=["clip"],
            output_names=list(ONNX_OUTPUTS),
            dynamic_axes=axes,
        )
    model.eval()  # (the ONNX exporter leaves the model's mode as it found the adapter's)


def _compare(eager: dict, got: dict, path: str) -> dict:
    if len(got["scores"]) != len(eager["scores"]):
        raise ExportError(
            f"{path}: the exported model finds {len(got['scores'])} detections on the sample "
            f"where the model finds {len(eager['scores'])}; nothing was written"
        )
    diff = max(
        float(np.abs(np.asarray(got[k], np.float64) - eager[k].double().numpy()).max(initial=0))
        for k in ("tubes", "keypoints")
    )
    if diff > 0.5:  # pixels: float rounding gives ~1e-4
        raise ExportError(
            f"{path}: the exported model's boxes or joints differ from the model's by {diff:.3g} "
            "px on the sample; nothing was written"
        )
    return {"detections": len(eager["scores"]), "max_diff_px": diff}


class ExportedModel:
    """An export folder's model: ``model(clip)`` -> {name: numpy array} (`OUTPUTS`), the clip as
    the model takes it (uint8 tensor or array, (C, T, H, W) or (C, H, W)). A TorchScript model
    runs on ``device`` (trace it there: the export command traces on the config's
    MODEL.DEVICE); an ONNX model on onnxruntime's CPU provider."""

    def __init__(self, folder: str, device: str = "cpu"):
        meta_path = os.path.join(folder, METADATA)
        try:
            with open(meta_path) as f:
                self.spec = json.load(f)
            self.format, path = self.spec["format"], os.path.join(folder, self.spec["file"])
        except FileNotFoundError:
            raise ExportError(f"{folder}: no {METADATA}; not a folder written by the export "
                              "command") from None  # fmt: skip
        except (ValueError, KeyError, TypeError) as e:
            raise ExportError(f"{meta_path}: not a valid export description ({e})") from None
        if not os.path.isfile(path):
            raise ExportError(f"{folder}: {self.spec['file']} is missing")
        self.path = path
        self._run = _loader(self.format)(path, device)

    @staticmethod
    def run_file(path: str, fmt: str, clip) -> Dict[str, np.ndarray]:
        """Run an exported file once (used to check a fresh export)."""
        return _finish(_loader(fmt)(path, "cpu")(clip))

    def __call__(self, clip) -> Dict[str, np.ndarray]:
        return _finish(self._run(clip))


def _loader(fmt: str):
    """(path, device) -> (clip -> {name: array}) for a format."""
    if fmt == "torchscript":

        def load(path, device):
            import torchvision  # noqa: F401  (registers roi_align and nms for the graph)

            with warnings.catch_warnings():  # TorchScript is deprecated by PyTorch 2.10+
                warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is deprecated")
                module = torch.jit.load(path, map_location=device)

            def run(clip):
                with torch.no_grad():
                    outputs = module(torch.as_tensor(clip))
                return dict(zip(OUTPUTS, (t.cpu().numpy() for t in outputs)))

            return run

        return load
    if fmt == "onnx":

        def load(path, device):
            try:
                import onnxruntime
            except ImportError:
                raise ExportError(
                    "ONNX models run with onnxruntime: pip install onnxruntime"
                ) from None
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3  # not its notes on outputs whose length varies
            session = onnxruntime.InferenceSession(
                path, options, providers=["CPUExecutionProvider"]
            )

            def run(clip):
                clip = np.asarray(clip)
                return dict(zip(ONNX_OUTPUTS, session.run(None, {"clip": clip})))

            return run

        return load
    raise ExportError(f"unknown export format {fmt!r}")


def _finish(out: dict) -> Dict[str, np.ndarray]:
    """The ONNX model's keypoints decoded outside the graph; the same names for both formats."""
    if "keypoint_heatmaps" in out:
        keypoints, logits = decode_keypoint_heatmaps(out.pop("keypoint_heatmaps"), out["tubes"])
        out.update(keypoints=keypoints.numpy(), keypoint_logits=logits.numpy())
    return out


class ExportedClipPredictor(ClipInputs):
    """`ClipPredictor`'s interface over an exported model: T BGR frames (numpy, any size) in,
    ``{"instances", "frames"}`` in the frames' coordinates out, as the eager model's, so that
    `VideoPredictor` (and through it the tracker and the writer) runs an export unchanged."""

    def __init__(self, folder: str):
        self.exported = ExportedModel(folder)
        spec = self.exported.spec["input"]
        super().__init__(spec["min_size_test"], spec["max_size_test"], spec["format"],
                         spec["num_frames"], spec["reads_clips"])  # fmt: skip
        self.model = None  # (nothing to adjust: the score threshold is inside the graph)
        self.weights_summary = f"exported {self.exported.format} model {self.exported.path}"

    def predict_batch(self, clips, prepared=None) -> List[dict]:
        prepared = prepared if prepared is not None else [None] * len(clips)
        return [self._predict(c, p) for c, p in zip(clips, prepared)]

    def __call__(self, frames) -> dict:
        return self.predict_batch([frames])[0]

    def _predict(self, frames, prepared: Optional[Sequence[np.ndarray]]) -> dict:
        model_input = self.model_input(frames, prepared)
        out = self.exported(model_input["image"])
        inst = Instances(
            tuple(model_input["image"].shape[-2:]),
            pred_tubes=Tubes(torch.as_tensor(out["tubes"])),
            scores=torch.as_tensor(out["scores"]),
            pred_classes=torch.as_tensor(out["classes"]),
            pred_keypoints=torch.as_tensor(out["keypoints"]),
        )
        if not np.isnan(out["keypoint_logits"]).all():
            inst.pred_keypoint_logits = torch.as_tensor(out["keypoint_logits"])
        inst = tube_postprocess(inst, model_input["height"], model_input["width"])
        return {"instances": inst, "frames": tubes_to_frames(inst)}
