"""How a cost is named: ``"iou"``, a weighted sum ``"iou:1,pose:0.5"`` (the ``TRACKING.COST``
setting), a ``{name: weight}`` dict or a callable, and the cost function each name stands for."""

from typing import Callable, Dict, Union

from ..errors import UserError
from .costs import WeightedCost, cosine_cost, iou_cost, oks_cost, pose_cost

__all__ = ["COST_NAMES", "TrackerSettingError", "parse_cost", "cost_names", "build_cost"]

COST_NAMES = ("iou", "pose", "oks", "cnn", "lstm")


class TrackerSettingError(UserError, ValueError):
    """A tracker setting it cannot run with (unknown cost or matcher, a NaN or out-of-range
    threshold): one line naming the setting."""


def parse_cost(text: str) -> Union[str, Dict[str, float]]:
    """ "iou" -> "iou"; "iou:1,pose:0.5" -> {"iou": 1.0, "pose": 0.5}."""
    if ":" not in text and "," not in text:
        return text.strip()
    out = {}
    for part in text.split(","):
        name, _, weight = part.partition(":")
        try:
            out[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise TrackerSettingError(
                f"bad cost weight in {text!r}: {part!r} (use name:weight)"
            ) from None
    return out


def cost_names(cost) -> set:
    """The costs a `parse_cost` result uses (weight > 0); empty for a callable."""
    if isinstance(cost, str):
        return {cost}
    if isinstance(cost, dict):
        return {k for k, w in cost.items() if w > 0}
    return set()


def build_cost(cost: Union[str, Dict[str, float], Callable], *, lstm=None, keypoint_thresh=None):
    """A cost function from a name ("iou", "pose", "oks", "cnn", "lstm"), a {name: weight} dict
    (a weighted sum) or a callable ``(prev: Detections, cur: Detections) -> (M, N) array``."""
    if callable(cost):
        return cost

    def single(name):
        if name == "iou":
            return iou_cost
        if name == "pose":
            return lambda p, c: pose_cost(p, c, keypoint_thresh)
        if name == "oks":
            return lambda p, c: oks_cost(p, c, keypoint_thresh)
        if name == "cnn":
            return cosine_cost
        if name == "lstm":
            if lstm is None:
                raise TrackerSettingError(
                    "the lstm cost needs a trained model (lstm=... or TRACKING.LSTM_WEIGHTS)"
                )
            # A model that makes its cost (detectron2_tubes' BoxLSTM), or the cost itself.
            return lstm.tracking_cost() if hasattr(lstm, "tracking_cost") else lstm
        raise TrackerSettingError(f"unknown cost {name!r}; use one of {COST_NAMES}")

    if isinstance(cost, str):
        return single(cost)
    return WeightedCost({name: (float(w), single(name)) for name, w in cost.items()})
