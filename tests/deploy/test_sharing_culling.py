"""Idle culling without a hub: image/jupyter_server_config.py executed with a fake `c` (get_config), as Jupyter
loads it, under different environments. The settings' names are checked against jupyter_server's own classes
where jupyter_server is installed, so a misspelt trait cannot pass silently."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[2] / "image" / "jupyter_server_config.py"
VARS = (
    "JUPYTER_CULL_IDLE_TIMEOUT",
    "JUPYTER_CULL_INTERVAL",
    "JUPYTER_CULL_CONNECTED",
    "JUPYTER_CULL_BUSY",
    "JUPYTER_CULL_TERMINAL_TIMEOUT",
    "JUPYTER_SHUTDOWN_NO_ACTIVITY_TIMEOUT",
)


class Section:
    def __init__(self) -> None:
        object.__setattr__(self, "values", {})

    def __setattr__(self, name, value):
        self.values[name] = value

    def __getattr__(self, name):
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


class FakeConfig:
    def __init__(self) -> None:
        self.sections: dict[str, Section] = {}

    def __getattr__(self, name):
        if name.startswith("_") or name == "sections":
            raise AttributeError(name)
        return self.sections.setdefault(name, Section())


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> FakeConfig:
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    c = FakeConfig()
    exec(compile(CONFIG.read_text(), str(CONFIG), "exec"), {"get_config": lambda: c, "__name__": "config"})
    return c


def test_culling_is_on_by_default(monkeypatch):
    c = load(monkeypatch)
    km = c.MappingKernelManager.values
    assert km == {
        "cull_idle_timeout": 12 * 3600,
        "cull_interval": 300,
        "cull_connected": True,
        "cull_busy": False,
    }
    assert c.ServerApp.shutdown_no_activity_timeout == 0  # the server itself stays up unless asked
    assert c.TerminalManager.cull_inactive_timeout == 0


def test_culling_follows_the_environment(monkeypatch):
    c = load(
        monkeypatch,
        JUPYTER_CULL_IDLE_TIMEOUT="600",
        JUPYTER_CULL_INTERVAL="30",
        JUPYTER_CULL_CONNECTED="0",
        JUPYTER_CULL_BUSY="1",
        JUPYTER_CULL_TERMINAL_TIMEOUT="3600",
        JUPYTER_SHUTDOWN_NO_ACTIVITY_TIMEOUT="7200",
    )
    assert c.MappingKernelManager.values == {
        "cull_idle_timeout": 600,
        "cull_interval": 30,
        "cull_connected": False,
        "cull_busy": True,
    }
    assert c.TerminalManager.values == {"cull_inactive_timeout": 3600, "cull_interval": 30}
    assert c.ServerApp.shutdown_no_activity_timeout == 7200
    off = load(monkeypatch, JUPYTER_CULL_IDLE_TIMEOUT="0")
    assert off.MappingKernelManager.cull_idle_timeout == 0  # 0 switches kernel culling off


def test_a_bad_value_falls_back_to_the_default_and_says_so(monkeypatch, capsys):
    c = load(monkeypatch, JUPYTER_CULL_IDLE_TIMEOUT="1h", JUPYTER_CULL_INTERVAL="-5")
    assert c.MappingKernelManager.cull_idle_timeout == 12 * 3600
    assert c.MappingKernelManager.cull_interval == 300
    out = capsys.readouterr().out
    assert "JUPYTER_CULL_IDLE_TIMEOUT='1h'" in out and "JUPYTER_CULL_INTERVAL='-5'" in out


def test_the_rest_of_the_config_is_unchanged(monkeypatch):
    c = load(monkeypatch)
    assert c.ServerApp.port == 8888 and c.ServerApp.root_dir == "/workspace"
    assert "tensorboard" in c.ServerProxy.servers


def test_the_names_are_real_traits(monkeypatch):
    pytest.importorskip("jupyter_server")
    from jupyter_server.serverapp import ServerApp
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

    c = load(monkeypatch)
    for cls, section in ((MappingKernelManager, "MappingKernelManager"), (ServerApp, "ServerApp")):
        traits = cls.class_traits(config=True)
        for name in c.sections[section].values:
            assert name in traits, f"{section}.{name} is not a configurable trait"
    try:
        from jupyter_server_terminals.terminalmanager import TerminalManager
    except ImportError:
        return
    for name in c.TerminalManager.values:
        assert name in TerminalManager.class_traits(config=True), name
