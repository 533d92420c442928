"""The example notebooks: clean in git, and executed for real inside the image (nbclient, CPU)."""

from __future__ import annotations

import json

import pytest
from imagekit import REPO, unavailable

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))

# Runs inside the container as dev: execute each notebook, print its text outputs as JSON.
EXECUTE = r"""
import json, sys, nbformat
from nbclient import NotebookClient
results = {}
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "/tmp"}}).execute()
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                texts.append(out["text"])
            elif "data" in out:
                texts.append(out["data"].get("text/plain", ""))
                texts.append(out["data"].get("text/html", ""))
            elif out.get("output_type") == "error":
                texts.append("ERROR " + out["ename"] + ": " + out["evalue"])
    results[path.rsplit("/", 1)[-1]] = "\n".join(texts)
print("RESULTS" + json.dumps(results))
"""


def test_notebooks_are_committed_clean_and_valid():
    try:
        import nbformat
    except ImportError:
        unavailable("nbformat is not installed (pip install nbformat)")
    assert [p.name for p in NOTEBOOKS] == ["01-model-summary.ipynb", "02-gpu-check.ipynb"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["kernelspec"]["name"] == "python3"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs committed"


@pytest.fixture(scope="module")
def executed(docker, image) -> dict[str, str]:
    names = [f"/opt/summarytool/notebooks/{p.name}" for p in NOTEBOOKS]
    proc = docker(
        "run", "--rm", "-e", "SELFCHECK=off", image.tag, "python", "-c", EXECUTE, *names, timeout=900
    )
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS"))
    return json.loads(line.removeprefix("RESULTS"))


def test_model_summary_notebook_runs(executed):
    out = executed["01-model-summary.ipynb"]
    assert "ERROR" not in out
    assert "torch 2.8.0+cu128" in out
    assert "Total params: 205,602,186" in out  # the seed's SimpleCNN
    assert "fc1 holds 99.96% of them" in out
    assert "205,602,186 -> 146,826 params" in out  # the fix with global average pooling
    assert "params: 11,689,512" in out  # the hand-written ResNet-18 has torchvision's count
    assert "Mult-Adds" in out and "TransformerEncoder" in out
    assert "Total FLOPs (G): 2.79" in out and "forward 2,793,406,464 FLOPs" in out  # the encoder
    assert "Total params: 70,553,706,496" in out  # the 70B dry run
    assert "Training step (adamw) peak, estimated (TB)" in out
    assert 'class="st-summary"' in out  # the HTML view rendered as the cell's result


def test_gpu_check_notebook_runs_on_cpu(executed):
    out = executed["02-gpu-check.ipynb"]
    assert "ERROR" not in out
    assert "torch 2.8.0+cu128 | CUDA build 12.8 | cuDNN 91002" in out
    assert "summarytool selfcheck:" in out and "exit code: 0" in out  # --allow-cpu: no GPU is a pass
    assert '"torch"' in out  # the JSON report parsed and printed
    assert "NVML unavailable" in out  # no driver in this container, said plainly
