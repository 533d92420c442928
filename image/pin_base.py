"""`make pin-base`: resolve the Dockerfile's BASE_IMAGE tag to its digest and write `tag@sha256:...` back.

The tag (nvidia/cuda:12.8.1-base-ubuntu24.04) is what the Dockerfile pins by default; a digest is pinned only
when resolved from the registry itself, which this script does with the registry's HTTP API (anonymous pull
token, HEAD of the manifest list). It needs network access to the registry; nothing else.

    python image/pin_base.py                 # resolve the Dockerfile's default and rewrite the ARG line
    python image/pin_base.py --print-only    # print the pinned reference, change nothing
    python image/pin_base.py --image nvidia/cuda:12.8.1-base-ubuntu24.04
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ARG_LINE = re.compile(r"^ARG BASE_IMAGE=(?P<ref>\S+)$", re.MULTILINE)
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def split_reference(ref: str) -> tuple[str, str, str]:
    """'nvidia/cuda:12.8.1-base-ubuntu24.04' -> ('registry-1.docker.io', 'nvidia/cuda', '12.8.1-base-ubuntu24.04')."""
    ref = ref.split("@", 1)[0]
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        name, tag = ref, "latest"
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        registry, repo = name.split("/", 1)
    else:
        registry, repo = "registry-1.docker.io", name
    if registry == "registry-1.docker.io" and "/" not in repo:
        repo = f"library/{repo}"
    return registry, repo, tag


def pin(dockerfile_text: str, digest: str) -> str:
    """The Dockerfile with its BASE_IMAGE default pinned to `digest` (any older digest replaced)."""
    match = ARG_LINE.search(dockerfile_text)
    if match is None:
        raise ValueError("no `ARG BASE_IMAGE=...` line in the Dockerfile")
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    tag_ref = match.group("ref").split("@", 1)[0]
    return (
        dockerfile_text[: match.start()]
        + f"ARG BASE_IMAGE={tag_ref}@{digest}"
        + dockerfile_text[match.end() :]
    )


def _bearer_token(challenge: str, repo: str) -> str:
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    query = {"service": params.get("service", ""), "scope": params.get("scope", f"repository:{repo}:pull")}
    url = f"{params['realm']}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = json.load(resp)
    return body.get("token") or body["access_token"]


def resolve(ref: str) -> str:
    registry, repo, tag = split_reference(ref)
    url = f"https://{registry}/v2/{repo}/manifests/{tag}"
    headers = {"Accept": ACCEPT}
    for _ in range(2):
        req = urllib.request.Request(url, method="HEAD", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                digest = resp.headers.get("Docker-Content-Digest")
                if not digest:
                    raise RuntimeError(f"{url}: no Docker-Content-Digest header")
                return digest
        except urllib.error.HTTPError as err:
            challenge = err.headers.get("WWW-Authenticate", "")
            if err.code != 401 or not challenge.lower().startswith("bearer") or "Authorization" in headers:
                raise
            headers["Authorization"] = f"Bearer {_bearer_token(challenge, repo)}"
    raise RuntimeError(f"{url}: could not authenticate")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockerfile", default="Dockerfile")
    parser.add_argument("--image", help="resolve this reference instead of the Dockerfile's default")
    parser.add_argument("--print-only", action="store_true")
    args = parser.parse_args(argv)
    path = Path(args.dockerfile)
    text = path.read_text(encoding="utf-8")
    ref = args.image
    if ref is None:
        match = ARG_LINE.search(text)
        if match is None:
            parser.error(f"no `ARG BASE_IMAGE=...` line in {path}")
        ref = match.group("ref")
    try:
        digest = resolve(ref)
    except (OSError, urllib.error.URLError, RuntimeError) as err:
        print(
            f"pin-base: cannot resolve {ref}: {err} (is the registry reachable from here?)", file=sys.stderr
        )
        return 1
    pinned = f"{ref.split('@', 1)[0]}@{digest}"
    print(pinned)
    if not args.print_only and args.image is None:
        path.write_text(pin(text, digest), encoding="utf-8")
        print(f"pin-base: {path} now builds FROM {pinned}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
