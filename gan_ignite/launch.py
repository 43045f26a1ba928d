"""Launching a run: one process, or one per device on one or many machines, through ``idist.Parallel``.

``--nproc-per-node N`` starts ``N`` processes on this machine with Ignite's
``idist.Parallel`` (``torch.multiprocessing`` with the ``spawn`` method); ``--nnodes``,
``--node-rank``, ``--master-addr`` and ``--master-port`` join machines into one run, the
same command on each with its own ``--node-rank``. A process that ``torchrun`` (or SLURM
through it) started is recognised by its ``RANK`` and ``WORLD_SIZE`` variables, and
joins the run torchrun set up. Each process then runs the experiment on its device:
``cuda:<local rank>`` on GPUs (backend ``nccl``), the CPU otherwise (``gloo``).

The launching process waits for its children and exits as the first of them that fails
does (whose own error line is already on stderr); SIGINT and SIGTERM that reach it are
passed on to them, so that they stop together and the main one saves a checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

from gan_ignite.config import ExperimentConfig
from gan_ignite.config import world_size
from gan_ignite.distributed import quiet_ignite
from gan_ignite.run_env import launcher_local_world_size, under_launcher
from gan_ignite.errors import UsageError
from gan_ignite.interrupt import handle_signals

__all__ = [
    "under_launcher", "world_size", "spawns", "backend", "check_launch", "launch", "share_cpu_threads", "started_for_the_run",
    "DEFAULT_PORT",
]

DEFAULT_PORT = 29500  # torchrun's, for runs across machines


def spawns(config: ExperimentConfig) -> bool:
    """Whether this process starts the run's processes itself (``--nproc-per-node`` or ``--nnodes`` above 1)."""
    return not under_launcher() and config.nproc_per_node * config.nnodes > 1


def backend(config: ExperimentConfig) -> str:
    """``--backend``, with ``auto`` resolved: ``nccl`` on CUDA, ``gloo`` on the CPU."""
    if config.backend != "auto":
        return config.backend
    return "nccl" if config.resolved_device() == "cuda" else "gloo"


def check_launch(config: ExperimentConfig) -> None:
    """Refuse launch options that cannot work here, with the fix, before any process starts.

    Raises:
        UsageError: launch options given under torchrun, NCCL without CUDA, more
            processes than GPUs, CPU processes on a machine with GPUs, or SyncBatchNorm
            on the CPU.
    """
    import torch
    import torch.distributed as dist

    if under_launcher() and (config.nproc_per_node > 1 or config.nnodes > 1):
        raise UsageError("this process was started by torchrun or srun (RANK, LOCAL_RANK and WORLD_SIZE, or "
                         "SLURM_PROCID, are set), which starts the processes itself; leave --nproc-per-node and "
                         "--nnodes out")
    if world_size(config) == 1:
        return
    device, name = config.resolved_device(), backend(config)
    if not dist.is_available():
        raise UsageError("this torch build has no torch.distributed; install a build with it, or run one process")
    if name == "nccl" and (device != "cuda" or not dist.is_nccl_available()):
        raise UsageError("--backend nccl needs CUDA devices and a torch build with NCCL; use --backend gloo on the CPU")
    if device == "cuda" and config.nproc_per_node > torch.cuda.device_count():
        raise UsageError(f"--nproc-per-node {config.nproc_per_node} is more than this machine's "
                         f"{torch.cuda.device_count()} GPUs; start one process per GPU")
    if device == "cpu" and torch.cuda.is_available():
        # idist places every process on a GPU once any is visible.
        raise UsageError("several CPU processes on a machine with GPUs are not supported; run on the GPUs, or hide "
                         "them with CUDA_VISIBLE_DEVICES=")
    if getattr(config, "sync_batch_norm", False) and device != "cuda":
        raise UsageError("--sync-batch-norm (given, or in the resumed run's config.json) needs CUDA devices: "
                         "torch's SyncBatchNorm runs on GPUs only; pass --no-sync-batch-norm on the CPU")
    if spawns(config) and config.nnodes == 1 and config.master_port and not _port_free(config.master_port):
        raise UsageError(f"--master-port {config.master_port} is in use on this machine; pass another one, or 0 "
                         f"to have a free one chosen")


