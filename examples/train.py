#!/usr/bin/env python3
"""Train a small CNN on synthetic data: one process, or DDP on several GPUs and nodes under torchrun.

    python examples/train.py --steps 200                        # one process (GPU if there is one)
    torchrun --standalone --nproc-per-node gpu examples/train.py  # every GPU of this machine
    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d \\
        --rdzv-endpoint HOST:29400 --rdzv-id run1 --max-restarts 3 examples/train.py   # on each node

Why it is built this way:
- The data are generated here from a seed (no downloads), and which samples a step uses is a pure
  function of (seed, step, rank), so a resumed run sees exactly the batches it would have seen.
- Rank 0 writes checkpoints atomically (temp file in the same directory, fsync, os.replace, fsync of
  the directory): a kill at any moment leaves the previous checkpoints intact, never a half-written one
  under a checkpoint's name. A checkpoint holds the model, the optimizer, the step and every rank's RNG
  state, so a resumed run repeats the lost steps bit for bit (same world size and device).
- After a restart (torchrun's elastic restart, a Job's new pod, or by hand) rank 0 loads the newest
  readable checkpoint and broadcasts it: a killed run loses at most one checkpoint interval. With
  several nodes the checkpoint directory must be shared storage (any node can hold rank 0 after a
  restart).
- SIGTERM (Kubernetes evicting or preempting the pod) makes every rank stop after the current step and
  write a checkpoint first, so a graceful stop loses nothing.

Progress lines on stdout (rank 0 only) start with "train: " and are key=value pairs, e.g.
``train: step=12 epoch=0 loss=2.1874433 lr=0.05``; tests and log scrapers parse them.
Fault drill: TRAIN_KILL_AT_STEP=N (and TRAIN_KILL_RANK=R, default the last rank) makes rank R SIGKILL
itself at step N, once per checkpoint directory (a marker file there), to rehearse restarts.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import random
import re
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

CHECKPOINT_FORMAT = 1
CHECKPOINT_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")
TEMP_PREFIX = ".ckpt-"
DEFAULT_CHECKPOINT_DIR = "/workspace/checkpoints"
CLASSES = 10


def log(message: str) -> None:
    """A progress line; flushed at once so that a log follower (or a test) sees it before a crash."""
    print(f"train: {message}", flush=True)


# ---- the model and the data ------------------------------------------------------------------------


class SmallCNN(nn.Module):
    """Two conv blocks and a linear head; dropout makes the RNG state matter for an exact resume."""

    def __init__(self, channels: int = 1, width: int = 16, image_size: int = 16, classes: int = CLASSES):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(2 * width * side * side, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def make_dataset(size: int, image_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy copies of one random prototype per class: learnable, but not in a single step."""
    g = torch.Generator().manual_seed(seed)
    prototypes = torch.randn(CLASSES, 1, image_size, image_size, generator=g)
    labels = torch.randint(0, CLASSES, (size,), generator=g)
    images = prototypes[labels] + 1.5 * torch.randn(size, 1, image_size, image_size, generator=g)
    return images, labels


def batch_indices(
    step: int, rank: int, world_size: int, batch_size: int, dataset_size: int, seed: int
) -> tuple[int, torch.Tensor]:
    """(epoch, sample indices) of 1-based `step` for `rank`: a fresh permutation per epoch, split by rank.

    A pure function of its arguments, so a resumed run reads exactly the batches that the lost steps read,
    and within an epoch no two ranks and no two steps share a sample.
    """
    global_batch = batch_size * world_size
    steps_per_epoch = dataset_size // global_batch
    if steps_per_epoch < 1:
        raise ValueError(f"dataset of {dataset_size} is smaller than one global batch ({global_batch})")
    epoch, within = divmod(step - 1, steps_per_epoch)
    permutation = torch.randperm(
        dataset_size, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    )
    start = within * global_batch + rank * batch_size
    return epoch, permutation[start : start + batch_size]


# ---- checkpoints -----------------------------------------------------------------------------------


