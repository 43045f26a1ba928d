import pytest
from ignite.engine import Events

from gan_ignite import extensions as E
from gan_ignite.errors import UsageError
from gan_ignite.trainer import Trainer


def counting_update(engine, batch):
    return {"value": float(batch)}


def make_trainer(tmp_path, n_epochs=2, data=range(4)):
    return Trainer(counting_update, list(data), stop_trigger=(n_epochs, "epoch"), out=tmp_path)


def test_extensions_fire_on_their_triggers(tmp_path):
    trainer = make_trainer(tmp_path, n_epochs=3)
    seen = {"epoch": [], "every3": []}
    trainer.extend(lambda t: seen["epoch"].append(t.engine.state.iteration), name="e", trigger=(1, "epoch"))
    trainer.extend(lambda t: seen["every3"].append(t.engine.state.iteration), name="i", trigger=(3, "iteration"))
    trainer.run()
    assert seen == {"epoch": [4, 8, 12], "every3": [3, 6, 9, 12]}


def test_priority_order_writers_editors_readers(tmp_path):
    trainer = make_trainer(tmp_path, n_epochs=1, data=range(1))
    order = []
    for name, priority in [("reader", E.PRIORITY_READER), ("writer", E.PRIORITY_WRITER),
                           ("snapshot", E.PRIORITY_SNAPSHOT), ("editor", E.PRIORITY_EDITOR),
                           ("reader2", E.PRIORITY_READER)]:
        trainer.extend(lambda t, n=name: order.append(n), name=name, priority=priority)
    trainer.run()
    # Highest priority first; equal priorities keep their registration order.
    assert order == ["writer", "editor", "reader", "reader2", "snapshot"]


def test_make_extension_sets_defaults_and_extend_overrides_them(tmp_path):
    calls = []

    @E.make_extension(trigger=(2, "iteration"), priority=E.PRIORITY_WRITER)
    def my_extension(trainer):
        calls.append(trainer.engine.state.iteration)

    assert my_extension.priority == E.PRIORITY_WRITER and my_extension.default_name == "my_extension"
    trainer = make_trainer(tmp_path, n_epochs=1)
    trainer.extend(my_extension)
    trainer.run()
    assert calls == [2, 4]
    assert trainer.get_extension("my_extension") is my_extension
    other = make_trainer(tmp_path, n_epochs=1)
    calls.clear()
    other.extend(my_extension, trigger=(1, "epoch"))
    other.run()
    assert calls == [4]


class Recorder(E.Extension):
    def __init__(self, log, fail_at=None):
        self.log, self.fail_at = log, fail_at

    def initialize(self, trainer):
        self.log.append("initialize")

    def __call__(self, trainer):
        self.log.append(trainer.engine.state.iteration)
        if trainer.engine.state.iteration == self.fail_at:
            raise RuntimeError("boom")

    def on_error(self, trainer, exc, tb):
        self.log.append(("on_error", str(exc), tb is not None))

    def finalize(self, trainer):
        self.log.append("finalize")


def test_failure_runs_on_error_then_reraises_then_finalizes(tmp_path):
    trainer = make_trainer(tmp_path)
    failing, bystander = [], []
    trainer.extend(Recorder(failing, fail_at=3), name="failing")
    trainer.extend(Recorder(bystander), name="bystander", priority=E.PRIORITY_READER - 1)
    with pytest.raises(RuntimeError, match="boom"):
        trainer.run()
    assert failing == ["initialize", 1, 2, 3, ("on_error", "boom", True), "finalize"]
    assert bystander == ["initialize", 1, 2, ("on_error", "boom", True), "finalize"]


def test_exception_propagates_even_with_a_user_exception_handler(tmp_path):
    # Ignite swallows exceptions once an EXCEPTION_RAISED handler exists; the trainer must not.
    trainer = make_trainer(tmp_path)
    seen = []
    trainer.engine.add_event_handler(Events.EXCEPTION_RAISED, lambda e, exc: seen.append(type(exc).__name__))
    trainer.extend(Recorder([], fail_at=2), name="failing")
    with pytest.raises(RuntimeError, match="boom"):
        trainer.run()
    # The user's handler ran (Ignite fires the event once per nesting level it unwinds).
    assert seen and set(seen) == {"RuntimeError"}
    assert trainer.engine.state.iteration == 2


def test_finalize_runs_on_success(tmp_path):
    trainer = make_trainer(tmp_path, n_epochs=1, data=range(2))
    log = []
    trainer.extend(Recorder(log), name="rec")
    trainer.run()
    assert log == ["initialize", 1, 2, "finalize"]


def test_plain_ignite_handler_runs_alongside_extensions(tmp_path):
    trainer = make_trainer(tmp_path)
    events = []
    trainer.engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: events.append(("ignite", e.state.epoch)))
    trainer.extend(lambda t: events.append(("ext", t.engine.state.epoch)), name="ext", trigger=(1, "epoch"))
    trainer.run()
    # Extensions run on the epoch's last ITERATION_COMPLETED, before Ignite's EPOCH_COMPLETED.
    assert events == [("ext", 1), ("ignite", 1), ("ext", 2), ("ignite", 2)]
    assert trainer.observation == {"value": 3.0}


def test_iteration_stop_trigger(tmp_path):
    trainer = Trainer(counting_update, list(range(4)), stop_trigger=(6, "iteration"), out=tmp_path)
    trainer.run()
    assert trainer.engine.state.iteration == 6


def test_duplicate_names_get_ordinals_and_bad_stop_triggers_are_refused(tmp_path):
    trainer = make_trainer(tmp_path)
    first, second, third = (lambda t: None), (lambda t: None), (lambda t: None)
    trainer.extend(first, name="x")
    trainer.extend(second, name="x")
    trainer.extend(third, name="x")
    assert (first.name, second.name, third.name) == ("x", "x_1", "x_2")
    assert trainer.get_extension("x_2") is third
    with pytest.raises(UsageError, match=r"positive number of epochs or a positive integer number of iterations, "
                                         r"but given \(0, 'epoch'\)"):
        Trainer(counting_update, [1], stop_trigger=(0, "epoch"))
    with pytest.raises(UsageError, match=r"but given \(1.5, 'iteration'\)"):
        Trainer(counting_update, [1], stop_trigger=(1.5, "iteration"))


def test_state_round_trip_and_refusing_a_finished_run(tmp_path):
    trainer = make_trainer(tmp_path, n_epochs=2)
    trainer.extend(E.LogReport(trigger=(1, "epoch")))
    trainer.run()
    state = trainer.state_dict()
    assert state["engine"]["iteration"] == 8 and state["elapsed_time"] > 0
    again = make_trainer(tmp_path, n_epochs=2)
    again.extend(E.LogReport(trigger=(1, "epoch")))
    again.load_state_dict(state)
    assert again.get_extension("LogReport").log == trainer.get_extension("LogReport").log
    with pytest.raises(UsageError, match="The run already reached epoch 2 of 2; pass a larger number of epochs"):
        again.run()


def test_a_tilde_out_is_expanded_once_so_every_writer_uses_one_folder(tmp_path, monkeypatch):
    # Ignite's DiskSaver expands "~" itself; the other writers would have written to "./~".
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    trainer = Trainer(counting_update, [1, 2], stop_trigger=(1, "epoch"), out="~/run")
    trainer.extend(E.LogReport())
    trainer.extend(E.snapshot())
    trainer.run()
    assert trainer.out == tmp_path / "home" / "run"
    assert sorted(p.name for p in trainer.out.iterdir()) == ["checkpoints", "log.jsonl"]
    assert (trainer.out / "checkpoints" / "checkpoint_2.pt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
