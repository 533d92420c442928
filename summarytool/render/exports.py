"""ModelStatistics' exports: dict/JSON/CSV/Markdown/HTML/pandas, the Jupyter view, and loading saved summaries.

Each method is a thin call into one renderer module (schema, json_csv, markdown, html); renderers read
the finished summary and never run the model again.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from summarytool.model_statistics import ModelStatistics


class ExportsMixin:
    """Methods ModelStatistics gains for other places a summary is read (notebooks, CI logs, PRs)."""

    # What the summary was run with beyond its formatting (device, dtypes, mode, target...), when known:
    # the CLI fills it; it lands in to_dict()["settings"]["run"].
    run_settings: dict[str, Any] | None = None
    # The "versions" block of a summary loaded with from_dict()/from_json() (None for a fresh one).
    loaded_versions: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The "summarytool.summary/1" dict: rows, totals, settings, versions (docs/summary-schema.md)."""
        from summarytool.schema import summary_to_dict

        return summary_to_dict(self)  # type: ignore[arg-type]

    def to_json(self, path: str | os.PathLike[str] | None = None, indent: int | None = 2) -> str:
        """to_dict() as JSON text; also written to `path` when given (reload it with from_json)."""
        from summarytool.render.json_csv import to_json

        return to_json(self, path, indent)  # type: ignore[arg-type]

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """One CSV line per row (every depth), for spreadsheets; also written to `path` when given."""
        from summarytool.render.json_csv import to_csv

        return to_csv(self, path)  # type: ignore[arg-type]

    def to_markdown(self) -> str:
        """The table as GitHub-flavoured Markdown, for pull requests and CI job summaries."""
        from summarytool.render.markdown import to_markdown

        return to_markdown(self)  # type: ignore[arg-type]

    def to_dataframe(self) -> Any:
        """The rows as a pandas DataFrame (raises ImportError naming the fix when pandas is missing)."""
        from summarytool.render.json_csv import to_dataframe

        return to_dataframe(self)  # type: ignore[arg-type]

    def to_html(self, element_id: str | None = None, full_page: bool = False) -> str:
        """A self-contained HTML table (collapsible tree, share bars, totals); no scripts, no downloads."""
        from summarytool.render.html import to_html

        return to_html(self, element_id=element_id, full_page=full_page)  # type: ignore[arg-type]

    def _repr_html_(self) -> str:
        """What Jupyter displays for a summary: the HTML table instead of the text one."""
        return self.to_html()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelStatistics:
        """Rebuild a summary saved with to_dict(): it prints, diffs and re-exports as the original did."""
        from summarytool.schema import summary_from_dict

        return summary_from_dict(data, make=cls)

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> ModelStatistics:
        """Load a summary saved with to_json(path) (a path, or the JSON text itself)."""
        from summarytool.schema import MAX_SUMMARY_BYTES, load_json_text, summary_from_dict

        text = str(source)
        where = "the JSON text"
        if not text.lstrip().startswith("{"):
            where = text
            try:
                with open(source, encoding="utf-8", errors="replace") as f:
                    text = f.read(MAX_SUMMARY_BYTES + 1)  # bounded: a path may name /dev/zero
            except OSError as exc:
                raise FileNotFoundError(
                    f"cannot read the summary {where!r}: {exc.strerror or exc}; "
                    "save one with stats.to_json(path) or `summarytool summary ... --format json --output FILE`."
                ) from exc
        return summary_from_dict(load_json_text(text, where), source=where, make=cls)
