"""A stand-in `torchinfo` package that routes every torchinfo import to summarytool.

Used only by bench/peer_suites.sh to run torchinfo's own test suite against summarytool.
"""

import sys

import summarytool
from summarytool import *  # noqa: F403
from summarytool import enums, formatting, layer_info, model_statistics
from summarytool import torchinfo as _entry

for _name, _module in {
    "torchinfo.torchinfo": _entry,
    "torchinfo.enums": enums,
    "torchinfo.formatting": formatting,
    "torchinfo.layer_info": layer_info,
    "torchinfo.model_statistics": model_statistics,
}.items():
    sys.modules[_name] = _module

__all__ = summarytool.__all__
