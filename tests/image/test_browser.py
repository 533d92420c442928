"""A person's view: headless Chromium opens JupyterLab with the token and runs the summary notebook.

The screenshot goes to pytest's tmp dir; with IMAGE_TEST_SCREENSHOT_DIR=docs it is also kept there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cdp import Browser
from imagekit import REPO, tool

NOTEBOOK = "notebooks/01-model-summary.ipynb"
ALL_RUN = """(() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
  return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim()));
})()"""


def test_jupyterlab_in_chromium_runs_the_summary_notebook(start, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or tool("chromium")
    c = start()
    browser = Browser(chromium, width=1400, height=1000)
    try:
        # without the token JupyterLab shows its login page, not the notebook
        browser.open(f"http://127.0.0.1:{c.http_port}/lab/tree/{NOTEBOOK}")
        browser.wait_for("document.readyState === 'complete'")
        assert browser.wait_for("document.body.innerText.includes('Password or token')", timeout=30)
        browser.js(f"location.href = 'http://127.0.0.1:{c.http_port}/lab/tree/{NOTEBOOK}?token={c.token}'")
        browser.wait_for("document.querySelectorAll('.jp-Notebook .jp-CodeCell').length >= 5", timeout=90)
        browser.wait_for(
            "!!document.querySelector('[data-command=\"notebook:restart-run-all\"]')", timeout=60
        )
        browser.wait_for("document.body.innerText.includes('Python 3 (ipykernel) | Idle')", timeout=90)
        browser.click('[data-command="notebook:restart-run-all"]')
        browser.wait_for("!!document.querySelector('.jp-Dialog .jp-mod-accept')", timeout=20)
        browser.click(".jp-Dialog .jp-mod-accept")
        browser.wait_for(ALL_RUN, timeout=300, interval=1)
        text = browser.js("document.querySelector('.jp-Notebook').innerText")
        # the image turns JupyterLab's news prompt off (an offline workstation does not call home)
        assert not browser.js("document.body.innerText.includes('notified about official Jupyter news')")
        assert "Total params: 205,602,186" in text
        assert "205,602,186 -> 146,826 params" in text
        assert "Error" not in browser.js(
            "[...document.querySelectorAll('.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.stderr\"]')]"
            ".map(e => e.innerText).join('\\n')"
        ).replace("UserWarning", "")
        # scroll the SimpleCNN table into view for the picture
        browser.js("""(() => {
          const out = [...document.querySelectorAll('.jp-OutputArea-output')]
            .find(e => e.innerText.includes('Total params: 205,602,186'));
          out.closest('.jp-Cell').scrollIntoView({block: 'start'});
        })()""")
        png = browser.screenshot()
    finally:
        browser.close()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    (tmp_path / "jupyterlab-summary.png").write_bytes(png)
    keep = os.environ.get("IMAGE_TEST_SCREENSHOT_DIR")
    if keep:
        dest = (REPO / keep) if not os.path.isabs(keep) else Path(keep)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "jupyterlab-summary.png").write_bytes(png)
