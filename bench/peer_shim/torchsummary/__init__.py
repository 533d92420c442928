"""A stand-in `torchsummary` package that routes pytorch-summary's imports to summarytool.

Used only by bench/peer_suites.sh. The suite's own model files (`torchsummary.tests`) are found
through this package's `__path__`, which the script extends with the fetched copy's folder.
"""

import sys

from summarytool import torchsummary as _entry
from summarytool.torchsummary import summary, summary_string

sys.modules["torchsummary.torchsummary"] = _entry

__all__ = ["summary", "summary_string"]
