import os
import tempfile

# The built-in synthetic dataset is generated on first use into this cache; tests use a fresh
# one so that the generate-on-first-use path runs and no stale copy is read.
os.environ.setdefault(
    "DETECTRON2_TUBES_CACHE", tempfile.mkdtemp(prefix="detectron2_tubes_test_cache_")
)

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """A small synthetic PoseTrack set on disk: (root, generated ground truth)."""
    from detectron2_tubes.data.synthetic import generate_synthetic_posetrack

    root = str(tmp_path_factory.mktemp("synth"))
    truth = generate_synthetic_posetrack(
        root, num_videos=2, num_frames=12, seed=3, num_val_videos=1
    )
    return root, truth
