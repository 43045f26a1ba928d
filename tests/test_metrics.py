"""Sample-quality metrics: formulas against brute force and Ignite, then sanity on real digits."""

import itertools
import math

import pytest
import torch
from torch.testing import assert_close

from gan_ignite.data import load_dataset
from gan_ignite.metrics import (
    Reference,
    class_coverage,
    inception_score,
    kernel_inception_distance,
    measure,
    quality_scores,
    real_features,
    reference_for,
)
from gan_ignite.splits import hold_out


def brute_force_mmd2(x, y):
    def k(a, b):
        return (sum(float(p) * float(q) for p, q in zip(a, b)) / len(a) + 1) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy


def test_kid_of_whole_sets_is_the_unbiased_polynomial_mmd():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 3, generator=g), torch.randn(7, 3, generator=g) + 0.5
    # One subset as large as the sets: a permutation of them, and MMD ignores order.
    kid = kernel_inception_distance(x, y, subsets=1, subset_size=7)
    assert kid == pytest.approx(brute_force_mmd2(x.tolist(), y.tolist()), rel=1e-9)


def test_kid_averages_subsets_and_is_near_zero_for_one_distribution():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(400, 4, generator=g), torch.randn(400, 4, generator=g)
    same = kernel_inception_distance(a, b, subsets=20, subset_size=100)
    shifted = kernel_inception_distance(a + 1, b, subsets=20, subset_size=100)
    assert abs(same) < 0.05 < shifted


def test_kid_needs_two_samples():
    with pytest.raises(ValueError, match="KID needs at least 2 samples on each side, but given 1 and 5"):
        kernel_inception_distance(torch.zeros(1, 2), torch.zeros(5, 2))


def test_inception_score_hand_values_and_ignite():
    from ignite.metrics import InceptionScore

    k = 4
    balanced = torch.eye(k).repeat(5, 1)  # confident and all classes equally often
    assert inception_score(balanced) == pytest.approx(k)
    assert inception_score(torch.eye(k)[[2] * 10]) == pytest.approx(1.0)  # one class only
    assert inception_score(torch.full((10, k), 1 / k)) == pytest.approx(1.0)  # no confidence
    probs = torch.softmax(torch.randn(50, k, generator=torch.Generator().manual_seed(2)) * 3, dim=1)
    ignite_is = InceptionScore(num_features=k, feature_extractor=torch.nn.Identity())
    ignite_is.update(probs)
    assert inception_score(probs) == pytest.approx(ignite_is.compute(), rel=1e-5)


@pytest.mark.parametrize(
    "labels, expected",
    [
        ([0, 1, 2, 3] * 5, (4, 0.25)),
        ([1] * 19 + [0], (2, 0.95)),  # 1/20 = 0.05 is exactly the 1/(5K) bar for K=4
        ([1] * 39 + [0], (1, 39 / 40)),  # one stray in 40 is below it
        ([0] * 10 + [1] * 10, (2, 0.5)),
    ],
)
def test_class_coverage(labels, expected):
    probs = torch.eye(4)[labels] * 0.7 + 0.075
    classes, share = class_coverage(probs)
    assert (classes, share) == pytest.approx(expected)


def test_fid_equals_ignites_fid_on_the_same_features():
    from ignite.metrics import FID

    g = torch.Generator().manual_seed(3)
    fake, real = torch.randn(64, 5, generator=g) * 1.5, torch.randn(64, 5, generator=g) + 0.3
    ignite_fid = FID(num_features=5, feature_extractor=torch.nn.Identity())
    ignite_fid.update((fake, real))
    probs = torch.full((64, 3), 1 / 3)
    ours = quality_scores(fake, probs, Reference.from_features(real))["fid"]
    assert ours == pytest.approx(ignite_fid.compute(), rel=1e-6)
    assert ours > 1.0


# --- on real digits, with a small extractor trained on the fly ----------------------------


@pytest.fixture(scope="module")
def digits_split():
    """The extractor's training part (the GAN's "training set") and its held-out part."""
    train, held = hold_out(load_dataset("digits"), 0.2, seed=0)
    images = lambda subset: torch.stack([subset[i][0] for i in range(len(subset))])  # noqa: E731
    labels = lambda subset: torch.tensor([subset[i][1] for i in range(len(subset))])  # noqa: E731
    return images(train), labels(train), images(held), labels(held)


