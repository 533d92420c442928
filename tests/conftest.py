import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

# CPython's overhead of one storage object, which torchinfo's "Input size" includes (64 B on 3.11,
# 56 B on 3.13); measured here so golden tables hold on every Python version.
STORAGE_OVERHEAD = sys.getsizeof(torch.empty(0).untyped_storage())


@pytest.fixture(autouse=True)
def _fresh_state():
    """Each test starts with an empty forward-pass cache and a fixed seed."""
    from summarytool import clear_cached_forward_pass

    clear_cached_forward_pass()
    torch.manual_seed(0)
    yield
    clear_cached_forward_pass()
