"""snapshot_object: one object's state_dict, named by a template, rotated, resumable.

Ports the relevant cases of Chainer's
tests/chainer_tests/training_tests/extensions_tests/test_snapshot.py and pytorch-pfn-extras'
tests/pytorch_pfn_extras_tests/training_tests/extensions_tests/test_snapshot.py: the file is
saved under the formatted name (``test_save_file``), no temporary file is left
(``test_clean_up_tempdir``), a mapping target saves each object (``test_multi_target``),
``n_retains`` keeps the newest files (``test_remove_stale_snapshots``). Rotation here
remembers the names it wrote instead of globbing the folder, so the ports add: files of
the template's shape that it did not write survive, and a resumed run rotates the
earlier run's files. The best-value snapshot is checked against weights recorded
independently at every iteration.
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import PRIORITY_SNAPSHOT, make_extension
from gan_ignite.extensions.snapshot import verify_checkpoint
from gan_ignite.extensions.snapshot_object import SnapshotObject, snapshot_object
from gan_ignite.run_dir.layout import CHECKPOINTS, ENTRIES, read_marker, removable_files, write_marker
from gan_ignite.trainer import Trainer
from tests.fakes import round_trip


def fake_trainer(out: Path, iteration: int = 0, epoch: int = 0) -> SimpleNamespace:
    """The face snapshot_object reads: ``out`` and the counters a template names."""
    return SimpleNamespace(out=out, iteration=iteration, epoch=epoch, observation={},
                           updater=SimpleNamespace(iteration=iteration, epoch=epoch))


def files(out: Path) -> list[str]:
    folder = out / CHECKPOINTS
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def assert_same_state(loaded: dict, expected: dict) -> None:
    assert loaded.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(loaded[key], expected[key], rtol=0, atol=0)


# -- the file ----------------------------------------------------------------------------
def test_saves_the_state_dict_under_the_formatted_name_with_a_sidecar(tmp_path):
    gen = nn.Linear(3, 2)
    ext = snapshot_object(gen, "gen_iter_{.updater.iteration}.pt")
    ext(fake_trainer(tmp_path, iteration=7))

    path = tmp_path / CHECKPOINTS / "gen_iter_7.pt"
    assert files(tmp_path) == ["gen_iter_7.pt", "gen_iter_7.pt.sha256"]  # no temporary file left
    fresh = nn.Linear(3, 2)
    fresh.load_state_dict(torch.load(path, weights_only=True))
    assert_same_state(fresh.state_dict(), gen.state_dict())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (tmp_path / CHECKPOINTS / "gen_iter_7.pt.sha256").read_text() == f"{digest}  gen_iter_7.pt\n"
    assert verify_checkpoint(path) is None


def test_defaults_are_chainers_and_the_name_follows_the_template():
    ext = snapshot_object(nn.Linear(1, 1), "gen_best.pt")
    assert isinstance(ext, SnapshotObject)
    assert ext.trigger == (1, "epoch") and ext.priority == PRIORITY_SNAPSHOT
    assert ext.default_name == "snapshot_object(gen_best.pt)"


def test_a_fixed_name_is_overwritten_with_the_latest_state(tmp_path):
    gen = nn.Linear(2, 2)
    ext = snapshot_object(gen, "gen_best.pt")
    ext(fake_trainer(tmp_path, iteration=1))
    with torch.no_grad():
        gen.weight.add_(1.0)
    ext(fake_trainer(tmp_path, iteration=2))
    assert files(tmp_path) == ["gen_best.pt", "gen_best.pt.sha256"]
    assert_same_state(torch.load(tmp_path / CHECKPOINTS / "gen_best.pt", weights_only=True), gen.state_dict())
    assert verify_checkpoint(tmp_path / CHECKPOINTS / "gen_best.pt") is None


def test_a_mapping_target_saves_each_objects_state(tmp_path):
    gen, dis = nn.Linear(2, 3), nn.Linear(3, 1)
    opt = torch.optim.Adam(gen.parameters(), lr=1e-3)
    gen(torch.ones(1, 2)).sum().backward()
    opt.step()  # an optimizer with state: step counts and moments
    snapshot_object({"gen": gen, "dis": dis, "opt_gen": opt}, "nets_{.epoch}.pt")(fake_trainer(tmp_path, epoch=3))
    saved = torch.load(tmp_path / CHECKPOINTS / "nets_3.pt", weights_only=True)
    assert_same_state(saved["gen"], gen.state_dict())
    assert_same_state(saved["dis"], dis.state_dict())
    fresh = torch.optim.Adam(nn.Linear(2, 3).parameters(), lr=1e-3)
    fresh.load_state_dict(saved["opt_gen"])
    torch.testing.assert_close(fresh.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_the_layout_counts_its_files_as_the_runs_own(tmp_path):
    write_marker(tmp_path, "gan_mnist")
    snapshot_object(nn.Linear(1, 1), "gen_iter_{.updater.iteration}.pt")(fake_trainer(tmp_path, iteration=5))
    names = {str(p.relative_to(tmp_path)) for p in removable_files(tmp_path, read_marker(tmp_path))}
    assert {"checkpoints/gen_iter_5.pt", "checkpoints/gen_iter_5.pt.sha256", "checkpoints"} <= names
    pattern = ENTRIES[CHECKPOINTS]
    for own in ("checkpoint_4.pt", "best_fid_checkpoint_4.pt.sha256", "gen_best.pt", "ema-gen.v2.pt.sha256",
                "tmpab12cd34", ".gen_best.pt.ab12cd34.tmp"):
        assert pattern.match(own), own
    for foreign in ("notes.txt", ".hidden.pt", "gen.pth", "gen best.pt", "gen.pt.bak"):
        assert not pattern.match(foreign), foreign


# -- n_retains ---------------------------------------------------------------------------
def test_n_retains_keeps_the_newest_files_it_wrote_and_nothing_else_is_deleted(tmp_path):
    folder = tmp_path / CHECKPOINTS
    folder.mkdir()
    (folder / "gen_iter_0.pt").write_bytes(b"the user's, of the template's shape")
    (folder / "checkpoint_2.pt").write_bytes(b"the trainer's snapshot")
    ext = snapshot_object(nn.Linear(1, 1), "gen_iter_{.updater.iteration}.pt", n_retains=3)
    for iteration in range(1, 11):
        ext(fake_trainer(tmp_path, iteration=iteration))
        newest = list(range(max(1, iteration - 2), iteration + 1))
        assert files(tmp_path) == sorted(
            ["checkpoint_2.pt", "gen_iter_0.pt"] + [f"gen_iter_{i}.pt{s}" for i in newest for s in ("", ".sha256")]
        )
    assert ext.state_dict() == {"filename": "gen_iter_{.updater.iteration}.pt",
                                "written": ["gen_iter_8.pt", "gen_iter_9.pt", "gen_iter_10.pt"]}


def test_re_saving_a_retained_name_moves_it_to_the_newest(tmp_path):
    ext = snapshot_object(nn.Linear(1, 1), "gen_{.epoch}.pt", n_retains=2)
    for epoch in (1, 2, 1, 3):  # epoch 1 again (a rerun of that epoch) is the newest then
        ext(fake_trainer(tmp_path, epoch=epoch))
    assert files(tmp_path) == ["gen_1.pt", "gen_1.pt.sha256", "gen_3.pt", "gen_3.pt.sha256"]


def test_a_resumed_extension_goes_on_rotating_the_earlier_runs_files(tmp_path):
    template = "gen_iter_{.updater.iteration}.pt"
    first = snapshot_object(nn.Linear(1, 1), template, n_retains=2)
    for iteration in (1, 2, 3):
        first(fake_trainer(tmp_path, iteration=iteration))
    resumed = snapshot_object(nn.Linear(1, 1), template, n_retains=2)
    resumed.load_state_dict(round_trip(first.state_dict()))
    resumed(fake_trainer(tmp_path, iteration=4))
    assert files(tmp_path) == ["gen_iter_3.pt", "gen_iter_3.pt.sha256", "gen_iter_4.pt", "gen_iter_4.pt.sha256"]


def test_the_state_of_another_template_is_not_adopted(tmp_path):
    dis_ext = snapshot_object(nn.Linear(1, 1), "dis_{.updater.iteration}.pt", n_retains=1)
    dis_ext(fake_trainer(tmp_path, iteration=1))
    gen_ext = snapshot_object(nn.Linear(1, 1), "gen_{.updater.iteration}.pt", n_retains=1)
    gen_ext.load_state_dict(dis_ext.state_dict())  # e.g. swapped by a hand-made `name`
    gen_ext(fake_trainer(tmp_path, iteration=2))
    assert files(tmp_path) == ["dis_1.pt", "dis_1.pt.sha256", "gen_2.pt", "gen_2.pt.sha256"]


def test_a_crafted_state_cannot_make_it_delete_files_it_did_not_write(tmp_path):
    outside = tmp_path / "precious.pt"
    outside.write_bytes(b"keep")
    ext = snapshot_object(nn.Linear(1, 1), "gen_{.updater.iteration}.pt", n_retains=1)
    ext(fake_trainer(tmp_path, iteration=1))
    (tmp_path / CHECKPOINTS / "checkpoint_2.pt").write_bytes(b"the trainer's")
    ext.load_state_dict({"filename": "gen_{.updater.iteration}.pt",
                         "written": ["../precious.pt", "checkpoint_2.pt", "gen_1.pt"]})
    ext(fake_trainer(tmp_path, iteration=2))
    assert outside.read_bytes() == b"keep"
    assert files(tmp_path) == ["checkpoint_2.pt", "gen_2.pt", "gen_2.pt.sha256"]


# -- bad arguments -----------------------------------------------------------------------
@pytest.mark.parametrize("filename, message", [
    ("../gen.pt", r"^Argument `filename` should be a plain file name, written into the run's checkpoints/ folder, "
                  r"but given '\.\./gen\.pt'; leave out the folder$"),
    ("models/gen_{.epoch}.pt", r"should be a plain file name, .* but given 'models/gen_\{\.epoch\}\.pt'"),
    ("/tmp/gen.pt", "should be a plain file name"),
    (r"..\gen.pt", "should be a plain file name"),
    (".gen.pt", "should be a plain file name"),
    ("gen_{iteration}.pt", r"^Argument `filename` should name trainer attributes as \{\.updater\.iteration\} "
                           r"\(the trainer is the one format argument\), but given 'gen_\{iteration\}\.pt'$"),
    ("gen_{.updater.iteration", r"^Argument `filename` 'gen_\{\.updater\.iteration' is not a valid format string "
                                r"\(expected '\}' before end of string\)$"),
    ("gen_iter_{.updater.iteration}", r"^Argument `filename` should end in \.pt, but given "
                                      r"'gen_iter_\{\.updater\.iteration\}'$"),
    (3, r"^Argument `filename` should be a file name template \(str\), but given 3$"),
])
def test_a_bad_template_is_refused_when_made(filename, message):
    with pytest.raises(UsageError, match=message):
        snapshot_object(nn.Linear(1, 1), filename)


def test_an_unknown_attribute_is_refused_at_initialize(tmp_path):
    ext = snapshot_object(nn.Linear(1, 1), "gen_{.updater.iteraton}.pt")
    with pytest.raises(UsageError, match=r"^Argument `filename` 'gen_\{\.updater\.iteraton\}\.pt' cannot be "
                                         r"formatted with the trainer \(.*iteraton.*\); write its fields as trainer "
                                         r"attributes, e.g. \{\.updater\.iteration\}$"):
        ext.initialize(fake_trainer(tmp_path))
    assert files(tmp_path) == []


@pytest.mark.parametrize("filename, message", [
    ("checkpoint_{.updater.iteration}.pt", r"^Argument `filename` gives 'checkpoint_4\.pt', the name of the "
                                           r"trainer's own snapshots, which resuming reads; choose another name"),
    ("best_fid_checkpoint_{.updater.iteration}.pt", "the name of the trainer's own snapshots"),
    ("gen_{.out}.pt", r"^Argument `filename` should give a plain file name ending in \.pt .* but 'gen_\{\.out\}\.pt' "
                      r"gives 'gen_/"),
])
def test_a_template_that_formats_to_a_bad_name_is_refused_before_writing(tmp_path, filename, message):
    with pytest.raises(UsageError, match=message):
        snapshot_object(nn.Linear(1, 1), filename)(fake_trainer(tmp_path, iteration=4))
    assert files(tmp_path) == []


@pytest.mark.parametrize("kwargs, message", [
    ({"target": object()}, r"^Argument `target` should be an object with a state_dict\(\) \(a module, an optimizer\) "
                           r"or a non-empty mapping of names to such objects, but given object$"),
    ({"target": {}}, "but given dict$"),
    ({"target": {"gen": nn.Linear(1, 1), "z": torch.zeros(3)}}, "but given Tensor$"),
    ({"n_retains": 0}, r"^Argument `n_retains` should be a positive integer or None, but given 0$"),
    ({"n_retains": 1.5}, "but given 1.5$"),
])
def test_bad_arguments_are_refused(kwargs, message):
    arguments = {"target": nn.Linear(1, 1), "filename": "gen.pt", **kwargs}
    with pytest.raises(UsageError, match=message):
        snapshot_object(**arguments)


# -- with the trainer ---------------------------------------------------------------------
LOSSES = [3.0, 1.0, 2.0, 0.5, 4.0, 0.7, 0.6, 0.9]  # the lowest at iteration 4


def make_run(out: Path, iterations: int, record: dict[int, dict]) -> tuple[Trainer, nn.Module]:
    """A trainer whose update takes an SGD step and reports ``LOSSES[i]`` as ``dis/loss``.

    ``record`` gets a copy of the weights after every iteration, taken by a reader
    extension independent of the snapshot.
    """
    from gan_ignite.triggers import MinValueTrigger

    torch.manual_seed(0)
    gen = nn.Linear(2, 2)
    opt = torch.optim.SGD(gen.parameters(), lr=0.1)
    data = [torch.randn(4, 2) for _ in range(4)]

    def update(engine, batch):
        opt.zero_grad()
        gen(batch).pow(2).mean().backward()
        opt.step()
        return {"dis/loss": LOSSES[engine.state.iteration - 1]}

    trainer = Trainer(update, data, stop_trigger=(iterations, "iteration"), out=out,
                      models={"gen": gen}, optimizers={"gen": opt})
    trainer.extend(snapshot_object(gen, "gen_best.pt"), trigger=MinValueTrigger("dis/loss", (1, "iteration")))
    trainer.extend(snapshot_object(gen, "gen_iter_{.updater.iteration}.pt", n_retains=2), trigger=(1, "iteration"))

    @make_extension(trigger=(1, "iteration"))
    def remember(trainer):
        record[trainer.iteration] = copy.deepcopy(gen.state_dict())

    trainer.extend(remember)
    return trainer, gen


def test_the_best_value_snapshot_holds_the_weights_of_the_best_iteration(tmp_path):
    record: dict[int, dict] = {}
    trainer, _ = make_run(tmp_path, 6, record)
    trainer.run()
    best = min(record, key=lambda i: LOSSES[i - 1])
    assert best == 4
    assert_same_state(torch.load(tmp_path / CHECKPOINTS / "gen_best.pt", weights_only=True), record[best])
    assert files(tmp_path) == sorted(["gen_best.pt", "gen_best.pt.sha256", "gen_iter_5.pt", "gen_iter_5.pt.sha256",
                                      "gen_iter_6.pt", "gen_iter_6.pt.sha256"])
    assert_same_state(torch.load(tmp_path / CHECKPOINTS / "gen_iter_6.pt", weights_only=True), record[6])


def test_a_resumed_run_keeps_the_best_and_rotates_the_earlier_runs_files(tmp_path):
    first_record: dict[int, dict] = {}
    first, _ = make_run(tmp_path, 4, first_record)
    first.run()
    state = round_trip(first.state_dict())  # the trainer's state holds the extensions' and triggers'

    record: dict[int, dict] = {}
    resumed, gen = make_run(tmp_path, 8, record)
    gen.load_state_dict(first_record[4])
    resumed.load_state_dict(state)
    resumed.run()

    assert sorted(record) == [5, 6, 7, 8]
    # A trigger that forgot the best (0.5) would take iteration 5 (4.0) for the first best;
    # an extension that forgot its files would leave gen_iter_3 and gen_iter_4 behind.
    assert_same_state(torch.load(tmp_path / CHECKPOINTS / "gen_best.pt", weights_only=True), first_record[4])
    assert files(tmp_path) == sorted(["gen_best.pt", "gen_best.pt.sha256", "gen_iter_7.pt", "gen_iter_7.pt.sha256",
                                      "gen_iter_8.pt", "gen_iter_8.pt.sha256"])
