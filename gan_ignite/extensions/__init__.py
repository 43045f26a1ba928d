"""Extensions: things a trainer does now and then (Chainer's ``training.extensions``).

Each module holds one concern: :class:`LogReport`, :class:`PrintReport`,
:class:`ProgressBar`, :class:`Snapshot` (and resuming), :class:`SampleGrid`,
:class:`TensorBoardReport`, :class:`PlotReport`, :class:`ReconstructionGrid`,
:class:`ClassifierAccuracy`, :class:`Evaluation` (sample quality), :class:`FiniteGuard` (NaN/inf stops
the run), :class:`TrainingHealth` (a winning D, collapsing samples), :class:`DivergenceCheck` (both), :class:`EMA`,
and the ones Chainer and pytorch-pfn-extras users know: :class:`Evaluator` (a model over a validation
loader), :func:`snapshot_object`, the learning-rate shifts (:class:`ExponentialShift`, :class:`LinearShift`,
:class:`MultistepShift`, :class:`WarmupShift`, :class:`LRScheduler` for any torch or Ignite scheduler),
:func:`observe_value`, :func:`observe_lr`, :class:`FailOnNonNumber`, :class:`MicroAverage`,
:class:`ParameterStatistics`. Write your own with :func:`make_extension` or by subclassing
:class:`Extension`; ``docs/extensions.md`` states the contract.
"""

from gan_ignite.extensions.accuracy import ClassifierAccuracy, classifier_accuracy
from gan_ignite.extensions.extension import (
    PRIORITY_EDITOR,
    PRIORITY_READER,
    PRIORITY_SNAPSHOT,
    PRIORITY_WRITER,
    Extension,
    make_extension,
)
from gan_ignite.extensions.divergence import DivergenceCheck
from gan_ignite.extensions.finite_guard import PRIORITY_CHECK, FiniteGuard
from gan_ignite.extensions.ema import EMA, ema_momentum
from gan_ignite.extensions.evaluation import Evaluation
from gan_ignite.extensions.evaluator import Evaluator
from gan_ignite.extensions.fail_on_non_number import FailOnNonNumber
from gan_ignite.extensions.images import SampleGrid, generate
from gan_ignite.extensions.log_report import LogReport
from gan_ignite.extensions.lr_scheduler import LRScheduler
from gan_ignite.extensions.micro_average import MicroAverage
from gan_ignite.extensions.observation import observe_lr, observe_value
from gan_ignite.extensions.parameter_statistics import ParameterStatistics
from gan_ignite.extensions.print_report import PrintReport
from gan_ignite.extensions.plot import PlotReport
from gan_ignite.extensions.progress_bar import ProgressBar
from gan_ignite.extensions.reconstructions import ReconstructionGrid
from gan_ignite.extensions.shifts import ExponentialShift, LinearShift, MultistepShift, Shift, WarmupShift
from gan_ignite.extensions.snapshot import Snapshot, latest_checkpoint, load_snapshot, snapshot
from gan_ignite.extensions.snapshot_object import SnapshotObject, snapshot_object
from gan_ignite.extensions.tensorboard import TensorBoardReport
from gan_ignite.extensions.training_health import TrainingHealth

__all__ = [
    "Extension",
    "make_extension",
    "PRIORITY_WRITER",
    "PRIORITY_EDITOR",
    "PRIORITY_READER",
    "PRIORITY_SNAPSHOT",
    "PRIORITY_CHECK",
    "LogReport",
    "PrintReport",
    "ProgressBar",
    "Snapshot",
    "snapshot",
    "latest_checkpoint",
    "load_snapshot",
    "SampleGrid",
    "generate",
    "TensorBoardReport",
    "PlotReport",
    "ReconstructionGrid",
    "Evaluation",
    "ClassifierAccuracy",
    "classifier_accuracy",
    "DivergenceCheck",
    "FiniteGuard",
    "TrainingHealth",
    "EMA",
    "ema_momentum",
    "Evaluator",
    "SnapshotObject",
    "snapshot_object",
    "ExponentialShift",
    "LinearShift",
    "MultistepShift",
    "WarmupShift",
    "Shift",
    "LRScheduler",
    "observe_value",
    "observe_lr",
    "FailOnNonNumber",
    "MicroAverage",
    "ParameterStatistics",
]
