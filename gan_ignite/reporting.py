"""The reporter: how any code (a network, a loss, an extension) adds a value to the observation.

Chainer's ``chainer.reporter`` and pytorch-pfn-extras' ``ppe.reporting``: a
:class:`Reporter` holds the *observation* dict of the moment, and :func:`report` writes
into the innermost reporter that is in scope. The trainer opens its reporter's scope
around each iteration and each extension call, so ::

    class Discriminator(nn.Module):
        def forward(self, x):
            h = self.features(x)
            report({"feature_norm": h.norm(dim=1).mean()}, self)   # -> "dis/feature_norm"
            return self.head(h)

lands in ``trainer.observation`` beside the update function's own keys, without the update
function knowing. An *observer* (any object registered with a name, e.g. the trainer's
models as ``gen`` and ``dis`` and their submodules as ``dis/features``) prefixes the keys
it reports. Outside any scope, :func:`report` does nothing (as in Chainer), so a model
that reports still runs on its own.

:class:`Summary` and :class:`DictSummary` accumulate reported values into means (and
standard deviations); a value may come as ``(value, weight)`` for a weighted mean. Tensor
values are summed as tensors and turned into numbers only when a mean is asked for, so a
GPU step does not wait for the host at every report.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from numbers import Number
from typing import Any, Union

from torch import Tensor

__all__ = ["Reporter", "report", "report_scope", "get_current_reporter", "Summary", "DictSummary"]

Scalar = Union[float, int, Tensor]

_local = threading.local()


def _reporters() -> list[Reporter]:
    if not hasattr(_local, "reporters"):
        _local.reporters = []
    return _local.reporters


class Reporter:
    """Writes reported values, prefixed by their observer's name, into the current observation.

    Attributes:
        observation: the dict that reports go into while this reporter is in scope.
    """

    def __init__(self) -> None:
        self._observer_names: dict[int, str] = {}
        self.observation: dict[str, Any] = {}

    def __enter__(self) -> Reporter:
        _reporters().append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _reporters().pop()

    @contextlib.contextmanager
    def scope(self, observation: dict[str, Any]) -> Iterator[None]:
        """Make this reporter current, writing into ``observation``, for the ``with`` block."""
        previous, self.observation = self.observation, observation
        self.__enter__()
        try:
            yield
        finally:
            self.__exit__()
            self.observation = previous

    def add_observer(self, name: str, observer: object) -> None:
        """Register ``observer`` (told apart by identity) so its reports are named ``name/key``."""
        self._observer_names[id(observer)] = name

    def add_observers(self, prefix: str, observers: Iterable[tuple[str, object]]) -> None:
        """Register each ``(name, observer)`` pair under ``prefix + name``."""
        for name, observer in observers:
            self._observer_names[id(observer)] = prefix + name

    def report(self, values: Mapping[str, Any], observer: object | None = None) -> None:
        """Write ``values`` into the observation, prefixed by ``observer``'s name if given.

        Tensors are stored detached: a reported loss keeps no autograd graph alive.

        Raises:
            KeyError: ``observer`` was never registered.
        """
        values = {k: v.detach() if isinstance(v, Tensor) else v for k, v in values.items()}
        if observer is None:
            self.observation.update(values)
            return
        if id(observer) not in self._observer_names:
            raise KeyError(f"The observer {type(observer).__name__} is not registered with the reporter")
        name = self._observer_names[id(observer)]
        self.observation.update({f"{name}/{key}": value for key, value in values.items()})


def get_current_reporter() -> Reporter:
    """The innermost reporter in scope.

    Raises:
        RuntimeError: no reporter is in scope.
    """
    if not _reporters():
        raise RuntimeError("No reporter is in scope; report inside `with reporter.scope(...)` or a trainer's run")
    return _reporters()[-1]


def report(values: Mapping[str, Any], observer: object | None = None) -> None:
    """Report ``values`` to the current reporter; does nothing when none is in scope."""
    if _reporters():
        _reporters()[-1].report(values, observer)


@contextlib.contextmanager
def report_scope(observation: dict[str, Any]) -> Iterator[None]:
    """Redirect the current reporter's reports into ``observation`` for the ``with`` block.

    With no reporter in scope, a fresh one is made current, so code that reports can be
    run and observed on its own (an evaluation loop, a test).
    """
    reporter = _reporters()[-1] if _reporters() else Reporter()
    with reporter.scope(observation):
        yield


def _is_scalar(value: Any) -> bool:
    """A number, or a 0-d tensor or array (booleans are flags, not values to average)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, Number) or getattr(value, "ndim", -1) == 0


