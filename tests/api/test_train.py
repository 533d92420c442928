"""examples/train.py for real: one process, torchrun DDP (gloo), two torchrun "nodes" on loopback, kills.

The script's batches are a pure function of (seed, step, rank) and its checkpoints carry every rank's RNG
state, so a resumed run must repeat the lost steps bit for bit: the tests compare loss trajectories exactly
(to the 7 printed decimals), which fails if anything (weights, momentum, RNG, data order) is restored wrong.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "examples" / "train.py"
STEPS, EVERY, BATCH = 30, 10, 16
COMMON = [
    "--steps",
    str(STEPS),
    "--checkpoint-every",
    str(EVERY),
    "--batch-size",
    str(BATCH),
    "--log-every",
    "1",
]
TIMEOUT = 90


@dataclass
class Run:
    """One launch: its exit code, what it printed, and the parsed 'train:' lines."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list[tuple[str, dict[str, str]]]:
        """(kind, fields) of each stdout line "train: [words] key=value...": kind is the words, or the
        first key for a bare progress line ("train: step=3 loss=..." is kind "step")."""
        out = []
        for line in self.stdout.splitlines():
            if not line.startswith("train: "):
                continue
            tokens = line[len("train: ") :].split()
            words = list(itertools.takewhile(lambda t: "=" not in t, tokens))
            fields = dict(t.split("=", 1) for t in tokens[len(words) :] if "=" in t)
            out.append((" ".join(words) or tokens[0].split("=", 1)[0], fields))
        return out

    def losses(self) -> dict[int, float]:
        """step -> loss of the step lines (the last one wins when a step was repeated)."""
        return {int(f["step"]): float(f["loss"]) for kind, f in self.events if kind == "step" and "loss" in f}

    def steps_in_order(self) -> list[int]:
        return [int(f["step"]) for kind, f in self.events if kind == "step" and "loss" in f]

    def first(self, kind: str) -> dict[str, str]:
        found = [f for k, f in self.events if k == kind]
        assert found, f"no 'train: {kind}' line in:\n{self.stdout}\n{self.stderr[-3000:]}"
        return found[0]


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    for key in (
        "TRAIN_KILL_AT_STEP",
        "TRAIN_KILL_RANK",
        "TRAIN_CHECKPOINT_DIR",
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
    ):
        e.pop(key, None)
    # One thread per process (2 cores), deterministic CPU kernels; a fresh store per rendezvous round
    # (pytorch/pytorch#135712: the shared store lets restarted workers read the last round's addresses).
    e.update(OMP_NUM_THREADS="1", TORCH_DISABLE_SHARE_RDZV_TCP_STORE="1", PYTHONUNBUFFERED="1")
    e.update(extra)
    return e


