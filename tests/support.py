"""Values the tests share."""

import sys

import torch

# CPython's overhead of one storage object, which torchinfo's "Input size" includes (64 B on 3.11,
# 56 B on 3.13); measured here so golden tables hold on every Python version.
STORAGE_OVERHEAD = sys.getsizeof(torch.empty(0).untyped_storage())
