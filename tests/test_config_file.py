"""``--config FILE``: options from TOML, YAML or a run's own config.json, overridden by the command line."""

import json

import pytest

from experiments import gan_mnist
from gan_ignite.commands import main
from gan_ignite.config import parse_config


def parsed(argv):
    return parse_config(gan_mnist.Config, argv)


def one_line_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_toml_sets_options_and_the_command_line_overrides_them(tmp_path):
    file = tmp_path / "base.toml"
    file.write_text('batch_size = 8\nlr = 1e-3\nclasses = [3, 5]\ndataset = "digits"\nbatch-norm = false\n')
    config = parsed(["--config", str(file)])
    assert (config.batch_size, config.lr, config.classes, config.batch_norm) == (8, 1e-3, (3, 5), False)
    config = parsed(["--config", str(file), "--batch-size", "4", "--classes", "7", "--batch-norm"])
    assert (config.batch_size, config.lr, config.classes, config.batch_norm) == (4, 1e-3, (7,), True)
    defaults = parsed([])
    assert (defaults.batch_size, defaults.lr) == (16, 5e-4)  # the file changed nothing for later parses


def test_yaml_takes_numbers_written_without_a_dot(tmp_path):
    file = tmp_path / "base.yaml"
    file.write_text("lr: 2e-4\nepochs: 3\nearly-stopping: gen/loss\n")  # YAML 1.1 reads 2e-4 as a string
    config = parsed(["--config", str(file)])
    assert (config.lr, config.epochs, config.early_stopping) == (2e-4, 3, "gen/loss")


def test_a_runs_config_json_repeats_the_run(finished_run, tmp_path):
    new = tmp_path / "again"
    main(["train", "gan_mnist", "--config", str(finished_run / "config.json"), "--out", str(new)])

    def losses(run):
        lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        return [{k: v for k, v in entry.items() if k != "elapsed_time"} for entry in lines]

    assert len(losses(new)) == 3
    assert losses(new) == losses(finished_run)
    saved, repeated = (json.loads((run / "config.json").read_text()) for run in (finished_run, new))
    assert {k for k in saved if saved[k] != repeated[k]} == {"out"}


def test_the_runs_config_json_without_out_refuses_its_own_directory(finished_run, capsys):
    before = sorted(p.name for p in finished_run.rglob("*"))
    err = one_line_error(["train", "gan_mnist", "--config", str(finished_run / "config.json")], capsys)
    assert f"--out {finished_run} already holds a run of gan_mnist" in err
    assert sorted(p.name for p in finished_run.rglob("*")) == before


@pytest.mark.parametrize("text, message", [
    ("bach_size = 4\n", "unknown option 'bach_size'; did you mean batch_size?"),
    ("zzz = 4\n", "unknown option 'zzz'; see --help for the options"),
    ("batch_size = [\n", "is not valid TOML"),
    ("batch_size = 'x'\n", "batch_size should be an integer, but it is \"x\""),
    ("batch_size = 0\n", "batch_size should be a positive integer, but it is 0"),
    ("resume = true\n", "resume belongs on the command line (--resume), not in a config file"),
])
def test_bad_toml_is_one_line_and_writes_nothing(text, message, tmp_path, capsys):
    file, out = tmp_path / "c.toml", tmp_path / "run"
    file.write_text(text)
    err = one_line_error(["train", "gan_mnist", "--config", str(file), "--out", str(out)], capsys)
    assert message in err and str(file) in err
    assert not out.exists()


@pytest.mark.parametrize("name, text, message", [
    ("c.yaml", "lr: [\n", "is not valid YAML"),
    ("c.yaml", "- 1\n- 2\n", "does not hold a mapping of options (it holds a list)"),
    ("c.json", "{\"epochs\": 2,", "is not valid JSON"),
    ("c.ini", "epochs = 2\n", "unknown format .ini; use a .toml, .yaml, .yml or .json file"),
    ("missing.toml", None, "no such file"),
])
def test_other_bad_files_are_one_line(name, text, message, tmp_path, capsys):
    file = tmp_path / name
    if text is not None:
        file.write_text(text)
    err = one_line_error(["train", "gan_mnist", "--config", str(file), "--out", str(tmp_path / "run")], capsys)
    assert message in err
    assert not (tmp_path / "run").exists()


def test_resuming_with_a_config_file_treats_its_options_as_given(finished_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "run.lock").unlink(missing_ok=True)
    file = tmp_path / "c.toml"
    file.write_text("batch_size = 8\n")
    err = one_line_error(["train", "gan_mnist", "--config", str(file), "--out", str(run), "--resume",
                          "--epochs", "4"], capsys)
    assert "--resume: the run's global batch is 16 images" in err


def test_help_lists_the_config_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "gan_mnist", "--help"])
    assert "--config FILE" in capsys.readouterr().out



def test_a_config_json_of_another_experiment_is_refused(finished_run, tmp_path, capsys):
    file = finished_run / "config.json"
    err = one_line_error(["train", "dcgan_folder", "--config", str(file), "--out", str(tmp_path / "run")], capsys)
    assert err == (f"error: --config {file} holds the settings of a gan_mnist run, not of dcgan_folder; train "
                   f"gan_mnist with it, or copy the options you want into a TOML file\n")
    assert not (tmp_path / "run").exists()


def test_force_replaces_no_run_the_command_line_did_not_name(finished_run, tmp_path, capsys):
    before = {p: p.stat().st_mtime_ns for p in finished_run.rglob("*")}
    file = finished_run / "config.json"
    err = one_line_error(["train", "gan_mnist", "--config", str(file), "--force"], capsys)
    assert err == (f"error: --force would replace the run in {finished_run}, the --out of --config {file}; pass "
                   f"--out to say which run to replace, or a new --out to repeat it\n")
    assert {p: p.stat().st_mtime_ns for p in finished_run.rglob("*")} == before


def test_a_config_json_with_a_key_no_option_has_names_the_nearest(finished_run, tmp_path, capsys):
    settings = json.loads((finished_run / "config.json").read_text())
    file = tmp_path / "config.json"
    file.write_text(json.dumps({**settings, "learning_rate": 1e-3}))
    err = one_line_error(["train", "gan_mnist", "--config", str(file), "--out", str(tmp_path / "run")], capsys)
    assert "unknown option 'learning_rate'" in err


def test_a_table_is_refused_and_an_empty_file_sets_nothing(tmp_path, capsys):
    nested = tmp_path / "nested.toml"
    nested.write_text("[model]\nz_dim = 8\n")
    err = one_line_error(["train", "gan_mnist", "--config", str(nested), "--out", str(tmp_path / "run")], capsys)
    assert "'model' is a table of options; write every option at the top level of the file" in err
    for name in ("empty.toml", "empty.yaml"):
        (tmp_path / name).write_text("")
        assert parsed(["--config", str(tmp_path / name)]) == parsed([])
