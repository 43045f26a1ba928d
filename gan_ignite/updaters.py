"""The GAN update step: one Ignite process function for every GAN variant.

Chainer users wrote ``StandardUpdater.update_core`` once per GAN variant; here one
:class:`GANUpdater` runs the discriminator and generator steps and a pluggable
:class:`~gan_ignite.losses.GANLoss` decides what they minimise. The updater is an Ignite
process function: ``Engine(updater)`` trains, and each call returns the iteration's
*observation*, a flat dict (``dis/loss``, ``gen/loss``, ``dis/real``, ``dis/fake`` and
any extra term a loss reports) of floats on the CPU and of 0-d tensors on an accelerator,
which extensions turn into numbers at their own interval: the step never waits for the
device.

In a run of several processes the networks come wrapped in ``DistributedDataParallel``
(:func:`ignite.distributed.auto_model`): each process steps on its own batch and the
wrappers average the gradients. The generator step's discriminator forward goes around
D's wrapper: D's parameters are frozen there, so the wrapper has nothing to reduce, and
going around it saves what it does on every call (broadcast D's batch-norm buffers,
prepare its reducer; ``benchmarks/distributed.py`` measures both routes). Every process draws the noise of the *global* batch from
the shared RNG (all processes are seeded alike) and takes its own rows, as the sampler
deals the data (every ``N``-th from its rank on), so that ``N`` processes of batch ``B``
see the real images, noise and random draws that one process of batch ``N*B`` would,
and every process's RNG stays in step with the main process's, whose checkpoint holds it.

The hot path does what a hand-written loop does: one generated batch per iteration,
shared by both steps; optionally autocast (:mod:`gan_ignite.precision`) and
``channels_last`` batches. It knows nothing of logging or files; extensions read the
observation.

With DiffAugment (:mod:`gan_ignite.augment`) every image D sees goes through the same
random transform family first, real and generated, in both steps; the generator's
gradient flows through it. Terms that need the batches (a gradient penalty, R1, feature
matching) receive the images as D saw them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ignite.distributed as idist
import torch
from torch import Tensor, nn

from gan_ignite.augment import DiffAugment
from gan_ignite.distributed import unwrap
from gan_ignite.errors import UsageError
from gan_ignite.losses import GANLoss, StepInputs, merge_terms
from gan_ignite.precision import MixedPrecision

__all__ = ["GANUpdater", "make_gan_step", "DIS_BATCHES"]

DIS_BATCHES = ("separate", "joint")

NoiseFn = Callable[[int], Tensor]


class GANUpdater:
    """One training iteration: a discriminator step, then (every ``n_dis``-th) a generator step.

    Each iteration consumes one batch of real images. The discriminator is updated on it
    every iteration; the generator every ``n_dis``-th iteration (WGAN-style ratios), so
    ``gen/*`` keys appear only in the observations of iterations that updated it.

    In an iteration that updates both, one batch is generated and serves both steps
    (``reuse_fake``, the default): the discriminator step sees it detached, the generator
    step backpropagates through the same forward pass after the discriminator has
    stepped, as the PyTorch DCGAN tutorial and Chainer's DCGAN example do. It saves one
    generator forward per iteration, and the generator's batch norm sees each batch once.
    ``reuse_fake=False`` draws fresh noise for the generator step (the two-forward form
    of Goodfellow et al.'s algorithm): independent samples for the two steps, at the cost
    of that forward. Iterations that update only the discriminator generate under
    ``no_grad``.

    The discriminator sees the real and generated batches either ``separate``ly (two
    forward passes, so batch norm normalises each batch on its own statistics, the DCGAN
    recipe) or ``joint``ly (one concatenated batch, shared statistics).

    Args:
        gen: generator, (N, z_dim) noise -> (N, C, H, W) images (or its
            ``DistributedDataParallel`` wrapper; ``models`` and ``to_save`` give the network inside).
        dis: discriminator, images -> outputs the loss understands (logits (N,) for ``gan``), or its wrapper.
        opt_gen: optimizer of ``gen``'s parameters.
        opt_dis: optimizer of ``dis``'s parameters.
        loss: the variant's :class:`~gan_ignite.losses.GANLoss`.
        z_dim: size of the generator's noise vector (standard normal noise).
        n_dis: discriminator steps per generator step.
        dis_batches: ``"separate"`` or ``"joint"``.
        device: where batches and noise go; models are expected to be there already.
        reuse_fake: one generated batch for both steps (see above).
        amp: ``"off"``, ``"bf16"`` or ``"fp16"`` autocast (:class:`~gan_ignite.precision.MixedPrecision`).
        channels_last: hand the networks real batches in ``channels_last`` memory format
            (the networks should be converted too: ``model.to(memory_format=torch.channels_last)``).
        host_observation: return floats (one host sync per iteration) rather than 0-d
            tensors; by default floats on the CPU, where a sync costs nothing, tensors elsewhere.
        augment: the :class:`~gan_ignite.augment.DiffAugment` of every image D sees
            (``None``: none); its draws come from torch's global RNG, which checkpoints save.
    """

    def __init__(
        self,
        gen: nn.Module,
        dis: nn.Module,
        opt_gen: torch.optim.Optimizer,
        opt_dis: torch.optim.Optimizer,
        loss: GANLoss,
        *,
        z_dim: int,
        n_dis: int = 1,
        dis_batches: str = "separate",
        device: str | torch.device = "cpu",
        reuse_fake: bool = True,
        amp: str = "off",
        channels_last: bool = False,
        host_observation: bool | None = None,
        augment: DiffAugment | None = None,
    ) -> None:
        if n_dis < 1:
            raise UsageError(f"Argument `n_dis` should be a positive integer, but given {n_dis}")
        if dis_batches not in DIS_BATCHES:
            raise UsageError(
                f"Argument `dis_batches` should be one of {', '.join(DIS_BATCHES)}, but given {dis_batches!r}"
            )
        self.gen, self.dis = gen, dis
        self.opt_gen, self.opt_dis = opt_gen, opt_dis
        self.loss = loss
        self.z_dim = z_dim
        self.n_dis = n_dis
        self.dis_batches = dis_batches
        self.device = torch.device(device)
        self.reuse_fake = reuse_fake
        self.precision = MixedPrecision(amp, self.device, ("gen", "dis"))
        self.memory_format = torch.channels_last if channels_last else torch.preserve_format
        self.host_observation = self.device.type == "cpu" if host_observation is None else host_observation
        self.rank, self.world_size = idist.get_rank(), idist.get_world_size()
        self.augment = augment

    @property
    def models(self) -> dict[str, nn.Module]:
        """The networks by name, as the trainer shows them (``trainer.models``)."""
        return {"gen": unwrap(self.gen), "dis": unwrap(self.dis)}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers by their network's name (``trainer.updater.get_optimizer('gen')``)."""
        return {"gen": self.opt_gen, "dis": self.opt_dis}

    @property
    def to_save(self) -> dict[str, Any]:
        """Everything of the step that a checkpoint must hold: models, optimizers, fp16 gradient scalers."""
        return {**self.models, "opt_gen": self.opt_gen, "opt_dis": self.opt_dis, **self.precision.to_save}

    def sample_noise(self, n: int) -> Tensor:
        """(n, z_dim) standard normal noise on the updater's device, from torch's global RNG.

        With several processes: this process's ``n`` rows of the global batch's noise.
        """
        return self._own_rows(lambda m: torch.randn(m, self.z_dim, device=self.device), n)

    def sample_uniform(self, n: int) -> Tensor:
        """(n,) uniform draws from [0, 1) on the updater's device (a gradient penalty's
        interpolation weights), from torch's global RNG; with several processes, this process's rows."""
        return self._own_rows(lambda m: torch.rand(m, device=self.device), n)

    def _own_rows(self, draw: Callable[[int], Tensor], n: int) -> Tensor:
        if self.world_size == 1:
            return draw(n)
        # Every world_size-th row from its rank on, as the sampler deals the data: the
        # processes' rows then pair real images, noise and draws as one process would.
        return draw(n * self.world_size)[self.rank :: self.world_size]

    def seen(self, images: Tensor) -> Tensor:
        """``images`` (N, C, H, W) as D sees them: through the DiffAugment, when there is one.

        The augmentation draws each process's rows of the global batch's parameters, and
        its gathers give the step's memory format back.
        """
        if self.augment is None:
            return images
        memory_format = torch.contiguous_format if self.memory_format is torch.preserve_format else self.memory_format
        return self.augment(images, rows=self._own_rows).contiguous(memory_format=memory_format)

    def __call__(self, engine: Any, batch: Any) -> dict[str, float | Tensor]:
        real, labels = (batch[0], batch[1]) if isinstance(batch, (list, tuple)) else (batch, None)
        real = real.to(self.device, non_blocking=True, memory_format=self.memory_format)
        if labels is not None:
            labels = labels.to(self.device, non_blocking=True)
        updates_gen = engine.state.iteration % self.n_dis == 0
        fake = None
        if updates_gen and self.reuse_fake:
            with self.precision.autocast():
                fake = self.gen(self.sample_noise(len(real)))
        terms = {f"dis/{k}": v for k, v in self.update_dis(real, labels, fake).items()}
        if updates_gen:
            terms.update({f"gen/{k}": v for k, v in self.update_gen(real, fake).items()})
        return self._observation(terms)

    def update_dis(self, real: Tensor, labels: Tensor | None = None, fake: Tensor | None = None) -> dict[str, Tensor]:
        """One discriminator step on a real batch and as many generated images.

        ``fake`` is the iteration's generated batch, seen detached; without it one is
        made under ``no_grad``. Either way the step leaves no gradient in the generator.
        """
        with self.precision.autocast():
            if fake is None:
                with torch.no_grad():
                    fake = self.gen(self.sample_noise(len(real)))
            # Every image D sees enters here in the discriminator step (and in update_gen).
            real, fake = self.seen(real), self.seen(fake.detach())
            real_out, fake_out = self._discriminate(real, fake)
            terms = self.loss.discriminator(real_out, fake_out)
            inputs = StepInputs(self.dis, real, fake, labels, real_out, fake_out, draw_uniform=self.sample_uniform)
            terms = merge_terms(terms, self.loss.dis_extra(inputs))
        self.precision.minimize("dis", terms["loss"], self.opt_dis)
        terms["real"] = self.loss.dis_output(real_out)
        terms["fake"] = self.loss.dis_output(fake_out)
        return terms

    def update_gen(self, real: Tensor, fake: Tensor | None = None) -> dict[str, Tensor]:
        """One generator step through a frozen discriminator, on as many images as ``real``.

        ``fake`` is the iteration's generated batch, still attached to the generator's
        graph; without it a fresh one is generated. ``real`` serves only terms that
        compare with real data (feature matching).
        """
        # Freezing D's parameters skips their gradients: cheaper, and D's .grad stays clean.
        # D runs unwrapped: its DistributedDataParallel would have nothing to reduce.
        dis = unwrap(self.dis)
        trainable = [p for p in dis.parameters() if p.requires_grad]
        for p in trainable:
            p.requires_grad_(False)
        try:
            with self.precision.autocast():
                if fake is None:
                    fake = self.gen(self.sample_noise(len(real)))
                # The generator's gradient flows through the augmentation; terms that
                # compare with real data (feature matching) see the reals augmented too.
                fake, real = self.seen(fake), self.seen(real)
                fake_out = dis(fake)
                terms = self.loss.generator(fake_out)
                terms = merge_terms(terms, self.loss.gen_extra(StepInputs(dis, real, fake, fake_out=fake_out)))
            self.precision.minimize("gen", terms["loss"], self.opt_gen)
        finally:
            for p in trainable:
                p.requires_grad_(True)
        return terms

    def _discriminate(self, real: Tensor, fake: Tensor) -> tuple[Any, Any]:
        if self.dis_batches == "separate":
            return self.dis(real), self.dis(fake)
        out = self.dis(torch.cat([real, fake]))
        return _split(out, len(real))

    def _observation(self, terms: dict[str, Any]) -> dict[str, Any]:
        """Detached float32 0-d tensors, or floats through one host sync for the whole observation.

        A ``(value, weight)`` pair (a mean over some of the batch's examples) stays a pair;
        on the host, one of weight 0 (no such examples in the batch) is left out, unless
        several processes run: every process then reports the same keys, and the trainer
        leaves out a pair that no process had examples for.
        """
        keys, pairs = list(terms), [v if isinstance(v, tuple) else (v,) for v in terms.values()]
        values = [t.detach().float().reshape(()) for pair in pairs for t in pair]
        if self.host_observation:
            values = torch.stack(values).tolist()
        observation, i = {}, 0
        for key, pair in zip(keys, pairs):
            taken, i = values[i : i + len(pair)], i + len(pair)
            if len(pair) == 1:
                observation[key] = taken[0]
            elif not self.host_observation or taken[1] > 0 or self.world_size > 1:
                observation[key] = tuple(taken)
        return observation


def _split(out: Any, n: int) -> tuple[Any, Any]:
    """Split a joint discriminator output (a tensor or a (named) tuple of tensors) at row ``n``."""
    if isinstance(out, Tensor):
        return out[:n], out[n:]
    heads, tails = zip(*(_split(o, n) for o in out))
    if hasattr(out, "_fields"):  # a NamedTuple takes its fields as arguments
        return type(out)(*heads), type(out)(*tails)
    return type(out)(heads), type(out)(tails)


def make_gan_step(
    gen: nn.Module,
    dis: nn.Module,
    opt_gen: torch.optim.Optimizer,
    opt_dis: torch.optim.Optimizer,
    loss: GANLoss,
    **kwargs: Any,
) -> GANUpdater:
    """Build the update function of a GAN variant; see :class:`GANUpdater` for the options."""
    return GANUpdater(gen, dis, opt_gen, opt_dis, loss, **kwargs)
