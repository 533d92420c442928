"""How the image is built: a summarytool code change must not reinstall torch."""

from __future__ import annotations

import re

from imagekit import build_args, make_context


def _history(docker, tag: str) -> list[tuple[str, str]]:
    out = docker("history", "--no-trunc", "--format", "{{.ID}}\t{{.CreatedBy}}", tag).stdout
    return [tuple(line.split("\t", 1)) for line in out.splitlines()]


def test_a_summarytool_change_rebuilds_only_the_last_layers(docker, image, tmp_path):
    context = make_context(tmp_path / "ctx", image.ca_pem)
    init = context / "summarytool" / "__init__.py"
    init.write_text(init.read_text() + "\n# a code change, made by tests/image/test_build.py\n")
    tag = image.tag + "-layer-test"
    out = docker(*build_args(), "-t", tag, str(context), timeout=900).stdout
    try:
        steps = re.split(r"\nStep \d+/\d+ : ", "\n" + out)[1:]

        def cached(prefix: str) -> bool:
            (step,) = [s for s in steps if s.startswith(prefix)]
            return "Using cache" in step

        assert cached("RUN apt-get update")
        assert cached("RUN python3 -m venv --system-site-packages /opt/venv"), "the torch layer was rebuilt"
        assert not cached("COPY summarytool/")
        assert not cached("RUN if [ ! -f /tmp/summarytool-src/README.md ]")
        # the very same venv layer (same intermediate image) is in both images
        venv = {
            t: [
                i for i, by in _history(docker, t) if "python3 -m venv --system-site-packages /opt/venv" in by
            ]
            for t in (image.tag, tag)
        }
        assert len(venv[tag]) == 1 and venv[tag] == venv[image.tag]
        assert (
            docker("image", "inspect", "--format", "{{.Id}}", tag).stdout
            != docker("image", "inspect", "--format", "{{.Id}}", image.tag).stdout
        )
    finally:
        docker("rmi", tag, check=False)
