"""Bad input: one clear line on stderr, exit status 2, and the run directory untouched."""

import hashlib

import pytest

from experiments import gan_mnist

SMALL = ["--limit", "64", "--batch-size", "16", "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
         "--n-samples", "4", "--no-progress"]


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("existing")
    gan_mnist.main([*SMALL, "--epochs", "1", "--out", str(out)])
    return out


def fingerprint(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def expect_failure(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        gan_mnist.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err, err


CASES = [
    (["--dataset", "imagenet"], "Argument `dataset` should be one of digits, mnist, fashion-mnist, cifar10"),
    (["--dataset", "mnist", "--data-root", "{empty}"], "--data-root"),
    (["--image-size", "30"], "Argument `image_size` should be one of 16, 28, 32, 64, but given 30"),
    (["--epochs", "0"], "--epochs should be a positive integer, but given 0"),
    (["--epochs", "-3"], "--epochs should be a positive integer, but given -3"),
    (["--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
    (["--batch-size", "5000"], "is larger than the dataset"),
    (["--classes", "11"], "11"),
    (["--loss", "wgan"], "Argument `loss` should be one of gan, minimax"),
    (["--device", "tpu"], "--device should be one of auto, cpu, cuda"),
]


@pytest.mark.parametrize("extra, message", CASES)
def test_bad_option_leaves_an_existing_run_intact(extra, message, existing_run, tmp_path, capsys):
    before = fingerprint(existing_run)
    extra = [a.replace("{empty}", str(tmp_path)) for a in extra]
    # --force would replace the run, but only once the options are known to be good.
    expect_failure([*SMALL, "--epochs", "1", "--out", str(existing_run), "--force", *extra], message, capsys)
    assert fingerprint(existing_run) == before


def test_resume_without_checkpoint(tmp_path, capsys):
    expect_failure([*SMALL, "--out", str(tmp_path), "--resume"], "--resume: no checkpoint in", capsys)
    assert list(tmp_path.iterdir()) == []


def test_resume_of_a_finished_run(existing_run, capsys):
    before = fingerprint(existing_run)
    expect_failure([*SMALL, "--epochs", "1", "--out", str(existing_run), "--resume"],
                   "The run already reached epoch 1 of 1; pass a larger number of epochs", capsys)
    assert fingerprint(existing_run) == before


def test_resume_with_another_model_configuration(existing_run, capsys):
    before = fingerprint(existing_run)
    expect_failure([*SMALL[:-3], "--feature-maps", "16", "--no-progress", "--epochs", "2",
                    "--out", str(existing_run), "--resume"],
                   "does not match this run (size mismatch for", capsys)
    assert fingerprint(existing_run) == before


def test_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    expect_failure([*SMALL, "--out", str(target)], "is a file, not a directory", capsys)
    assert target.read_text() == "keep me"
