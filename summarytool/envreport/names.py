"""Package names compared the way pip and PyPI compare them."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """PEP 503 normalisation: "PyYAML", "pyyaml" and "py_yaml" are one package ("pyyaml", "py-yaml")."""
    return _SEPARATORS.sub("-", name).lower()
