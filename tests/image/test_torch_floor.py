"""summarytool's Python tests on the image's torch (2.8.0), the oldest torch the package supports.

The host's suite runs on a newer torch, while dry runs and estimates lean on torch internals (meta
kernels, fake tensors, shape environments) that change between releases: torch 2.8 has no meta kernel
for the old weight_norm's backward, for one. So the tests of the pipeline run again here, inside the
image, as dev, on its own torch. The test tools come from a wheelhouse downloaded on the host and
installed into dev's user site: the container needs no network.
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

import pytest
from imagekit import REPO, context_files, run

pytestmark = pytest.mark.slow

SUITES = ["tests/api", "tests/capture", "tests/analysis", "tests/render", "tests/cli"]
TOOLS = ["pytest>=8", "hypothesis>=6", "markdown-it-py>=3", "torchinfo==1.8.0", "torchsummary==1.5.1"]


def test_pipeline_tests_pass_on_the_images_torch(docker, image, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels), *TOOLS], timeout=600)
    with tarfile.open(tmp_path / "src.tar", "w") as tar:
        for name in context_files():
            if name.startswith(("summarytool/", "tests/", "examples/")) or name in (
                "pyproject.toml",
                "README.md",
            ):
                tar.add(REPO / name, arcname=name)
    for path in (tmp_path, wheels, *wheels.iterdir(), tmp_path / "src.tar"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # (the container reads them as dev)
    script = (
        "set -e; mkdir /tmp/src && tar -xf /in/src.tar -C /tmp/src && cd /tmp/src; "
        "pip install -q --no-index --find-links /in/wheels " + " ".join(f"'{t}'" for t in TOOLS) + "; "
        "python -c 'import torch; print(\"torch\", torch.__version__)'; "
        # (the repo's summarytool, not the image's copy; slow tests and the corpus run on the host)
        "PYTHONPATH=/tmp/src python -m pytest -q -p no:cacheprovider -m 'not slow' "
        "--deselect tests/capture/test_dry_run_corpus.py " + " ".join(SUITES)
    )
    p = docker(
        *("run", "--rm", "-e", "SELFCHECK=off", "-v", f"{tmp_path}:/in:ro", image.tag),
        *("bash", "-c", script),
        check=False,
        timeout=1500,
    )
    tail = (p.stdout + p.stderr)[-4000:]
    assert "torch 2.8." in p.stdout, tail
    assert p.returncode == 0 and " passed" in p.stdout and " failed" not in p.stdout, tail