def launch(cmd: list[str], environ: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = TIMEOUT) -> Run:
    """Wait for `proc`; on a timeout kill its whole session (torchrun's workers too) and fail."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{proc.args} ran past {timeout}s:\n{out[-3000:]}\n{err[-3000:]}")
    return Run(proc.returncode, out, err)


def run_train(args: list[str], environ: dict[str, str] | None = None) -> Run:
    return finish(launch([sys.executable, str(TRAIN), *args], environ or env()))


def torchrun(
    torchrun_args: list[str], args: list[str], environ: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", *torchrun_args, str(TRAIN), *args]
    return launch(cmd, environ or env())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_nodes(ckpt: Path, environ: dict[str, str], max_restarts: int = 0) -> list[Run]:
    """Two torchrun agents, one worker each, meeting at a c10d rendezvous on loopback: a two-node job."""
    port = free_port()
    rdzv = [
        "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
        "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", f"test-{port}", "--rdzv-conf", "join_timeout=60",
        "--max-restarts", str(max_restarts), "--monitor-interval", "0.5",
    ]  # fmt: skip
    procs = [
        torchrun(rdzv, [*COMMON, "--no-summary", "--checkpoint-dir", str(ckpt)], environ) for _ in range(2)
    ]
    runs: list[Run | None] = [None, None]

    def wait(i: int) -> None:
        runs[i] = finish(procs[i])

    threads = [threading.Thread(target=wait, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is not None for r in runs)
    return runs  # type: ignore[return-value]


def checkpoints(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith(".fault"))


def load_train_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_train", TRAIN)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["example_train"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train() -> ModuleType:
    return load_train_module()


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """An uninterrupted one-process run: the trajectory that resumed runs must reproduce."""
    ckpt = tmp_path_factory.mktemp("single")
    return run_train([*COMMON, "--checkpoint-dir", str(ckpt)]), ckpt


@pytest.fixture(scope="module")
def ddp(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """An uninterrupted torchrun --nproc-per-node 2 run (gloo): the reference for every world of 2."""
    ckpt = tmp_path_factory.mktemp("ddp")
    proc = torchrun(["--standalone", "--nproc-per-node", "2"], [*COMMON, "--checkpoint-dir", str(ckpt)])
    return finish(proc), ckpt


# ---- one process -----------------------------------------------------------------------------------


def test_single_process_prints_summary_learns_and_checkpoints(
    single: tuple[Run, Path], train: ModuleType
) -> None:
    run, ckpt = single
    assert run.returncode == 0, run.stderr
    assert "SmallCNN" in run.stdout and "Total params: 9,930" in run.stdout and "Total FLOPs" in run.stdout
    start = run.first("start")
    assert start["world_size"] == "1" and start["backend"] == "none"
    assert run.steps_in_order() == list(range(1, STEPS + 1))
    losses = run.losses()
    assert sum(losses[s] for s in range(26, 31)) < 0.8 * sum(losses[s] for s in range(1, 6)), losses
    assert [int(f["step"]) for k, f in run.events if k == "checkpoint"] == [10, 20, 30]
    assert checkpoints(ckpt) == ["ckpt-00000010.pt", "ckpt-00000020.pt", "ckpt-00000030.pt"]
    state = torch.load(ckpt / "ckpt-00000030.pt", weights_only=True)
    assert state["step"] == 30 and state["world_size"] == 1 and len(state["rng"]) == 1
    assert set(state["optimizer"]["state"]), "the optimizer's momentum must be in the checkpoint"
    assert float(run.first("done")["loss"]) == losses[STEPS]


def test_sigkill_then_rerun_resumes_from_the_last_checkpoint_exactly(
    tmp_path: Path, single: tuple[Run, Path]
) -> None:
    reference = single[0].losses()
    killed = run_train(
        [*COMMON, "--no-summary", "--checkpoint-dir", str(tmp_path)], env(TRAIN_KILL_AT_STEP="25")
    )
    assert killed.returncode == -signal.SIGKILL
    assert max(killed.losses()) == 24
    assert checkpoints(tmp_path) == ["ckpt-00000010.pt", "ckpt-00000020.pt"]
    assert not list(tmp_path.glob(".ckpt-*.tmp"))

    resumed = run_train(
        [*COMMON, "--no-summary", "--checkpoint-dir", str(tmp_path)], env(TRAIN_KILL_AT_STEP="25")
    )
    assert resumed.returncode == 0, (
        resumed.stderr
    )  # the marker file: the drill kills once, not on every rerun
    assert resumed.first("resume")["step"] == "20"
    assert resumed.steps_in_order() == list(range(21, STEPS + 1))
    for step in range(21, 25):  # steps done twice: identical, so nothing was restored approximately
        assert resumed.losses()[step] == killed.losses()[step]
    assert {**killed.losses(), **resumed.losses()} == reference


def test_unreadable_checkpoint_is_skipped_and_stale_temp_files_removed(
    tmp_path: Path, single: tuple[Run, Path]
) -> None:
    run, ckpt = single
    for p in ckpt.iterdir():
        shutil.copy(p, tmp_path / p.name)
    newest = tmp_path / "ckpt-00000030.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # a torn file, as a copy error would leave
    (tmp_path / ".ckpt-leftover.tmp").write_bytes(b"half a checkpoint")

    again = run_train([*COMMON, "--no-summary", "--checkpoint-dir", str(tmp_path)])
    assert again.returncode == 0, again.stderr
    assert again.first("skipping unreadable")["checkpoint"] == "ckpt-00000030.pt"
    assert again.first("removed")["temp_file"] == ".ckpt-leftover.tmp"
    assert again.first("resume")["step"] == "20"
    assert again.losses() == {s: loss for s, loss in run.losses().items() if s > 20}
    assert torch.load(newest, weights_only=True)["step"] == 30
    assert not list(tmp_path.glob(".ckpt-*.tmp"))


def test_sigterm_checkpoints_the_current_step_and_stops(tmp_path: Path) -> None:
    args = ["--steps", "100000", "--checkpoint-every", "100000", "--log-every", "1", "--batch-size", "16"]
    proc = launch(
        [sys.executable, str(TRAIN), *args, "--no-summary", "--checkpoint-dir", str(tmp_path)], env()
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + TIMEOUT
    for line in proc.stdout:
        if line.startswith("train: step=") and int(line.split()[1].split("=")[1]) >= 10:
            proc.send_signal(signal.SIGTERM)
            break
        assert time.monotonic() < deadline
    run = finish(proc)
    assert run.returncode == 128 + signal.SIGTERM, run.stderr
    stopped = int(run.first("stopped")["step"])
    assert stopped >= 10
    assert checkpoints(tmp_path) == [f"ckpt-{stopped:08d}.pt"]

    more = run_train(
        ["--steps", str(stopped + 3), *args[2:], "--no-summary", "--checkpoint-dir", str(tmp_path)]
    )
    assert more.returncode == 0, more.stderr
    assert more.first("resume")["step"] == str(stopped)
    assert more.steps_in_order() == [stopped + 1, stopped + 2, stopped + 3]


# ---- the checkpoint and data functions ---------------------------------------------------------------


def test_a_failed_save_leaves_the_previous_checkpoints_intact(
    tmp_path: Path, train: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    train.save_checkpoint(tmp_path, 10, {"step": 10, "w": torch.ones(3)}, keep=3)

    def torn_save(obj: object, f: object) -> None:
        f.write(b"PK\x03\x04 half")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(train.torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        train.save_checkpoint(tmp_path, 20, {"step": 20}, keep=3)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-00000010.pt"]

    def no_rename(src: str, dst: str) -> None:
        raise OSError("killed before the rename")

    monkeypatch.setattr(train.os, "replace", no_rename)
    with pytest.raises(OSError, match="rename"):
        train.save_checkpoint(tmp_path, 20, {"step": 20}, keep=3)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-00000010.pt"]
    assert torch.equal(torch.load(tmp_path / "ckpt-00000010.pt", weights_only=True)["w"], torch.ones(3))


def test_keep_prunes_oldest_and_listing_ignores_other_files(tmp_path: Path, train: ModuleType) -> None:
    for step in (5, 10, 15, 20):
        train.save_checkpoint(tmp_path, step, {"step": step}, keep=2)
    (tmp_path / ".ckpt-x.tmp").write_bytes(b"")
    (tmp_path / "ckpt-latest.pt").write_bytes(b"")
    assert [s for s, _ in train.list_checkpoints(tmp_path)] == [20, 15]
    assert (tmp_path / "ckpt-00000020.pt").stat().st_mode & 0o777 == 0o666 & ~train._umask()


def test_batches_cover_each_epoch_once_and_differ_between_epochs(train: ModuleType) -> None:
    world, batch, size, seed = 2, 16, 128, 3
    per_epoch = size // (world * batch)
    seen = []
    for step in range(1, per_epoch + 1):
        for rank in range(world):
            epoch, idx = train.batch_indices(step, rank, world, batch, size, seed)
            assert epoch == 0 and len(idx) == batch
            seen += idx.tolist()
    assert sorted(seen) == list(range(size))
    epoch, nxt = train.batch_indices(per_epoch + 1, 0, world, batch, size, seed)
    assert epoch == 1 and not torch.equal(nxt, train.batch_indices(1, 0, world, batch, size, seed)[1])
    assert torch.equal(nxt, train.batch_indices(per_epoch + 1, 0, world, batch, size, seed)[1])


# ---- torchrun ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_torchrun_two_processes_gloo(ddp: tuple[Run, Path]) -> None:
    run, ckpt = ddp
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("Total params:") == 1, "the summary is printed by rank 0 only"
    start = run.first("start")
    assert start["world_size"] == "2" and start["backend"] == "gloo"
    assert run.steps_in_order() == list(range(1, STEPS + 1)), "progress lines come from rank 0 only"
    assert sorted(re.findall(r"train: worker rank=(\d)", run.stderr)) == ["0", "1"]
    assert checkpoints(ckpt) == ["ckpt-00000010.pt", "ckpt-00000020.pt", "ckpt-00000030.pt"]
    assert len(torch.load(ckpt / "ckpt-00000030.pt", weights_only=True)["rng"]) == 2


@pytest.mark.slow
def test_two_torchrun_nodes_on_loopback_train_as_one_job(tmp_path: Path, ddp: tuple[Run, Path]) -> None:
    nodes = two_nodes(tmp_path, env())
    for node in nodes:
        assert node.returncode == 0, node.stderr[-3000:]
    ranks = sorted(re.findall(r"train: worker rank=(\d)", node.stderr)[0] for node in nodes)
    assert ranks == ["0", "1"], "one worker on each node"
    logging = [n for n in nodes if n.steps_in_order()]
    assert len(logging) == 1 and logging[0].first("start")["world_size"] == "2"
    assert logging[0].losses() == ddp[0].losses(), "two nodes x 1 process must train exactly like 1 node x 2"
    assert checkpoints(tmp_path) == ["ckpt-00000010.pt", "ckpt-00000020.pt", "ckpt-00000030.pt"]


@pytest.mark.slow
def test_elastic_restart_after_a_worker_is_killed_loses_nothing(
    tmp_path: Path, ddp: tuple[Run, Path]
) -> None:
    kill_at = 25
    nodes = two_nodes(tmp_path, env(TRAIN_KILL_AT_STEP=str(kill_at), TRAIN_KILL_RANK="1"), max_restarts=1)
    for node in nodes:
        assert node.returncode == 0, node.stderr[-3000:]
    victim = [n for n in nodes if "fault injection: rank 1 kills itself" in n.stderr]
    assert len(victim) == 1 and "exitcode: -9" in victim[0].stderr
    assert any(re.search(r"train: worker rank=\d local_rank=0 pid=\d+ restart=1", n.stderr) for n in nodes)

    log = next(n for n in nodes if n.steps_in_order())
    starts = [f for k, f in log.events if k == "start"]
    assert len(starts) == 2 and all(s["world_size"] == "2" for s in starts), "one start, one elastic restart"
    resumed_at = int(log.first("resume")["step"])
    steps = log.steps_in_order()
    split = next(i for i in range(1, len(steps)) if steps[i] <= steps[i - 1])  # where the restart begins
    first_attempt, second_attempt = steps[:split], steps[split:]
    assert first_attempt == list(range(1, kill_at)), "rank 0 logged every step up to the kill"
    assert resumed_at == 20 and kill_at - resumed_at <= EVERY, "at most one checkpoint interval lost"
    assert second_attempt == list(range(resumed_at + 1, STEPS + 1))

    lines = [(int(f["step"]), float(f["loss"])) for k, f in log.events if k == "step"]
    before = dict(lines[:split])
    after = dict(lines[split:])
    assert all(after[s] == before[s] for s in range(resumed_at + 1, kill_at)), "replayed steps differ"
    assert {**before, **after} == ddp[0].losses(), "the trajectory of an uninterrupted run, complete"
    assert checkpoints(tmp_path) == ["ckpt-00000010.pt", "ckpt-00000020.pt", "ckpt-00000030.pt"]
