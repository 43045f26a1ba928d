"""End-to-end runs of the experiment modules on small slices of the embedded digits."""

import json
import subprocess
import sys

import pytest
import torch

from experiments import gan_mnist, mlp_gan_mnist
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow

SMALL = ["--limit", "96", "--batch-size", "16", "--image-size", "16", "--feature-maps", "8", "--z-dim", "16",
         "--n-samples", "16", "--log-interval", "4", "--no-progress"]
KEYS = {"dis/loss", "gen/loss", "dis/real", "dis/fake"}


def run(module, tmp_dir, *extra):
    small = SMALL if module is gan_mnist else [a for a in SMALL if a not in ("--feature-maps", "8")]
    module.main([*small, "--out", str(tmp_dir), *extra])


def read_log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_two_epochs_leave_the_whole_run_directory(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    run(gan_mnist, out, "--epochs", "2")
    config = json.loads((out / "config.json").read_text())
    assert config["epochs"] == 2 and config["dataset"] == "digits" and config["device"] == "cpu"
    assert config["experiment"] == "gan_mnist"
    log = read_log(out)
    assert [(e["epoch"], e["iteration"]) for e in log] == [(1, 6), (2, 12)]
    assert all(KEYS <= set(e) for e in log)
    assert sorted(p.name for p in (out / "images").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "checkpoint_12.pt", "checkpoint_12.pt.sha256", "checkpoint_6.pt", "checkpoint_6.pt.sha256"]
    assert sorted(p.name for p in out.iterdir()) == sorted(["run.json", "run.lock", "config.json", "log.jsonl",
                                                          "images", "checkpoints", "tb", "plots"])
    acc = EventAccumulator(str(out / "tb"))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == KEYS | {"gen/lr", "dis/lr"}  # observe_lr's keys
    assert [e.step for e in acc.Scalars("dis/loss")] == [4, 8, 12]
    assert [e.step for e in acc.Images("samples")] == [6, 12]


def test_resumed_run_logs_epoch_2_exactly_as_an_uninterrupted_run(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run(gan_mnist, straight, "--epochs", "2")
    run(gan_mnist, resumed, "--epochs", "1")
    run(gan_mnist, resumed, "--epochs", "2", "--resume")
    a, b = read_log(straight), read_log(resumed)
    assert [e["epoch"] for e in b] == [1, 2]
    for entry_a, entry_b in zip(a, b):
        entry_a.pop("elapsed_time"), entry_b.pop("elapsed_time")
        assert entry_a == entry_b
    weights_a = torch.load(straight / "checkpoints" / "checkpoint_12.pt", weights_only=True)["gen"]
    weights_b = torch.load(resumed / "checkpoints" / "checkpoint_12.pt", weights_only=True)["gen"]
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert json.loads((resumed / "config.json").read_text())["epochs"] == 2


def test_resume_continues_to_a_later_epoch(tmp_path):
    run(gan_mnist, tmp_path, "--epochs", "1")
    run(gan_mnist, tmp_path, "--epochs", "3", "--resume")
    assert [e["epoch"] for e in read_log(tmp_path)] == [1, 2, 3]
    assert (tmp_path / "images" / "epoch_0003.png").is_file()


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        run(mlp_gan_mnist, tmp_path / name, "--epochs", "1", "--seed", seed)
    a, b, c = (read_log(tmp_path / n)[0] for n in "abc")
    assert a["gen/loss"] == b["gen/loss"] and a["gen/loss"] != c["gen/loss"]


def test_mlp_gan_runs(tmp_path):
    run(mlp_gan_mnist, tmp_path, "--epochs", "2")
    assert len(read_log(tmp_path)) == 2 and (tmp_path / "images" / "epoch_0002.png").is_file()


def test_refuses_to_mix_two_runs_and_force_replaces(tmp_path, capsys):
    run(gan_mnist, tmp_path, "--epochs", "1")
    with pytest.raises(SystemExit) as exit_info:
        run(gan_mnist, tmp_path, "--epochs", "1")
    assert exit_info.value.code == 2
    assert "already holds a run" in capsys.readouterr().err
    run(gan_mnist, tmp_path, "--epochs", "2", "--force")
    assert [e["epoch"] for e in read_log(tmp_path)] == [1, 2]


def test_cli_error_is_one_line_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "experiments.gan_mnist", "--dataset", "nope", "--out", str(tmp_path / "x")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "Argument `dataset` should be one of" in result.stderr
    assert not (tmp_path / "x").exists()


def test_lr_dis_gives_the_discriminator_its_own_learning_rate(tmp_path):
    def rates(*options):
        config = gan_mnist.parse_config(gan_mnist.Config, ["--out", str(tmp_path), "--lr", "3e-4", *options])
        step = gan_mnist.build(config).updater
        return step.opt_gen.param_groups[0]["lr"], step.opt_dis.param_groups[0]["lr"]

    assert rates() == (3e-4, 3e-4)
    assert rates("--lr-dis", "1e-4") == (3e-4, 1e-4)
