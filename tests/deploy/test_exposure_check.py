"""The entrypoint's exposure check (image/exposure_check.py), run in-process with a fake home."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "image" / "exposure_check.py"


@pytest.fixture
def check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    spec = importlib.util.spec_from_file_location("exposure_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HOME", tmp_path)
    return module


def test_loopback_needs_nothing(check, capsys) -> None:
    assert check.main({"JUPYTER_TOKEN": "x"}, as_root=True) == 0
    assert capsys.readouterr().err == ""


def test_public_binding_with_a_weak_token_and_no_keys_is_refused(check, capsys) -> None:
    assert check.main({"BIND_ADDRESS": "0.0.0.0", "JUPYTER_TOKEN": "short-token"}, as_root=True) == 3
    err = capsys.readouterr().err
    assert "BIND_ADDRESS=0.0.0.0 publishes the ports beyond this host" in err
    assert "at least 32" in err and "this one has 11" in err
    assert "sshd needs SSH_AUTHORIZED_KEYS" in err and "not starting" in err


def test_public_binding_with_a_token_file_and_keys_starts(check, tmp_path: Path, capsys) -> None:
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA test\n")
    token = tmp_path / "token"
    token.write_text("a" * 40 + "\n")
    env = {"BIND_ADDRESS": "0.0.0.0", "JUPYTER_TOKEN_FILE": str(token)}
    assert check.main(env, as_root=True) == 0
    assert "ports are public; token and SSH keys checked" in capsys.readouterr().err


def test_a_hub_or_a_password_hash_needs_no_token(check, tmp_path: Path) -> None:
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA test\n")
    hub = {"BIND_ADDRESS": "0.0.0.0", "JUPYTERHUB_API_TOKEN": "t", "JUPYTERHUB_SERVICE_PREFIX": "/user/a/"}
    assert check.main(hub, as_root=True) == 0
    assert check.main({"BIND_ADDRESS": "0.0.0.0", "JUPYTER_PASSWORD_HASH": "argon2:..."}, as_root=True) == 0


def test_half_a_tls_pair_is_a_setting_error(check, capsys) -> None:
    assert check.main({"JUPYTER_CERTFILE": "/c.pem"}, as_root=True) == 2
    assert "set both JUPYTER_CERTFILE and JUPYTER_KEYFILE" in capsys.readouterr().err
