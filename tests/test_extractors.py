"""Feature extractors: safe round trips, clear errors, frozen inference, Inception's shapes."""

import os

import pytest
import torch
from torch.testing import assert_close

from gan_ignite.errors import UsageError
from gan_ignite.extractors import DomainExtractor, InceptionExtractor, extractor_path, load_extractor
from gan_ignite.models.classifier import LeNet, SmallResNet


def test_round_trip_through_safe_loading(digits_extractor, tmp_path):
    path = tmp_path / "digits.pt"
    digits_extractor.save(path)
    loaded = DomainExtractor.load(path)
    assert loaded.info == digits_extractor.info
    assert loaded.info.dataset == "digits" and loaded.info.image_size == 28
    assert 0.9 < loaded.info.test_accuracy <= 1
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    features, probs = loaded.features_and_probs(x)
    assert_close(features, digits_extractor(x))
    assert features.shape == (5, 128) and probs.shape == (5, 10)
    assert_close(probs.sum(1), torch.ones(5))
    assert loaded.fingerprint == digits_extractor.fingerprint


def test_extractor_stays_in_eval_mode(digits_extractor):
    digits_extractor.train()
    assert not digits_extractor.training and not digits_extractor.network.dropout.training
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    assert torch.equal(digits_extractor(x), digits_extractor(x))  # dropout off


def test_other_sizes_and_channels_are_adapted(digits_extractor):
    colour = torch.rand(3, 3, 16, 16) * 2 - 1
    assert digits_extractor(colour).shape == (3, 128)
    grey = colour.mean(1, keepdim=True)
    assert_close(digits_extractor(colour), digits_extractor(grey))


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_a_crafted_pickle_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"info": _RunsCode(marker), "state_dict": {}}, path)
    with pytest.raises(UsageError, match=r"Cannot read feature extractor .*evil\.pt \(it holds objects other than "
                                         r"tensors and plain data, which are never unpickled: .*posix\.mkdir") as info:
        DomainExtractor.load(path)
    assert "weights_only=False" not in str(info.value)  # never advise the unsafe load
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the file really would run code if unpickled unsafely
    assert marker.exists()


def test_bad_files_give_one_clear_error(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(UsageError, match="Cannot read feature extractor .*garbage.pt"):
        DomainExtractor.load(garbage)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(UsageError, match="other.pt is not a gan_ignite feature extractor .*KeyError.*"
                                         "train one with: gan-ignite train-extractor --dataset NAME"):
        DomainExtractor.load(other)


def test_missing_extractor_names_the_command_that_trains_it():
    expected = (f"No feature extractor for 'fashion-mnist' at {extractor_path('fashion-mnist')}; train one with: "
                f"gan-ignite train-extractor --dataset fashion-mnist --data-root DIR")
    with pytest.raises(UsageError) as info:
        load_extractor("fashion-mnist")
    assert str(info.value) == expected


def test_unknown_names_have_no_domain_extractor(tmp_path):
    with pytest.raises(UsageError, match="Domain features exist for the labelled datasets digits, mnist, "
                                         r"fashion-mnist, cifar10 and for folders of images, not 'logos'; .* "
                                         r"\(--features inception\)"):
        load_extractor("logos")
    # A folder has one once trained (tests/test_self_supervised.py); until then the error says how.
    with pytest.raises(UsageError, match=f"No feature extractor for the folder {tmp_path} at .*; train one with: "
                                         f"gan-ignite train-extractor --dataset {tmp_path}$"):
        load_extractor(str(tmp_path))


def test_train_extractor_rejects_unknown_names_and_empty_folders(tmp_path, capsys):
    from gan_ignite.train_extractor import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--dataset", "logos"])
    assert exit_info.value.code == 2
    assert "Argument `dataset` should be one of digits, mnist, fashion-mnist, cifar10" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--dataset", str(tmp_path)])  # a folder means SimCLR, which needs images
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: No images (png, jpg, jpeg, bmp, gif, webp) found under {tmp_path}")


def test_classifier_shapes():
    assert LeNet(1, 32)(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    net = SmallResNet(3, 32, num_classes=7, width=8)
    assert net.features(torch.zeros(2, 3, 32, 32)).shape == (2, 32) and net(torch.zeros(2, 3, 32, 32)).shape == (2, 7)


def test_inception_needs_its_weights_file(tmp_path):
    missing = tmp_path / "inception.pth"
    with pytest.raises(UsageError, match=f"Inception-v3 weights not found at {missing}; download "
                                         r"https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth"):
        InceptionExtractor(missing)


def test_inception_gives_2048_pool_features_from_a_local_file(tmp_path):
    from torchvision.models import inception_v3

    path = tmp_path / "inception.pth"
    torch.manual_seed(0)
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), path)
    net = InceptionExtractor(path)
    features, probs = net.features_and_probs(torch.rand(2, 1, 28, 28) * 2 - 1)  # grey, small: adapted
    assert features.shape == (2, 2048) and probs.shape == (2, 1000)
    assert (features >= 0).all()  # average-pooled ReLU activations
    assert_close(probs.sum(1), torch.ones(2))
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3)}, wrong)
    with pytest.raises(UsageError, match="wrong.pth does not hold Inception-v3 weights"):
        InceptionExtractor(wrong)


