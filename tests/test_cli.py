import pytest

from gan_ignite.cli import console_main
from gan_ignite.config import GANConfig, parse_config


def test_console_script_lists_and_rejects_experiments(capsys):
    console_main([])
    listing = capsys.readouterr().out
    for name in ("gan_mnist", "ebgan_mnist", "ssgan_mnist", "dcgan_folder"):
        assert name in listing
    with pytest.raises(SystemExit) as exit_info:
        console_main(["nope"])
    assert exit_info.value.code == 2
    names = " ".join(listing.split("experiments: ")[1].split())
    assert capsys.readouterr().err == (
        "error: unknown command or experiment 'nope'; choose a command (list, train, sample, interpolate, "
        f"evaluate, train-extractor, report, compare) or an experiment ({names})\n"
    )


def test_config_parsing_types_flags_and_tuples():
    config = parse_config(GANConfig, ["--epochs", "3", "--lr", "1e-3", "--classes", "3", "7", "--no-progress"])
    assert (config.epochs, config.lr, config.classes, config.progress) == (3, 1e-3, (3, 7), False)
    assert parse_config(GANConfig, []) == GANConfig()


def test_parse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(GANConfig, ["--lr", "fast"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --lr: invalid float value: 'fast'" in err


def test_resume_takes_the_options_not_given_from_the_runs_config(tmp_path):
    import json

    from experiments import gan_mnist

    small = ["--limit", "32", "--batch-size", "8", "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
             "--lr", "3e-4", "--n-samples", "4", "--classes", "3", "7", "--no-progress"]
    gan_mnist.main([*small, "--epochs", "1", "--out", str(tmp_path)])
    first = json.loads((tmp_path / "config.json").read_text())

    # Only --out, --resume and what changes: a run on the defaults (digits, 28 px, 64
    # feature maps) could not even load the checkpoint.
    gan_mnist.main(["--out", str(tmp_path), "--resume", "--epochs", "2", "--no-progress"])
    resumed = json.loads((tmp_path / "config.json").read_text())
    assert resumed == {**first, "epochs": 2, "resume": True}
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(e["epoch"], e["iteration"]) for e in log] == [(1, 4), (2, 8)]  # 32 images, batches of 8

    config = parse_config(gan_mnist.Config, ["--out", str(tmp_path), "--resume", "--lr", "1e-4"])
    assert (config.lr, config.classes, config.batch_size, config.progress) == (1e-4, (3, 7), 8, True)


def test_resume_with_unreadable_settings_is_one_line(tmp_path, capsys):
    from gan_ignite.run_dir import write_marker

    write_marker(tmp_path, "gan_mnist")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(SystemExit) as exit_info:
        parse_config(GANConfig, ["--out", str(tmp_path), "--resume"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"error: cannot read the run's settings {tmp_path / 'config.json'} (Expecting property name" in err
    assert err.endswith("repair or restore it\n")


def test_argument_errors_and_help_name_the_program_the_user_ran(capsys):
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    def run(*args):
        return subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)

    bogus = run("-m", "experiments.gan_mnist", "--bogus", "1")
    assert (bogus.returncode, bogus.stderr) == (
        2, "python -m experiments.gan_mnist: error: unrecognized arguments: --bogus 1 (see --help)\n")
    assert run("-m", "experiments.gan_mnist", "--help").stdout.startswith("usage: python -m experiments.gan_mnist ")
    with pytest.raises(SystemExit) as exit_info:
        console_main(["train", "lsgan_mnist", "--epochs", "x"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "gan-ignite train lsgan_mnist: error: argument --epochs: invalid int value: 'x' (see --help)\n")


def test_gan_ignite_list_shows_every_installed_experiment_with_its_summary(capsys):
    import importlib

    from gan_ignite.registry import experiment_names

    console_main(["list"])
    lines = capsys.readouterr().out.splitlines()
    names = experiment_names()
    assert [line.split()[0] for line in lines] == names == sorted(names)
    for name, line in zip(names, lines):
        summary = importlib.import_module(f"experiments.{name}").__doc__.strip().splitlines()[0]
        assert line.split(None, 1)[1] == summary


def test_every_subcommand_has_help_listing_its_options_with_defaults(capsys):
    from gan_ignite.commands import SUBCOMMANDS, main

    main([])
    top = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert f"\n    {name}" in top
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert text.startswith(f"usage: gan-ignite {name} ")
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "--n N                 samples drawn from a run's generator (default: 10000)" in capsys.readouterr().out


def test_the_old_module_entry_points_still_work(capsys):
    from gan_ignite import evaluate, train_extractor

    for tool in (evaluate, train_extractor):
        with pytest.raises(SystemExit) as exit_info:
            tool.main(["--help"])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: python -m {tool.__name__}")


def test_the_readmes_everyday_commands_parse_as_written():
    """Each ``gan-ignite`` line of the README's block is accepted by the parser of its command."""
    import re
    import shlex

    from gan_ignite.commands import parser
    from gan_ignite.config import _parser
    from gan_ignite.registry import load_experiment
    from tests.conftest import PROJECT_ROOT

    section = (PROJECT_ROOT / "README.md").read_text().split("## Everyday commands", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = [line.split("#", 1)[0] for line in block.splitlines() if line.startswith("gan-ignite ")]
    commands = {shlex.split(line)[1] for line in lines}
    assert commands == {"list", "train", "sample", "interpolate", "evaluate", "train-extractor", "report", "compare"}
    for line in lines:
        argv = shlex.split(line)[1:]
        if argv[0] == "train":
            cls = load_experiment(argv[1]).Config
            _parser(cls, None, None).parse_args(argv[2:])
        else:
            assert parser().parse_args(argv).command == argv[0]
