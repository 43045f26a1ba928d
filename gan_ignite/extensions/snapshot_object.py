"""``snapshot_object``: one object's ``state_dict`` in a file, e.g. the generator alone.

Chainer's ``extensions.snapshot_object(target, filename)`` and pytorch-pfn-extras' (with
its ``n_retains``): where :class:`~gan_ignite.extensions.snapshot.Snapshot` saves all a
resume needs, this saves one network (or optimizer, or EMA copy) to be used elsewhere,
named by a template formatted with the trainer::

    trainer.extend(snapshot_object(gen, "gen_iter_{.updater.iteration}.pt"), trigger=(1, "epoch"))
    trainer.extend(snapshot_object(gen, "gen_best.pt"), trigger=MinValueTrigger("dis/loss", (1, "iteration")))

    gen.load_state_dict(torch.load("result/checkpoints/gen_best.pt", weights_only=True))

Each file is written as the snapshots are: by Ignite's ``DiskSaver`` (a temporary file,
then a rename), with a ``<name>.sha256`` sidecar written once the file is complete
(:func:`~gan_ignite.extensions.snapshot.verify_checkpoint` checks it). It holds tensors
and plain data only, so ``torch.load(path, weights_only=True)`` reads it.

Chainer writes the file into ``trainer.out`` itself; here it goes into the run's
``checkpoints/`` folder, because a run directory holds only the names its layout knows
(:data:`gan_ignite.run_dir.layout.ENTRIES`): ``--force`` and ``--resume`` refuse a
directory holding anything else, so that nothing a user put there is ever deleted. The
layout counts every ``checkpoints/<name>.pt`` (and its sidecar) as the run's own.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_SNAPSHOT, Extension
from gan_ignite.extensions.snapshot import SafeDiskSaver
from gan_ignite.run_dir.layout import CHECKPOINTS, OBJECT_SNAPSHOT_FILE, RESERVED_CHECKPOINT_FILE

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["SnapshotObject", "snapshot_object"]

_SEPARATORS = ("/", "\\")


class SnapshotObject(Extension):
    """Saves ``target.state_dict()`` as ``out/checkpoints/<filename.format(trainer)>``.

    Args:
        target: an object with ``state_dict()`` (a module, an optimizer), or a mapping of
            names to such objects, saved as ``{name: obj.state_dict()}``.
        filename: the file name, a template formatted with the trainer as its one
            argument (``"gen_iter_{.updater.iteration}.pt"``, ``"gen_{.epoch}.pt"``) or a
            fixed name (``"gen_best.pt"``, overwritten at each save). It must give a
            plain name ending in ``.pt`` (letters, digits, ``_ . -``), not one of the
            trainer's own snapshots (``checkpoint_<n>.pt``).
        n_retains: keep only the newest ``n_retains`` files this extension wrote
            (``None`` keeps all). Files it did not write are never deleted, even those
            the template could have made; the names it wrote are in its state, so a
            resumed run goes on rotating them.

    Raises:
        UsageError: a bad ``target``, ``filename`` or ``n_retains``; a template naming an
            attribute the trainer lacks fails at ``initialize``.
    """

    trigger = (1, "epoch")
    priority = PRIORITY_SNAPSHOT

    def __init__(self, target: Any, filename: str, n_retains: int | None = None) -> None:
        _check_target(target)
        _check_template(filename)
        if n_retains is not None and (not isinstance(n_retains, int) or isinstance(n_retains, bool) or n_retains < 1):
            raise UsageError(f"Argument `n_retains` should be a positive integer or None, but given {n_retains!r}")
        self.target = target
        self.filename = filename
        self.n_retains = n_retains
        self._written: list[str] = []  # the names this extension wrote and kept, oldest first
        self._saver: SafeDiskSaver | None = None

    @property
    def default_name(self) -> str:
        """``snapshot_object(<filename>)``: two of them register apart, and never swap states on resume."""
        return f"snapshot_object({self.filename})"

    def initialize(self, trainer: Trainer) -> None:
        self.format_name(trainer)  # a template naming a missing attribute fails now, not after an epoch

    def format_name(self, trainer: Trainer) -> str:
        """The file name for the trainer's current state.

        Raises:
            UsageError: the template names an attribute the trainer lacks, or gives a name
                that is no plain ``.pt`` file name of this extension.
        """
        try:
            name = self.filename.format(trainer)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise UsageError(
                f"Argument `filename` {self.filename!r} cannot be formatted with the trainer ({exc}); "
                f"write its fields as trainer attributes, e.g. {{.updater.iteration}}"
            ) from None
        if RESERVED_CHECKPOINT_FILE.match(name):
            raise UsageError(f"Argument `filename` gives {name!r}, the name of the trainer's own snapshots, "
                             f"which resuming reads; choose another name, e.g. gen_{name}")
        if not OBJECT_SNAPSHOT_FILE.match(name):
            raise UsageError(f"Argument `filename` should give a plain file name ending in .pt (letters, digits, "
                             f"'_', '.', '-'), but {self.filename!r} gives {name!r}")
        return name

    def __call__(self, trainer: Trainer) -> None:
        name = self.format_name(trainer)
        if self._saver is None:
            self._saver = SafeDiskSaver(trainer.out / CHECKPOINTS)
        kept = [n for n in self._written if n != name] + [name]
        doomed = kept[: -self.n_retains] if self.n_retains is not None else []
        for old in doomed:
            self._saver.remove(old)  # deleted, with its sidecar, only once the new file is in place
        self._saver(_state_of(self.target), name)
        self._written = kept[len(doomed):]

    def state_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "written": list(self._written)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # Names another template wrote are not this extension's to rotate; and a checkpoint
        # is a file anyone may have crafted: only a plain name of this extension's kind is
        # ever deleted (no path, never one of the trainer's own snapshots).
        if state.get("filename") == self.filename:
            self._written = [
                name for name in map(str, state.get("written", []))
                if OBJECT_SNAPSHOT_FILE.match(name) and not RESERVED_CHECKPOINT_FILE.match(name)
            ]


def snapshot_object(target: Any, filename: str, n_retains: int | None = None) -> SnapshotObject:
    """Chainer's ``extensions.snapshot_object(target, filename)``: a :class:`SnapshotObject`."""
    return SnapshotObject(target, filename, n_retains=n_retains)


