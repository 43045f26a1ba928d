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
    assert capsys.readouterr().err == (
        "error: unknown experiment 'nope'; choose one of " + listing.split("experiments: ")[1].strip() + "\n"
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
