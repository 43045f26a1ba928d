"""Whether a launcher started this process as one of a run's: torchrun, or SLURM's ``srun``.

torchrun sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` for each process it starts;
``srun`` sets ``SLURM_PROCID``, ``SLURM_LOCALID`` and ``SLURM_STEP_NUM_TASKS`` for each
task of a job step, from which Ignite's ``idist`` sets up the run. A process started
by neither is the only process of its machine unless ``--nproc-per-node`` says
otherwise.
"""

from __future__ import annotations

import os

__all__ = ["under_launcher", "launcher_world_size", "launcher_rank", "launcher_local_world_size"]

_TORCHRUN = ("RANK", "LOCAL_RANK", "WORLD_SIZE")


def _slurm_tasks() -> int:
    # A job step of several tasks (srun); an sbatch script's own shell is no such step.
    if "SLURM_JOB_ID" not in os.environ or "SLURM_PROCID" not in os.environ:
        return 1
    return int(os.environ.get("SLURM_STEP_NUM_TASKS", "1"))


def under_launcher() -> bool:
    """Whether torchrun (all of ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``) or a multi-task ``srun`` started this process."""
    return all(name in os.environ for name in _TORCHRUN) or _slurm_tasks() > 1


def launcher_world_size() -> int | None:
    """The launcher's number of processes, or ``None`` without a launcher."""
    if all(name in os.environ for name in _TORCHRUN):
        return int(os.environ["WORLD_SIZE"])
    tasks = _slurm_tasks()
    return tasks if tasks > 1 else None


def launcher_rank() -> int | None:
    """This process's rank among the launcher's, or ``None`` without a launcher."""
    if all(name in os.environ for name in _TORCHRUN):
        return int(os.environ["RANK"])
    return int(os.environ["SLURM_PROCID"]) if _slurm_tasks() > 1 else None


def launcher_local_world_size() -> int | None:
    """The launcher's number of processes on this machine, where it says."""
    value = os.environ.get("LOCAL_WORLD_SIZE") or os.environ.get("SLURM_NTASKS_PER_NODE", "").split("(")[0]
    return int(value) if value.isdigit() else None
