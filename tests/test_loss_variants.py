"""The GAN variants of ``gan_ignite.losses``: LSGAN, EBGAN (+ pull-away), hinge, WGAN-GP,
feature matching and the K+1-class semi-supervised GAN, against hand computations and
brute-force references, then each one inside the real update step."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.testing import assert_close

from gan_ignite.errors import UsageError
from gan_ignite.losses import (
    LOSSES,
    EBGANLoss,
    EnergyOutput,
    FeatureMatching,
    GANLoss,
    HingeLoss,
    LSGANLoss,
    NonSaturatingLoss,
    SemiSupervisedLoss,
    StepInputs,
    WGANGPLoss,
    ebgan_dis_loss,
    ebgan_gen_loss,
    feature_matching_loss,
    get_loss,
    gradient_penalty,
    hinge_dis_loss,
    labelled_accuracy,
    lsgan_dis_loss,
    lsgan_gen_loss,
    pull_away_term,
    real_vs_fake_logits,
    supervised_cross_entropy,
    wasserstein_dis_loss,
    wasserstein_gen_loss,
)
from gan_ignite.updaters import make_gan_step


def t(values, **kwargs):
    return torch.tensor(values, **kwargs)


# --- LSGAN, hinge, WGAN, EBGAN margin: hand computations --------------------------------


def test_lsgan_losses_match_hand_computation():
    real, fake = [0.5, -1.0], [2.0, 0.0, -3.0]
    # (a, b, c) = (0, 1, 1): ½·((0.5-1)² + (-1-1)²)/2 + ½·(2² + 0² + 3²)/3
    assert_close(lsgan_dis_loss(t(real), t(fake), a=0.0, b=1.0), t(0.5 * (0.25 + 4.0) / 2 + 0.5 * 13.0 / 3))
    assert_close(lsgan_gen_loss(t(fake), c=1.0), t(0.5 * (1.0 + 1.0 + 16.0) / 3))
    # (a, b, c) = (-1, 1, 0): ½·(0.25 + 4)/2 + ½·(3² + 1² + 2²)/3, G: ½·(4 + 0 + 9)/3
    loss = LSGANLoss(a=-1, b=1, c=0)
    assert_close(loss.discriminator(t(real), t(fake))["loss"], t(0.5 * 4.25 / 2 + 0.5 * 14.0 / 3))
    assert_close(loss.generator(t(fake))["loss"], t(0.5 * 13.0 / 3))
    assert_close(loss.dis_output(t(real)), t(-0.25))  # raw scores, no sigmoid


def test_hinge_losses_match_hand_computation():
    real, fake = t([0.5, -1.0, 2.0]), t([-2.0, 0.3])
    # real: relu(0.5) + relu(2) + relu(-1) = 2.5; fake: relu(-1) + relu(1.3) = 1.3
    assert_close(hinge_dis_loss(real, fake), t(2.5 / 3 + 1.3 / 2))
    loss = HingeLoss()
    assert_close(loss.discriminator(real, fake)["loss"], t(2.5 / 3 + 1.3 / 2))
    assert_close(loss.generator(fake)["loss"], t(0.85))


def test_wasserstein_losses_match_hand_computation():
    real, fake = t([0.5, -1.0, 2.0]), t([-2.0, 0.3])
    assert_close(wasserstein_dis_loss(real, fake), t(-0.85 - 0.5))
    assert_close(wasserstein_gen_loss(fake), t(0.85))
    loss = WGANGPLoss()
    assert_close(loss.discriminator(real, fake)["loss"], t(-1.35))
    assert_close(loss.generator(fake)["loss"], t(0.85))


def test_ebgan_margin_losses_match_hand_computation():
    real, fake = t([0.2, 0.4]), t([0.5, 1.5, 0.9])
    # E[D(x)] = 0.3; max(0, 1 - e) = 0.5, 0, 0.1 -> mean 0.2
    assert_close(ebgan_dis_loss(real, fake, margin=1.0), t(0.5))
    assert_close(ebgan_dis_loss(real, fake, margin=2.0), t(0.3 + (1.5 + 0.5 + 1.1) / 3))
    assert_close(ebgan_gen_loss(fake), t(2.9 / 3))


def test_ebgan_loss_object_reports_pull_away_even_without_weight():
    energy = t([0.5, 1.5, 1.0], requires_grad=True)
    # codes 0 and 1 are parallel (cos² = 1), code 2 is orthogonal to both: 2 ordered pairs of 6 -> 1/3
    codes = t([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]], requires_grad=True)
    out = EnergyOutput(energy, codes)
    weighted = EBGANLoss(margin=1.0, pt_weight=0.5).generator(out)
    assert_close(weighted["loss"], t(1.0 + 0.5 / 3))
    assert_close(weighted["pull_away"], t(1 / 3))
    assert not weighted["pull_away"].requires_grad
    plain = EBGANLoss(margin=1.0, pt_weight=0.0).generator(out)
    assert_close(plain["loss"], t(1.0))
    assert_close(plain["pull_away"], t(1 / 3))
    plain["loss"].backward()
    assert codes.grad is None  # λ = 0: the term is observed, not trained on
    assert_close(EBGANLoss().dis_output(out), t(1.0))
    real = EnergyOutput(t([0.2, 0.4]), codes.detach())
    assert_close(EBGANLoss(margin=1.0).discriminator(real, out)["loss"], t(0.3 + 0.5 / 3))


# --- pull-away term ----------------------------------------------------------------------


def pull_away_brute_force(codes):
    n = codes.shape[0]
    total = codes.new_zeros(())
    for i in range(n):
        for j in range(n):
            if i != j:
                cosine = (codes[i] @ codes[j]) / (codes[i].norm() * codes[j].norm())
                total = total + cosine**2
    return total / (n * (n - 1))


@pytest.mark.parametrize("shape", [(2, 3), (5, 4), (7, 16), (16, 2)])
def test_pull_away_term_matches_brute_force_in_value_and_gradient(shape):
    generator = torch.Generator().manual_seed(sum(shape))
    data = torch.randn(shape, generator=generator, dtype=torch.float64)
    fast_codes, slow_codes = data.clone().requires_grad_(True), data.clone().requires_grad_(True)
    fast, slow = pull_away_term(fast_codes), pull_away_brute_force(slow_codes)
    assert_close(fast, slow)
    fast.backward()
    slow.backward()
    assert_close(fast_codes.grad, slow_codes.grad)


def test_pull_away_term_is_zero_for_orthogonal_and_one_for_parallel_codes():
    assert pull_away_term(torch.eye(4)).item() == 0.0  # masked diagonal: exactly zero
    assert pull_away_term(torch.eye(3, 5) * t([[2.0], [0.5], [7.0]])).item() == 0.0
    direction = t([[0.3, -1.2, 2.0]])
    parallel = t([[1.0], [2.5], [-0.5], [10.0]]) * direction  # opposite directions count too: cos² = 1
    assert_close(pull_away_term(parallel), t(1.0))


def test_pull_away_term_is_finite_with_a_zero_row():
    codes = t([[0.0, 0.0, 0.0], [1.0, 2.0, 0.0], [1.0, 0.0, 0.0]], requires_grad=True)
    value = pull_away_term(codes)
    # The zero row's cosines count as 0; the other pair: cos² = 1/5, twice, over 3·2 pairs.
    assert_close(value, t(2 * (1 / 5) / 6))
    value.backward()
    assert torch.isfinite(codes.grad).all()


@pytest.mark.parametrize("shape", [(1, 4), (0, 4), (5,)])
def test_pull_away_term_needs_a_batch_of_two_codes(shape):
    with pytest.raises(UsageError, match=r"Argument `codes` should be a \(N, D\) batch of codes with N >= 2"):
        pull_away_term(torch.ones(shape))


# --- gradient penalty --------------------------------------------------------------------


class LinearCritic(nn.Module):
    """D(x) = w·flatten(x) + b: its input gradient is w at every x̂."""

    def __init__(self, weights):
        super().__init__()
        self.linear = nn.Linear(len(weights), 1)
        with torch.no_grad():
            self.linear.weight.copy_(t([weights]))
            self.linear.bias.fill_(0.7)

    def forward(self, x):
        return self.linear(x.flatten(1)).squeeze(1)


class SquareCritic(nn.Module):
    """D(x) = Σ x²: its input gradient is 2x̂."""

    def forward(self, x):
        return x.flatten(1).square().sum(1)


def test_gradient_penalty_of_a_linear_critic_is_exact_and_trains_it():
    weights = [0.5, -1.0, 2.0, 0.0, 0.25, 1.0]
    dis = LinearCritic(weights)
    real, fake = torch.randn(4, 2, 3), torch.randn(4, 2, 3)
    norm = math.sqrt(0.25 + 1.0 + 4.0 + 0.0 + 0.0625 + 1.0)
    penalty = gradient_penalty(dis, real, fake)
    assert_close(penalty, t((norm - 1) ** 2))
    penalty.backward()  # create_graph=True: the penalty reaches the critic's weights
    assert_close(dis.linear.weight.grad, t([[2 * (norm - 1) * w / norm for w in weights]]))


def test_gradient_penalty_of_a_quadratic_critic_with_fixed_interpolation():
    real = t([[1.0, 2.0], [0.0, -1.0], [3.0, 0.0]])
    fake = t([[-1.0, 0.0], [2.0, 2.0], [1.0, 1.0]])
    eps = t([0.25, 1.0, 0.0])
    # x̂ = ε·x + (1-ε)·G(z): [-0.5, 0.5], [0, -1], [1, 1]; ∇ = 2x̂
    norms = [2 * math.sqrt(0.5), 2 * 1.0, 2 * math.sqrt(2.0)]
    expected = sum((g - 1) ** 2 for g in norms) / 3
    assert_close(gradient_penalty(SquareCritic(), real, fake, eps=eps), t(expected))


def test_gradient_penalty_draws_eps_from_the_global_rng():
    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    torch.manual_seed(3)
    drawn = gradient_penalty(SquareCritic(), real, fake)
    torch.manual_seed(3)
    assert_close(drawn, gradient_penalty(SquareCritic(), real, fake, eps=torch.rand(5)))


def test_gradient_penalty_is_finite_where_the_critic_is_flat():
    dis = LinearCritic([0.0, 0.0, 0.0])  # zero input gradient: norm 0, penalty 1
    penalty = gradient_penalty(dis, torch.randn(3, 3), torch.randn(3, 3))
    assert_close(penalty, t(1.0))
    penalty.backward()
    assert torch.isfinite(dis.linear.weight.grad).all()


def test_gradient_penalty_checks_shapes():
    dis = SquareCritic()
    with pytest.raises(UsageError, match=r"Argument `fake` should have the shape of `real` \(3, 2\) .* given \(2, 2\)"):
        gradient_penalty(dis, torch.zeros(3, 2), torch.zeros(2, 2))
    with pytest.raises(UsageError, match=r"Argument `eps` should have shape \(3,\), but given \(3, 1\)"):
        gradient_penalty(dis, torch.zeros(3, 2), torch.zeros(3, 2), eps=torch.zeros(3, 1))


def test_wgan_gp_adds_the_weighted_penalty_and_reports_it_raw():
    weights = [3.0, 4.0]  # ‖w‖ = 5: penalty 16
    inputs = StepInputs(LinearCritic(weights), torch.randn(2, 2), torch.randn(2, 2))
    terms = WGANGPLoss(gp_weight=10.0).dis_extra(inputs)
    assert_close(terms["loss"], t(160.0))
    assert_close(terms["gp"], t(16.0))
    assert set(WGANGPLoss(gp_weight=0).dis_extra(inputs)) == {"gp"}  # observed only


# --- feature matching --------------------------------------------------------------------


class IdentityFeatures(nn.Module):
    """features(x) = x, so the expected value is the formula on the inputs themselves."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(2, 1)

    def features(self, x):
        return x

    def forward(self, x):
        return self.head(x).squeeze(1)


