"""k-NN manifold metrics: hand cases, brute force, constructed distributions, real digits, the collapse warning."""

import io
import math

import pytest
import torch
from torch import nn

from gan_ignite.data import load_dataset
from gan_ignite.extensions.evaluation import Evaluation, collapse_warning
from gan_ignite.manifold import (
    MANIFOLD_KEYS, density_coverage, improved_precision_recall, manifold_scores, nearest_neighbour_radii,
)
from gan_ignite.metrics import (
    QUALITY_KEYS, Reference, measure, quality_scores, real_features, real_manifold_scores, real_sample,
)
from gan_ignite.splits import hold_out
from tests.fakes import FakeTrainer


def points(*values):
    """1-D points as (N, 1) features."""
    return torch.tensor(values, dtype=torch.float64)[:, None]


# --- hand computations ---------------------------------------------------------------------

# Real 0, 1, 2, 3, 10 with k=2: radii 2, 1, 1, 2, 8, i.e. balls [-2, 2], [0, 2], [1, 3], [1, 5], [2, 18].
REAL = points(0, 1, 2, 3, 10)


@pytest.mark.parametrize(
    "fake, expected",
    [
        # Fake radii (k=2) all 1: balls [-0.5, 1.5] twice, [0.5, 2.5] twice. Every fake is in a
        # real ball; reals 0, 1, 2 are in a fake ball; 0.5 is in 2 real balls, 1.5 in 4 (total
        # 12 over k*M = 8); every real ball but 10's holds a fake.
        (points(0.5, 0.5, 1.5, 1.5), dict(precision=1.0, recall=0.6, density=1.5, coverage=0.8)),
        # One fake outlier at 20: its ball [0.5, 39.5] holds every real, so recall jumps to 1,
        # while coverage, which uses real balls only, stays 0.8. 20 is in no real ball:
        # precision 3/4, density (2 + 2 + 4 + 0) / 8.
        (points(0.5, 0.5, 1.5, 20), dict(precision=0.75, recall=1.0, density=1.0, coverage=0.8)),
    ],
    ids=["inlying fakes", "one fake outlier"],
)
def test_hand_computed_case(fake, expected):
    assert manifold_scores(REAL, fake, 2, 2) == pytest.approx(expected)
    assert improved_precision_recall(REAL, fake, k=2) == pytest.approx((expected["precision"], expected["recall"]))
    assert density_coverage(REAL, fake, k=2) == pytest.approx((expected["density"], expected["coverage"]))


def test_radii_are_kth_neighbour_distances_and_count_duplicates():
    radii = nearest_neighbour_radii(points(0, 0, 1, 3), (1, 2, 3))
    expected = torch.tensor([[0, 1, 3], [0, 1, 3], [1, 1, 2], [2, 3, 3]], dtype=torch.float64)
    torch.testing.assert_close(radii, expected)


def test_balls_are_closed():
    # k=1: every ball has radius 1; 3 lies on the boundary of real 2's ball and 2 on fake 3's.
    scores = manifold_scores(points(0, 1, 2), points(3, 4, 5), 1, 1)
    assert scores == pytest.approx(dict.fromkeys(MANIFOLD_KEYS, 1 / 3))


def test_too_few_samples_is_an_error():
    with pytest.raises(ValueError, match="k-NN metrics with k=5 need more than 5 samples on each side, "
                                         "but given 6 real and 5 fake"):
        manifold_scores(torch.zeros(6, 2), torch.zeros(5, 2))


# --- against brute force ------------------------------------------------------------------


def brute_force(real, fake, k_pr, k_dc):
    """The definitions, on the full distance matrices, a point's self excluded by index."""
    def radii(x, k):
        d = (x[:, None] - x[None]).square().sum(-1).sqrt()
        return torch.stack([torch.cat([d[i, :i], d[i, i + 1:]]).sort().values[k - 1] for i in range(len(x))])

    d = (real[:, None] - fake[None]).square().sum(-1).sqrt()  # (N, M)
    real_pr, real_dc, fake_pr = radii(real, k_pr), radii(real, k_dc), radii(fake, k_pr)
    return {
        "precision": (d <= real_pr[:, None]).any(0).double().mean().item(),
        "recall": (d <= fake_pr[None, :]).any(1).double().mean().item(),
        "density": (d <= real_dc[:, None]).sum(0).double().mean().item() / k_dc,
        "coverage": (d <= real_dc[:, None]).any(1).double().mean().item(),
    }


