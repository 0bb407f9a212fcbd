import sys
from pathlib import Path

import pytest
import torch

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING))
torch.set_num_threads(2)

from hicodec_train.model import ModelConfig  # noqa: E402


@pytest.fixture
def tiny_config() -> ModelConfig:
    """The real architecture at toy widths, for tests that train or export many times."""
    return ModelConfig(N=16, M=32, Nz=16, hs_hidden=16, hm_hidden=16, gs_dims=(32, 16, 16), gs_depths=(2, 2, 2),
                       gs_heads=(2, 1, 1), gs_c2=8)
