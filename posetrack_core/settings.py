"""The tracker's and the PoseTrack writer's settings: the tables of their keys with the one set of
defaults, and merging a config file and ``KEY VALUE`` overrides with one-line errors. The bottom
of the settings: it imports nothing of the project but its errors; `posetrack_core.from_config`
turns a config into the tracker's and the writer's arguments.

The same keys are the ``TRACKING`` and ``TEST.POSETRACK`` groups of Detectron2's config, which
`detectron2_tubes.add_tubes_config` fills from the tables below, so that ``train_net.py``,
``track_video`` and ``link`` read one convention. Configs are fvcore's ``CfgNode`` (what
Detectron2's config is built on, without torch): ``_BASE_`` files and typed overrides work as
they do in Detectron2.
"""

import difflib
import os
import re
from typing import Dict, Iterable, Optional, Sequence, Tuple

from .errors import UserError, message_lines

__all__ = [
    "TRACKING_KEYS",
    "OUTPUT_KEYS",
    "ConfigError",
    "unset",
    "tracking_defaults",
    "output_defaults",
    "merge_config_file",
    "merge_config_list",
    "read_config_file",
    "config_problem",
]

# (key, default, meaning): the TRACKING group. The defaults are the paper's tracker.
TRACKING_KEYS: Tuple[Tuple[str, object, str], ...] = (
    ("COST", "iou", 'cost between detections of adjacent frames: "iou", "pose" (PCKh), "oks", '
     '"cnn", "lstm", or a "name:weight,name:weight" weighted sum (e.g. "iou:1,pose:1")'),
    ("MATCHER", "hungarian", '"hungarian" (optimal) or "greedy" matching'),
    ("DET_THRESH", 0.95, "detections below this score are not tracked (the paper's, Table 1)"),
    ("MIN_AREA", 50.0, "detections whose box, clipped to the frame, is smaller than this (px^2) "
     "are not tracked"),
    ("MAX_COST", -1.0, "pairs costlier than this are never matched; -1 = no gate (the paper)"),
    ("MEMORY", 0, "frames a track may go unmatched and still be continued; 0 = the paper "
     "(previous frame only)"),
    ("MOTION", "none", "how a track's box is carried into the next frame before matching: "
     '"none" (its last box, the paper\'s; with MEMORY, moved on by its recent velocity) or '
     '"kalman" (a constant-velocity Kalman filter, as SORT and ByteTrack)'),
    ("LOW_THRESH", -1.0, "ByteTrack's second association: detections scoring in [LOW_THRESH, "
     "DET_THRESH) are matched to tracks seen in the previous frame that the first association "
     "left unmatched (never starting a track); -1 = off (the paper)"),
    ("SECOND_MAX_COST", 0.5, "the most 1 - IoU a pair of the second association may have "
     "(ByteTrack's 0.5)"),
    ("KEYPOINT_THRESH", -1.0, "joints scoring below this do not count in the pose and OKS "
     "costs; -1 = every joint counts"),
    ("LSTM_WEIGHTS", "", "weights of the learned LSTM cost (from python -m tubes_cli.train_lstm)"),
    ("CNN_WEIGHTS", "", 'torchvision ResNet-18 weights for the CNN cost ("" = random init; '
     "nothing is downloaded)"),
)  # fmt: skip

# (key, default, meaning): the TEST.POSETRACK group, how predictions are written as PoseTrack.
OUTPUT_KEYS: Tuple[Tuple[str, object, str], ...] = (
    ("KEYPOINT_THRESH", 1.95, "joints whose heatmap peak logit is below this are written as "
     "absent: the paper's (tuned on PoseTrack validation); re-tune with "
     "python -m tubes_cli.sweep_thresholds"),
    ("KEYPOINT_THRESH_ON", "logit", 'what KEYPOINT_THRESH applies to: "logit" (the heatmap peak '
     'logit; the paper\'s) or "prob" (Detectron2\'s spatial-softmax probability of the peak)'),
    ("KEYPOINT_SCORE", "box", 'each written joint\'s score, which ranks joints for AP: "box" (the '
     "detection's score, as the authors' release did: KEYPOINT_CONFIDENCE bbox) or \"prob\" "
     "(the joint's own probability)"),
)  # fmt: skip


