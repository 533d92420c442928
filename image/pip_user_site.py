"""Build step: let /opt/venv's pip uninstall and upgrade what dev installed in the user site (~/.local).

The image's venv is made with --system-site-packages, so `pip install X` as dev (who cannot write /opt/venv) is a
user install into ~/.local on the home volume, first on sys.path. But pip in a venv counts only sys.prefix as its
own (pypa/pip#5176): `pip uninstall X` says "Not uninstalling X at /home/dev/.local/..., outside environment
/opt/venv" and does nothing, and `pip install -U X` installs the new version beside the old one's metadata.

This adds one condition to pip's two "may I modify this path?" checks (`is_local` in utils/misc.py,
`UninstallPathSet._permitted` in req/req_uninstall.py): a path under the user base (~/.local) is pip's to modify too,
while the user site is switched on (not under PYTHONNOUSERSITE=1 or `python -s`). /opt/venv stays root's: dev's pip
still cannot change it (file permissions), and nothing else about pip changes.

Chosen over a writable venv on the home volume layered on /opt/venv because nothing else moves: the interpreter
stays /opt/venv/bin/python (editors, kernels, the hub, scripts' shebangs), `pip`, `python -m pip` and `%pip` are
the same pip, and the PYTHONNOUSERSITE=1 switch keeps working as it did. pip is pinned in the image's lock, so this
meets one known pip; when the text it expects is missing (another pip), the build fails here, not silently.

    python pip_user_site.py [PIP_INTERNAL_DIR]     # default: the running Python's pip/_internal
"""

from __future__ import annotations

import py_compile
import sys
from pathlib import Path

MARK = "summarytool image: image/pip_user_site.py"

HELPER = f'''

def in_user_base(path: str) -> bool:
    """({MARK}) True for a path under the user base while the user site is on."""
    import site

    return bool(site.ENABLE_USER_SITE) and path.startswith(normalize_path(site.getuserbase()) + os.sep)
'''

# (file under pip/_internal, the exact text pip 26 has, what it becomes)
EDITS = [
    (
        "utils/misc.py",
        "    return path.startswith(normalize_path(sys.prefix))\n",
        "    return path.startswith(normalize_path(sys.prefix)) or in_user_base(path)\n",
    ),
    (
        "req/req_uninstall.py",
        "from pip._internal.utils.misc import ask, normalize_path, rmtree\n",
        "from pip._internal.utils.misc import ask, in_user_base, normalize_path, rmtree\n",
    ),
    (
        "req/req_uninstall.py",
        "        return path.startswith(self._normalize_path_cached(sys.prefix))\n",
        "        return path.startswith(self._normalize_path_cached(sys.prefix)) or in_user_base(path)\n",
    ),
]


def patch(internal: Path) -> None:
    """Apply EDITS to the pip whose `pip/_internal` is `internal` (SystemExit when a text is not found once)."""
    texts = {name: (internal / name).read_text() for name, _, _ in EDITS}
    if MARK in texts["utils/misc.py"]:
        raise SystemExit(f"{internal} is already patched")
    for name, old, new in EDITS:
        if texts[name].count(old) != 1:
            raise SystemExit(
                f"pip_user_site: {name} does not contain exactly one {old.strip()!r}; another pip?"
            )
        texts[name] = texts[name].replace(old, new)
    texts["utils/misc.py"] += HELPER
    for name, text in texts.items():
        (internal / name).write_text(text)
        py_compile.compile(str(internal / name), doraise=True)  # no recompiling at every start as dev


def main(argv: list[str]) -> int:
    if argv:
        internal = Path(argv[0])
    else:
        import pip

        internal = Path(pip.__file__).parent / "_internal"
    patch(internal)
    print(f"pip_user_site: {internal} treats the user site as its own")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
