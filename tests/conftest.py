import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _fresh_state():
    """Each test starts with an empty forward-pass cache and a fixed seed."""
    from summarytool import clear_cached_forward_pass

    clear_cached_forward_pass()
    torch.manual_seed(0)
    yield
    clear_cached_forward_pass()
