"""ParameterStatistics: statistics of the weights and gradients of models, reported (Chainer's, ppe's).

Every call computes, for each parameter of the models, a set of statistics of its
values and of its gradient (mean, standard deviation, min, max, number of zeros and
seven percentiles by default), and adds them to running sums; when the extension's own
trigger fires (every epoch by default) the means since the last report go into the
observation, where LogReport and TensorBoard see them, and new sums start.

Observation keys::

    {prefix}/{model}/{parameter}/{data|grad}/{statistic}[/{index}]

- ``prefix/``: only when ``prefix`` is given;
- ``model/``: the model's name, when the models come as a dict (or from
  ``trainer.models``); a single module has none, as in pytorch-pfn-extras;
- ``parameter``: its name in ``named_parameters()``, e.g. ``net.0.weight``;
- ``data`` for the values, ``grad`` for the gradient;
- ``/index``: the position, for a statistic of several values (``percentile/0`` to
  ``percentile/6``).

So ``gen/net.0.weight/data/mean``, ``dis/fc.bias/grad/percentile/3`` (the median
gradient). A parameter without a gradient yet (before its first backward pass) reports
no ``grad`` keys until it has one. The sums stay on the device between reports (a call
does not wait for the device; a report does) and are saved with the run, with the
trigger's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Union

import torch
from torch import Tensor, nn

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_WRITER, Extension
from gan_ignite.triggers import TriggerLike, get_trigger, load_trigger_state, trigger_state

if TYPE_CHECKING:
    from gan_ignite.trainer import Trainer

__all__ = ["ParameterStatistics", "percentile", "PERCENTILES"]

Statistic = Callable[[Tensor], Union[Tensor, float]]

# Chainer's: the median and the mean +- 1, 2, 3 standard deviations of a normal distribution.
PERCENTILES = (0.13, 2.28, 15.87, 50.0, 84.13, 97.72, 99.87)


def percentile(x: Tensor, q: tuple[float, ...] = PERCENTILES) -> Tensor:
    """``numpy.percentile(x, q)`` with its linear interpolation, for a 1-d tensor of any size.

    (``torch.quantile`` refuses inputs over 2**24 elements.) NaNs sort last, as in NumPy's sort.
    """
    work = x.to(torch.promote_types(x.dtype, torch.float32)).sort().values
    position = torch.tensor(q, dtype=work.dtype, device=work.device) / 100 * (len(work) - 1)
    low = position.floor().long()
    high = position.ceil().long()
    return work[low] + (work[high] - work[low]) * (position - low)


def _std(x: Tensor) -> Tensor:
    return x.std(correction=0)  # NumPy's (and Chainer's) population standard deviation


class ParameterStatistics(Extension):
    """Reports interval means of statistics of the models' parameters and gradients.

    Args:
        models: an ``nn.Module``, a dict name -> module, or ``None`` for
            ``trainer.models`` (the generator and the discriminator).
        statistics: a dict name -> function of a 1-d tensor returning a number or a
            tensor of numbers; ``'default'`` for :attr:`default_statistics`; ``None`` for
            none yet (see :meth:`register_statistics`).
        report_params: report statistics of the parameter values (``data`` keys).
        report_grads: report statistics of the gradients (``grad`` keys).
        prefix: prepended to every key, with a ``/``.
        trigger: when to report the means, every epoch by default; the extension's own
            trigger (every iteration) says when statistics are taken.
        skip_nan_params: a parameter that holds a NaN reports NaN for every statistic,
            instead of statistics computed over the NaNs.
    """

    priority = PRIORITY_WRITER
    default_name = "parameter_statistics"  # type: ignore[assignment]  # Chainer's name

    default_statistics: dict[str, Statistic] = {
        "mean": torch.mean,
        "std": _std,
        "min": torch.min,
        "max": torch.max,
        "zeros": lambda x: (x == 0).sum(),
        "percentile": percentile,
    }

    def __init__(
        self,
        models: nn.Module | Mapping[str, nn.Module] | None = None,
        statistics: Mapping[str, Statistic] | str | None = "default",
        report_params: bool = True,
        report_grads: bool = True,
        prefix: str | None = None,
        trigger: TriggerLike = (1, "epoch"),
        skip_nan_params: bool = False,
    ) -> None:
        if models is not None and not isinstance(models, (nn.Module, Mapping)):
            raise UsageError(f"Argument `models` should be an nn.Module, a dict of them or None, but given {models!r}")
        if isinstance(statistics, str) and statistics != "default":
            raise UsageError(f"Argument `statistics` should be a dict, 'default' or None, but given {statistics!r}")
        self._models = models
        self._statistics = dict(self.default_statistics if statistics == "default" else statistics or {})
        self._attrs = [attr for attr, wanted in (("data", report_params), ("grad", report_grads)) if wanted]
        self._prefix = f"{prefix}/" if prefix else ""
        self._trigger = get_trigger(trigger)
        self._skip_nan_params = skip_nan_params
        # Per (model, parameter, data | grad): the sum of its statistics' values, their keys, the count.
        self._sums: dict[str, Tensor] = {}
        self._keys: dict[str, list[str]] = {}
        self._counts: dict[str, int] = {}

    def register_statistics(self, name: str, function: Statistic) -> None:
        """Add a statistic: ``function`` takes a 1-d tensor and returns a number or a tensor of numbers."""
        if not callable(function):
            raise UsageError(f"Argument `function` should be a function of a tensor, but given {function!r}")
        self._statistics[name] = function

    def __call__(self, trainer: Trainer) -> None:
        for group, values in self._tensors(trainer):
            self._add(group, values)
        if self._trigger(trainer):
            trainer.observation.update(self._means())
            self._sums, self._keys, self._counts = {}, {}, {}

    def _tensors(self, trainer: Trainer) -> Iterator[tuple[str, Tensor]]:
        """``(key stem, flattened tensor)`` of every parameter and gradient to describe."""
        models = self._models if self._models is not None else trainer.models
        named = [("", models)] if isinstance(models, nn.Module) else [(f"{n}/", m) for n, m in models.items()]
        for model_name, model in named:
            for name, param in model.named_parameters():
                for attr in self._attrs:
                    tensor = param.detach() if attr == "data" else param.grad
                    if tensor is not None and tensor.numel():
                        yield f"{self._prefix}{model_name}{name}/{attr}", tensor.detach().flatten()

    def _add(self, group: str, x: Tensor) -> None:
        dtype = torch.float32 if x.device.type == "mps" else torch.float64  # MPS has no float64
        parts = [(name, torch.as_tensor(fn(x)).to(x.device, dtype).flatten()) for name, fn in self._statistics.items()]
        if not parts:
            return
        values = torch.cat([part for _, part in parts])
        if self._skip_nan_params:
            values = torch.where(x.isnan().any(), torch.nan, values)  # on the device: no wait for it
        if group not in self._keys:
            self._keys[group] = [f"{group}/{name}" + (f"/{i}" if len(part) > 1 else "")
                                 for name, part in parts for i in range(len(part))]
        previous = self._sums.get(group)
        self._sums[group] = values if previous is None else previous.to(values.device, values.dtype) + values
        self._counts[group] = self._counts.get(group, 0) + 1

    def _means(self) -> dict[str, float]:
        means: dict[str, float] = {}
        for group, total in self._sums.items():
            means.update(zip(self._keys[group], (total / self._counts[group]).tolist()))
        return means

    def state_dict(self) -> dict[str, Any]:
        return {
            "sums": {group: total.tolist() for group, total in self._sums.items()},
            "keys": {group: list(keys) for group, keys in self._keys.items()},
            "counts": dict(self._counts),
            "trigger": trigger_state(self._trigger),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._sums = {group: torch.tensor(total, dtype=torch.float64) for group, total in state["sums"].items()}
        self._keys = {group: list(keys) for group, keys in state["keys"].items()}
        self._counts = {group: int(count) for group, count in state["counts"].items()}
        load_trigger_state(self._trigger, state["trigger"])