def checkpoint_path(directory: Path, step: int) -> Path:
    return directory / f"ckpt-{step:08d}.pt"


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(step, path) of finished checkpoints, newest first; temp files of an interrupted save are not listed."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = CHECKPOINT_NAME.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    return sorted(found, reverse=True)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable: without it a power loss can forget the new directory entry."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_checkpoint(directory: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write `state` as the checkpoint of `step` atomically, then keep only the newest `keep` ones.

    The bytes go to a temp file in the same directory (same file system, so os.replace is atomic), are
    fsynced, and only then take the checkpoint's name: readers see the old set or the new, never a part.
    """
    directory.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(directory, step)
    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint is as readable as any file
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp_name, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(directory)
    for _, old in list_checkpoints(directory)[max(keep, 1) :]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    return final


def remove_stale_temp_files(directory: Path) -> None:
    """Temp files left by a save that was killed: never read, removed at the next start (by rank 0)."""
    if directory.is_dir():
        for path in directory.glob(f"{TEMP_PREFIX}*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            log(f"removed temp_file={path.name} (an interrupted save)")


def load_latest_checkpoint(directory: Path) -> tuple[dict[str, Any] | None, Path | None]:
    """The newest checkpoint that loads and has every field; unreadable ones are reported and skipped.

    Atomic saves make a torn file impossible here, but a disk or copy error elsewhere must not end the
    run: the previous checkpoint is the next best thing. weights_only: a checkpoint on shared storage is
    data, never code to run.
    """
    for _, path in list_checkpoints(directory):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            missing = {"format", "step", "model", "optimizer", "rng", "world_size"} - set(state)
            if missing or state["format"] != CHECKPOINT_FORMAT:
                raise ValueError(f"not a format-{CHECKPOINT_FORMAT} checkpoint (missing {sorted(missing)})")
            return state, path
        except Exception as exc:  # noqa: BLE001 - any failure to read means: try the previous one
            log(f"skipping unreadable checkpoint={path.name} error={type(exc).__name__}: {exc}")
    return None, None


# ---- distributed setup -----------------------------------------------------------------------------


@dataclass
class Context:
    """Where this process runs: its rank, the world, the device, and whether torchrun started it."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    distributed: bool
    restart: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device_choice: str, timeout_s: float) -> Context:
    """DDP when torchrun set RANK/WORLD_SIZE (NCCL on GPUs, gloo on CPU), else a single plain process."""
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device_choice == "auto" else device_choice == "cuda"
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    if not distributed:
        return Context(0, 0, 1, device, False, restart)
    dist.init_process_group(
        backend="nccl" if use_cuda else "gloo",
        timeout=datetime.timedelta(seconds=timeout_s),
        device_id=device if use_cuda else None,
    )
    return Context(dist.get_rank(), local_rank, dist.get_world_size(), device, True, restart)


def broadcast_object(ctx: Context, obj: Any) -> Any:
    """Rank 0's `obj` on every rank (a checkpoint: only rank 0 reads the file)."""
    if not ctx.distributed:
        return obj
    box = [obj if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0, device=ctx.device if ctx.device.type == "cuda" else None)
    return box[0]


def gather_objects(ctx: Context, obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order (the RNG states that a checkpoint keeps)."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def rng_state(ctx: Context) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if ctx.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(ctx.device)
    return state


def set_rng_state(ctx: Context, state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if ctx.device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], ctx.device)


# ---- training --------------------------------------------------------------------------------------


class StopRequest:
    """Set by SIGTERM; the ranks agree on it at the next step, write a checkpoint and exit."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300, help="optimizer steps in all (default 300)")
    p.add_argument("--batch-size", type=int, default=64, help="samples per step and process (default 64)")
    p.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints (default 50)")
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=Path(os.environ.get("TRAIN_CHECKPOINT_DIR", DEFAULT_CHECKPOINT_DIR)),
        help=f"where checkpoints go and are resumed from (env TRAIN_CHECKPOINT_DIR; default {DEFAULT_CHECKPOINT_DIR})",
    )
    p.add_argument("--keep", type=int, default=3, help="checkpoints to keep (default 3)")
    p.add_argument("--log-every", type=int, default=10, help="steps between progress lines (default 10)")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset-size", type=int, default=8192)
    p.add_argument("--image-size", type=int, default=16, help="a multiple of 4")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds a collective may wait for a peer")
    p.add_argument("--no-summary", action="store_true", help="skip the model summary at start")
    args = p.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1 or args.checkpoint_every < 1 or args.log_every < 1:
        p.error("--steps, --batch-size, --checkpoint-every and --log-every must be positive")
    if args.image_size % 4:
        p.error("--image-size must be a multiple of 4")
    return args


def fault_injection_step(ctx: Context, checkpoint_dir: Path) -> int | None:
    """The step at which this rank kills itself (TRAIN_KILL_AT_STEP), once per checkpoint directory.

    "Once" is a marker file, not TORCHELASTIC_RESTART_COUNT: agents that restart their workers because
    another node failed keep their count, so after a restart the victim rank may see a count of 0 again.
    """
    at = os.environ.get("TRAIN_KILL_AT_STEP")
    if not at:
        return None
    victim = int(os.environ.get("TRAIN_KILL_RANK", str(ctx.world_size - 1)))
    if victim != ctx.rank or fault_marker(checkpoint_dir, int(at)).exists():
        return None
    return int(at)


def fault_marker(checkpoint_dir: Path, step: int) -> Path:
    return checkpoint_dir / f".fault-injected-at-{step}"


def inject_fault(ctx: Context, checkpoint_dir: Path, step: int) -> None:
    """SIGKILL this process, as the OOM killer or a lost node would: no cleanup, no last words."""
    marker = fault_marker(checkpoint_dir, step)
    marker.parent.mkdir(parents=True, exist_ok=True)
    with open(marker, "w") as f:
        f.write(f"rank {ctx.rank} pid {os.getpid()}\n")
        f.flush()
        os.fsync(f.fileno())
    print(f"train: fault injection: rank {ctx.rank} kills itself at step={step}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def print_summary(model: nn.Module, args: argparse.Namespace, device: torch.device) -> None:
    """The model's table, FLOPs included, once per job (rank 0), so the log says what is being trained."""
    from summarytool import summary

    stats = summary(
        model,
        input_size=(args.batch_size, 1, args.image_size, args.image_size),
        device=device,
        col_names=("output_size", "num_params", "flops"),
        verbose=0,
    )
    print(stats, flush=True)