def test_feature_matching_loss_matches_hand_computation():
    real = t([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = t([[0.0, 0.0], [2.0, -2.0], [1.0, 1.0]], requires_grad=True)  # mean (1, -1/3)
    value = feature_matching_loss(real, fake)
    assert_close(value, t((1.0 + (10 / 3) ** 2) / 2))  # a mean over the F = 2 features
    value.backward()
    # d/dfake_j = -2 (μ_real - μ_fake) / (M F) for every row j
    assert_close(fake.grad, t([[-2 * 1.0 / 6, -2 * (10 / 3) / 6]] * 3))


def test_feature_matching_sums_over_the_features_as_the_paper_writes_it():
    real = t([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = t([[0.0, 0.0], [2.0, -2.0], [1.0, 1.0]])  # mean (1, -1/3)
    assert_close(feature_matching_loss(real, fake, "sum"), t(1.0 + (10 / 3) ** 2))
    terms = FeatureMatching(NonSaturatingLoss(), weight=2.0, reduction="sum").gen_extra(
        StepInputs(IdentityFeatures(), real, fake))
    assert_close(terms["loss"], t(2.0 * (1.0 + (10 / 3) ** 2)))


def test_feature_matching_wrapper_adds_the_weighted_term_with_real_features_fixed():
    real = t([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    fake = t([[0.0, 0.0], [2.0, -2.0], [1.0, 1.0]], requires_grad=True)
    loss = FeatureMatching(NonSaturatingLoss(), weight=0.5)
    terms = loss.gen_extra(StepInputs(IdentityFeatures(), real, fake))
    assert_close(terms["feature_matching"], t((1.0 + (10 / 3) ** 2) / 2))
    assert_close(terms["loss"], t(0.5 * (1.0 + (10 / 3) ** 2) / 2))
    terms["loss"].backward()
    assert real.grad is None and fake.grad is not None


class WithOwnTerms(NonSaturatingLoss):
    def dis_extra(self, inputs):
        return {"loss": t(1.0), "penalty": t(1.0)}

    def gen_extra(self, inputs):
        return {"loss": t(2.0), "other": t(3.0)}


def test_feature_matching_wrapper_keeps_the_base_terms():
    real, fake = t([[1.0, 2.0], [3.0, 4.0]]), t([[2.0, 3.0]])  # equal means: matching term 0
    inputs = StepInputs(IdentityFeatures(), real, fake)
    loss = FeatureMatching(WithOwnTerms(), weight=4.0)
    terms = loss.gen_extra(inputs)
    assert set(terms) == {"loss", "other", "feature_matching"}
    assert_close(terms["loss"], t(2.0))
    assert_close(terms["feature_matching"], t(0.0))
    assert loss.dis_extra(inputs) == {"loss": t(1.0), "penalty": t(1.0)}
    # Everything else is the base's: probabilities for the logistic loss, its repr inside.
    logits = t([0.0, 0.0])
    assert_close(loss.dis_output(logits), t(0.5))
    assert_close(loss.discriminator(logits, logits)["loss"], t(2 * math.log(2)))
    assert repr(loss) == "FeatureMatching(base=WithOwnTerms(), weight=4.0, reduction='mean')"


def test_feature_matching_needs_a_features_method():
    inputs = StepInputs(nn.Linear(2, 1), torch.zeros(2, 2), torch.zeros(2, 2))
    with pytest.raises(UsageError, match=r"Argument `dis` should have a `features\(x\) -> \(N, F\)` method.*Linear"):
        FeatureMatching(NonSaturatingLoss()).gen_extra(inputs)


# --- semi-supervised K+1 classes ---------------------------------------------------------


def test_real_vs_fake_logit_is_logsumexp_and_stable():
    logits = t([[0.0, 1.0, -2.0], [3.0, 3.0, 3.0]])
    expected = [math.log(1 + math.e + math.exp(-2)), 3 + math.log(3)]
    assert_close(real_vs_fake_logits(logits), t(expected))
    assert_close(real_vs_fake_logits(t([[1000.0, 1000.0]])), t([1000 + math.log(2)]))
    # D(x) = Z / (Z + 1), Z = Σ exp(l_k): the generated class has logit 0.
    z = [1 + math.e + math.exp(-2), 3 * math.exp(3)]
    assert_close(SemiSupervisedLoss(3).dis_output(logits), t(sum(v / (v + 1) for v in z) / 2))


def test_semi_supervised_unsupervised_terms_are_logistic_on_logsumexp():
    real, fake = t([[0.0, 1.0, -2.0], [3.0, 3.0, 3.0]]), t([[-1.0, -1.0, -1.0]])
    z_real = [1 + math.e + math.exp(-2), 3 * math.exp(3)]
    z_fake = 3 * math.exp(-1)
    loss = SemiSupervisedLoss(3)
    # -log D(x) = log((Z+1)/Z); -log(1 - D(G(z))) = log(Z+1)
    expected_dis = sum(math.log((z + 1) / z) for z in z_real) / 2 + math.log(z_fake + 1)
    assert_close(loss.discriminator(real, fake)["loss"], t(expected_dis))
    assert_close(loss.generator(fake)["loss"], t(math.log((z_fake + 1) / z_fake)))


def test_supervised_cross_entropy_and_accuracy_ignore_unlabelled_examples():
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    predicted = logits.detach().argmax(1)
    wrong = (predicted + 1) % 4
    # labelled rows 0, 2, 3, 5: right, wrong, right, wrong; rows 1 and 4 unlabelled
    labels = torch.stack([predicted[0], t(-1), wrong[2], predicted[3], t(-7), wrong[5]])
    labelled = t([0, 2, 3, 5])
    supervised = supervised_cross_entropy(logits, labels)
    assert_close(supervised, F.cross_entropy(logits[labelled], labels[labelled]))
    assert_close(labelled_accuracy(logits, labels), t(0.5))
    supervised.backward()
    assert (logits.grad[t([1, 4])] == 0).all()


def test_supervised_terms_are_zero_when_nothing_is_labelled():
    logits = torch.randn(3, 4, requires_grad=True)
    labels = t([-1, -1, -1])
    supervised = supervised_cross_entropy(logits, labels)
    assert_close(supervised, t(0.0))
    supervised.backward()
    assert torch.isfinite(logits.grad).all()
    assert_close(labelled_accuracy(logits, labels), t(0.0))


def test_semi_supervised_extra_term_weights_the_cross_entropy():
    logits = t([[2.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    labels = t([0, 0, -1])
    inputs = StepInputs(nn.Identity(), torch.zeros(3, 1), torch.zeros(3, 1), labels, real_out=logits)
    terms = SemiSupervisedLoss(2, supervised_weight=0.5).dis_extra(inputs)
    # CE of row 0 (label 0): log(1 + e^-2); row 1 (label 0): log(1 + e^1)
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.e)) / 2
    assert_close(terms["supervised"][0], t(expected))
    assert_close(terms["loss"], t(0.5 * expected))
    assert_close(terms["accuracy"][0], t(0.5))
    assert terms["accuracy"][1].item() == terms["supervised"][1].item() == 2  # the labelled rows


def test_semi_supervised_loss_checks_labels_and_output_shape():
    loss = SemiSupervisedLoss(3)
    with pytest.raises(UsageError, match=r"needs labelled batches \(images, labels\); mark unlabelled images"):
        loss.dis_extra(StepInputs(nn.Identity(), torch.zeros(2, 1), torch.zeros(2, 1), real_out=torch.zeros(2, 3)))
    with pytest.raises(UsageError, match=r"should output \(N, 3\) class logits for ssgan, .* shape \(2,\)"):
        loss.discriminator(torch.zeros(2), torch.zeros(2))


# --- registry and bad arguments ----------------------------------------------------------


def test_registry_builds_every_variant_by_name():
    assert list(LOSSES) == ["gan", "minimax", "lsgan", "ebgan", "hinge", "wgan-gp", "ssgan"]
    assert isinstance(get_loss("lsgan", a=-1, b=1, c=0), LSGANLoss)
    assert repr(get_loss("ebgan")) == "EBGANLoss(margin=0.3, pt_weight=0.1)"
    assert repr(get_loss("wgan-gp", gp_weight=5)) == "WGANGPLoss(gp_weight=5.0)"
    assert get_loss("ssgan", num_classes=10).num_classes == 10
    assert isinstance(get_loss("hinge"), HingeLoss)
    with pytest.raises(UsageError, match=r"should be one of gan, minimax, lsgan, ebgan, hinge, wgan-gp, ssgan, but given 'wgan'"):
        get_loss("wgan")


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: EBGANLoss(margin=-1), r"Argument `margin` should be positive, but given -1$"),
        (lambda: EBGANLoss(margin=0.0), r"Argument `margin` should be positive, but given 0.0$"),
        (lambda: EBGANLoss(pt_weight=-0.1), r"Argument `pt_weight` should be non-negative, but given -0.1$"),
        (lambda: EBGANLoss(margin="1"), r"Argument `margin` should be a finite number, but given '1'$"),
        (lambda: WGANGPLoss(gp_weight=-10), r"Argument `gp_weight` should be non-negative, but given -10$"),
        (lambda: LSGANLoss(a=1, b=1), r"Argument `b` should differ from `a` .*, but given a=b=1$"),
        (lambda: LSGANLoss(c=math.nan), r"Argument `c` should be a finite number, but given nan$"),
        (lambda: SemiSupervisedLoss(1), r"Argument `num_classes` should be an integer of at least 2, but given 1$"),
        (lambda: SemiSupervisedLoss(10, supervised_weight=-1), r"Argument `supervised_weight` should be non-negative"),
        (lambda: FeatureMatching("gan"), r"Argument `base` should be a GANLoss, but given 'gan'$"),
        (lambda: FeatureMatching(HingeLoss(), weight=-2), r"Argument `weight` should be non-negative, but given -2$"),
        (lambda: FeatureMatching(HingeLoss(), reduction="max"),
         r"Argument `reduction` should be one of mean, sum, but given 'max'$"),
        (lambda: feature_matching_loss(t([[1.0]]), t([[2.0]]), "max"),
         r"Argument `reduction` should be one of mean, sum, but given 'max'$"),
        (lambda: get_loss("ssgan"), r"Loss 'ssgan' takes num_classes, supervised_weight, .*'num_classes'"),
        (lambda: get_loss("ebgan", marign=2), r"Loss 'ebgan' takes margin, pt_weight, but given \{'marign': 2\}"),
    ],
)
def test_bad_arguments(build, message):
    with pytest.raises(UsageError, match=message):
        build()


# --- each variant inside the real update step --------------------------------------------

Z_DIM, SIDE = 4, 4


class TinyGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(Z_DIM, SIDE * SIDE), nn.Tanh(), nn.Unflatten(1, (1, SIDE, SIDE)))

    def forward(self, z):
        return self.net(z)


class TinyDiscriminator(nn.Module):
    """Images -> (N,) scores, or (N, K) class logits when ``outputs`` = K > 1."""

    def __init__(self, outputs=1):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 8), nn.LeakyReLU(0.2))
        self.head = nn.Linear(8, outputs)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        out = self.head(self.features(x))
        return out.squeeze(1) if out.shape[1] == 1 else out


class TinyAutoencoder(nn.Module):
    """EBGAN's discriminator: energy = per-sample MSE of the reconstruction, codes = encoder output."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 3))
        self.decoder = nn.Sequential(nn.Linear(3, SIDE * SIDE), nn.Tanh())

    def forward(self, x):
        codes = self.encoder(x)
        energy = (self.decoder(codes) - x.flatten(1)).square().mean(1)
        return EnergyOutput(energy, codes)


STANDARD_KEYS = {"dis/loss", "dis/real", "dis/fake", "gen/loss"}


@pytest.mark.parametrize(
    "make_loss, dis_kind, dis_batches, extra_keys",
    [
        (lambda: LSGANLoss(), "score", "separate", set()),
        (lambda: HingeLoss(), "score", "separate", set()),
        (lambda: WGANGPLoss(), "score", "separate", {"dis/gp"}),
        (lambda: EBGANLoss(), "energy", "separate", {"gen/pull_away"}),
        (lambda: EBGANLoss(pt_weight=0.0), "energy", "joint", {"gen/pull_away"}),
        (lambda: SemiSupervisedLoss(3), "classes", "separate", {"dis/supervised", "dis/accuracy"}),
        (lambda: FeatureMatching(NonSaturatingLoss()), "score", "separate", {"gen/feature_matching"}),
        (lambda: FeatureMatching(WGANGPLoss()), "score", "joint", {"dis/gp", "gen/feature_matching"}),
        (
            lambda: FeatureMatching(SemiSupervisedLoss(3)),
            "classes",
            "separate",
            {"dis/supervised", "dis/accuracy", "gen/feature_matching"},
        ),
    ],
)
def test_variant_runs_in_the_update_step(make_loss, dis_kind, dis_batches, extra_keys):
    torch.manual_seed(0)
    gen = TinyGenerator()
    dis = {"score": TinyDiscriminator, "energy": TinyAutoencoder, "classes": lambda: TinyDiscriminator(3)}[dis_kind]()
    opt_gen = torch.optim.Adam(gen.parameters(), lr=1e-3)
    opt_dis = torch.optim.Adam(dis.parameters(), lr=1e-3)
    loss: GANLoss = make_loss()
    step = make_gan_step(gen, dis, opt_gen, opt_dis, loss, z_dim=Z_DIM, dis_batches=dis_batches)
    images = torch.rand(6, 1, SIDE, SIDE) * 2 - 1
    labels = t([0, 2, -1, 1, -1, 0])  # some unlabelled, for ssgan
    dis_before = [p.detach().clone() for p in dis.parameters()]
    observation = step(SimpleNamespace(state=SimpleNamespace(iteration=1)), (images, labels))
    assert set(observation) == STANDARD_KEYS | extra_keys
    pairs = {k: v for k, v in observation.items() if isinstance(v, tuple)}  # (mean, labelled examples)
    numbers = [v for k, v in observation.items() if k not in pairs] + [x for pair in pairs.values() for x in pair]
    assert all(isinstance(v, float) and math.isfinite(v) for v in numbers)
    assert any(not torch.equal(b, a) for b, a in zip(dis_before, dis.parameters()))
    if "dis/accuracy" in extra_keys:
        assert observation["dis/accuracy"][0] in (0.0, 0.25, 0.5, 0.75, 1.0)  # of the 4 labelled images
        assert observation["dis/accuracy"][1] == observation["dis/supervised"][1] == 4.0
    if dis_kind == "energy":
        assert observation["dis/real"] >= 0 and 0 <= observation["gen/pull_away"] <= 1


def test_ssgan_observes_accuracy_weighted_by_the_labelled_examples():
    from gan_ignite.losses import SemiSupervisedLoss, StepInputs
    from gan_ignite.reporting import DictSummary

    loss = SemiSupervisedLoss(3)
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    unlabelled = loss.dis_extra(StepInputs(torch.nn.Identity(), logits, logits, torch.tensor([-1, -1]), logits))
    assert unlabelled["loss"].item() == 0.0 and unlabelled["accuracy"][1].item() == 0
    labelled = loss.dis_extra(StepInputs(torch.nn.Identity(), logits, logits, torch.tensor([0, -1]), logits))
    assert labelled["accuracy"][0].item() == 1.0 and labelled["accuracy"][1].item() == 1
    expected = torch.nn.functional.cross_entropy(logits[:1], torch.tensor([0]))
    torch.testing.assert_close(labelled["supervised"][0], expected)
    both = loss.dis_extra(StepInputs(torch.nn.Identity(), logits, logits, torch.tensor([2, 1]), logits))
    # A batch without labels adds nothing to the mean: (1 * 1 + 0.5 * 2) / 3, not over 3 batches.
    summary = DictSummary()
    for terms in (unlabelled, labelled, both):
        summary.add({"accuracy": terms["accuracy"]})
    assert summary.compute_mean()["accuracy"] == pytest.approx((1.0 + 0.5 * 2) / 3)
    alone = DictSummary()
    alone.add({"accuracy": unlabelled["accuracy"]})
    assert alone.compute_mean() == {}  # no labelled example: no mean, rather than 0/0

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_gradient_penalty_under_autocast_is_the_float32_penalty(dtype):
    from gan_ignite.losses import gradient_penalty

    torch.manual_seed(0)
    dis = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1), nn.Flatten(0))
    real, fake, eps = torch.randn(4, 1, 4, 4), torch.randn(4, 1, 4, 4), torch.rand(4)
    expected = gradient_penalty(dis, real, fake, eps)
    dtypes = []
    dis[1].register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    with torch.autocast("cpu", dtype=dtype):
        assert dis(real).dtype == dtype  # autocast is on for the critic's own forward
        penalty = gradient_penalty(dis, real.to(dtype), fake.to(dtype), eps)
    assert dtypes == [dtype, torch.float32] and penalty.dtype == torch.float32
    # Only the 16-bit rounding of the inputs remains: the double backward ran in float32.
    torch.testing.assert_close(penalty, expected, rtol=2e-2, atol=1e-3)
    (grad,) = torch.autograd.grad(penalty, dis[1].weight)
    assert grad.dtype == torch.float32 and grad.isfinite().all()
