import os
import shutil
import tempfile

# The built-in synthetic dataset is generated on first use into this cache; tests use a fresh
# one so that the generate-on-first-use path runs and no stale copy is read. Removed at the end.
_OWN_CACHE = None
if "DETECTRON2_TUBES_CACHE" not in os.environ:
    _OWN_CACHE = tempfile.mkdtemp(prefix="detectron2_tubes_test_cache_")
    os.environ["DETECTRON2_TUBES_CACHE"] = _OWN_CACHE

import pytest  # noqa: E402

try:
    import torch
except ImportError:  # posetrack_core's tests also run where torch is not installed
    torch = None
else:
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_sessionfinish(session, exitstatus):
    if _OWN_CACHE and os.getpid() == _OWNER:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


_OWNER = os.getpid()


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """A small synthetic PoseTrack set on disk: (root, generated ground truth)."""
    from motmetrics_cases import tiny_synth as make

    root = str(tmp_path_factory.mktemp("synth"))
    return root, make(root)


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    """A random tiny T = 3 Tube R-CNN saved by the project's checkpointer (complete)."""
    from detectron2.modeling import build_model
    from model_configs import QUICK_T3, TINY_TEST

    from detectron2_tubes.checkpoint import SafeDetectionCheckpointer
    from detectron2_tubes.engine import setup_cfg

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("weights")
    model = build_model(setup_cfg(QUICK_T3, TINY_TEST))
    SafeDetectionCheckpointer(model, str(folder)).save("model_final")
    return str(folder / "model_final.pth")
