"""LogReport: means of every observation over an interval, appended to ``log.jsonl``.

As Chainer's ``LogReport``: it accumulates each iteration's observation and, when its
own trigger fires, makes one entry with the mean of every observed key since the
previous entry, plus ``epoch`` (completed epochs, Chainer's count: an entry after
iteration 3 of 4 says epoch 0), ``epoch_detail`` (0.75 there), ``iteration`` and
``elapsed_time``. Other extensions (:class:`~gan_ignite.extensions.PrintReport`) read
its ``log``.

Departure from Chainer, on purpose: the file holds one JSON object per line
(``log.jsonl``), appended as entries come, where Chainer rewrites one JSON list each
time; a line-per-entry file is read while training runs (``tail -f``, ``jq``,
``pandas.read_json(lines=True)``) and a kill never leaves it half a list. A ``filename``
template that changes with the entry (``'log_{iteration}.jsonl'``) gets the whole log
written to each name, as Chainer does.

Its state (the log so far, the open interval and its trigger) is checkpointed; on
resume the file is rewritten from that state, so entries a killed run wrote after its
last checkpoint are dropped and the log continues where the checkpoint left it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from gan_ignite.errors import UsageError
from gan_ignite.extensions._interval import IntervalMeans
from gan_ignite.extensions.extension import PRIORITY_EDITOR, Extension
from gan_ignite.run_dir import LOG, write_atomic
from gan_ignite.triggers import TriggerLike

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["LogReport"]


class LogReport(Extension):
    """Writes interval means of the observation to ``out/filename``, one JSON line each.

    Args:
        keys: observation keys to log; ``None`` logs every key.
        trigger: when to write an entry, e.g. ``(1, 'epoch')`` or ``(100, 'iteration')``.
        postprocess: called with each entry (a dict) before it is stored; it may change it.
        filename: the log file inside the trainer's ``out`` directory; may be a template
            of the entry's keys, ``str.format`` style.
        log_name: Chainer's name for ``filename``.
    """

    trigger = (1, "iteration")  # observe every iteration; log on ``self._trigger``
    priority = PRIORITY_EDITOR

    def __init__(
        self,
        keys: Iterable[str] | None = None,
        trigger: TriggerLike = (1, "epoch"),
        postprocess: Callable[[dict[str, Any]], None] | None = None,
        filename: str | None = None,
        log_name: str | None = None,
    ) -> None:
        if filename is not None and log_name is not None:
            raise UsageError("Arguments `filename` and `log_name` of LogReport are the same; pass only `filename`")
        self._keys = None if keys is None else set(keys)
        self._means = IntervalMeans(trigger)
        self._postprocess = postprocess
        self.filename = filename or log_name or LOG
        self._log: list[dict[str, Any]] = []

    @property
    def log(self) -> list[dict[str, Any]]:
        """Every entry made so far (a list of dicts)."""
        return self._log

    def initialize(self, trainer: Trainer) -> None:
        if self._is_template():
            return  # each entry writes its own file
        text = "".join(json.dumps(entry) + "\n" for entry in self._log)
        write_atomic(trainer.out / self.filename, lambda f: f.write(text.encode()))

    def __call__(self, trainer: Trainer) -> None:
        observation = trainer.observation
        if self._keys is not None:
            observation = {k: v for k, v in observation.items() if k in self._keys}
        self._means.add(observation)
        means = self._means.end(trainer)
        if means is None:
            return
        entry: dict[str, Any] = dict(means)
        entry.update(
            epoch=trainer.epoch, epoch_detail=trainer.epoch_detail,
            iteration=trainer.iteration, elapsed_time=trainer.elapsed_time,
        )
        if self._postprocess is not None:
            self._postprocess(entry)
        self._log.append(entry)
        self._write(trainer, entry)

    def _is_template(self) -> bool:
        return "{" in self.filename

    def _write(self, trainer: Trainer, entry: dict[str, Any]) -> None:
        if not self._is_template():
            with open(trainer.out / self.filename, "a") as f:
                f.write(json.dumps(entry) + "\n")
            return
        try:
            name = self.filename.format(**entry)
        except (KeyError, IndexError, ValueError) as exc:
            raise UsageError(f"LogReport's filename {self.filename!r} names {exc}, which the entry lacks") from None
        text = "".join(json.dumps(e) + "\n" for e in self._log)
        write_atomic(trainer.out / name, lambda f: f.write(text.encode()))

    def state_dict(self) -> dict[str, Any]:
        return {"log": json.dumps(self._log), **self._means.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._log = json.loads(state["log"])
        self._means.load_state_dict(state)