@pytest.mark.parametrize("chunk", [1, 7, 1024])
@pytest.mark.parametrize("data", ["continuous", "integer grid"])
def test_chunked_equals_brute_force(data, chunk):
    g = torch.Generator().manual_seed(4)
    if data == "continuous":
        real, fake = torch.randn(60, 3, generator=g, dtype=torch.float64), torch.randn(45, 3, generator=g,
                                                                                        dtype=torch.float64) + 0.5
    else:  # few values: duplicates (zero radii) and distances tied exactly with radii
        real = torch.randint(0, 3, (60, 2), generator=g).double()
        fake = torch.randint(0, 4, (45, 2), generator=g).double()
    for k_pr, k_dc in ((3, 5), (1, 2)):
        ours = manifold_scores(real, fake, k_pr, k_dc, chunk=chunk)
        assert ours == pytest.approx(brute_force(real, fake, k_pr, k_dc), abs=1e-12), (k_pr, k_dc)


# --- constructed distributions: a 10-mode Gaussian mixture in 16-D ---------------------------


@pytest.fixture(scope="module")
def mixture():
    """draw(n, modes): n points of the mixture restricted to ``modes`` (all 10 by default)."""
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(10, 16, generator=g) * 10  # modes ~56 apart, each of radius ~4

    def draw(n, modes=range(10)):
        chosen = torch.tensor(list(modes))[torch.randint(len(modes), (n,), generator=g)]
        return centres[chosen] + torch.randn(n, 16, generator=g)

    return draw


def test_a_set_against_another_draw_of_itself(mixture):
    scores = manifold_scores(mixture(2000), mixture(2000))
    # Precision and recall with k=3 in 16-D stay near 0.78 for identical distributions (the
    # union of 3-NN balls misses part of a 16-D Gaussian): "near 1" means above 0.7 here,
    # against under 0.3 for the damaged sets below. Coverage's expectation is 1 - 2^-5 = 0.969.
    assert scores["precision"] > 0.7 and scores["recall"] > 0.7
    assert scores["coverage"] > 0.94
    assert scores["density"] == pytest.approx(1.0, abs=0.1)


def test_a_mode_dropped_set_is_faithful_but_not_diverse(mixture):
    real = mixture(2000)
    scores = manifold_scores(real, mixture(2000, modes=[0, 1]))
    assert scores["precision"] > 0.7 and scores["density"] > 0.8
    # About 2/10 of the real balls have a fake nearby.
    assert scores["recall"] < 0.25 and scores["coverage"] < 0.25


def test_noise_far_from_the_modes_has_no_fidelity(mixture):
    noise = torch.rand(2000, 16, generator=torch.Generator().manual_seed(5)) * 60 - 30
    scores = manifold_scores(mixture(2000), noise)
    assert scores["precision"] < 0.05 and scores["density"] < 0.05 and scores["coverage"] < 0.05
    # Recall's weakness that coverage fixes: the noise's large balls swallow every real point.
    assert scores["recall"] > 0.9


# --- in SampleQuality -----------------------------------------------------------------------


def test_quality_scores_compare_with_as_many_real_features_as_samples():
    g = torch.Generator().manual_seed(6)
    reference = Reference.from_features(torch.randn(500, 4, generator=g))
    fake, probs = torch.randn(80, 4, generator=g).double(), torch.full((80, 3), 1 / 3)
    scores = quality_scores(fake, probs, reference, subsets=2, subset_size=50)
    assert list(scores) == list(QUALITY_KEYS)
    real = real_sample(reference, 80)
    assert real.shape == (80, 4) and len(real.unique(dim=0)) == 80
    torch.testing.assert_close(real_sample(reference, 80), real)  # seeded: the same every evaluation
    expected = manifold_scores(real, fake.float())
    assert {key: scores[key] for key in MANIFOLD_KEYS} == pytest.approx(expected)


def test_too_few_samples_give_nan_not_an_error():
    reference = Reference.from_features(torch.randn(50, 4, generator=torch.Generator().manual_seed(7)))
    scores = quality_scores(torch.randn(5, 4).double(), torch.full((5, 3), 1 / 3), reference, subsets=2)
    assert all(math.isnan(scores[key]) for key in MANIFOLD_KEYS)
    assert math.isfinite(scores["fid"])