def _number(value: Any) -> float:
    return float(value.item()) if hasattr(value, "item") else float(value)


class Summary:
    """Running weighted sums of a sequence of scalars: mean and standard deviation."""

    def __init__(self) -> None:
        self._x: Scalar = 0.0
        self._x2: Scalar = 0.0
        self._n: Scalar = 0

    def add(self, value: Scalar, weight: Scalar = 1) -> None:
        """Add a number or 0-d tensor with a weight (1 by default)."""
        if isinstance(value, Tensor):
            value = value.detach()
        self._x = self._x + weight * value
        self._x2 = self._x2 + weight * value * value
        self._n = self._n + weight

    def compute_mean(self) -> float:
        """The weighted mean (NaN when nothing was added)."""
        n = _number(self._n)
        return _number(self._x) / n if n else math.nan

    def make_statistics(self) -> tuple[float, float]:
        """The weighted mean and (population) standard deviation."""
        mean = self.compute_mean()
        n = _number(self._n)
        variance = _number(self._x2) / n - mean * mean if n else math.nan
        return mean, math.sqrt(max(variance, 0.0)) if n else math.nan

    def state_dict(self) -> dict[str, float]:
        return {"x": _number(self._x), "x2": _number(self._x2), "n": _number(self._n)}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self._x, self._x2, self._n = float(state["x"]), float(state["x2"]), float(state["n"])


class DictSummary:
    """A :class:`Summary` per key of a sequence of dicts.

    Only scalars are summarised (numbers, 0-d tensors, or ``(value, weight)`` pairs of
    them); other values (strings, images) are skipped. A key missing from a dict is not
    counted there: a generator updated every n-th iteration has the mean of the
    iterations that updated it, not a mean diluted by the others.
    """

    def __init__(self) -> None:
        self._summaries: dict[str, Summary] = {}

    def add(self, values: Mapping[str, Any]) -> None:
        """Add each scalar of ``values`` (a ``(value, weight)`` pair adds with that weight)."""
        for key, value in values.items():
            weight: Any = 1
            if isinstance(value, tuple):
                value, weight = value
                if not _is_scalar(weight):
                    raise ValueError(f"The weight reported with {key!r} should be a scalar, but given {weight!r}")
            if _is_scalar(value):
                self._summaries.setdefault(key, Summary()).add(value, weight)

    def compute_mean(self) -> dict[str, float]:
        """The mean of each key (a key added only with weight 0 has none and is left out)."""
        return {key: summary.compute_mean() for key, summary in self._weighed().items()}

    def make_statistics(self) -> dict[str, float]:
        """The mean of each key, and its standard deviation as ``key + '.std'``."""
        statistics = {}
        for key, summary in self._weighed().items():
            statistics[key], statistics[key + ".std"] = summary.make_statistics()
        return statistics

    def _weighed(self) -> dict[str, Summary]:
        # A zero total weight is a mean over no examples (a batch without labels), not 0/0.
        return {key: summary for key, summary in self._summaries.items() if _number(summary._n) != 0}

    def __len__(self) -> int:
        return len(self._summaries)

    def state_dict(self) -> dict[str, dict[str, float]]:
        return {key: summary.state_dict() for key, summary in self._summaries.items()}

    def load_state_dict(self, state: Mapping[str, Mapping[str, float]]) -> None:
        self._summaries = {}
        for key, summary_state in state.items():
            self._summaries[key] = Summary()
            self._summaries[key].load_state_dict(summary_state)
