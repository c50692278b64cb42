"""The synthetic PoseTrack's people and scenes: a 2D stick-figure walker with a gait cycle,
how it is drawn, cluttered backgrounds and the walkers of a video. Written by hand because no
library renders articulated people with PoseTrack labels; `generate` renders the videos and
writes the labels.
"""

import math
from dataclasses import dataclass
from typing import List, Tuple

import cv2
import numpy as np

from ..keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS

IMAGE_SIZE = (240, 320)  # (height, width)
JOINT_INDEX = {name: i for i, name in enumerate(KEYPOINT_NAMES)}


@dataclass
class Walker:
    track_id: int
    x0: float  # pelvis x at frame 0 (may be outside the image)
    foot_y: float  # ground contact line at frame 0
    vx: float  # px per frame (sign = walking direction)
    vy: float
    height: float  # body height in px at foot_y
    phase0: float
    shirt: Tuple[int, int, int]
    pants: Tuple[int, int, int]
    skin: Tuple[int, int, int]
    annotated: bool = True


def skeleton(pelvis: np.ndarray, height: float, facing: float, phase: float) -> np.ndarray:
    """17 COCO-slot joint positions (x, y) of a walker, from a 2D stick model.

    Units of the local model are body heights; y grows downwards. Left-side joints sit at +x and
    right-side ones at -x (a three-quarter view towards the camera).
    """
    s, d = math.sin(phase), facing
    j = np.zeros((NUM_KEYPOINTS, 2))

    def put(name, x, y):
        j[JOINT_INDEX[name]] = (x, y)

    bob = -0.012 * abs(math.cos(phase))
    put("head_top", 0.02 * d, -0.52 + bob)
    put("head_bottom", 0.015 * d, -0.385 + bob)
    put("nose", 0.06 * d, -0.445 + bob)
    put("left_ear", 0.03, -0.455 + bob)
    put("right_ear", -0.03, -0.455 + bob)
    for side, sign, leg_swing in (("left", 1.0, -s), ("right", -1.0, s)):
        sx, hx = 0.085 * sign + 0.025 * d, 0.06 * sign
        put(f"{side}_shoulder", sx, -0.34 + bob)
        put(f"{side}_hip", hx, bob)
        # Legs swing about the hip; the knee bends more when the leg swings back.
        thigh = 0.38 * leg_swing
        shin = thigh - 0.15 - 0.45 * max(0.0, -leg_swing)
        knee = (hx + 0.245 * math.sin(thigh) * d, bob + 0.245 * math.cos(thigh))
        put(f"{side}_knee", *knee)
        put(f"{side}_ankle", knee[0] + 0.235 * math.sin(shin) * d, knee[1] + 0.235 * math.cos(shin))
        # Arms swing opposite to the leg on the same side.
        upper = -0.45 * leg_swing
        fore = upper + 0.35
        elbow = (sx + 0.16 * math.sin(upper) * d, -0.34 + bob + 0.16 * math.cos(upper))
        put(f"{side}_elbow", *elbow)
        put(f"{side}_wrist", elbow[0] + 0.15 * math.sin(fore) * d, elbow[1] + 0.15 * math.cos(fore))
    return pelvis[None, :] + height * j


