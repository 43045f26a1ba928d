"""Evaluator: the models on a validation loader, the means of what they report.

Chainer's ``extensions.Evaluator`` and pytorch-pfn-extras' ``Evaluator``: when its
trigger fires (after every epoch by default) it runs over ``loader`` with the target
networks in eval mode under ``torch.no_grad()`` (their previous modes restored after),
calling ``eval_func(*batch)`` for each batch, by default the main target's forward.
Whatever is reported during a batch (:func:`gan_ignite.reporting.report`, by the networks
themselves or by ``eval_func``) is collected in a
:func:`~gan_ignite.reporting.report_scope`; the means over the batches
(:class:`~gan_ignite.reporting.DictSummary`: a ``(value, weight)`` pair counts with its
weight, e.g. the batch size for a per-example mean) go into ``trainer.observation``::

    class Classifier(nn.Module):
        def forward(self, x, y):
            logits = self.net(x)
            report({"loss": F.cross_entropy(logits, y), "accuracy": (logits.argmax(1) == y).float().mean()}, self)
            return logits, y

    trainer.extend(Evaluator(val_loader, classifier, metrics={"acc": Accuracy()}))
    # trainer.observation gets "validation/main/loss", "validation/main/accuracy", "validation/acc"

Names follow Chainer's: a single target is registered as ``"main"`` (a mapping keeps its
names), each target and its submodules are observers (``main``, ``main/net``), and every
key gets the ``prefix`` (``validation/main/loss``). Unlike Chainer, keys reported without
an observer get the prefix too (``report({"loss": l})`` in ``eval_func`` gives
``validation/loss``, never a bare ``loss`` beside the training loss), and the prefix is
the ``prefix`` argument, not the name the extension is registered under.

Ignite metrics (``metrics={"acc": Accuracy()}``) are computed by a real Ignite evaluation
``Engine`` (:attr:`Evaluator.engine`) that runs the loop: its output for a batch is what
``eval_func`` returns, so give a metric the ``output_transform`` that makes
``(y_pred, y)`` of it, or have ``eval_func`` return that pair. Scalar results go into the
observation (``validation/acc``); all of them stay in ``evaluator.engine.state.metrics``.

The priority is ``PRIORITY_WRITER``: a :class:`~gan_ignite.extensions.LogReport` firing
after the same iteration sees the values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from numbers import Number
from typing import TYPE_CHECKING, Any

import torch
from ignite.engine import Engine
from ignite.metrics import Metric
from ignite.utils import convert_tensor
from torch import nn

from gan_ignite.errors import UsageError, quiet_engine_echo
from gan_ignite.extensions.extension import PRIORITY_WRITER, Extension
from gan_ignite.reporting import DictSummary, Reporter, report, report_scope

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["Evaluator"]


class Evaluator(Extension):
    """Evaluates target networks on a loader and reports the means, prefixed by ``prefix``.

    Args:
        loader: the validation data, an iterable of batches (a ``DataLoader``); it is
            iterated once per evaluation.
        target: the network to evaluate (registered as ``"main"``), or a mapping of
            names to networks (``{"gen": gen, "dis": dis}``).
        eval_func: called with each batch: ``eval_func(*batch)`` for a tuple or list,
            ``eval_func(**batch)`` for a dict, ``eval_func(batch)`` otherwise. By
            default the ``"main"`` target itself. It reports what it measures; what it
            returns is the evaluation engine's output, which metrics read.
        metrics: Ignite metrics by name, e.g. ``{"acc": Accuracy()}``, attached to
            :attr:`engine`.
        prefix: prepended to every key with a ``/`` (``""`` for none).
        device: where batches are moved before ``eval_func`` (tensors in tuples, lists
            and dicts too); ``None`` leaves them as the loader gives them.
        eval_hook: called as ``eval_hook(evaluator)`` before each evaluation (Chainer's:
            e.g. to reset a stateful network).

    Attributes:
        engine: the Ignite ``Engine`` that runs the evaluation loop.
        metrics: the metrics by name.
    """

    trigger = (1, "epoch")
    priority = PRIORITY_WRITER

    def __init__(
        self,
        loader: Iterable[Any],
        target: nn.Module | Mapping[str, nn.Module],
        eval_func: Callable[..., Any] | None = None,
        metrics: Mapping[str, Metric] | None = None,
        prefix: str = "validation",
        *,
        device: str | torch.device | None = None,
        eval_hook: Callable[[Evaluator], None] | None = None,
    ) -> None:
        _check_loader(loader)
        self._targets = _targets(target)
        if eval_func is None and "main" not in self._targets:
            given = ", ".join(self._targets) or "none"
            raise UsageError(f"Argument `eval_func` is needed when `target` has no 'main' network "
                             f"(targets given: {given}); pass eval_func, or name a target 'main'")
        if eval_func is not None and not callable(eval_func):
            raise UsageError(f"Argument `eval_func` should be a callable, but given {type(eval_func).__name__}")
        if not isinstance(prefix, str) or prefix.startswith("/") or prefix.endswith("/"):
            raise UsageError(f"Argument `prefix` should be a name such as 'validation' (no leading or trailing '/'), "
                             f"but given {prefix!r}")
        self.loader = loader
        self.eval_func = eval_func if eval_func is not None else self._targets["main"]
        self.metrics = _metrics(metrics)
        self.prefix = prefix
        self.device = device
        self.eval_hook = eval_hook
        self._summary = DictSummary()
        self.engine = Engine(self._step)
        quiet_engine_echo(self.engine.logger)  # a user error is reported once, by whoever catches it
        for name, metric in self.metrics.items():
            metric.attach(self.engine, name)

    @property
    def default_name(self) -> str:
        """The prefix (Chainer's default name, ``"validation"``), so evaluators of other prefixes register apart."""
        return self.prefix or "validation"

    def get_target(self, name: str) -> nn.Module:
        """The target network registered under ``name``."""
        return self._targets[name]

    def get_all_targets(self) -> dict[str, nn.Module]:
        """Every target network, by name."""
        return dict(self._targets)

    def __call__(self, trainer: Trainer | None = None) -> dict[str, float]:
        """Evaluate, and put the prefixed means into ``trainer.observation``.

        Without a trainer (a call by hand, as Chainer allows) the means are reported to
        the reporter in scope, if any.

        Returns:
            the prefixed means (``{"validation/main/loss": 0.31, ...}``).
        """
        reporter = Reporter()
        for name, target in self._targets.items():
            reporter.add_observer(name, target)
            reporter.add_observers(name + "/", ((n, m) for n, m in target.named_modules() if n))
        with reporter.scope({}):
            means = self.evaluate()
        result = {f"{self.prefix}/{key}" if self.prefix else key: value for key, value in means.items()}
        if trainer is None:
            report(result)
        else:
            trainer.observation.update(result)
        return result

    def evaluate(self) -> dict[str, float]:
        """Run the loop once and return the unprefixed means and metrics.

        Values are reported to the reporter in scope (its observer names apply), each
        batch into an observation of its own, so nothing reaches the reporter's
        observation; :meth:`__call__` sets up the targets' names.

        Raises:
            UsageError: a metric has the name of a reported value.
        """
        if self.eval_hook is not None:
            self.eval_hook(self)
        self._summary = DictSummary()
        with _eval_mode(self._modules()), torch.no_grad():
            state = self.engine.run(self.loader, max_epochs=1)
        means = self._summary.compute_mean()
        for name in self.metrics:
            if name in means:
                raise UsageError(f"The metric {name!r} has the name of a value reported during evaluation; "
                                 f"give the metric another name")
            value = state.metrics[name]
            if isinstance(value, torch.Tensor) and value.ndim == 0:
                value = value.item()
            if isinstance(value, Number) and not isinstance(value, bool):
                means[name] = float(value)  # type: ignore[arg-type]
        return means

    def _step(self, engine: Engine, batch: Any) -> Any:
        if self.device is not None:
            batch = convert_tensor(batch, device=self.device)
        observation: dict[str, Any] = {}
        with report_scope(observation):
            output = _call(self.eval_func, batch)
        self._summary.add(observation)
        return output

    def _modules(self) -> list[nn.Module]:
        modules = list(self._targets.values())
        if isinstance(self.eval_func, nn.Module) and all(self.eval_func is not m for m in modules):
            modules.append(self.eval_func)
        return modules


def _call(fn: Callable[..., Any], batch: Any) -> Any:
    """``fn`` applied to a batch as pytorch-pfn-extras does (a namedtuple is one argument)."""
    if isinstance(batch, (tuple, list)) and not hasattr(batch, "_fields"):
        return fn(*batch)
    if isinstance(batch, Mapping):
        return fn(**batch)
    return fn(batch)


@contextlib.contextmanager
def _eval_mode(modules: list[nn.Module]) -> Iterator[None]:
    """Eval mode for the block, each module's previous mode (and its submodules') restored after."""
    modes = [(m, m.training) for module in modules for m in module.modules()]
    try:
        for module in modules:
            module.eval()
        yield
    finally:
        for m, training in modes:
            m.training = training


def _check_loader(loader: Any) -> None:
    if isinstance(loader, Mapping) or not isinstance(loader, Iterable):
        raise UsageError(f"Argument `loader` should be an iterable of batches (a DataLoader), "
                         f"but given {type(loader).__name__}")
    try:
        empty = len(loader) == 0  # type: ignore[arg-type]
    except TypeError:  # an iterable without a length: Ignite runs it until it is exhausted
        return
    if empty:
        raise UsageError("Argument `loader` should give at least one batch, but it is empty")


def _targets(target: Any) -> dict[str, nn.Module]:
    targets = {"main": target} if isinstance(target, nn.Module) else target
    if not isinstance(targets, Mapping) or not all(
        isinstance(name, str) and name and "/" not in name and isinstance(module, nn.Module)
        for name, module in targets.items()
    ):
        raise UsageError(f"Argument `target` should be a torch.nn.Module or a mapping of names (without '/') to "
                         f"modules, but given {type(target).__name__}")
    return dict(targets)


def _metrics(metrics: Any) -> dict[str, Metric]:
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping) or not all(
        isinstance(name, str) and name and isinstance(metric, Metric) for name, metric in metrics.items()
    ):
        raise UsageError(f"Argument `metrics` should be a mapping of names to Ignite metrics, e.g. "
                         f"{{'acc': Accuracy()}}, but given {metrics!r}")
    return dict(metrics)
