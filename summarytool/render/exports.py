"""ModelStatistics' exports (dict/JSON/CSV/Markdown/HTML, Jupyter): filled in by the exports work (issue 5)."""

from __future__ import annotations


class ExportsMixin:
    """Methods ModelStatistics gains for other places a summary is read (notebooks, CI logs, PRs)."""
