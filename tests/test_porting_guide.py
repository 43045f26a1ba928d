"""docs/porting-from-chainer.md: every gan_ignite block runs, in order, and does what the guide says.

The guide's blocks fenced ``python run`` (and its one ``bash run`` command line) run in
document order in one namespace, in a scratch directory, once per module (the ``guide``
fixture); the tests then check what they left: files, log entries, learning rates, and
that each snapshot of the generator holds the weights of the iteration it names. For
that, every ``Trainer.run`` in the guide gets one more extension, which records the
generator's weights at the end of each epoch and writes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import math
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from gan_ignite.extensions import make_extension
from gan_ignite.trainer import Trainer
from tests.conftest import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "porting-from-chainer.md"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)
# The info strings the guide may use: Chainer's quoted code, and the blocks the test runs.
INFO_STRINGS = {"python", "python run", "bash run"}
RUNNABLE_PYTHON = 15  # the guide's count: a block cannot silently stop being run
RUNNABLE_BASH = 1
# Appended to the guide's command line: a small, fast run (later options win).
FAST = ["--limit", "32", "--batch-size", "16", "--image-size", "16", "--feature-maps", "8", "--z-dim", "16",
        "--n-samples", "16", "--log-interval", "2", "--epochs", "5", "--no-progress", "--device", "cpu"]


@dataclass(frozen=True)
class Block:
    info: str
    line: int  # of the block's first code line in the guide
    code: str


def guide_blocks() -> list[Block]:
    text = DOC.read_text()
    return [Block(m.group(1).strip(), text.count("\n", 0, m.start(2)) + 1, m.group(2)) for m in FENCE.finditer(text)]


def runnable() -> list[Block]:
    return [b for b in guide_blocks() if b.info.endswith(" run")]


@dataclass
class Guide:
    out: Path  # the scratch directory the blocks ran in
    namespace: dict[str, Any]
    stdout: dict[int, str]  # by block line
    weights: dict[tuple[Path, int], dict[str, torch.Tensor]] = field(default_factory=dict)

    def output_of(self, snippet: str) -> str:
        """What the one runnable block containing ``snippet`` printed."""
        (line,) = [b.line for b in runnable() if snippet in b.code]
        return self.stdout[line]


def run_command(code: str) -> None:
    """The guide's ``python -m experiments.<name> ...`` line, in this process, made small."""
    argv = shlex.split(code)
    assert argv[:2] == ["python", "-m"] and argv[2].startswith("experiments."), argv
    importlib.import_module(argv[2]).main([*argv[3:], *FAST])


@pytest.fixture(scope="module")
def guide(tmp_path_factory):
    out = tmp_path_factory.mktemp("guide")
    guide = Guide(out, {"__name__": "porting_guide"}, {})
    run = Trainer.run

    def recording_run(trainer: Trainer) -> None:
        @make_extension(trigger=(1, "epoch"))
        def record_weights(trainer: Trainer) -> None:
            state = trainer.models["gen"].state_dict()
            guide.weights[trainer.out, trainer.iteration] = {k: v.detach().clone() for k, v in state.items()}

        trainer.extend(record_weights)
        run(trainer)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # networks this small train several times faster on one thread
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(out)
            mp.setattr(Trainer, "run", recording_run)
            torch.manual_seed(0)  # the loaders shuffle with torch's global RNG
            for block in runnable():
                printed = io.StringIO()
                with contextlib.redirect_stdout(printed):
                    if block.info == "python run":
                        # Padded so that a traceback names the guide's own line numbers.
                        exec(compile("\n" * (block.line - 1) + block.code, str(DOC), "exec"), guide.namespace)
                    else:
                        run_command(block.code)
                guide.stdout[block.line] = printed.getvalue()
    finally:
        torch.set_num_threads(threads)
    return guide


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def early_stop(losses: list[float], patience: int, max_epochs: int) -> tuple[int, float]:
    """Where EarlyStoppingTrigger (min mode, checked every epoch) stops, and its best value then, by hand.

    As Chainer's, it stops at ``max_trigger`` before comparing that epoch's value.
    """
    best, count = math.inf, 0
    for epoch, loss in enumerate(losses, start=1):
        if epoch == max_epochs:
            return epoch, best
        best, count = (loss, 0) if loss < best else (best, count + 1)
        if count >= patience:
            return epoch, best
    raise AssertionError(f"the log ends at epoch {len(losses)} before the trigger stops")


def assert_same_weights(file: Path, expected: dict[str, torch.Tensor]) -> None:
    saved = torch.load(file, weights_only=True)
    assert saved.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(saved[key], value), key


def assert_sidecar(file: Path) -> None:
    digest, name = file.with_name(file.name + ".sha256").read_text().split()
    assert (digest, name) == (hashlib.sha256(file.read_bytes()).hexdigest(), file.name)


