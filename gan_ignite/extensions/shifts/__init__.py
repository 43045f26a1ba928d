"""Hyperparameter shifts: Chainer's ``ExponentialShift``, ``LinearShift``, ``MultistepShift``, ``WarmupShift``.

A *shift* sets an optimizer hyperparameter (``param_group[attr]``, usually ``'lr'``) to a
value that depends only on how many times the extension has been called, ``t``. Its
trigger says what one call is worth: every iteration by default, or
``trainer.extend(ExponentialShift('lr', 0.5), trigger=(1, 'epoch'))`` for a per-epoch
decay. The value for ``t = 0`` is set in ``initialize``, before the first iteration (so
iteration 1 already trains with it), and the value for ``t`` after the ``t``-th call.

Every param group of the target optimizer(s) is set. The target is a torch optimizer, a
name of ``trainer.optimizers`` (``'gen'``, ``'dis'``), or ``None`` for every optimizer of
the trainer: a GAN has two, and decaying both is the common case. (Chainer's default is
the updater's ``'main'`` optimizer, which a GAN does not have.) Where a starting value is
read from the optimizer (``init=None``), each param group keeps its own, so the generator
and the discriminator each decay from their own learning rate.

The state (``t``, the starting values read, the last values set) is saved with the run,
and ``initialize`` puts the last values back on resume, so a resumed run continues the
schedule exactly (Chainer's ``ExponentialShift.initialize``; here every shift does it,
and a starting value read from the optimizer is saved too: a torch optimizer's
``state_dict`` holds its learning rate, so after a resume the optimizer already holds the
shifted value, where Chainer's optimizers come back with their fresh one).

The values are computed by hand rather than with ``torch.optim.lr_scheduler`` or
Ignite's parameter schedulers: Chainer's tables (an exponential clipped at a target, a
warm-up from an absolute start, a value that stays put once reached) are not those of
any of them, and those keep state of their own that a shift would have to mirror. Use
:class:`~gan_ignite.extensions.LRScheduler` to drive them instead.

=============================  ====================================================
:class:`ExponentialShift`      ``init * rate ** t``, optionally stopping at a target
:class:`LinearShift`           linear from one value to another over a range of calls
:class:`MultistepShift`        multiplied by ``gamma`` at given calls
:class:`WarmupShift`           linear from a start to ``init`` over the first calls
:class:`Shift`                 their base: subclass it for a schedule of your own
=============================  ====================================================
"""

from gan_ignite.extensions.shifts.base import OptimizerLike, Shift, target_optimizers
from gan_ignite.extensions.shifts.exponential_shift import ExponentialShift
from gan_ignite.extensions.shifts.linear_shift import LinearShift
from gan_ignite.extensions.shifts.multistep_shift import MultistepShift
from gan_ignite.extensions.shifts.warmup_shift import WarmupShift

__all__ = [
    "ExponentialShift",
    "LinearShift",
    "MultistepShift",
    "WarmupShift",
    "Shift",
    "OptimizerLike",
    "target_optimizers",
]
