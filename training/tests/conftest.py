import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING))
torch.set_num_threads(2)

from hicodec_train.model import ModelConfig  # noqa: E402


@pytest.fixture
def tiny_config() -> ModelConfig:
    """The real architecture at toy widths, for tests that train or export many times."""
    return ModelConfig(N=16, M=32, Nz=16, hs_hidden=16, hm_hidden=16, gs_dims=(32, 16, 16), gs_depths=(2, 2, 2),
                       gs_heads=(2, 1, 1), gs_c2=8)


def write_wave_pngs(d: Path, n: int, size: int, seed: int) -> list:
    """n smooth, photo-like RGB test images (sums of waves plus noise) as PNG files in d."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / float(size)
    for i in range(n):
        a = rng.uniform(0.5, 4, 3)
        img = 0.5 + 0.4 * np.sin(2 * np.pi * (a[0] * xx[..., None] + a[1] * yy[..., None]) + rng.uniform(0, 6, 3))
        img += rng.normal(0, 0.03, img.shape)
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(d / f"s{i}.png")
    return sorted(d.glob("s*.png"))