def share_cpu_threads(config: ExperimentConfig) -> None:
    """On the CPU, give each of this machine's processes its share of the cores for torch's threads.

    torch starts as many threads as there are cores in every process: ``N`` processes
    would oversubscribe the machine ``N`` times. ``OMP_NUM_THREADS``, where set, wins,
    as under torchrun, which sets it to 1.
    """
    import torch

    local = launcher_local_world_size() or config.nproc_per_node
    if local > 1 and config.resolved_device() == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))


def _start_method(config: ExperimentConfig, fresh: bool) -> str:
    """``fork`` for a fresh process on the CPU, else ``spawn``.

    A spawned process imports torch, Ignite and the experiment again, seconds a process;
    a forked one inherits them. But forking a process whose OpenMP threads have run (any
    torch operation before the launch, in a notebook say) deadlocks the child, and a
    CUDA context does not survive a fork. A process that ``python -m experiments.NAME``
    or ``gan-ignite`` started (``fresh``) has run no torch operation when it launches.
    """
    if fresh and config.resolved_device() == "cpu" and sys.platform.startswith("linux"):  # macOS forks unsafely
        return "fork"
    return "spawn"


def started_for_the_run(module: str) -> bool:
    """Whether this process is ``python -m <module>`` or the ``gan-ignite`` command (see :func:`launch`)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) == module or os.path.basename(sys.argv[0]) == "gan-ignite"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def launch(fn: Callable[..., Any], config: ExperimentConfig, *args: Any, fresh: bool = False) -> None:
    """Run ``fn(local_rank, *args)`` in every process of the run, this one's included under torchrun.

    Started here (``--nproc-per-node``), the processes' first failure ends this one with
    its exit status; a child killed by a signal is reported in one line. ``fresh``: this
    process has run no torch operation yet, so the children may be forked (faster to
    start) rather than spawned.
    """
    import ignite.distributed as idist
    from torch.multiprocessing import ProcessExitedException, ProcessRaisedException

    if not spawns(config):
        with quiet_ignite(), idist.Parallel(backend=backend(config)) as parallel:
            parallel.run(fn, *args)
        return
    port = config.master_port or (_free_port() if config.nnodes == 1 else DEFAULT_PORT)
    try:
        with quiet_ignite(), _forwarded_signals(), _quiet_teardown():
            parallel = idist.Parallel(
                backend=backend(config), nproc_per_node=config.nproc_per_node, nnodes=config.nnodes,
                node_rank=config.node_rank, master_addr=config.master_addr, master_port=port,
                start_method=_start_method(config, fresh),
            )
            with parallel:
                parallel.run(fn, *args)
    except ProcessRaisedException as exc:
        # Raised where no handler of ours runs yet: setting up the processes' connection.
        if "DistNetworkError" not in str(exc) and "EADDRINUSE" not in str(exc):
            raise
        reason = next((line for line in reversed(str(exc).splitlines()) if line.strip()), "")
        sys.stderr.write(f"error: the processes could not connect to each other ({reason.strip()}); check "
                         f"--master-addr and --master-port\n")
        sys.exit(2)
    except ProcessExitedException as exc:
        if exc.exit_code >= 0:
            sys.exit(exc.exit_code)  # the process said why on stderr
        signum = -exc.exit_code
        sys.stderr.write(f"error: process {exc.error_index} of this machine was killed by "
                         f"{signal.Signals(signum).name}; the others were stopped\n")
        sys.exit(128 + signum)


@contextlib.contextmanager
def _quiet_teardown() -> Iterator[None]:
    """No warning when torch stops the other processes after one failed: the failed one said why."""
    spawn_logger = logging.getLogger("torch.multiprocessing.spawn")
    previous = spawn_logger.level
    spawn_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        spawn_logger.setLevel(previous)


@contextlib.contextmanager
def _forwarded_signals() -> Iterator[None]:
    """Pass SIGINT and SIGTERM on to the child processes while they run."""

    def forward(signum: int, frame: Any) -> None:
        for child in multiprocessing.active_children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signum)  # type: ignore[arg-type]

    with handle_signals((signal.SIGINT, signal.SIGTERM), forward):
        yield
