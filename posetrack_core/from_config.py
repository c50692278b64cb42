"""A config turned into the tracker and the writer: the one loader of the ``TRACKING`` and
``TEST.POSETRACK`` settings (their tables are `posetrack_core.settings`), used by every command
and by Detectron2's evaluator.

`build_tracker` makes the `PoseTracker` a config describes. The learned LSTM cost and the CNN
cost need networks (torch): their loader is an argument, `detectron2_tubes.tracking` passes it
(`build_pose_tracker`), and a command without it says which setting needs torch.
"""

from typing import Callable, Dict, Optional, Sequence

from .settings import (
    ConfigError,
    config_problem,
    merge_config_list,
    output_defaults,
    read_config_file,
    tracking_defaults,
    unset,
)
from .tracking.cost_spec import TrackerSettingError, cost_names, parse_cost
from .tracking.tracker import PoseTracker

__all__ = ["tracking_config", "tracker_kwargs", "needs_networks", "build_tracker", "writer_options"]


def tracking_config(
    config_file: str = "",
    opts: Sequence[str] = (),
    *,
    frames: bool = True,
    groups: Sequence[str] = ("TRACKING", "TEST.POSETRACK"),
):
    """The settings of a command that tracks saved detections: the ``TRACKING`` and
    ``TEST.POSETRACK`` defaults, then those groups of ``config_file`` (the config's other keys
    are the model's and are left to the commands that build it), then ``KEY VALUE`` overrides,
    which may name keys of ``groups`` only. Without frame images (``frames=False``) the CNN
    cost is refused."""
    from fvcore.common.config import CfgNode

    cfg = CfgNode({"TRACKING": tracking_defaults(), "TEST": {"POSETRACK": output_defaults()}})
    if config_file:
        content = read_config_file(config_file, CfgNode)
        ours = {"TRACKING": content.get("TRACKING", {})}
        ours["TEST"] = {"POSETRACK": (content.get("TEST") or {}).get("POSETRACK", {})}
        try:
            cfg.merge_from_other_cfg(CfgNode(ours))
        except (KeyError, ValueError, AssertionError, TypeError) as e:
            raise ConfigError(f"{config_file}: {config_problem(e, cfg)}") from None
    opts = list(opts)
    for key in opts[::2]:
        if not key.startswith(tuple(g + "." for g in groups)):
            wanted = " and ".join(g + ".*" for g in groups)
            raise ConfigError(f"{key}: only {wanted} settings apply here")
    merge_config_list(cfg, opts)
    if not frames and "cnn" in cost_names(parse_cost(cfg.TRACKING.COST)):
        raise ConfigError(
            "TRACKING.COST: the cnn cost needs the frame images; use it through track_video or "
            "the Python API"
        )
    cfg.freeze()
    return cfg


def tracker_kwargs(tracking) -> dict:
    """`PoseTracker`'s arguments from the ``TRACKING`` settings (a config's ``cfg.TRACKING``, or
    any mapping of those keys), except the networks (`build_tracker` adds them)."""
    return dict(
        cost=parse_cost(tracking["COST"]),
        matcher=tracking["MATCHER"],
        det_thresh=tracking["DET_THRESH"],
        min_area=tracking["MIN_AREA"],
        max_cost=unset(tracking["MAX_COST"]),
        memory=tracking["MEMORY"],
        motion=tracking["MOTION"],
        low_thresh=unset(tracking["LOW_THRESH"]),
        second_max_cost=tracking["SECOND_MAX_COST"],
        keypoint_thresh=unset(tracking["KEYPOINT_THRESH"]),
    )


def needs_networks(tracking) -> Dict[str, bool]:
    """Which networks the ``TRACKING`` settings need: ``{"lstm": LSTM_WEIGHTS given, "cnn": the
    cnn cost or CNN_WEIGHTS}``."""
    cnn = bool(tracking["CNN_WEIGHTS"]) or "cnn" in cost_names(parse_cost(tracking["COST"]))
    return {"lstm": bool(tracking["LSTM_WEIGHTS"]), "cnn": cnn}


def build_tracker(cfg, networks: Optional[Callable[..., dict]] = None) -> PoseTracker:
    """The `PoseTracker` of ``cfg.TRACKING``. ``networks(tracking, lstm=bool, cnn=bool)`` loads the
    networks `needs_networks` names and returns them as the tracker's arguments (``lstm``,
    ``feature_extractor``): `detectron2_tubes.tracking.tracking_networks`."""
    tracking = cfg.TRACKING
    kwargs = tracker_kwargs(tracking)
    wanted = needs_networks(tracking)
    if any(wanted.values()):
        if networks is None:
            which = "TRACKING.LSTM_WEIGHTS" if wanted["lstm"] else "the cnn cost (TRACKING.COST)"
            raise TrackerSettingError(f"{which} needs torch: use detectron2_tubes' tracker")
        kwargs.update(networks(tracking, **wanted))
    return PoseTracker(**kwargs)


def writer_options(cfg) -> dict:
    """`write_posetrack_video`'s keypoint options from the ``TEST.POSETRACK`` settings."""
    p = cfg.TEST.POSETRACK
    return {
        "keypoint_thresh": p.KEYPOINT_THRESH,
        "keypoint_thresh_on": p.KEYPOINT_THRESH_ON,
        "keypoint_score": p.KEYPOINT_SCORE,
    }