def draw_person(
    img: np.ndarray, joints: np.ndarray, height: float, colors, facing: float, aa: bool = True
) -> None:
    """Draw a walker (far limbs, torso, head, near limbs). ``colors`` = (skin, shirt, pants)."""
    skin, shirt, pants = colors
    line = cv2.LINE_AA if aa else cv2.LINE_8
    limb = max(2, int(round(0.055 * height)))
    pt = lambda name: tuple(int(round(v)) for v in joints[JOINT_INDEX[name]])  # noqa: E731

    def shade(c, f):
        return tuple(int(v * f) for v in c) if aa else c

    # The side nearer the camera is the right side when walking right, and vice versa.
    near, far = ("right", "left") if facing > 0 else ("left", "right")
    for side, f in ((far, 0.7), (near, 1.0)):
        if side == near:
            torso = np.array(
                [pt("left_shoulder"), pt("right_shoulder"), pt("right_hip"), pt("left_hip")],
                np.int32,
            )
            cv2.fillConvexPoly(img, torso, shirt, line)
            cv2.polylines(img, [torso], True, shirt, limb, line)
            neck_top = pt("head_bottom")
            mid_sh = tuple((np.array(pt("left_shoulder")) + pt("right_shoulder")) // 2)
            cv2.line(img, mid_sh, neck_top, skin, limb, line)
            head_c = (joints[JOINT_INDEX["head_top"]] + joints[JOINT_INDEX["head_bottom"]]) / 2
            axes = (max(2, int(0.055 * height)), max(2, int(0.07 * height)))
            cv2.ellipse(img, tuple(int(round(v)) for v in head_c), axes, 0, 0, 360, skin, -1, line)
        cv2.line(img, pt(f"{side}_hip"), pt(f"{side}_knee"), shade(pants, f), limb + 1, line)
        cv2.line(img, pt(f"{side}_knee"), pt(f"{side}_ankle"), shade(pants, f), limb, line)
        cv2.line(img, pt(f"{side}_shoulder"), pt(f"{side}_elbow"), shade(shirt, f), limb, line)
        cv2.line(img, pt(f"{side}_elbow"), pt(f"{side}_wrist"), shade(skin, f), limb - 1, line)


def background_image(rng: np.random.Generator) -> Tuple[np.ndarray, float]:
    """A cluttered static scene; returns (BGR image, horizon y)."""
    h, w = IMAGE_SIZE
    horizon = float(rng.uniform(70, 110))
    img = np.zeros((h, w, 3), np.uint8)
    sky = rng.integers(120, 230, 3)
    ground = rng.integers(40, 140, 3)
    for y in range(h):
        c = sky * (1 - 0.3 * y / horizon) if y < horizon else ground * (0.8 + 0.4 * y / h)
        img[y] = np.clip(c, 0, 255)
    # Buildings with windows along the horizon.
    x = -10
    while x < w:
        bw, bh = int(rng.integers(30, 80)), int(rng.integers(30, 90))
        color = tuple(int(v) for v in rng.integers(50, 200, 3))
        top = int(horizon) - bh
        cv2.rectangle(img, (x, top), (x + bw, int(horizon) + 5), color, -1)
        for wy in range(top + 5, int(horizon) - 5, 12):
            for wx in range(x + 4, x + bw - 6, 10):
                if rng.random() < 0.7:
                    wc = tuple(int(v) for v in rng.integers(20, 255, 3))
                    cv2.rectangle(img, (wx, wy), (wx + 5, wy + 6), wc, -1)
        x += bw + int(rng.integers(0, 15))
    # Ground clutter: paving lines, blobs, sticks that look a bit like limbs.
    for _ in range(int(rng.integers(15, 30))):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        p = (int(rng.integers(0, w)), int(rng.integers(int(horizon), h)))
        kind = rng.integers(3)
        if kind == 0:
            cv2.circle(img, p, int(rng.integers(3, 15)), c, -1, cv2.LINE_AA)
        elif kind == 1:
            q = (p[0] + int(rng.integers(-40, 40)), p[1] + int(rng.integers(-20, 20)))
            cv2.line(img, p, q, c, int(rng.integers(1, 5)), cv2.LINE_AA)
        else:
            cv2.rectangle(
                img, p, (p[0] + int(rng.integers(5, 30)), p[1] + int(rng.integers(3, 12))), c, -1
            )
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8), horizon


def random_color(rng, lo=30, hi=240):
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def make_walkers(rng: np.random.Generator, num_frames: int, horizon: float) -> List[Walker]:
    h, w = IMAGE_SIZE
    n = int(rng.integers(2, 7))
    skins = [(60, 90, 140), (90, 130, 190), (120, 170, 220), (40, 60, 90)]
    walkers = []
    for i in range(n):
        foot_y = float(rng.uniform(horizon + 40, h + 10))
        height = 0.6 * foot_y * float(rng.uniform(0.85, 1.1))
        speed = float(rng.uniform(0.6, 2.2)) * height / 100
        direction = 1.0 if rng.random() < 0.5 else -1.0
        # A reference point of the trajectory: for about half the people an edge of the image
        # at a random time, so that they enter (or leave) during the video.
        t_ref = float(rng.uniform(0.15, 0.85) * num_frames)
        mode = rng.random()
        if mode < 0.25:  # enters at t_ref
            x_ref = -0.2 * height if direction > 0 else w + 0.2 * height
        elif mode < 0.5:  # leaves at t_ref
            x_ref = w + 0.2 * height if direction > 0 else -0.2 * height
        else:
            x_ref = float(rng.uniform(20, w - 20))
        walkers.append(
            Walker(
                track_id=i,
                x0=x_ref - direction * speed * t_ref,
                foot_y=foot_y,
                vx=direction * speed,
                vy=float(rng.normal(0, 0.1)),
                height=height,
                phase0=float(rng.uniform(0, 2 * math.pi)),
                shirt=random_color(rng),
                pants=random_color(rng, 20, 160),
                skin=skins[int(rng.integers(len(skins)))],
            )
        )
    if n >= 2:
        # Make the first two cross in the middle of the video at nearly the same depth, in
        # similar clothes, so that identity is not given away by colour or position.
        a, b = walkers[0], walkers[1]
        t_meet, x_meet = num_frames * float(rng.uniform(0.35, 0.65)), float(rng.uniform(90, 230))
        b.vx = -math.copysign(abs(b.vx), a.vx)
        b.foot_y = a.foot_y + float(rng.uniform(6, 14))
        b.height = 0.6 * b.foot_y
        for p in (a, b):
            p.x0 = x_meet - p.vx * t_meet
        b.shirt = tuple(int(np.clip(c + rng.integers(-25, 25), 0, 255)) for c in a.shirt)
    return walkers
