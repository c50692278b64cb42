"""The built-in synthetic PoseTrack, generated on this machine in a few seconds: walkers on
cluttered scenes labelled in the PoseTrack 2018 layout (`generate`, drawing the people of
`people`), and its degraded variant for the question whether a clip model uses its
neighbouring frames (`degraded`). Written by hand: no library renders articulated people with
PoseTrack labels."""

from .degraded import (
    DEGRADATIONS,
    DEGRADED_VERSION,
    choose_degraded_frames,
    degrade_frame,
    generate_degraded_variant,
    load_degraded_frames,
)
from .generate import (
    GENERATOR_VERSION,
    SyntheticFrame,
    SyntheticPerson,
    generate_synthetic_posetrack,
)

__all__ = [
    "GENERATOR_VERSION",
    "SyntheticFrame",
    "SyntheticPerson",
    "generate_synthetic_posetrack",
    "DEGRADATIONS",
    "DEGRADED_VERSION",
    "choose_degraded_frames",
    "degrade_frame",
    "generate_degraded_variant",
    "load_degraded_frames",
]