def _state_of(target: Any) -> Any:
    if isinstance(target, Mapping):
        return {name: obj.state_dict() for name, obj in target.items()}
    return target.state_dict()


def _check_target(target: Any) -> None:
    objects = target.values() if isinstance(target, Mapping) else [target]
    lacking = [obj for obj in objects if not callable(getattr(obj, "state_dict", None))]
    if lacking or (isinstance(target, Mapping) and not target):
        raise UsageError(
            f"Argument `target` should be an object with a state_dict() (a module, an optimizer) or a non-empty "
            f"mapping of names to such objects, but given {type(lacking[0] if lacking else target).__name__}"
        )


def _check_template(filename: str) -> None:
    """What can be told of the template before the trainer exists."""
    if not isinstance(filename, str):
        raise UsageError(f"Argument `filename` should be a file name template (str), but given {filename!r}")
    try:
        parts = list(string.Formatter().parse(filename))
    except ValueError as exc:
        raise UsageError(f"Argument `filename` {filename!r} is not a valid format string ({exc})") from None
    literal = "".join(text for text, _, _, _ in parts)
    if any(sep in literal for sep in _SEPARATORS) or filename.startswith("."):
        raise UsageError(f"Argument `filename` should be a plain file name, written into the run's {CHECKPOINTS}/ "
                         f"folder, but given {filename!r}; leave out the folder")
    fields = [field for _, field, _, _ in parts if field is not None]
    # "{.updater.iteration}" or "{0.updater.iteration}": attributes of the one argument.
    if any(field.split(".")[0].split("[")[0] not in ("", "0") for field in fields):
        raise UsageError(f"Argument `filename` should name trainer attributes as {{.updater.iteration}} (the "
                         f"trainer is the one format argument), but given {filename!r}")
    if not filename.endswith(".pt"):
        raise UsageError(f"Argument `filename` should end in .pt, but given {filename!r}")