class ConfigError(UserError):
    """A config file or override that cannot be merged (one line naming the file or key)."""


def unset(value: float) -> Optional[float]:
    """A ``-1 = off`` setting as the tracker's None."""
    return None if value < 0 else value


def tracking_defaults() -> Dict[str, object]:
    """{TRACKING key: default}: the paper's tracker, which `PoseTracker`'s arguments take."""
    return {key: value for key, value, _ in TRACKING_KEYS}


def output_defaults() -> Dict[str, object]:
    """{TEST.POSETRACK key: default}: how predictions are written."""
    return {key: value for key, value, _ in OUTPUT_KEYS}


def merge_config_file(cfg, config_file: str) -> None:
    """``cfg.merge_from_file``, every problem (missing or empty file, bad YAML, unknown key, wrong
    type, an unreadable ``_BASE_``) a one-line `ConfigError` naming the file."""
    read_config_file(config_file, type(cfg))
    try:
        cfg.merge_from_file(config_file)
    except (KeyError, ValueError, AssertionError, TypeError) as e:
        raise ConfigError(f"{config_file}: {config_problem(e, cfg)}") from None


def merge_config_list(cfg, opts: Sequence[str]) -> None:
    """``cfg.merge_from_list(opts)`` (``KEY VALUE`` pairs) with one-line `ConfigError`s."""
    opts = list(opts)
    if len(opts) % 2:
        raise ConfigError(
            f"config overrides come in KEY VALUE pairs; {len(opts)} items given, the last "
            f"{opts[-1]} has no value"
        )
    try:
        cfg.merge_from_list(opts)
    except (KeyError, ValueError, AssertionError) as e:
        raise ConfigError(f"config override: {config_problem(e, cfg)}") from None


def read_config_file(config_file: str, node_class) -> dict:
    """The file's keys with its ``_BASE_`` chain merged in (plain YAML only; ``{}`` for a config
    with Python tags, which only the model's commands read); every problem a `ConfigError`."""
    import yaml

    if not os.path.isfile(config_file):
        what = "is a folder" if os.path.isdir(config_file) else "does not exist"
        raise ConfigError(f"config file {config_file} {what}")
    try:
        with open(config_file) as f:
            content = yaml.safe_load(f)
        if isinstance(content, dict):
            content = node_class.load_yaml_with_base(config_file, allow_unsafe=False)
    except yaml.constructor.ConstructorError:
        # Python tags: Detectron2 reads them with unsafe_load (such a config is code); the
        # model's commands merge them as Detectron2 does, and no tracker key is among them.
        return {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{config_file}: not valid YAML ({message_lines(e, limit=3)})") from None
    except OSError as e:  # a _BASE_ file
        raise ConfigError(f"{config_file}: cannot read {e.filename} ({e.strerror})") from None
    if not isinstance(content, dict):
        what = "is empty" if content is None else "is not a mapping of config keys"
        raise ConfigError(f"{config_file}: {what}")
    return content


def config_problem(e: Exception, cfg) -> str:
    """A merge error of fvcore/yacs as one line; an unknown key with the nearest known ones."""
    text = str(e.args[0]) if e.args else str(e)
    if "Non-existent" in text and "key" in text:
        key = text.split(":", 1)[1].strip()
        near = difflib.get_close_matches(key, list(_all_keys(cfg)), n=3, cutoff=0.75)
        return f"unknown config key {key}" + (f" (did you mean {', '.join(near)}?)" if near else "")
    mismatch = re.match(
        r"Type mismatch \(<class '(\w+)'> vs\. <class '(\w+)'>\) with values \((.*) vs\. (.*)\) "
        r"for config key: (\S+)",
        text,
    )
    if mismatch:
        want, _, default, given, key = mismatch.groups()
        article = "an" if want[0] in "aeiou" else "a"
        return f"{key} takes {article} {want} (its default is {default}), not {given!r}"
    return message_lines(text, limit=3)


def _all_keys(node, prefix: str = "") -> Iterable[str]:
    for k, v in node.items():
        if isinstance(v, dict):
            yield from _all_keys(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"
