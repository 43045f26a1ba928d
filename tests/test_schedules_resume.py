"""Early stopping, a best-value snapshot and a learning-rate shift in a real experiment,
and all three through a kill and ``--resume``.

The run monitors ``dis/lr`` (observed by ``observe_lr``) in ``max`` mode while
``--lr-decay 0.5`` halves both learning rates after every epoch: the value is known in
advance, so the test knows by hand what must happen. Epoch 1 has the best value (2e-4),
epochs 2 and 3 do not improve on it, so with ``--patience 2`` the run stops at the end of
epoch 3 (iteration 12 of a possible 32), and ``checkpoints/gen_best.pt`` holds the
generator as it was after epoch 1 (iteration 4).
"""

import json
import signal
import subprocess
import time

import pytest
import torch

from benchmarks.kill_resume import SMALL, checkpoint_iterations, command, environment
from experiments import gan_mnist
from tests.conftest import PROJECT_ROOT

LR = 2e-4
OPTIONS = [*SMALL[: SMALL.index("--epochs")], "--epochs", "8", "--snapshot-iterations", "3", "--n-saved", "20",
           "--lr", str(LR), "--lr-decay", "0.5", "--early-stopping", "dis/lr", "--early-stopping-mode", "max",
           "--patience", "2"]


def log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def without_time(entries):
    return [{k: v for k, v in e.items() if k != "elapsed_time"} for e in entries]


def checkpoint(out, name):
    return torch.load(out / "checkpoints" / name, weights_only=True)


@pytest.fixture(scope="module")
def stopped(tmp_path_factory, one_thread):  # noqa: F811
    out = tmp_path_factory.mktemp("early") / "run"
    gan_mnist.main([*OPTIONS, "--out", str(out)])
    return out


def test_the_run_stops_on_the_early_stopping_trigger_with_the_lr_shift_in_the_log(stopped):
    entries = log(stopped)
    assert [e["epoch"] for e in entries] == [1, 2, 3]  # not the 8 epochs of --epochs
    assert [e["iteration"] for e in entries] == [4, 8, 12]
    for e in entries:  # observe_lr sees the rate the epoch trained with; the shift comes after
        assert e["gen/lr"] == pytest.approx(LR * 0.5 ** (e["epoch"] - 1), rel=1e-12)
        assert e["dis/lr"] == e["gen/lr"]
    last = checkpoint(stopped, "checkpoint_12.pt")
    assert last["trainer"]["stopped_at"] == 12
    assert last["opt_gen"]["param_groups"][0]["lr"] == pytest.approx(LR * 0.5**3)  # shifted at epochs 1, 2, 3


def test_the_best_value_snapshot_holds_the_best_epochs_generator(stopped):
    best = checkpoint(stopped, "gen_best.pt")
    at_best = checkpoint(stopped, "checkpoint_4.pt")["gen"]
    later = checkpoint(stopped, "checkpoint_12.pt")["gen"]
    assert best.keys() == at_best.keys()
    assert all(torch.equal(best[k], at_best[k]) for k in best)
    assert not all(torch.equal(best[k], later[k]) for k in best)


def test_the_lr_is_a_tensorboard_scalar(stopped):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(stopped / "tb"))
    events.Reload()
    scalars = events.Scalars("gen/lr")
    by_step = {s.step: s.value for s in scalars}
    # TensorBoard scalars are means over --log-interval (10) iterations: 4 at LR, 4 at LR/2, 2 at LR/4.
    assert list(by_step) == [10]  # the run stopped at 12, before the next interval's end
    assert by_step[10] == pytest.approx((4 * LR + 4 * LR / 2 + 2 * LR / 4) / 10, rel=1e-6)


def test_a_stopped_run_is_not_resumed(stopped, capsys):
    with pytest.raises(SystemExit) as exit_info:
        gan_mnist.main([*OPTIONS, "--out", str(stopped), "--resume"])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert "already stopped at iteration 12 on its stop trigger (EarlyStoppingTrigger)" in err
    assert len(err.strip().splitlines()) == 1


def test_killed_and_resumed_it_stops_at_the_same_iteration_with_the_same_log_and_best(stopped, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(command(out, OPTIONS), cwd=PROJECT_ROOT, env=environment(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Interrupt mid-epoch 2 (checkpoint 6): the best value, the patience count, the shift's
    # step and the LogReport's open interval must all come back from the checkpoint.
    while proc.poll() is None and not any(it >= 6 for it in checkpoint_iterations(out)):
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 128 + signal.SIGINT, err
    gan_mnist.main([*OPTIONS, "--out", str(out), "--resume"])
    assert without_time(log(out)) == without_time(log(stopped))
    best, reference = checkpoint(out, "gen_best.pt"), checkpoint(stopped, "gen_best.pt")
    assert all(torch.equal(best[k], reference[k]) for k in reference)
    final, expected = checkpoint(out, "checkpoint_12.pt"), checkpoint(stopped, "checkpoint_12.pt")
    assert all(torch.equal(final["gen"][k], expected["gen"][k]) for k in expected["gen"])
    assert final["trainer"]["stop_trigger"] == expected["trainer"]["stop_trigger"]
    assert checkpoint_iterations(out)[-1] == 12


def test_early_stopping_on_a_key_never_observed_is_one_line_after_the_first_epoch(tmp_path, capsys):
    # Keys are known only once observed: the run fails at the end of its first epoch.
    with pytest.raises(SystemExit) as exit_info:
        gan_mnist.main([*OPTIONS[: OPTIONS.index("--early-stopping")], "--early-stopping", "gen/los",
                        "--out", str(tmp_path / "run")])
    assert exit_info.value.code != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["error: Argument `key` should be a key reported in the observation, but given 'gen/los'; this "
                     "iteration's observation has dis/fake, dis/loss, dis/lr, dis/real, gen/loss, gen/lr"]


def test_early_stopping_on_an_evaluation_compares_at_each_evaluation(recwarn):
    from gan_ignite.recipes import stop_trigger
    from tests.fakes import FakeTrainer

    config = gan_mnist.Config(early_stopping="eval/fid", patience=2, eval_interval=2, epochs=20)
    trigger, trainer = stop_trigger(config), FakeTrainer(iter_per_epoch=3)
    fids = {2: 50.0, 4: 40.0, 6: 45.0, 8: 41.0, 10: 30.0}  # epoch -> FID measured at its end
    stopped_at = None
    for iteration in range(1, 31):
        epoch_end = iteration % 3 == 0
        trainer.step(lambda t: None, {"eval/fid": fids[iteration // 3]} if epoch_end and iteration // 3 in fids else {})
        if trigger(trainer):
            stopped_at = iteration
            break
    # Best 40 at epoch 4; epochs 6 and 8 do not beat it: two evaluations without improvement.
    assert stopped_at == 24 and trigger.best == 40.0
    assert not [w for w in recwarn if "not in observation" in str(w.message)]


def test_a_decaying_run_refuses_new_learning_rates_at_resume(stopped, capsys):
    with pytest.raises(SystemExit):
        gan_mnist.main([*OPTIONS, "--out", str(stopped), "--resume", "--lr", "1e-3"])
    assert capsys.readouterr().err == (
        "error: --resume: the run decays its learning rates (--lr-decay 0.5), which go on from where they were; "
        "leave --lr out to continue the run, or start a new run\n")
