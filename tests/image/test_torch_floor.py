"""summarytool's Python tests on the image's torch (2.8.0), the oldest torch the package supports.

The host's suite runs on a newer torch, while dry runs and estimates lean on torch internals (meta
kernels, fake tensors, shape environments) that change between releases: torch 2.8 has no meta kernel
for the old weight_norm's backward, and its C++ meta kernel of view asks for a data-decided count as a
number (every torchvision detector's dry run failed there). So the tests of the pipeline, and the
dry-run corpus with the torchvision release made for torch 2.8, run again here, inside the image, as
dev, on its own torch. The test tools come from a wheelhouse downloaded on the host and installed into
dev's user site: the container needs no network.
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
# The corpus's model libraries: torchvision's release for torch 2.8.0, and timm, without their
# dependencies (pip would fetch a second torch); transformers needs no torch to install.
CORPUS_LIBS = ["transformers>=5.24"]
CORPUS_LIBS_NO_DEPS = ["torchvision==0.23.0", "timm"]
CORPUS = ["tests/capture/test_dry_run_corpus.py", "tests/capture/test_dry_run_stand_ins.py"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheelhouse (both tests' tools) and the repo's sources, readable by dev: mounted at /in."""
    folder = tmp_path_factory.mktemp("floor-inputs")
    wheels = folder / "wheels"
    pip = [sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels)]
    run([*pip, *TOOLS, *CORPUS_LIBS], timeout=600)
    run([*pip, "--no-deps", *CORPUS_LIBS_NO_DEPS], timeout=600)
    with tarfile.open(folder / "src.tar", "w") as tar:
        for name in context_files():
            if name.startswith(("summarytool/", "tests/", "examples/")) or name in (
                "pyproject.toml",
                "README.md",
            ):
                tar.add(REPO / name, arcname=name)
    for path in (folder, wheels, *wheels.iterdir(), folder / "src.tar"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # (the container reads them as dev)
    return folder


def _run_in_image(docker, image, inputs: Path, install: str, tests: str, skips: bool = True) -> None:
    script = (
        "set -e; mkdir /tmp/src && tar -xf /in/src.tar -C /tmp/src && cd /tmp/src; "
        f"{install}; "
        "python -c 'import torch; print(\"torch\", torch.__version__)'; "
        # (the repo's summarytool, not the image's copy)
        f"PYTHONPATH=/tmp/src python -m pytest -q -p no:cacheprovider -rfE --tb=line {tests}"
    )
    p = docker(
        *("run", "--rm", "-e", "SELFCHECK=off", "-v", f"{inputs}:/in:ro", image.tag),
        *("bash", "-c", script),
        check=False,
        timeout=1500,
    )
    tail = (p.stdout + p.stderr)[-4000:]
    assert "torch 2.8." in p.stdout, tail
    assert p.returncode == 0 and " passed" in p.stdout and " failed" not in p.stdout, tail
    assert skips or " skipped" not in p.stdout, tail  # (a corpus case that skips proves nothing)


def _pip(specs: list[str], *flags: str) -> str:
    return "pip install -q --no-index --find-links /in/wheels " + " ".join(
        [*flags, *(f"'{s}'" for s in specs)]
    )


def test_pipeline_tests_pass_on_the_images_torch(docker, image, inputs: Path) -> None:
    # (the slow tests run on the host; the corpus runs in the next test, with its libraries)
    tests = "-m 'not slow' " + " ".join(f"--deselect {c}" for c in CORPUS) + " " + " ".join(SUITES)
    _run_in_image(docker, image, inputs, _pip(TOOLS), tests)


def test_dry_run_corpus_passes_on_the_images_torch(docker, image, inputs: Path) -> None:
    """Every corpus model (torchvision detection included) dry-runs with its CPU table and estimates a
    training step on torch 2.8, as on the host's torch."""
    install = _pip([*TOOLS, *CORPUS_LIBS]) + "; " + _pip(CORPUS_LIBS_NO_DEPS, "--no-deps")
    check = (
        "python -c 'import torchvision, timm, transformers; print(\"torchvision\", torchvision.__version__)'"
    )
    _run_in_image(docker, image, inputs, install + "; " + check, " ".join(CORPUS), skips=False)
