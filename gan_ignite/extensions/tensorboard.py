"""TensorBoard: the observations as scalars, sample grids as images, and the run's settings.

Written through Ignite's ``TensorboardLogger`` into ``out/tb``. Ignite's
``OutputHandler`` prefixes a tag to every key (``tag/dis/loss``); the run-directory
contract wants each key under exactly its own name, so this extension writes through the
logger's ``SummaryWriter`` itself. What each TensorBoard dashboard shows:

- *Scalars*: every observation key, as means over the extension's interval (as in the
  log), at the global step of the interval's last iteration.
- *Images*: every grid in ``trainer.images`` (the fixed-noise samples), when made.
- *Text*: the run's settings as a markdown table, tag ``config``.
- *HParams*: the same settings as hyperparameters, beside the last value of each metric
  scalar (``gen/loss`` ... ``eval/fid``): the final metrics, run against run.
- *Custom Scalars*: several keys on one chart (D(x) and D(G(z)); the two losses).
- *Histograms*: every weight of the models every ``histogram_interval`` iterations.

The text, hparams and layout describe the whole run: they are written once, at step 0
when the run starts, not again when it resumes (a resumed run's logger purges only the
steps after its checkpoint, so they stay). The hparams summaries go into this same
folder, not into the timestamped sub-run ``SummaryWriter.add_hparams`` makes, so that
``tensorboard --logdir result/`` over runs ``result/a``, ``result/b`` shows one session
(``a/tb``, ``b/tb``) per run, its metrics being its own scalars. As with ``add_hparams``,
the session's end (status "success") is written with its start: the status says nothing
of how the run ended, the metrics' steps do.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from torch import nn

from gan_ignite.distributed import unwrap
from gan_ignite.errors import UsageError
from gan_ignite.extensions._interval import IntervalMeans
from gan_ignite.extensions.extension import PRIORITY_READER, Extension
from gan_ignite.run_dir import TB
from gan_ignite.triggers import TriggerLike

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

    from gan_ignite.trainer import Trainer

__all__ = ["TensorBoardReport", "GAN_METRICS", "GAN_CHARTS", "CONFIG_TAG", "config_table", "hparam_values",
           "custom_scalars_layout"]

# The metrics of the HParams dashboard: the observation keys every GAN step reports.
GAN_METRICS = ("gen/loss", "dis/loss", "dis/real", "dis/fake")
# Custom-scalars charts, title -> the keys drawn together.
GAN_CHARTS: Mapping[str, Sequence[str]] = {
    "D(x) and D(G(z))": ("dis/real", "dis/fake"),
    "losses": ("gen/loss", "dis/loss"),
}
CONFIG_TAG = "config"
_LAYOUT_CATEGORY = "GAN"

HParam = bool | int | float | str


class TensorBoardReport(Extension):
    """Logs observation means, ``trainer.images``, the settings and weight histograms to TensorBoard.

    Args:
        trigger: how often to write the scalars, e.g. ``(10, 'iteration')``.
        log_dir: the folder inside the trainer's ``out`` directory.
        config: the run's settings (a mapping, or a config dataclass), shown as text and
            hparams; ``None`` writes neither.
        metrics: the scalar keys the HParams dashboard lists beside the settings.
        models: the networks whose weights go into histograms, by name (a
            ``DistributedDataParallel`` wrapper is looked through); ``None``:
            ``trainer.models``.
        histogram_interval: iterations between histograms (0: none).
        charts: custom-scalars charts, title -> the keys drawn on it; empty: no layout.
    """

    trigger = (1, "iteration")  # observe every iteration; write on ``self._trigger``
    priority = PRIORITY_READER

    def __init__(
        self,
        trigger: TriggerLike = (10, "iteration"),
        log_dir: str = TB,
        *,
        config: Mapping[str, Any] | Any | None = None,
        metrics: Sequence[str] = GAN_METRICS,
        models: Mapping[str, nn.Module] | None = None,
        histogram_interval: int = 0,
        charts: Mapping[str, Sequence[str]] = GAN_CHARTS,
    ) -> None:
        if isinstance(histogram_interval, bool) or not isinstance(histogram_interval, int) or histogram_interval < 0:
            raise UsageError(f"Argument `histogram_interval` should be zero (none) or a positive number of "
                             f"iterations, but given {histogram_interval!r}")
        self._means = IntervalMeans(trigger)
        self.log_dir = log_dir
        self.config = _as_mapping(config)
        self.metrics = list(metrics)
        self.models = None if models is None else dict(models)
        self.histogram_interval = histogram_interval
        self.charts = dict(charts)
        self._logger = None

    def initialize(self, trainer: Trainer) -> None:
        from ignite.handlers import TensorboardLogger

        step = trainer.iteration
        # purge_step: a resumed run drops the events a killed run wrote after its checkpoint.
        kwargs = {"purge_step": step + 1} if step else {}
        self._logger = TensorboardLogger(log_dir=str(trainer.out / self.log_dir), **kwargs)
        if self.models is None:
            self.models = dict(trainer.models)
        if not step:  # a resumed run has them from its start
            self._write_run_summaries(self._logger.writer)

    def __call__(self, trainer: Trainer) -> None:
        writer = self._logger.writer
        step = trainer.iteration
        for name, image in trainer.images.items():
            writer.add_image(name, image, step)
        self._means.add(trainer.observation)
        for key, value in (self._means.end(trainer) or {}).items():
            writer.add_scalar(key, value, step)
        if self.histogram_interval and step and step % self.histogram_interval == 0:
            self._write_histograms(writer, step)

    def _write_run_summaries(self, writer: SummaryWriter) -> None:
        """The text, hparams and custom-scalars layout of the run, at step 0."""
        from torch.utils.tensorboard.summary import hparams

        if self.config is not None:
            writer.file_writer.add_summary(_text_summary(CONFIG_TAG, config_table(self.config)), 0)
            # No add_hparams: it writes into a new timestamped folder, a run of its own.
            for summary in hparams(hparam_values(self.config), dict.fromkeys(self.metrics, 0.0)):
                writer.file_writer.add_summary(summary, 0)
        if self.charts:
            writer.add_custom_scalars(custom_scalars_layout(self.charts))
        writer.flush()  # a run killed before the writer's own flush resumes without them

    def _write_histograms(self, writer: SummaryWriter, step: int) -> None:
        """One histogram of each parameter, tagged ``model/parameter`` (``gen/net.0.weight``)."""
        for model_name, model in (self.models or {}).items():
            for name, param in unwrap(model).named_parameters():
                # float(): NumPy has no bfloat16; the copy to the host waits for the device.
                writer.add_histogram(f"{model_name}/{name}", param.detach().float().cpu(), step)

    def finalize(self, trainer: Trainer) -> None:
        if self._logger is not None:
            self._logger.close()
            self._logger = None

    def state_dict(self) -> dict[str, Any]:
        return self._means.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._means.load_state_dict(state)


def _text_summary(tag: str, markdown: str) -> Any:
    """A text summary of one markdown document, tagged exactly ``tag``.

    ``add_text`` would tag it ``tag/text_summary`` and give it the shape ``(1,)``, which
    the text dashboard draws as a one-cell table around the document.
    """
    from torch.utils.tensorboard.summary import text

    summary = text(tag, markdown)
    value = summary.value[0]
    value.tag = tag
    value.tensor.tensor_shape.ClearField("dim")  # a scalar string: the markdown itself
    return summary


def _as_mapping(config: Mapping[str, Any] | Any | None) -> dict[str, Any] | None:
    """The settings as a dict: a config dataclass is read with ``dataclasses.asdict``."""
    if config is None:
        return None
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, Mapping):
        return dict(config)
    raise UsageError(f"Argument `config` should be a mapping of settings or a config dataclass, "
                     f"but given {type(config).__name__}")


def config_table(config: Mapping[str, Any]) -> str:
    """The settings as a two-column markdown table, one row a setting, in the config's order."""
    rows = [f"| {_cell(name)} | {_cell(value)} |" for name, value in config.items()]
    return "\n".join(["| setting | value |", "| --- | --- |", *rows])


def _cell(value: Any) -> str:
    """``value`` as text for one table cell: backslashes and pipes escaped, on one line."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def hparam_values(config: Mapping[str, Any]) -> dict[str, HParam]:
    """The settings as HParams values: numbers as they are, everything else as text.

    The plugin takes bool, number and string values only, so a tuple (``classes``)
    becomes its text. A bool too: ``torch.utils.tensorboard``'s ``hparams()`` would
    record it as the number 1.0 or 0.0 (it tests for a number first), where the text
    ``True`` or ``False`` reads as the setting does.
    """
    return {name: value if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
            for name, value in config.items()}


def custom_scalars_layout(charts: Mapping[str, Sequence[str]]) -> dict[str, dict[str, list[Any]]]:
    """``SummaryWriter.add_custom_scalars``'s layout: one category, a multiline chart per entry.

    The plugin takes each tag as a regular expression matched at the tag's start, so
    each key is escaped and anchored at its end: ``dis/real`` draws that key alone.
    """
    return {_LAYOUT_CATEGORY: {title: ["Multiline", [re.escape(key) + "$" for key in keys]]
                               for title, keys in charts.items()}}
