"""What a run prints: the table or, with --quiet, nothing but the final summary, whose commands work."""

import shlex
import sys

import pytest
from conftest import TINY_RUN

from experiments import gan_mnist
from gan_ignite.commands import main
from gan_ignite.config import parse_config
from gan_ignite.recipes import PROGRESS_KEYS


def summary_lines(out):
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("finished: "))
    return lines[start:]


def fields(lines):
    """``{name: rest}`` of the summary's indented lines (``  samples      DIR/ (...)``)."""
    return {line[2:14].strip(): line[15:] for line in lines[1:]}


def test_quiet_prints_only_the_final_summary_and_its_commands_work(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["train", "gan_mnist", *TINY_RUN, "--epochs", "2", "--quiet", "--out", "run"])
    out = capsys.readouterr().out
    lines = summary_lines(out)
    assert out.splitlines()[0] == lines[0]  # nothing before the summary: no table
    assert lines[0].startswith("finished: 2 epochs, 8 iterations in ")
    assert "; last epoch gen/loss " in lines[0]
    shown = fields(lines)
    assert list(shown) == ["samples", "checkpoints", "log", "TensorBoard", "report", "more epochs"]
    assert shown["samples"] == "run/images/ (epoch_0001.png ... epoch_0002.png)"
    assert shown["checkpoints"] == "run/checkpoints/ (latest: checkpoint_8.pt)"
    assert shown["log"] == "run/log.jsonl, plots in run/plots/"
    assert shown["TensorBoard"] == "tensorboard --logdir run/tb"
    assert shown["report"] == "gan-ignite report run"
    for path in ("run/images/epoch_0002.png", "run/checkpoints/checkpoint_8.pt", "run/log.jsonl", "run/tb"):
        assert (tmp_path / path).exists()
    more = shlex.split(shown["more epochs"])
    assert more == ["gan-ignite", "train", "gan_mnist", "--out", "run", "--resume", "--epochs", "4"]
    main(more[1:] + ["--quiet"])
    assert summary_lines(capsys.readouterr().out)[0].startswith("finished: 4 epochs, 16 iterations in ")


def test_without_quiet_the_table_comes_first(tmp_path, capsys):
    main(["train", "gan_mnist", *TINY_RUN, "--epochs", "1", "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["epoch", "iteration", "gen/loss"]
    assert summary_lines(out)[0].startswith("finished: 1 epochs, 4 iterations")
    assert fields(summary_lines(out))["report"] == f"gan-ignite report {tmp_path / 'run'}"  # outside: absolute


@pytest.mark.parametrize("argv, bar", [([], True), (["--quiet"], False), (["--no-progress"], False)])
def test_the_progress_bar_on_a_terminal_shows_the_main_observations(argv, bar, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    config = parse_config(gan_mnist.Config, [*[a for a in TINY_RUN if a != "--no-progress"], *argv,
                                             "--out", str(tmp_path)])
    trainer = gan_mnist.build(config)
    if not bar:
        with pytest.raises(ValueError):
            trainer.get_extension("ProgressBar")
        return
    assert trainer.get_extension("ProgressBar")._keys == PROGRESS_KEYS == ["gen/loss", "dis/loss", "dis/real",
                                                                           "dis/fake"]


def test_quiet_still_prints_warnings(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "gan_mnist", *TINY_RUN, "--epochs", "2", "--quiet", "--out", str(out)])
    capsys.readouterr()
    (out / "checkpoints" / "checkpoint_8.pt").write_bytes(b"damaged")  # the newest: resuming passes it over
    main(["train", "gan_mnist", "--out", str(out), "--resume", "--epochs", "3", "--quiet"])
    captured = capsys.readouterr()
    warnings = captured.err.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: ") and "checkpoint_8.pt" in warnings[0]
    assert captured.out.startswith("finished: 3 epochs, 12 iterations in ")
