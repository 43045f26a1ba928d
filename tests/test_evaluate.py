"""``python -m gan_ignite.evaluate`` and the Evaluation extension, on tiny digits runs."""

import json
import logging
import shutil

import pytest
import torch
from torchvision.utils import save_image

from experiments import gan_mnist
from gan_ignite import evaluate
from gan_ignite.data import load_dataset
from gan_ignite.extensions import load_snapshot
from gan_ignite.extractors import extractor_path
from gan_ignite.metrics import QUALITY_KEYS

SMALL = ["--limit", "64", "--batch-size", "16", "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
         "--n-samples", "4", "--no-progress", "--log-interval", "4"]


@pytest.fixture(scope="module")
def cached_extractor(digits_extractor):
    """The digits extractor where runs and the evaluate command look for it."""
    digits_extractor.save(extractor_path("digits"))
    return digits_extractor


@pytest.fixture(scope="module")
def evaluated_run(cached_extractor, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    gan_mnist.main([*SMALL, "--epochs", "3", "--eval-interval", "1", "--eval-samples", "64", "--out", str(out)])
    return out


def read_log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def run_cli(argv, capsys):
    evaluate.main(argv)
    return json.loads(capsys.readouterr().out)


def test_evaluation_logs_eval_keys_every_epoch_and_keeps_the_best_fid(evaluated_run):
    log = read_log(evaluated_run)
    assert len(log) == 3
    for entry in log:
        assert {"eval/fid", "eval/kid", "eval/is", "eval/confident", "eval/classes", "eval/max_class_share"} <= set(entry)
        assert 0 <= entry["eval/confident"] <= 1 and 1 <= entry["eval/classes"] <= 10
    best = min(log, key=lambda e: e["eval/fid"])
    files = sorted(p.name for p in (evaluated_run / "checkpoints").glob("best_fid_*"))
    assert files == [f"best_fid_checkpoint_{best['iteration']}.pt{suffix}" for suffix in ("", ".sha256")]


def test_evaluation_scalars_reach_tensorboard(evaluated_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(evaluated_run / "tb")).Reload()
    fid = events.Scalars("eval/fid")
    log = read_log(evaluated_run)
    assert [e.step for e in fid] == [entry["iteration"] for entry in log]
    assert [e.value for e in fid] == pytest.approx([entry["eval/fid"] for entry in log], rel=1e-6)


def test_evaluate_run_dir_reproduces_the_last_evaluation(evaluated_run, capsys):
    result = run_cli([str(evaluated_run), "--n", "64"], capsys)
    assert list(result) == list(QUALITY_KEYS) and result["n"] == 64
    last = read_log(evaluated_run)[-1]  # same generator, same seeded noise
    for key in ("fid", "kid", "is", "confident", "classes", "max_class_share"):
        assert result[key] == pytest.approx(last[f"eval/{key}"], rel=1e-6), key


def test_best_fid_checkpoint_loads_into_a_trainer(evaluated_run):
    config = gan_mnist.Config(limit=64, batch_size=16, image_size=16, feature_maps=8, z_dim=8, n_samples=4,
                              out=str(evaluated_run), device="cpu", epochs=3)
    trainer = gan_mnist.build(config)
    (best,) = (evaluated_run / "checkpoints").glob("best_fid_*.pt")
    load_snapshot(trainer, best)
    assert trainer.engine.state.iteration == int(best.stem.rsplit("_", 1)[1])


def test_resumed_run_keeps_one_best_checkpoint(cached_extractor, tmp_path):
    argv = [*SMALL, "--eval-interval", "1", "--eval-samples", "32", "--out", str(tmp_path)]
    gan_mnist.main([*argv, "--epochs", "2"])
    gan_mnist.main([*argv, "--epochs", "4", "--resume"])
    log = read_log(tmp_path)
    best = min(log, key=lambda e: e["eval/fid"])
    files = sorted(p.name for p in (tmp_path / "checkpoints").glob("best_fid_*"))
    assert files == [f"best_fid_checkpoint_{best['iteration']}.pt{suffix}" for suffix in ("", ".sha256")]


@pytest.fixture(scope="module")
def digit_folders(tmp_path_factory):
    """PNG folders of real digits: 300 of every class, and only the 0s."""
    digits = load_dataset("digits")
    root = tmp_path_factory.mktemp("folders")
    for name, keep in (("all", lambda label: True), ("zeros", lambda label: label == 0)):
        (root / name).mkdir()
        for i in range(300):
            image, label = digits[i]
            if keep(label):
                save_image(image * 0.5 + 0.5, root / name / f"{i:04d}.png")
    return root


def test_evaluate_images_of_real_digits(cached_extractor, digit_folders, capsys):
    everything = run_cli(["--images", str(digit_folders / "all"), "--dataset", "digits"], capsys)
    zeros = run_cli(["--images", str(digit_folders / "zeros"), "--dataset", "digits"], capsys)
    assert everything["n"] == 300 and everything["classes"] == 10 and everything["confident"] > 0.8
    assert zeros["classes"] == 1 and zeros["max_class_share"] == 1.0
    assert zeros["fid"] > 5 * everything["fid"]


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "error: pass either a run directory or --images FOLDER"),
        (["{tmp}", "--images", "{tmp}"], "error: pass either a run directory or --images FOLDER"),
        (["--images", "{tmp}"], "error: --images needs --dataset naming the real data to compare with"),
        (["{tmp}"], "is not a run directory (it is empty); pass the --out of a training run"),
        (["--images", "{tmp}", "--dataset", "fashion-mnist"], "No feature extractor for 'fashion-mnist'"),
        (["--images", "{tmp}", "--dataset", "digits", "--batch-size", "0"], "--batch-size should be a positive"),
        (["{tmp}", "--n", "1"], "--n should be at least 2, but given 1"),
        (["--n", "x"], "argument --n: invalid int value: 'x'"),
        (["--images", "{tmp}", "--dataset", "digits", "--device", "tpu"],
         "error: --device should be one of auto, cpu, cuda, but given 'tpu'"),
        pytest.param(["--images", "{tmp}", "--dataset", "digits", "--device", "cuda"],
                     "error: --device cuda was given but no CUDA device is visible; pass --device cpu or auto",
                     marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")),
    ],
)
def test_bad_input_gives_one_line(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_run_with_corrupt_settings_gives_one_line(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"experiment": "experiments.gan_mnist", ')
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"error: cannot read the run's settings {tmp_path / 'config.json'} (" in err
    assert err.endswith("; repair or restore it\n")


def test_a_folder_of_one_image_gives_one_line(cached_extractor, digit_folders, tmp_path, capsys):
    shutil.copy(next((digit_folders / "all").iterdir()), tmp_path / "only.png")
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["--images", str(tmp_path), "--dataset", "digits"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"error: --images {tmp_path} holds 1 image; measuring needs at least 2\n"


def test_an_image_that_fails_while_measuring_is_reported_once(cached_extractor, digit_folders, tmp_path, capsys,
                                                               caplog):
    # A JPEG cut inside its pixel data passes the header check and fails in the evaluator's
    # run: Ignite would echo "Engine run is terminating due to exception" before the line.
    from PIL import Image

    for i, path in enumerate(sorted((digit_folders / "all").iterdir())[:3]):
        Image.open(path).convert("RGB").resize((64, 64)).save(tmp_path / f"{i}.jpg", quality=95)
    data = (tmp_path / "0.jpg").read_bytes()
    (tmp_path / "0.jpg").write_bytes(data[: len(data) * 2 // 3])
    with caplog.at_level(logging.WARNING), pytest.raises(SystemExit) as exit_info:
        evaluate.main(["--images", str(tmp_path), "--dataset", "digits"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: Cannot read image {tmp_path / '0.jpg'} (image file is truncated"), err
    assert err.count("\n") == 1, err
    assert [r.getMessage() for r in caplog.records] == []


@pytest.mark.parametrize("name", ["json", "experiments.json", "gan_ignite.cli"])
@pytest.mark.parametrize("marked", [True, False], ids=["run.json", "older run without run.json"])
def test_a_run_naming_no_installed_experiment_imports_nothing(evaluated_run, tmp_path, name, marked, capsys):
    run = tmp_path / "run"
    shutil.copytree(evaluated_run, run)
    if not marked:
        (run / "run.json").unlink()
    for file in ("run.json", "config.json") if marked else ("config.json",):
        settings = json.loads((run / file).read_text())
        (run / file).write_text(json.dumps({**settings, "experiment": name}))
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(run), "--n", "8"])
    assert exit_info.value.code == 2
    names = "dcgan_cifar10, dcgan_folder, ebgan_mnist, gan_mnist, lsgan_mnist, mlp_gan_mnist, ssgan_mnist"
    shown = name if marked else name.removeprefix("experiments.")  # older runs named the module
    assert capsys.readouterr().err == f"error: unknown experiment {shown!r}; choose one of {names}\n"


def test_the_marker_names_the_experiment_that_evaluate_rebuilds(evaluated_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(evaluated_run, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "experiment": "rundir_helpers"}))  # ignored
    result = run_cli([str(run), "--n", "64"], capsys)
    assert result["n"] == 64


def test_a_config_value_of_the_wrong_type_names_the_file_and_key(evaluated_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(evaluated_run, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "z_dim": "8"}))
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(run), "--n", "8"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (f'error: {run / "config.json"}: z_dim should be an integer, but it is "8"; '
                                       f"repair or restore the file\n")


def test_gan_ignite_evaluate_is_the_same_command(evaluated_run, capsys):
    from gan_ignite.commands import main

    main(["evaluate", str(evaluated_run), "--n", "64"])
    via_subcommand = json.loads(capsys.readouterr().out)
    assert via_subcommand == run_cli([str(evaluated_run), "--n", "64"], capsys)
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(evaluated_run / "nope")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "nope" in err


def test_evaluate_rebuilds_the_generator_without_the_runs_data(evaluated_run, tmp_path, capsys):
    # The run's data is gone: only the reference statistics (here --dataset digits) read real data.
    run = tmp_path / "run"
    shutil.copytree(evaluated_run, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "dataset": "mnist", "data_root": str(tmp_path / "gone")}))
    result = run_cli([str(run), "--n", "64", "--dataset", "digits"], capsys)
    assert result["n"] == 64
    assert not (tmp_path / "gone").exists()  # no download attempted


def test_a_folder_that_is_no_run_says_so(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a run")
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(tmp_path), "--n", "8"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (f"error: {tmp_path} is not a run directory (it has neither run.json nor "
                                       f"config.json); pass the --out of a training run\n")


def test_too_few_samples_for_the_manifold_metrics_print_null(evaluated_run, capsys):
    result = run_cli([str(evaluated_run), "--n", "4"], capsys)
    assert [result[k] for k in ("precision", "recall", "density", "coverage")] == [None] * 4
    assert isinstance(result["fid"], float) and result["n"] == 4
    result = run_cli([str(evaluated_run), "--n", "64"], capsys)
    assert all(0 <= result[k] <= 1 for k in ("precision", "recall", "coverage"))
