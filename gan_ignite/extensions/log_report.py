"""LogReport: means of every observation over an interval, appended to ``log.jsonl``.

As Chainer's ``LogReport``: it accumulates each iteration's observation and, when its
own trigger fires, writes one JSON object with ``epoch``, ``iteration``,
``elapsed_time`` and the mean of every observed key since the previous entry. Other
extensions (:class:`~gan_ignite.extensions.PrintReport`) read its ``log``.

Its state (the log so far and the open interval) is checkpointed; on resume the file is
rewritten from that state, so entries a killed run wrote after its last checkpoint are
dropped and the log continues where the checkpoint left it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from gan_ignite.extensions._summary import MeanSummary
from gan_ignite.extensions.extension import PRIORITY_EDITOR, Extension
from gan_ignite.run_dir import LOG, write_atomic
from gan_ignite.triggers import TriggerLike, get_trigger

__all__ = ["LogReport"]


class LogReport(Extension):
    """Writes interval means of the observation to ``out/filename``, one JSON line each.

    Args:
        keys: observation keys to log; ``None`` logs every key.
        trigger: when to write an entry, e.g. ``(1, 'epoch')`` or ``(100, 'iteration')``.
        filename: the log file inside the trainer's ``out`` directory.
    """

    trigger = (1, "iteration")  # observe every iteration; log on ``self._trigger``
    priority = PRIORITY_EDITOR
    name = "LogReport"

    def __init__(
        self, keys: Iterable[str] | None = None, trigger: TriggerLike = (1, "epoch"), filename: str = LOG
    ) -> None:
        self._keys = None if keys is None else set(keys)
        self._trigger = get_trigger(trigger)
        self.filename = filename
        self._summary = MeanSummary()
        self._log: list[dict[str, Any]] = []
        self._path = None

    @property
    def log(self) -> list[dict[str, Any]]:
        """Every entry written so far (a list of dicts)."""
        return self._log

    def initialize(self, trainer: Any) -> None:
        self._path = trainer.out / self.filename
        text = "".join(json.dumps(entry) + "\n" for entry in self._log)
        write_atomic(self._path, lambda f: f.write(text.encode()))

    def __call__(self, trainer: Any) -> None:
        observation = trainer.observation
        if self._keys is not None:
            observation = {k: v for k, v in observation.items() if k in self._keys}
        self._summary.add(observation)
        if not self._trigger(trainer.engine):
            return
        state = trainer.engine.state
        entry = {"epoch": state.epoch, "iteration": state.iteration, "elapsed_time": trainer.elapsed_time}
        entry.update(self._summary.means())
        self._summary.reset()
        self._log.append(entry)
        with open(self._path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def state_dict(self) -> dict[str, Any]:
        return {"log": json.dumps(self._log), "summary": self._summary.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._log = json.loads(state["log"])
        self._summary.load_state_dict(state["summary"])
