"""The in-memory loader: the DataLoader path's batches, cut from the tensors at once."""

import json

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Subset

from gan_ignite import batching
from gan_ignite.batching import TensorBatchLoader, in_memory_tensors
from gan_ignite.config import ExperimentConfig
from gan_ignite.data import TensorImageDataset, load_dataset
from gan_ignite.errors import UsageError
from gan_ignite.recipes import make_loader
from gan_ignite.sampling import ResumableSampler
from gan_ignite.trainer import Trainer

BATCH = 16


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", image_size=8)


def reference_loader(dataset, batch_size=BATCH, seed=5):
    """The loader of before: a DataLoader over the items, collated one by one."""
    sampler = ResumableSampler(dataset, seed=seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True,
                      generator=sampler.worker_generator)


def tensor_loader(dataset, batch_size=BATCH, seed=5, **options):
    return TensorBatchLoader(dataset, batch_size, ResumableSampler(dataset, seed=seed), **options)


def assert_same_batches(batches, expected):
    assert len(batches) == len(expected) > 0
    for (images, labels), (want_images, want_labels) in zip(batches, expected):
        assert images.dtype == want_images.dtype == torch.float32
        assert labels.dtype == want_labels.dtype == torch.int64
        assert torch.equal(images, want_images) and torch.equal(labels, want_labels)


def epochs(loader, n=3, start=0):
    """The batches of epochs 0..n-1, each positioned as the trainer does."""
    out = []
    for epoch in range(n):
        loader.sampler.set_epoch(epoch, start=start if epoch == 0 else 0)
        out.append(list(loader))
    return out


def subsets(dataset):
    shuffled = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(1)).tolist()
    return {
        "whole": dataset,
        "limit": Subset(dataset, range(100)),  # what --limit makes
        "nested, shuffled, negative": Subset(Subset(dataset, [-3, *shuffled[:300]]), [-1, 0, *range(40, 200)]),
    }


@pytest.mark.parametrize("name", ["whole", "limit", "nested, shuffled, negative"])
def test_same_batches_as_the_dataloader_over_epochs(digits, name):
    dataset = subsets(digits)[name]
    got, want = epochs(tensor_loader(dataset)), epochs(reference_loader(dataset))
    for epoch_got, epoch_want in zip(got, want):
        assert_same_batches(epoch_got, epoch_want)
    assert not torch.equal(got[0][0][1], got[1][0][1])  # epochs differ: the order is not frozen