def train(args: argparse.Namespace) -> int:
    ctx = setup(args.device, args.timeout)
    stop = StopRequest()
    kill_at = fault_injection_step(ctx, args.checkpoint_dir)
    print(
        f"train: worker rank={ctx.rank} local_rank={ctx.local_rank} pid={os.getpid()} restart={ctx.restart}",
        file=sys.stderr,
        flush=True,
    )
    torch.manual_seed(args.seed)  # the same initial weights on every rank
    model = SmallCNN(image_size=args.image_size).to(ctx.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    images, labels = make_dataset(args.dataset_size, args.image_size, args.seed)
    backend = dist.get_backend() if ctx.distributed else "none"
    if ctx.is_main:
        log(
            f"start world_size={ctx.world_size} device={ctx.device} backend={backend} restart={ctx.restart} "
            f"steps={args.steps} batch_size={args.batch_size} checkpoint_every={args.checkpoint_every} "
            f"checkpoint_dir={args.checkpoint_dir}"
        )
        if not args.no_summary:
            print_summary(model, args, ctx.device)
        remove_stale_temp_files(args.checkpoint_dir)

    state, path = load_latest_checkpoint(args.checkpoint_dir) if ctx.is_main else (None, None)
    state = broadcast_object(ctx, state)
    start_step = 0
    if state is None:
        torch.manual_seed(args.seed + 1 + ctx.rank)  # per-rank dropout masks
        random.seed(args.seed + ctx.rank)
        if ctx.is_main:
            log("fresh start step=0")
    else:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_step = int(state["step"])
        if state["world_size"] == ctx.world_size:
            set_rng_state(ctx, state["rng"][ctx.rank])
        else:  # elastic resize: the lost steps cannot be repeated exactly; seed from the step
            torch.manual_seed(args.seed + 1 + ctx.rank + 7919 * start_step)
            random.seed(args.seed + ctx.rank + 7919 * start_step)
        if ctx.is_main:
            log(f"resume step={start_step} from={path} saved_world_size={state['world_size']}")
    del state

    ddp_model: nn.Module = (
        DistributedDataParallel(model, device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None)
        if ctx.distributed
        else model
    )
    ddp_model.train()
    started = time.monotonic()
    loss_value = float("nan")
    step = start_step
    for step in range(start_step + 1, args.steps + 1):
        if kill_at == step:
            inject_fault(ctx, args.checkpoint_dir, step)
        epoch, idx = batch_indices(
            step, ctx.rank, ctx.world_size, args.batch_size, args.dataset_size, args.seed
        )
        x, y = images[idx].to(ctx.device, non_blocking=True), labels[idx].to(ctx.device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(ddp_model(x), y)
        loss.backward()
        optimizer.step()

        # One small all-reduce carries the mean loss and whether any rank was asked to stop.
        report = torch.tensor([loss.detach().float().item(), float(stop.requested)], device=ctx.device)
        if ctx.distributed:
            dist.all_reduce(report)
        loss_value = report[0].item() / ctx.world_size
        stopping = report[1].item() > 0
        if ctx.is_main and (step % args.log_every == 0 or step == args.steps or step == start_step + 1):
            log(f"step={step} epoch={epoch} loss={loss_value:.7f} lr={args.lr:g}")

        if step % args.checkpoint_every == 0 or step == args.steps or stopping:
            write_checkpoint(ctx, args, model, optimizer, step, epoch)
        if stopping:
            if ctx.is_main:
                log(f"stopped step={step} reason=SIGTERM")
            shutdown(ctx)
            return 128 + signal.SIGTERM

    if ctx.is_main:
        log(f"done step={step} loss={loss_value:.7f} elapsed_s={time.monotonic() - started:.1f}")
    shutdown(ctx)
    return 0


def write_checkpoint(
    ctx: Context,
    args: argparse.Namespace,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    epoch: int,
) -> None:
    """Collective: every rank hands rank 0 its RNG state; rank 0 writes; all wait so none runs ahead."""
    rngs = gather_objects(ctx, rng_state(ctx))
    if ctx.is_main:
        state = {
            "format": CHECKPOINT_FORMAT,
            "step": step,
            "epoch": epoch,
            "world_size": ctx.world_size,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rngs,
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        }
        path = save_checkpoint(args.checkpoint_dir, step, state, args.keep)
        log(f"checkpoint step={step} path={path}")
    if ctx.distributed:
        dist.barrier()


def shutdown(ctx: Context) -> None:
    if ctx.distributed:
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    return train(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
