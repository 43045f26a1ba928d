"""Running means of observations over a reporting interval (Chainer's ``DictSummary``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MeanSummary"]


class MeanSummary:
    """Per-key sums and counts; keys missing from an observation are simply not counted.

    A generator updated every n-th iteration reports ``gen/loss`` only then, and its
    mean is over those iterations, not diluted by the others.
    """

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, observation: Mapping[str, float]) -> None:
        for key, value in observation.items():
            self._sums[key] = self._sums.get(key, 0.0) + float(value)
            self._counts[key] = self._counts.get(key, 0) + 1

    def means(self) -> dict[str, float]:
        return {key: self._sums[key] / self._counts[key] for key in self._sums}

    def reset(self) -> None:
        self._sums.clear()
        self._counts.clear()

    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self._sums), "counts": dict(self._counts)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._sums = {k: float(v) for k, v in state["sums"].items()}
        self._counts = {k: int(v) for k, v in state["counts"].items()}