def test_length_counts_full_batches_only(digits):
    for dataset, batch_size, full in [(digits, BATCH, 1797 // BATCH), (Subset(digits, range(100)), 64, 1),
                                      (Subset(digits, range(96)), 16, 6)]:
        loader = tensor_loader(dataset, batch_size)
        assert len(loader) == full == len(list(loader)) == len(reference_loader(dataset, batch_size))


def test_mid_epoch_start_gives_the_rest_of_the_epoch(digits):
    whole = epochs(tensor_loader(digits), n=2)
    resumed = tensor_loader(digits)
    resumed.sampler.set_epoch(1, start=7 * BATCH)
    assert_same_batches(list(resumed), whole[1][7:])
    assert_same_batches(epochs(tensor_loader(digits), n=1, start=3 * BATCH)[0], whole[0][3:])


def test_an_iterator_keeps_its_epoch_order_after_set_epoch(digits):
    # Ignite drains an epoch's iterator after the next epoch's start set the sampler.
    loader = tensor_loader(digits)
    first_epoch = list(loader)
    iterator = iter(loader)
    head = next(iterator)
    loader.sampler.set_epoch(1)
    assert_same_batches([head, *iterator], first_epoch)
    assert not torch.equal(next(iter(loader))[1], first_epoch[0][1])


class Recorder:
    def __init__(self):
        self.labels = []

    def __call__(self, engine, batch):
        self.labels.append(batch[1].clone())
        return {}


def run_trainer(loader, iterations, tmp_path, state=None):
    step = Recorder()
    trainer = Trainer(step, loader, stop_trigger=(iterations, "iteration"), out=tmp_path)
    if state is not None:
        trainer.load_state_dict(state)
    trainer.run()
    return step.labels, trainer.state_dict()


def test_trainer_resumed_mid_epoch_sees_the_batches_of_an_uninterrupted_run(digits, tmp_path):
    dataset = Subset(digits, range(64))  # 4 batches an epoch
    uninterrupted, _ = run_trainer(tensor_loader(dataset), 10, tmp_path)
    before, state = run_trainer(tensor_loader(dataset), 6, tmp_path)  # half-way through epoch 2
    after, _ = run_trainer(tensor_loader(dataset), 10, tmp_path, state)
    want, _ = run_trainer(reference_loader(dataset), 10, tmp_path)
    assert len(uninterrupted) == len(before) + len(after) == 10
    for got, expected in zip([*before, *after], uninterrupted):
        assert torch.equal(got, expected)
    for got, expected in zip(uninterrupted, want):
        assert torch.equal(got, expected)


def test_subset_rows_are_resolved_to_a_view_for_a_limit(digits):
    images, labels = in_memory_tensors(Subset(digits, range(10, 50)))
    assert images.data_ptr() == digits.images[10].data_ptr() and len(images) == len(labels) == 40
    images, _ = in_memory_tensors(Subset(digits, [3, 1, 2]))
    assert torch.equal(images, digits.images[[3, 1, 2]])
    assert in_memory_tensors(range(4)) is None


def test_refuses_what_it_cannot_serve(digits):
    with pytest.raises(ValueError, match="should be a TensorImageDataset or a Subset of one, but given list"):
        TensorBatchLoader([1, 2, 3], 1, ResumableSampler(range(3), seed=0))
    with pytest.raises(ValueError, match="should cover the 1797 images, but it covers 10"):
        TensorBatchLoader(digits, 1, ResumableSampler(range(10), seed=0))


# -- make_loader ---------------------------------------------------------------------------
def config(**options):
    return ExperimentConfig(**{"device": "cpu", "batch_size": BATCH, "seed": 5, **options})


def test_make_loader_serves_in_memory_data_from_the_tensors(digits):
    for dataset in (digits, Subset(digits, range(100))):
        loader = make_loader(dataset, config(num_workers=2))  # workers mean nothing here
        assert isinstance(loader, TensorBatchLoader) and loader.dataset is dataset
        assert isinstance(loader.sampler, ResumableSampler) and loader.batch_size == BATCH
        assert_same_batches(epochs(loader, n=2)[1], epochs(reference_loader(dataset), n=2)[1])
    assert make_loader(digits, config()).images.data_ptr() == digits.images.data_ptr()  # no copy on the CPU


def image_folder(folder, n=6, side=12):
    for i in range(n):
        Image.new("RGB", (side, side), (40 * i % 256, i, 255 - 40 * i % 256)).save(folder / f"{i}.png")
    return load_dataset(str(folder), image_size=8)


def test_make_loader_keeps_the_dataloader_for_an_image_folder_with_no_preload(tmp_path):
    loader = make_loader(image_folder(tmp_path), config(batch_size=4, preload_mb=0))
    assert isinstance(loader, DataLoader) and isinstance(loader.sampler, ResumableSampler)
    assert not loader.persistent_workers and len(loader) == 1
    images, labels = next(iter(loader))
    assert images.shape == (4, 3, 8, 8) and labels.dtype == torch.int64


def test_an_image_folder_that_fits_is_decoded_once_into_the_same_batches(tmp_path):
    folder = image_folder(tmp_path, n=40)
    for dataset in (folder, Subset(folder, range(5, 37))):  # --limit gives a Subset
        loader = make_loader(dataset, config(num_workers=2))  # two processes decode it
        assert isinstance(loader, TensorBatchLoader) and loader.images.shape == (len(dataset), 3, 8, 8)
        assert_same_batches(epochs(loader, n=2)[1], epochs(reference_loader(dataset), n=2)[1])


def test_an_image_folder_larger_than_preload_mb_is_not_decoded(tmp_path):
    folder = image_folder(tmp_path, n=8)
    one_image = 4 * 3 * 8 * 8
    assert batching.decoded_in_memory(folder, 8 * one_image) is not None  # exactly the budget fits
    assert batching.decoded_in_memory(folder, 8 * one_image - 1) is None
    assert batching.decoded_in_memory(folder, 0) is None
    assert batching.decoded_in_memory(load_dataset("digits", image_size=8), 1 << 30) is None  # not a folder


def test_an_image_that_fails_to_decode_is_named_when_the_folder_is_decoded(tmp_path):
    image_folder(tmp_path, n=6)
    data = (tmp_path / "3.png").read_bytes()
    dataset = load_dataset(str(tmp_path), image_size=8)  # the header check passes it
    (tmp_path / "3.png").write_bytes(data[: len(data) - 20])  # cut after the check: decoding fails
    with pytest.raises(UsageError, match=r"Cannot read image .*3\.png .*; remove or replace it"):
        make_loader(dataset, config(batch_size=4))


def test_make_loader_refuses_a_batch_larger_than_the_dataset(digits):
    with pytest.raises(UsageError, match=r"`batch_size` \(64\) is larger than the dataset \(10 images\)"):
        make_loader(Subset(digits, range(10)), config(batch_size=64))


# -- CUDA ----------------------------------------------------------------------------------
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
def test_small_data_moves_to_the_device_once(digits):
    loader = tensor_loader(digits, device="cuda")
    assert loader.images.is_cuda and loader.targets.is_cuda
    batches = [(x.cpu(), y.cpu()) for x, y in loader]
    assert_same_batches(batches, list(reference_loader(digits)))


@cuda
def test_large_data_stays_on_the_host_in_pinned_batches(digits, monkeypatch):
    monkeypatch.setattr(batching, "DEVICE_BYTES", 0)
    loader = tensor_loader(digits, device="cuda")
    assert not loader.images.is_cuda
    batches = list(loader)
    assert all(x.is_pinned() and y.is_pinned() for x, y in batches)
    assert_same_batches(batches, list(reference_loader(digits)))


def test_tensor_image_dataset_is_what_digits_is(digits):
    assert isinstance(digits, TensorImageDataset)  # else the tests above test nothing new


def test_a_run_on_a_decoded_folder_is_the_run_on_its_files(tmp_path):
    # Decoding once before training changes where the batches come from, not what they are.
    from benchmarks.kill_resume import SMALL, final_weights, identical
    from experiments import gan_mnist

    images = tmp_path / "images"
    images.mkdir()
    pixels = torch.randint(0, 256, (48, 20, 20, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    for i, image in enumerate(pixels):
        Image.fromarray(image.numpy()).save(images / f"{i}.png")
    small = [*SMALL[SMALL.index("--batch-size"):], "--epochs", "2", "--dataset", str(images)]
    runs = {preload: tmp_path / f"preload_{preload}" for preload in ("0", "1024")}
    for preload, out in runs.items():
        gan_mnist.main([*small, "--preload-mb", preload, "--out", str(out)])
    logs = [[{k: v for k, v in json.loads(line).items() if k != "elapsed_time"}
             for line in (out / "log.jsonl").read_text().splitlines()] for out in runs.values()]
    assert len(logs[0]) == 2 and logs[0] == logs[1]
    assert identical(final_weights(runs["0"]), final_weights(runs["1024"]))
