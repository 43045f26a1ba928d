from collections import Counter

import pytest
import torch
from torch.utils.data import TensorDataset

from gan_ignite.errors import UsageError
from gan_ignite.splits import UNLABELLED, PartiallyLabelled, hold_out, labels_of


def toy(n_per_class=5, classes=3):
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    return TensorDataset(torch.arange(len(labels)).float().view(-1, 1), labels)


def test_partially_labelled_keeps_per_class_labels_and_hides_the_rest():
    data = PartiallyLabelled(toy(), per_class=2, seed=0)
    seen = [data[i][1] for i in range(len(data))]
    kept = Counter(y for y in seen if y != UNLABELLED)
    assert kept == {0: 2, 1: 2, 2: 2} and seen.count(UNLABELLED) == 9
    # Kept labels are the true ones, and images are untouched.
    assert all(y == i // 5 for i, y in enumerate(seen) if y != UNLABELLED)
    assert data[7][0].item() == 7.0
    assert PartiallyLabelled(toy(), 2, seed=0).labelled == data.labelled
    assert PartiallyLabelled(toy(), 2, seed=1).labelled != data.labelled


def test_hold_out_is_a_seeded_disjoint_split():
    train, held = hold_out(toy(), 0.2, seed=3)
    assert len(train) == 12 and len(held) == 3
    assert not set(train.indices) & set(held.indices)
    assert hold_out(toy(), 0.2, seed=3)[1].indices == held.indices
    assert labels_of(held) == [i // 5 for i in held.indices]


def test_bad_splits():
    with pytest.raises(UsageError, match=r"`labelled` \(6 per class\) is more than class 0 has \(5\)"):
        PartiallyLabelled(toy(), per_class=6)
    with pytest.raises(UsageError, match="`held_out` should be a fraction between 0 and 1, but given 1.5"):
        hold_out(toy(), 1.5, seed=0)
