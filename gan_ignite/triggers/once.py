"""OnceTrigger: fire at the first call only, and again after a resume if asked (Chainer's, ppe's)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ignite.engine import Engine

    from gan_ignite.trainer import Trainer

__all__ = ["OnceTrigger"]


class OnceTrigger:
    """Fires at its first call, whenever that is; with ``call_on_resume``, also at the first
    call after a resume.

    A resumed run rebuilds its triggers and loads their state: the loaded state says that
    the first call is past, while ``call_on_resume`` comes from the constructor, so the
    rebuilt trigger fires once more.

    Args:
        call_on_resume: whether to fire again at the first call of a resumed run.

    Attributes:
        finished: whether it will never fire again.
    """

    def __init__(self, call_on_resume: bool = False) -> None:
        self.call_on_resume = call_on_resume
        self._flag_first = True
        self._flag_resumed = call_on_resume

    @property
    def finished(self) -> bool:
        return not (self._flag_first or self._flag_resumed)

    def __call__(self, trainer: Trainer | Engine | None = None, event: int | None = None) -> bool:
        """True at the first call (and the first after a resume with ``call_on_resume``)."""
        fire = not self.finished
        self._flag_first = self._flag_resumed = False
        return fire

    def state_dict(self) -> dict[str, Any]:
        return {"flag_first": self._flag_first}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "flag_first" in state:
            self._flag_first = bool(state["flag_first"])
            return
        warnings.warn(
            "OnceTrigger's first-call flag was not saved: it takes the first call as past, "
            "which is wrong if the run was saved before the trigger was ever called"
        )
        self._flag_first = False

    def __repr__(self) -> str:
        return f"OnceTrigger(call_on_resume={self.call_on_resume!r})"
