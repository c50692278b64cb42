"""A check the inflation tests share (a helper module, not a test file)."""

import torch


def assert_inflated_from(value: torch.Tensor, want: torch.Tensor, key: str) -> None:
    """``value`` is ``want`` itself, or its centre inflation: the 2D weight in the centre time
    slice and zeros in every other."""
    if value.dim() == 5 and want.dim() == 4:
        t = value.shape[2]
        assert torch.equal(value[:, :, t // 2], want), key
        assert not value[:, :, : t // 2].any() and not value[:, :, t // 2 + 1 :].any(), key
    else:
        assert torch.equal(value, want), key