def itself_scale(reference):
    """The size of FID values in this feature space: the total variance of the real features."""
    return float(reference.sigma.trace())


def scores(extractor, images, reference):
    return measure(images.split(100), extractor, reference, subsets=20, subset_size=100)


def test_fid_of_a_set_with_itself_is_zero_and_damage_scores_worse(digits_extractor, digits_split):
    train, _, _, _ = digits_split
    reference = Reference.from_features(real_features(digits_extractor, train.split(500)))
    itself = scores(digits_extractor, train, reference)
    shifted = scores(digits_extractor, torch.roll(train, shifts=(4, 4), dims=(2, 3)), reference)
    blurred = scores(digits_extractor, torch.nn.functional.avg_pool2d(train, 5, 1, 2), reference)
    noise = scores(digits_extractor, torch.rand_like(train) * 2 - 1, reference)
    assert abs(itself["fid"]) < 1e-6 * itself_scale(reference)
    for damaged in (shifted, blurred, noise):
        assert damaged["fid"] > 0.05 * itself_scale(reference)
        # KID's subsets differ even for one set, so it is ~0 only relative to damage.
        assert damaged["kid"] > 20 * abs(itself["kid"])
        assert damaged["confident"] < itself["confident"]
    assert itself["n"] == len(train) and itself["classes"] == 10


def test_a_single_class_set_covers_one_class_and_scores_far_worse(digits_extractor, digits_split):
    train, train_labels, held, held_labels = digits_split
    reference = Reference.from_features(real_features(digits_extractor, train.split(500)))
    balanced = scores(digits_extractor, held, reference)
    zeros = scores(digits_extractor, train[train_labels == 0], reference)
    assert balanced["classes"] == 10 and balanced["max_class_share"] < 0.15
    assert balanced["confident"] > 0.8 and balanced["is"] > 7
    assert zeros["classes"] == 1 and zeros["max_class_share"] > 0.95
    assert zeros["is"] < 1.2
    assert zeros["fid"] > 5 * balanced["fid"]
    assert zeros["kid"] > 5 * balanced["kid"]
    # The k-NN metrics tell the two failures apart: the zeros are real digits (fidelity
    # kept) of one class out of ten (diversity lost).
    assert balanced["precision"] > 0.8 and balanced["recall"] > 0.8 and balanced["coverage"] > 0.9
    assert zeros["precision"] > 0.8 and zeros["recall"] < 0.2 and zeros["coverage"] < 0.2


def test_measure_through_an_ignite_engine_equals_the_direct_scores(digits_extractor, digits_split):
    train, _, held, _ = digits_split
    reference = Reference.from_features(real_features(digits_extractor, train.split(500)))
    with torch.no_grad():
        features, probs = digits_extractor.features_and_probs(held)
    direct = quality_scores(features.double(), probs.double(), reference, subsets=20, subset_size=100)
    batched = scores(digits_extractor, held, reference)
    assert batched.keys() == direct.keys()
    for key in direct:
        assert batched[key] == pytest.approx(direct[key], rel=1e-5, abs=1e-9), key


def test_reference_is_cached_per_extractor_weights(digits_extractor, private_cache, monkeypatch):
    first = reference_for(digits_extractor, "digits")
    files = list((private_cache / "references").iterdir())
    assert len(files) == 1 and digits_extractor.fingerprint in files[0].name
    # A second call must not load the dataset again.
    monkeypatch.setattr("gan_ignite.data.load_dataset", lambda *a, **k: pytest.fail("dataset reloaded"))
    second = reference_for(digits_extractor, "digits")
    assert_close(second.mu, first.mu)
    assert_close(second.sigma, first.sigma)
    assert second.n == first.n == 1797
    assert math.isfinite(float(first.sigma.trace()))


def test_a_damaged_reference_cache_gives_one_clear_error(digits_extractor, private_cache):
    from gan_ignite.errors import UsageError

    reference_for(digits_extractor, "digits", classes=[3])
    (cached,) = (private_cache / "references").glob("digits_train_3_*")
    cached.write_bytes(cached.read_bytes()[:100])  # cut off, as by a full disk
    with pytest.raises(UsageError, match=r"Cannot read cached real statistics .*digits_train_3_.*\.pt \(the file is "
                                         r"cut off.*\); delete it to recompute them"):
        reference_for(digits_extractor, "digits", classes=[3])