def test_train_extractor_refuses_a_cache_that_is_a_file_before_training(tmp_path, monkeypatch, capsys):
    import gan_ignite.train_extractor as module

    cache = tmp_path / "cache"
    cache.write_text("a file where the cache folder should be")
    monkeypatch.setenv("GAN_IGNITE_CACHE", str(cache))
    monkeypatch.setattr(module, "train_extractor", lambda *a, **k: pytest.fail("trained before checking the cache"))
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--dataset", "digits"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"error: the cache folder {cache / 'extractors'} lies inside the file {cache}, not a directory; point "
        f"GAN_IGNITE_CACHE (or XDG_CACHE_HOME) at a directory you can write to\n"
    )
    assert cache.read_text() == "a file where the cache folder should be"


def test_gan_ignite_train_extractor_trains_and_saves_one(tmp_path, capsys):
    from gan_ignite.commands import main
    from gan_ignite.extractors import DomainExtractor

    out = tmp_path / "digits.pt"
    main(["train-extractor", "--dataset", "digits", "--epochs", "1", "--out", str(out)])
    accuracy = DomainExtractor.load(out).info.test_accuracy
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("epoch 1/1: loss ") and lines[0].endswith(f", test accuracy {accuracy:.4f}")
    assert lines[1:] == [f"digits extractor: test accuracy {accuracy:.4f}; saved to {out}"]
    assert accuracy > 0.3  # one epoch on 1,437 digits: well above chance (0.1)
    with pytest.raises(SystemExit) as exit_info:
        main(["train-extractor", "--dataset", "digits", "--epochs", "0", "--out", str(tmp_path / "x.pt")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: --epochs should be a positive integer, but given 0\n"
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "0"], "--batch-size should be a positive integer, but given 0"),
    (["--limit", "-5"], "--limit should be zero (all images) or more, but given -5"),
    (["--lr", "0"], "--lr should be a positive number, but given 0.0"),
    (["--device", "tpu"], "--device should be one of auto, cpu, cuda, but given 'tpu'"),
])
def test_train_extractor_refuses_bad_numbers_before_training(argv, message, tmp_path, capsys):
    from gan_ignite.commands import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train-extractor", "--dataset", "digits", *argv, "--out", str(tmp_path / "x.pt")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert list(tmp_path.iterdir()) == []


def test_train_extractor_refuses_a_directory_as_out_before_training(tmp_path, capsys, monkeypatch):
    from gan_ignite import train_extractor
    from gan_ignite.commands import main

    monkeypatch.setattr(train_extractor, "train_extractor", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(SystemExit) as exit_info:
        main(["train-extractor", "--dataset", "digits", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (f"error: --out {tmp_path} is a directory; pass the extractor's file name, "
                                       f"e.g. {tmp_path / 'digits.pt'}\n")
