"""The Jupyter HTML view rendered for real in headless Chromium (Debian's `chromium` package).

A test page holds the summary's HTML inside a stand-in for JupyterLab's output area (its table CSS
and theme variables), plus a test-only script that clicks carets and reads computed styles; the
product HTML itself has no script. Chromium's --dump-dom returns the page after the script ran.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch
from torch import nn

from summarytool import summary

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium: apt-get install -y chromium"
)
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "summary-html.png"


class Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(torch.relu(self.bn1(self.conv1(x)))))


class SmallVGG(nn.Module):
    """Like VGG: a light conv backbone and one dense layer that holds most of the parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = Backbone()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 16, 256), nn.ReLU(), nn.Dropout(0.1), nn.Linear(256, 10)
        )
        self.backbone.bn1.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.backbone(x)))


# A few of JupyterLab's own rules for rendered HTML (right-aligned cells, zebra rows), which the
# summary's scoped CSS must win against; and its theme variables, light or dark.
JUPYTERLAB_CSS = """
.jp-RenderedHTMLCommon table { border-collapse: collapse; border-spacing: 0; border: none; font-size: 12px; }
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { text-align: right; vertical-align: middle; padding: .5em; }
.jp-RenderedHTMLCommon tbody tr:nth-child(odd) { background: var(--jp-layout-color0); }
.jp-RenderedHTMLCommon tbody tr:nth-child(even) { background: var(--jp-rendermime-table-row-background); }
"""
THEMES = {
    "light": "--jp-layout-color0: #ffffff; --jp-content-font-color1: rgba(0,0,0,.87); "
    "--jp-rendermime-table-row-background: #f5f5f5; --jp-border-color1: #bdbdbd; --jp-brand-color1: #1976d2;",
    "dark": "--jp-layout-color0: #111111; --jp-content-font-color1: rgba(255,255,255,1); "
    "--jp-rendermime-table-row-background: #212121; --jp-border-color1: #616161; --jp-brand-color1: #42a5f5;",
}

PROBE = """
<script>
function visible() {
  return [...document.querySelectorAll("tbody tr")].filter(r => getComputedStyle(r).display !== "none")
    .map(r => r.dataset.name);
}
function rgb(el, prop) { return getComputedStyle(el)[prop]; }
const out = {};
out.all = visible();
const hole = document.querySelector("tr.st-hole");
out.hole = hole ? hole.dataset.name : null;
out.holeBackground = hole ? rgb(hole.cells[0], "backgroundColor") : null;
out.layerAlign = rgb(document.querySelector("tbody td.st-layer"), "textAlign");
out.numberAlign = rgb(document.querySelector("tbody td.st-num"), "textAlign");
out.textColor = rgb(document.querySelector("tbody td.st-layer"), "color");
out.pageBackground = rgb(document.body, "backgroundColor");
out.barWidth = document.querySelector('tr[data-name="classifier.1"] .st-fill').getBoundingClientRect().width;
out.trackWidth = document.querySelector('tr[data-name="classifier.1"] .st-bar').getBoundingClientRect().width;
out.footer = [...document.querySelectorAll("tfoot tr")].map(r => r.innerText.replace(/\\s+/g, " ").trim());
document.querySelector('tr[data-name="classifier"] label.st-caret').click();
out.afterCollapse = visible();
document.querySelector('tr[data-name=""] label.st-caret').click();
out.afterRootCollapse = visible();
document.querySelector('tr[data-name=""] label.st-caret').click();
out.afterRootExpand = visible();
document.getElementById("result").textContent = JSON.stringify(out);
</script>
"""


def page(fragment: str, theme: str, probe: bool) -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><style>'
        f":root {{ {THEMES[theme]} }} body {{ background: var(--jp-layout-color0); margin: 12px; }}"
        f"{JUPYTERLAB_CSS}</style></head><body>"
        f'<div class="jp-OutputArea jp-RenderedHTMLCommon">{fragment}</div><pre id="result"></pre>'
        f"{PROBE if probe else ''}</body></html>"
    )


def chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )


def probe(fragment: str, theme: str, tmp_path: Path) -> dict:
    path = tmp_path / f"probe-{theme}.html"
    path.write_text(page(fragment, theme, probe=True), encoding="utf-8")
    done = chromium("--dump-dom", "--virtual-time-budget=3000", path.as_uri())
    found = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.S)
    assert found and found.group(1), f"no probe result; chromium said: {done.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def luminance(css: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"[\d.]+", css)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


@pytest.fixture(scope="module")
def stats():
    return summary(
        SmallVGG(), input_size=(1, 3, 32, 32), verbose=0, col_names=("output_size", "num_params", "mult_adds")
    )


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_table_renders_collapses_and_reads_in_both_themes(stats, theme: str, tmp_path: Path) -> None:
    out = probe(stats.to_html(element_id="st-test"), theme, tmp_path)
    names = [r.qualified_name for r in stats.summary_list]
    assert out["all"] == names
    assert out["hole"] == "classifier.1"
    assert out["holeBackground"] not in ("rgba(0, 0, 0, 0)", "transparent")
    assert (
        out["layerAlign"] in ("left", "start") and out["numberAlign"] == "right"
    )  # beats JupyterLab's right
    share = 131_328 / stats.total_params  # classifier.1: 512*256 + 256
    assert out["barWidth"] == pytest.approx(share * out["trackWidth"], abs=1.5)
    assert out["footer"][0] == f"Total params {stats.total_params:,}"
    assert any(line.startswith("Non-trainable params 32") for line in out["footer"])
    # Collapsing "classifier" hides exactly its five rows; collapsing the root hides everything below it.
    assert out["afterCollapse"] == [n for n in names if not n.startswith("classifier.")]
    assert out["afterRootCollapse"] == [""]
    assert out["afterRootExpand"] == out["afterCollapse"]  # the inner caret keeps its own state
    # Text contrasts with the page: light on dark, dark on light.
    text, background = luminance(out["textColor"]), luminance(out["pageBackground"])
    assert abs(text - background) > 0.6


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_screenshot(stats, tmp_path: Path) -> None:
    """A real screenshot; with SUMMARYTOOL_UPDATE_SCREENSHOT=1 it refreshes docs/summary-html.png."""
    path = tmp_path / "view.html"
    path.write_text(page(stats.to_html(element_id="st-shot"), "light", probe=False), encoding="utf-8")
    shot = tmp_path / "view.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1100,560", path.as_uri())
    assert shot.exists(), done.stderr[-2000:]
    assert png_size(shot) == (1100, 560)
    assert shot.stat().st_size > 10_000  # a drawn table, not a blank page
    if os.environ.get("SUMMARYTOOL_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT)