def test_real_against_real_uses_disjoint_halves(mixture):
    reference = Reference.from_features(mixture(2000))
    scores = real_manifold_scores(reference, 1000)
    assert scores["coverage"] > 0.94 and scores["precision"] > 0.7
    # Asked for more than half the kept features: halves of 1000 each, still disjoint.
    assert real_manifold_scores(reference, 5000) == pytest.approx(scores)


@pytest.fixture(scope="module")
def digits(digits_extractor):
    """(reference of the training part, 300 held-out digits): the extractor's own split."""
    train, held = hold_out(load_dataset("digits"), 0.2, seed=0)
    images = lambda subset, n: torch.stack([subset[i][0] for i in range(n)])  # noqa: E731
    reference = Reference.from_features(real_features(digits_extractor, images(train, len(train)).split(500)))
    return reference, images(held, 300)


def manifold_of(extractor, images, reference):
    scores = measure(images.split(100), extractor, reference, subsets=5, subset_size=100)
    assert list(scores) == list(QUALITY_KEYS) and scores["n"] == len(images)
    return scores


def test_real_digits_score_high_and_one_repeated_digit_low(digits_extractor, digits):
    reference, held = digits
    real = manifold_of(digits_extractor, held, reference)
    assert real["precision"] > 0.8 and real["recall"] > 0.8 and real["coverage"] > 0.9
    repeated = manifold_of(digits_extractor, held[:1].repeat(300, 1, 1, 1), reference)
    assert repeated["recall"] < 0.05 and repeated["coverage"] < 0.05


# --- the collapse warning ---------------------------------------------------------------------

REAL_SCORES = dict(precision=0.9, recall=0.9, density=1.0, coverage=0.97)


@pytest.mark.parametrize(
    "scores, shown",
    [
        (dict(precision=0.9, recall=0.8, coverage=0.9), None),
        (dict(precision=1.0, recall=0.0, coverage=0.01), "eval/recall 0.000 (real data: 0.900) and eval/coverage "
                                                          "0.010 (real data: 0.970) are below 0.5 times real data's"),
        (dict(precision=0.8, recall=0.6, coverage=0.3), "eval/coverage 0.300 (real data: 0.970) is below"),
        (dict(precision=0.1, recall=0.0, coverage=0.0), None),  # bad samples early in training, not collapse
        (dict(precision=math.nan, recall=math.nan, coverage=math.nan), None),  # too few samples to say
    ],
)
def test_collapse_warning_condition(scores, shown):
    problem = collapse_warning(scores, REAL_SCORES)
    if shown is None:
        assert problem is None
    else:
        assert problem.startswith(shown) and "the samples may have collapsed to few modes; try" in problem


class Stub(nn.Module):
    """A generator that outputs ``images`` in turn, from index ``start``: one image repeated, or many."""

    def __init__(self, images):
        super().__init__()
        self.images, self.start = images, 0

    def forward(self, z):
        index = torch.arange(self.start, self.start + len(z)) % len(self.images)
        self.start += len(z)
        return self.images[index]


def test_evaluation_warns_once_per_stretch_of_collapsed_evaluations(digits_extractor, digits):
    reference, held = digits
    out = io.StringIO()
    collapsed, diverse = Stub(held[:1]), Stub(held)
    evaluation = Evaluation(collapsed, 4, digits_extractor, reference, n=300, batch_size=100, keep_best=False, out=out)
    trainer = FakeTrainer()
    observation = trainer.step(evaluation)
    assert {f"eval/{key}" for key in MANIFOLD_KEYS} <= set(observation)
    trainer.step(evaluation)  # still collapsed: no second line
    (line,) = out.getvalue().splitlines()
    assert line.startswith("warning: at iteration 1, eval/recall 0.000 (real data: ")
    assert "collapsed to few modes" in line
    evaluation.gen = diverse
    trainer.step(evaluation)
    assert len(out.getvalue().splitlines()) == 1
    evaluation.gen = collapsed  # a new stretch warns again
    trainer.step(evaluation)
    assert out.getvalue().splitlines()[-1].startswith("warning: at iteration 4, ")