def assert_best_generator(guide: Guide, run_dir: Path, log: list[dict[str, Any]]) -> None:
    """``gen_best.pt`` holds the generator as it was after the epoch of the lowest mean gen/loss."""
    losses = [entry["gen/loss"] for entry in log]
    best = log[losses.index(min(losses))]
    assert_same_weights(run_dir / "checkpoints" / "gen_best.pt", guide.weights[run_dir, best["iteration"]])
    assert_sidecar(run_dir / "checkpoints" / "gen_best.pt")


def test_the_guide_runs_every_gan_ignite_block():
    blocks = guide_blocks()
    assert {b.info for b in blocks} <= INFO_STRINGS, "a fence whose info string the test does not know"
    assert [b.info for b in runnable()].count("python run") == RUNNABLE_PYTHON
    assert [b.info for b in runnable()].count("bash run") == RUNNABLE_BASH
    # A gan_ignite block not marked to run would be quoted, not tested.
    assert not [b.line for b in blocks if b.info == "python" and "gan_ignite" in b.code]


def test_the_updater_section(guide):
    assert guide.output_of("engine = Engine(step)") == "['dis/fake', 'dis/loss', 'dis/real', 'gen/loss']\n"
    assert "dis/real_term" in guide.namespace["engine"].state.output  # SmoothedLoss's extra term
    plain = guide.namespace["plain"]
    assert plain.iteration == 2
    assert sorted(plain.observation) == ["dis/logit_std", "dis/loss", "gen/loss"]
    assert sorted(plain.to_save()) == ["dis", "gen", "opt_dis", "opt_gen", "trainer"]  # what snapshot() saves


def test_the_extensions_section(guide):
    run_dir = guide.out / "result" / "dcgan"
    log = read_log(run_dir / "log.jsonl")
    assert len(log) == early_stop([entry["gen/loss"] for entry in log], patience=2, max_epochs=10)[0]
    # (a) one preview per epoch, named by iteration
    assert sorted(p.name for p in (run_dir / "preview").iterdir()) == [
        f"image{entry['iteration']:0>8}.png" for entry in log
    ]
    # (b) gen's rate halves after every epoch; dis's is left alone
    assert [entry["gen/lr"] for entry in log] == pytest.approx([2e-4 * 0.5**k for k in range(len(log))])
    assert [entry["dis/lr"] for entry in log] == pytest.approx([2e-4] * len(log))
    # (c) the best epoch's generator
    assert_best_generator(guide, run_dir, log)
    best = guide.namespace["best_gen"].state_dict()
    assert_same_weights(run_dir / "checkpoints" / "gen_best.pt", best)


def test_the_trainer_section_resumes_its_run(guide):
    run_dir = guide.out / "result" / "dcgan_full"
    log = read_log(run_dir / "log.jsonl")
    assert [(e["epoch"], e["iteration"]) for e in log] == [(1, 2), (2, 4)]
    assert "gen/loss" in guide.output_of("def train(").splitlines()[0]  # PrintReport's header
    checkpoints = run_dir / "checkpoints"
    for iteration in (2, 4):
        assert_same_weights(checkpoints / f"gen_iter_{iteration}.pt", guide.weights[run_dir, iteration])
        assert_sidecar(checkpoints / f"gen_iter_{iteration}.pt")
        assert_sidecar(checkpoints / f"checkpoint_{iteration}.pt")
    assert (run_dir / "plots" / "loss.png").stat().st_size > 0
    assert sorted(p.name for p in (run_dir / "preview").iterdir()) == ["image00000002.png", "image00000004.png"]


def test_the_command_line(guide):
    run_dir = guide.out / "result" / "gan"
    log = read_log(run_dir / "log.jsonl")
    lr = json.loads((run_dir / "config.json").read_text())["lr"]
    assert len(log) == early_stop([entry["gen/loss"] for entry in log], patience=2, max_epochs=5)[0]
    decayed = [lr * 0.9**k for k in range(len(log))]  # --lr-decay 0.9 on both optimizers
    assert [entry["gen/lr"] for entry in log] == pytest.approx(decayed)
    assert [entry["dis/lr"] for entry in log] == pytest.approx(decayed)
    assert_best_generator(guide, run_dir, log)


def test_the_departures(guide):
    namespace = guide.namespace
    assert namespace["log"] == read_log(guide.out / "result" / "dcgan_full" / "log.jsonl")
    losses = [entry["gen/loss"] for entry in read_log(guide.out / "result" / "dcgan" / "log.jsonl")]
    state = namespace["state"]
    assert state["triggers"]["snapshot_object(gen_best.pt)"]["best_value"] == pytest.approx(min(losses), rel=1e-12)
    assert state["stop_trigger"]["best"] == pytest.approx(early_stop(losses, patience=2, max_epochs=10)[1], rel=1e-12)
    assert namespace["seen"] == [(1, 0, 1), (2, 1, 1), (3, 1, 2)]
    assert "is_async" in guide.output_of("make_extension(is_async=True)")
