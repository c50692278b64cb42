"""``python -m detectron2_tubes.synthetic --out DIR``: see `detectron2_tubes.data.synthetic`."""

from .data.synthetic import generate_synthetic_posetrack, main

__all__ = ["generate_synthetic_posetrack", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
