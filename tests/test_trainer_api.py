"""The trainer's extension API against Chainer's and pytorch-pfn-extras' own trainer tests.

Ports, to ``Trainer(update_fn, loader, stop_trigger, out)`` with a list as the loader:

- Chainer ``tests/chainer_tests/training_tests/test_trainer.py``: elapsed time (also
  across a resume), extensions that subclass ``Extension``, callable classes, lambdas,
  ``make_extension`` functions and plain functions, ``call_before_training``, the order
  of extensions by priority, ``on_error`` and ``finalize`` when an extension raises and
  when an error handler raises; Chainer's ``extend`` rules for names (``_1`` suffixes),
  triggers and priorities, and triggers that are called with the trainer.
- pytorch-pfn-extras ``tests/pytorch_pfn_extras_tests/training_tests/test_manager.py``:
  the status counters, the call and initialize order table of
  ``test_extensions_manager_extensions``, ``get_extension``, the extensions' state in
  ``state_dict`` / ``load_state_dict``, ``finalize``; and ``test_extension.py``'s
  ``test_on_error`` (an error in the update step).

Departures kept on purpose: ``elapsed_time`` is 0.0
before a run where Chainer raises ``RuntimeError``; running a finished trainer again is a
``UsageError`` naming the reached length, where Chainer says "cannot run training loop
multiple times" and pytorch-pfn-extras "finalized manager".
"""

from __future__ import annotations

import time
import traceback

import pytest
import torch

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import (
    PRIORITY_EDITOR,
    PRIORITY_READER,
    PRIORITY_SNAPSHOT,
    PRIORITY_WRITER,
    Extension,
    make_extension,
)
from gan_ignite.extensions.log_report import LogReport
from gan_ignite.reporting import report
from gan_ignite.trainer import Trainer
from tests.fakes import round_trip


def idle_update(engine, batch):
    return {}


def make_trainer(tmp_path, iterations=10, epoch_length=4, update=idle_update, **kwargs):
    return Trainer(update, [0] * epoch_length, (iterations, "iteration"), tmp_path / "out", **kwargs)


# -- Chainer's extensions -----------------------------------------------------------------
class DummyExtension(Extension):
    """Chainer's: ``finalize(self)`` without the trainer, ``initialize`` marks the trainer."""

    def __init__(self, events):
        self.events = events

    def __call__(self, trainer):
        assert trainer.is_initialized
        self.events.append(("call", trainer.iteration))

    def initialize(self, trainer):
        trainer.is_initialized = True
        self.events.append(("initialize", trainer.iteration))

    def finalize(self):
        self.events.append(("finalize",))


class DummyCallableClass:
    """Chainer's: not an ``Extension``, but has a ``name`` and the hooks."""

    def __init__(self, events):
        self.name = "DummyCallableClass"
        self.events = events

    def __call__(self, trainer):
        assert trainer.is_initialized
        self.events.append(("call", trainer.iteration, trainer.is_before_training))

    def initialize(self, trainer):
        trainer.is_initialized = True
        self.events.append(("initialize",))

    def finalize(self):
        self.events.append(("finalize",))


class ErrorHandlingExtension(Extension):
    def __init__(self, events):
        self.events = events

    def __call__(self, trainer):
        pass

    def on_error(self, trainer, exc, tb):
        self.events.append(("on_error", "ErrorHandlingExtension", type(exc).__name__))

    def finalize(self):
        self.events.append(("finalize", "ErrorHandlingExtension"))


class TheOnlyError(Exception):
    pass


# -- elapsed time -------------------------------------------------------------------------
def sleepy_update(engine, batch):
    time.sleep(0.001)
    return {}


def test_elapsed_time_is_zero_before_and_the_run_time_after(tmp_path):
    trainer = make_trainer(tmp_path, update=sleepy_update)
    assert trainer.elapsed_time == 0.0  # Chainer raises RuntimeError here
    trainer.run()
    assert trainer.elapsed_time >= 10 * 0.001  # ten updates of at least a millisecond
    ended = trainer.elapsed_time
    time.sleep(0.01)
    assert trainer.elapsed_time == ended  # frozen once the run ended


def test_elapsed_time_continues_after_a_resume(tmp_path):
    """Chainer's test_elapsed_time_serialization, through a weights-only checkpoint."""
    trainer = make_trainer(tmp_path, update=sleepy_update)
    trainer.run()
    serialized_time = trainer.elapsed_time
    torch.save(trainer.state_dict(), tmp_path / "state.pt")

    resumed = make_trainer(tmp_path, iterations=15, update=sleepy_update)
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert resumed.elapsed_time == serialized_time
    assert resumed.iteration == 10
    resumed.run()
    assert resumed.iteration == 15
    assert resumed.elapsed_time >= serialized_time + 5 * 0.001


# -- kinds of extensions ------------------------------------------------------------------
def test_add_inherit_class_extension(tmp_path):
    events = []
    trainer = make_trainer(tmp_path, iterations=3)
    trainer.is_initialized = False
    trainer.extend(DummyExtension(events))
    trainer.run()
    assert events == [("initialize", 0), ("call", 1), ("call", 2), ("call", 3), ("finalize",)]
    assert trainer.get_extension("DummyExtension").name == "DummyExtension"


def test_add_callable_class_extension(tmp_path):
    events = []
    trainer = make_trainer(tmp_path, iterations=2)
    trainer.is_initialized = False
    extension = DummyCallableClass(events)
    trainer.extend(extension)
    trainer.run()
    assert events == [("initialize",), ("call", 1, False), ("call", 2, False), ("finalize",)]
    assert trainer.get_extension("DummyCallableClass") is extension


def test_add_called_before_training_extension(tmp_path):
    events = []
    trainer = make_trainer(tmp_path, iterations=2)
    trainer.is_initialized = False
    trainer.extend(DummyCallableClass(events), call_before_training=True)
    trainer.run()
    assert events == [("initialize",), ("call", 0, True), ("call", 1, False), ("call", 2, False), ("finalize",)]


def test_a_resumed_run_is_past_the_call_before_training(tmp_path):
    first = make_trainer(tmp_path, iterations=2)
    first.run()
    events = []
    resumed = make_trainer(tmp_path, iterations=3)
    resumed.is_initialized = False
    resumed.extend(DummyCallableClass(events), call_before_training=True)
    resumed.load_state_dict(first.state_dict())
    resumed.run()
    assert events == [("initialize",), ("call", 3, False), ("finalize",)]


def test_a_call_before_training_reports_into_the_observation(tmp_path):
    seen = []

    def reporter_ext(trainer):
        if trainer.is_before_training:
            report({"before": 1.0})
            seen.append(dict(trainer.observation))

    trainer = make_trainer(tmp_path, iterations=1)
    trainer.extend(reporter_ext, call_before_training=True)
    trainer.run()
    assert seen == [{"before": 1.0}]


def test_add_lambda_extension(tmp_path):
    touched = []
    trainer = make_trainer(tmp_path)
    extension = lambda trainer: touched.append(trainer.iteration)  # noqa: E731 -- Chainer's case
    trainer.extend(extension)
    trainer.run()
    assert touched == list(range(1, 11))
    assert trainer.get_extension("<lambda>") is extension  # Chainer names it by __name__


def test_add_make_extension(tmp_path):
    calls = []

    @make_extension()
    def dummy_extension(trainer):
        calls.append(trainer.iteration)

    trainer = make_trainer(tmp_path, iterations=3)
    trainer.extend(dummy_extension)
    trainer.run()
    assert calls == [1, 2, 3]
    assert trainer.get_extension("dummy_extension") is dummy_extension
    assert dummy_extension.name == "dummy_extension"


def test_add_make_extension_with_initializer(tmp_path):
    events = []

    def initializer(trainer):
        trainer.is_initialized = True
        events.append("initialize")

    @make_extension(initializer=initializer)
    def dummy_extension(trainer):
        assert trainer.is_initialized
        events.append(trainer.iteration)

    trainer = make_trainer(tmp_path, iterations=2)
    trainer.is_initialized = False
    trainer.extend(dummy_extension)
    trainer.run()
    assert events == ["initialize", 1, 2]


def test_add_function_extension(tmp_path):
    calls = []

    def dummy_function(trainer):
        calls.append(trainer.iteration)

    trainer = make_trainer(tmp_path, iterations=2)
    trainer.extend(dummy_function)
    trainer.run()
    assert calls == [1, 2]
    assert trainer.get_extension("dummy_function") is dummy_function


def test_a_bound_method_is_an_extension_too(tmp_path):
    """Chainer writes ``extension.name``; a bound method cannot take it and still registers."""
    calls = []
    trainer = make_trainer(tmp_path, iterations=2)
    trainer.extend(calls.append)
    trainer.extend(calls.append)
    trainer.run()
    assert calls == [trainer, trainer, trainer, trainer]
    assert trainer.get_extension("append_1") == calls.append


# -- order by priority ----------------------------------------------------------------
def test_add_two_extensions_default_priority(tmp_path):
    called_order = []

    @make_extension(trigger=(1, "epoch"))
    def dummy_extension_1(trainer):
        called_order.append((1, trainer.iteration))

    @make_extension(trigger=(1, "epoch"))
    def dummy_extension_2(trainer):
        called_order.append((2, trainer.iteration))

    trainer = make_trainer(tmp_path)
    trainer.extend(dummy_extension_1)
    trainer.extend(dummy_extension_2)
    trainer.run()
    # 10 iterations of 4 an epoch: the epoch ends after iterations 4 and 8.
    assert called_order == [(1, 4), (2, 4), (1, 8), (2, 8)]


def test_add_two_extensions_specific_priority(tmp_path):
    called_order = []

    @make_extension(trigger=(1, "epoch"), priority=50)
    def dummy_extension_1(trainer):
        called_order.append((1, trainer.iteration))

    @make_extension(trigger=(1, "epoch"), priority=100)
    def dummy_extension_2(trainer):
        called_order.append((2, trainer.iteration))

    trainer = make_trainer(tmp_path)
    trainer.extend(dummy_extension_1)
    trainer.extend(dummy_extension_2)
    trainer.run()
    assert called_order == [(2, 4), (1, 4), (2, 8), (1, 8)]


def test_priority_constants_order_writer_editor_reader_snapshot(tmp_path):
    order = []

    def recorder(label):
        return lambda trainer: order.append(label)

    trainer = make_trainer(tmp_path, iterations=1)
    trainer.extend(recorder("snapshot"), name="snapshot", priority=PRIORITY_SNAPSHOT)
    trainer.extend(recorder("reader"), name="reader")  # no priority attribute: PRIORITY_READER
    trainer.extend(recorder("editor"), name="editor", priority=PRIORITY_EDITOR)
    trainer.extend(recorder("writer"), name="writer", priority=PRIORITY_WRITER)
    trainer.extend(recorder("reader_2"), name="reader_2", priority=PRIORITY_READER)
    trainer.run()
    assert order == ["writer", "editor", "reader", "reader_2", "snapshot"]
    assert (PRIORITY_WRITER, PRIORITY_EDITOR, PRIORITY_READER, PRIORITY_SNAPSHOT) == (300, 200, 100, -100)


def test_extend_arguments_override_the_extension_attributes(tmp_path):
    calls = []

    @make_extension(trigger=(1, "iteration"), priority=PRIORITY_WRITER)
    def first(trainer):
        calls.append(("first", trainer.iteration))

    @make_extension(trigger=(1, "iteration"), priority=PRIORITY_READER)
    def second(trainer):
        calls.append(("second", trainer.iteration))

    trainer = make_trainer(tmp_path, iterations=4)
    trainer.extend(first, trigger=(2, "iteration"), priority=0)
    trainer.extend(second)
    trainer.run()
    assert calls == [("second", 1), ("second", 2), ("first", 2), ("second", 3), ("second", 4), ("first", 4)]
    assert (first.trigger, first.priority) == ((1, "iteration"), PRIORITY_WRITER)  # attributes untouched


def test_ppe_call_and_initialize_order_table(tmp_path):
    """pytorch-pfn-extras' test_extensions_manager_extensions, through ``extend`` only.

    Its ``ExtensionEntry`` objects (ext6, ext7) become ``extend`` arguments: ext7's
    entry said priority -2 and ``call_before_training=True``, then ``extend`` overrode
    them with -4 and ``False``.
    """
    events = []

    class Dummy(Extension):
        def __init__(self, extension_id):
            self.extension_id = extension_id

        def __call__(self, trainer):
            events.append(("call", self.extension_id))

    class DummyInitialize(Dummy):
        def initialize(self, trainer):
            events.append(("init", self.extension_id))

    def update(engine, batch):
        events.append(("update", engine.state.iteration))
        return {}

    dummy5 = Dummy(5)
    exts = [Dummy(0), DummyInitialize(1), Dummy(2), DummyInitialize(3), DummyInitialize(4),
            lambda trainer: dummy5(trainer), Dummy(6), Dummy(7)]
    max_epochs, iters_per_epoch = 5, 4
    trainer = Trainer(update, [0] * iters_per_epoch, (max_epochs, "epoch"), tmp_path / "out")
    trainer.extend(exts[0], "ext0", priority=2, call_before_training=True)
    trainer.extend(exts[1], "ext1", priority=1, call_before_training=False)
    trainer.extend(exts[2], "ext2", priority=3, call_before_training=False)
    trainer.extend(exts[3], "ext3", priority=0, call_before_training=True)
    trainer.extend(exts[4], "ext4", priority=4, call_before_training=True)
    trainer.extend(exts[5], "ext5", priority=-1, call_before_training=True)
    trainer.extend(exts[6], "ext6", priority=-3, call_before_training=True)
    trainer.extend(exts[7], "ext7", priority=-4, call_before_training=False)

    for i, ext in enumerate(exts):
        assert trainer.get_extension(f"ext{i}") is ext
    with pytest.raises(ValueError, match=r"No extension named 'ext10'; registered: ext0, ext1, ext2, ext3"):
        trainer.get_extension("ext10")

    trainer.run()
    init = [("init", 4), ("init", 1), ("init", 3)]
    before = [("call", i) for i in (4, 0, 3, 5, 6)]
    per_iteration = [("call", i) for i in (4, 2, 0, 1, 3, 5, 6, 7)]
    expected = init + before
    for it in range(1, max_epochs * iters_per_epoch + 1):
        expected += [("update", it)] + per_iteration
    assert events == expected


# -- names ----------------------------------------------------------------------------
def test_names_taken_get_ordinal_suffixes(tmp_path):
    trainer = make_trainer(tmp_path)
    reports = [LogReport(), LogReport(), LogReport()]
    for log_report in reports:
        trainer.extend(log_report)
    assert [r.name for r in reports] == ["LogReport", "LogReport_1", "LogReport_2"]
    assert [trainer.get_extension(n) for n in ("LogReport", "LogReport_1", "LogReport_2")] == reports

    def fn(trainer):
        pass

    trainer.extend(fn, name="x")
    trainer.extend(lambda t: None, name="x")
    trainer.extend(fn)
    assert trainer.get_extension("x") is fn
    assert trainer.get_extension("x_1").__name__ == "<lambda>"
    # fn's name attribute is "x" now (Chainer writes it back), so it is taken again.
    assert trainer.get_extension("x_2") is fn


def test_name_lookup_order_name_default_name_dunder_name_class(tmp_path):
    class Named(Extension):
        name = "name"
        default_name = "default"

        def __call__(self, trainer):
            pass

    class Defaulted(Extension):
        default_name = "defalut_name"

        def __call__(self, trainer):
            pass

    class Anonymous:  # no name attribute at all: the class name
        def __call__(self, trainer):
            pass

    trainer = make_trainer(tmp_path)
    named, defaulted, anonymous, given = Named(), Defaulted(), Anonymous(), Named()
    trainer.extend(named)
    trainer.extend(defaulted)
    trainer.extend(anonymous)
    trainer.extend(given, name="updated")
    assert trainer.get_extension("name") is named
    assert trainer.get_extension("defalut_name") is defaulted
    assert trainer.get_extension("Anonymous") is anonymous
    assert trainer.get_extension("updated") is given
    assert (named.name, defaulted.name, anonymous.name, given.name) == ("name", "defalut_name", "Anonymous", "updated")


def test_get_extension_of_an_unknown_name(tmp_path):
    trainer = make_trainer(tmp_path)
    with pytest.raises(ValueError, match=r"^No extension named 'LogReport'; registered: none$"):
        trainer.get_extension("LogReport")


# -- triggers -------------------------------------------------------------------------
def test_a_trigger_is_called_with_the_trainer_after_every_iteration(tmp_path):
    seen, calls = [], []

    def every_third(trainer_arg):
        seen.append((trainer_arg is trainer, trainer_arg.iteration, trainer_arg.updater.iteration))
        return trainer_arg.iteration % 3 == 0

    trainer = make_trainer(tmp_path, iterations=7)
    trainer.extend(lambda t: calls.append(t.iteration), trigger=every_third)
    trainer.run()
    assert seen == [(True, i, i) for i in range(1, 8)]
    assert calls == [3, 6]


def test_the_trigger_attribute_is_the_default_and_none_never_fires(tmp_path):
    calls = []

    class Epochly(Extension):
        trigger = (1, "epoch")

        def __call__(self, trainer):
            calls.append(("epochly", trainer.iteration))

    class Never(Extension):
        trigger = None

        def __call__(self, trainer):
            calls.append(("never", trainer.iteration))

    trainer = make_trainer(tmp_path, iterations=9)
    trainer.extend(Epochly())
    trainer.extend(Never())
    trainer.extend(lambda t: calls.append(("plain", t.iteration)) if t.iteration > 7 else None)
    trainer.run()
    assert calls == [("epochly", 4), ("epochly", 8), ("plain", 8), ("plain", 9)]


def test_a_finished_trigger_skips_initialize(tmp_path):
    """Chainer runs ``initialize`` only when the trigger is not ``finished``."""
    events = []

    class Done:
        finished = True

        def __call__(self, trainer):
            return False

    class Ext(Extension):
        def __init__(self, label):
            self.label = label

        def __call__(self, trainer):
            pass

        def initialize(self, trainer):
            events.append(self.label)

    trainer = make_trainer(tmp_path, iterations=1)
    trainer.extend(Ext("done"), name="done", trigger=Done())
    trainer.extend(Ext("live"), name="live")
    trainer.run()
    assert events == ["live"]


def test_a_callable_stop_trigger_is_asked_with_the_trainer(tmp_path):
    asked, calls = [], []

    def stop_at_six(trainer_arg):
        asked.append(trainer_arg.iteration)
        return trainer_arg.iteration >= 6

    trainer = Trainer(idle_update, [0] * 4, stop_at_six, tmp_path / "out")
    trainer.extend(lambda t: calls.append(t.iteration))
    trainer.run()
    assert trainer.iteration == 6
    assert asked == [1, 2, 3, 4, 5, 6]
    assert calls == [1, 2, 3, 4, 5, 6]  # extensions run before the stop trigger is asked


# -- errors: on_error and finalize ------------------------------------------------------
def test_exception_handler(tmp_path):
    events = []
    trainer = make_trainer(tmp_path)
    trainer.is_initialized = False
    trainer.extend(ErrorHandlingExtension(events), trigger=(1, "iteration"), priority=1)
    seen = {}

    def exception_handler(trainer_arg, exc, tb):
        seen.update(trainer=trainer_arg, exc=exc, frames=[f.name for f in traceback.extract_tb(tb)])
        events.append(("on_error", "exception_raiser", type(exc).__name__))

    @make_extension(trigger=(1, "iteration"), priority=100, on_error=exception_handler)
    def exception_raiser(trainer):
        if trainer.iteration == 2:
            raise TheOnlyError("at 2")

    trainer.extend(exception_raiser)
    trainer.extend(DummyExtension(events))

    with pytest.raises(TheOnlyError, match="at 2"):
        trainer.run()
    assert seen["trainer"] is trainer
    assert str(seen["exc"]) == "at 2"
    assert seen["frames"][-1] == "exception_raiser"
    assert events == [
        ("initialize", 0), ("call", 1),
        # the raiser (100) failed at 2 before DummyExtension (100, registered later) ran
        ("on_error", "exception_raiser", "TheOnlyError"), ("on_error", "ErrorHandlingExtension", "TheOnlyError"),
        ("finalize",), ("finalize", "ErrorHandlingExtension"),  # by priority: DummyExtension 100, then 1
    ]
    assert trainer.iteration == 2


def test_exception_in_exception_handler(tmp_path, capsys):
    events = []
    trainer = make_trainer(tmp_path)
    trainer.is_initialized = False
    trainer.extend(ErrorHandlingExtension(events), trigger=(1, "iteration"), priority=1)

    def exception_handler(trainer, exc, tb):
        raise ValueError("hogehoge from exception handler")

    @make_extension(trigger=(1, "iteration"), priority=100, on_error=exception_handler)
    def exception_raiser(trainer):
        raise TheOnlyError()

    trainer.extend(exception_raiser)
    trainer.extend(DummyExtension(events))

    with pytest.raises(TheOnlyError):
        trainer.run()
    assert events == [
        ("initialize", 0),
        ("on_error", "ErrorHandlingExtension", "TheOnlyError"),
        ("finalize",), ("finalize", "ErrorHandlingExtension"),
    ]
    err = capsys.readouterr().err
    assert ("Exception in on_error of extension 'exception_raiser': ValueError: hogehoge from exception handler"
            in err)
    assert "Traceback (most recent call last)" in err


def test_every_on_error_runs_even_when_several_raise(tmp_path, capsys):
    calls = []

    def failing_hook(label):
        def on_error(trainer, exc, tb):
            calls.append(label)
            raise RuntimeError(f"{label} failed")
        return on_error

    def update(engine, batch):
        if engine.state.iteration == 3:
            raise TheOnlyError("update 3")
        return {}

    trainer = make_trainer(tmp_path, update=update)
    for label, priority in (("a", 3), ("b", 2), ("c", 1)):
        trainer.extend(make_extension(on_error=failing_hook(label), priority=priority)(lambda t: None), name=label)
    with pytest.raises(TheOnlyError, match="update 3"):
        trainer.run()
    assert calls == ["a", "b", "c"]
    err = capsys.readouterr().err
    for label in "abc":
        assert f"Exception in on_error of extension {label!r}: RuntimeError: {label} failed" in err


def test_on_error_sees_an_error_of_the_update_step(tmp_path):
    """pytorch-pfn-extras' test_on_error: no call for a good iteration, one for the failing one."""
    errors, calls = [], []

    class Ext(Extension):
        def __call__(self, trainer):
            calls.append(trainer.iteration)

        def on_error(self, trainer, exc, tb):
            assert isinstance(exc, RuntimeError)
            errors.append(str(exc))

    def update(engine, batch):
        if engine.state.iteration == 2:
            raise RuntimeError("step 2")
        return {}

    trainer = make_trainer(tmp_path, iterations=2, epoch_length=2, update=update)
    trainer.extend(Ext())
    with pytest.raises(RuntimeError, match="step 2"):
        trainer.run()
    assert calls == [1]
    assert errors == ["step 2"]


def test_a_failing_finalize_does_not_stop_the_others(tmp_path, capsys):
    finalized = []

    def failing_finalize(trainer):
        raise OSError("disk gone")

    trainer = make_trainer(tmp_path, iterations=1)
    trainer.extend(make_extension(finalizer=failing_finalize, priority=2)(lambda t: None), name="first")
    trainer.extend(make_extension(finalizer=lambda t: finalized.append(t), priority=1)(lambda t: None), name="second")
    with pytest.raises(OSError, match="disk gone"):  # a successful run's failing finalize is its error
        trainer.run()
    assert finalized == [trainer]
    assert "Exception in finalize of extension 'first': OSError: disk gone" in capsys.readouterr().err


def test_a_failed_run_raises_its_own_error_over_a_failing_finalize(tmp_path, capsys):
    def failing_finalize():
        raise OSError("disk gone")

    @make_extension(finalizer=failing_finalize)
    def raiser(trainer):
        raise TheOnlyError("mine")

    trainer = make_trainer(tmp_path, iterations=1)
    trainer.extend(raiser)
    with pytest.raises(TheOnlyError, match="mine"):
        trainer.run()
    assert "Exception in finalize of extension 'raiser': OSError: disk gone" in capsys.readouterr().err


def test_finalize_with_the_trainer_runs_once_at_the_end(tmp_path):
    """pytorch-pfn-extras' test_finalize: ``finalize(self, manager)``; a finished run refuses to run."""

    class DummyExt(Extension):
        def __init__(self):
            self.call_cnt = 0
            self.finalized = []

        def __call__(self, trainer):
            self.call_cnt += 1

        def finalize(self, trainer):
            self.finalized.append(trainer.iteration)

    trainer = make_trainer(tmp_path, iterations=1, epoch_length=1)
    ext = DummyExt()
    trainer.extend(ext)
    trainer.run()
    assert ext.call_cnt == 1
    assert ext.finalized == [1]
    with pytest.raises(UsageError, match=r"^The run already reached iteration 1 of 1; pass a larger number"):
        trainer.run()
    assert (ext.call_cnt, ext.finalized) == (1, [1])


# -- status counters --------------------------------------------------------------------
@pytest.mark.parametrize("iteration, epoch, epoch_detail, previous, is_new_epoch", [
    (0, 0, 0.0, None, False),
    (1, 0, 0.25, 0.0, False),
    (8, 2, 2.0, 1.75, True),
    (9, 2, 2.25, 2.0, False),  # pytorch-pfn-extras' test_manager_status_info
    (15, 3, 3.75, 3.5, False),
])
def test_status_counters(tmp_path, iteration, epoch, epoch_detail, previous, is_new_epoch):
    trainer = make_trainer(tmp_path, iterations=20)
    trainer.engine.state.iteration = iteration
    assert (trainer.iteration, trainer.epoch, trainer.epoch_detail) == (iteration, epoch, epoch_detail)
    updater = trainer.updater
    assert (updater.iteration, updater.epoch, updater.epoch_detail) == (iteration, epoch, epoch_detail)
    assert updater.previous_epoch_detail == previous
    assert updater.is_new_epoch is is_new_epoch
    assert trainer.is_before_training is (iteration == 0)


def test_counters_seen_by_extensions_during_a_run(tmp_path):
    seen = []
    trainer = make_trainer(tmp_path, iterations=5)
    trainer.extend(lambda t: seen.append((t.iteration, t.epoch, t.epoch_detail, t.updater.is_new_epoch)))
    trainer.run()
    assert seen == [(1, 0, 0.25, False), (2, 0, 0.5, False), (3, 0, 0.75, False), (4, 1, 1.0, True),
                    (5, 1, 1.25, False)]


def test_models_and_optimizers_by_name(tmp_path):
    gen, dis = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    opt_gen = torch.optim.SGD(gen.parameters(), lr=0.1)
    opt_dis = torch.optim.SGD(dis.parameters(), lr=0.2)
    trainer = make_trainer(tmp_path, models={"gen": gen, "dis": dis}, optimizers={"gen": opt_gen, "dis": opt_dis})
    assert trainer.models == {"gen": gen, "dis": dis}
    assert trainer.updater.get_optimizer("dis") is opt_dis
    assert trainer.updater.get_all_optimizers() == {"gen": opt_gen, "dis": opt_dis}
    with pytest.raises(ValueError, match=r"No optimizer named 'main'; the trainer has gen, dis"):
        trainer.updater.get_optimizer("main")
    assert trainer.out == (tmp_path / "out").resolve()


# -- extension state --------------------------------------------------------------------
class StateExtension(Extension):
    def __init__(self, state=None):
        self.state = state
        self.loaded = []

    def __call__(self, trainer):
        pass

    def state_dict(self):
        return self.state

    def load_state_dict(self, state):
        self.loaded.append(state)


def test_extension_state_in_the_trainer_state(tmp_path):
    """pytorch-pfn-extras' test_extensions_manager_state_dict: 11 iterations of 4 an epoch."""
    extension_state = {"count": 11, "names": ["a", "b"]}
    trainer = make_trainer(tmp_path, iterations=11)
    trainer.extend(StateExtension(extension_state), name="extension_name")
    trainer.extend(lambda t: None, name="stateless")
    trainer.run()

    state = trainer.state_dict()
    assert state["extensions"] == {"extension_name": extension_state}  # a function has no state
    assert state["triggers"] == {
        "extension_name": {"previous_iteration": 11, "previous_epoch_detail": 2.75},
        "stateless": {"previous_iteration": 11, "previous_epoch_detail": 2.75},
    }
    assert state["engine"]["iteration"] == 11
    torch.save(state, tmp_path / "state.pt")

    new_extension = StateExtension()
    new_trainer = make_trainer(tmp_path, iterations=12)
    new_trainer.extend(new_extension, name="extension_name")
    new_trainer.extend(lambda t: None, name="stateless")
    new_trainer.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert new_extension.loaded == [extension_state]
    assert new_trainer.iteration == 11
    assert new_trainer.state_dict()["triggers"] == state["triggers"]


def test_state_of_an_extension_not_registered_now_is_ignored(tmp_path):
    trainer = make_trainer(tmp_path, iterations=2)
    trainer.extend(StateExtension({"a": 1}), name="gone")
    trainer.run()
    kept = StateExtension()
    new_trainer = make_trainer(tmp_path, iterations=3)
    new_trainer.extend(kept, name="kept")
    new_trainer.load_state_dict(trainer.state_dict())
    assert kept.loaded == []
    assert new_trainer.iteration == 2


def test_a_resumed_trigger_continues_its_interval(tmp_path):
    """A (3, 'iteration') extension resumed at 4 fires at 6 and 9, as if never stopped."""
    calls = []
    first = make_trainer(tmp_path, iterations=4)
    first.extend(lambda t: calls.append(t.iteration), name="every3", trigger=(3, "iteration"))
    first.run()
    resumed = make_trainer(tmp_path, iterations=9)
    resumed.extend(lambda t: calls.append(t.iteration), name="every3", trigger=(3, "iteration"))
    resumed.load_state_dict(first.state_dict())
    resumed.run()
    assert calls == [3, 6, 9]


def test_a_log_report_state_loads_weights_only(tmp_path):
    """A LogReport's state holds numbers and strings only (weights-only checkpoints)."""
    trainer = make_trainer(tmp_path, iterations=6, update=lambda e, b: {"loss": torch.tensor(float(e.state.iteration))})
    trainer.extend(LogReport(trigger=(4, "iteration")))
    trainer.run()
    state = round_trip(trainer.state_dict())
    assert state["extensions"]["LogReport"]["summary"] == {"loss": {"x": 11.0, "x2": 61.0, "n": 2.0}}


def test_snapshot_priority_extensions_run_after_every_trigger_was_asked(tmp_path):
    """pytorch-pfn-extras' rule: a snapshot taken at an iteration holds the state of every
    trigger asked at that iteration, another snapshot-priority extension's included."""
    from gan_ignite.extensions import PRIORITY_SNAPSHOT
    from gan_ignite.triggers import IntervalTrigger

    trainer = Trainer(lambda engine, batch: {}, [0] * 2, stop_trigger=(4, "iteration"), out=tmp_path)
    events, states = [], []
    late = IntervalTrigger(2, "iteration")

    def first(t):
        events.append(("first", t.iteration))
        states.append(t.state_dict()["triggers"]["second"]["previous_iteration"])

    def second(t):
        events.append(("second", t.iteration))

    trainer.extend(first, trigger=(2, "iteration"), priority=PRIORITY_SNAPSHOT)
    trainer.extend(second, trigger=late, priority=PRIORITY_SNAPSHOT - 1)
    trainer.run()
    assert events == [("first", 2), ("second", 2), ("first", 4), ("second", 4)]
    assert states == [2, 4]  # "second"'s trigger had been asked when "first" saved


def test_a_checkpoint_without_trigger_state_resumes_without_firing_again(tmp_path):
    """A checkpoint written before triggers kept state: the triggers take their previous call
    to be the iteration before the next one (Chainer's guess) instead of iteration 0."""
    from gan_ignite import extensions as E

    def build(out):
        trainer = Trainer(lambda engine, batch: {"loss": float(batch)}, [1, 2, 3, 4], stop_trigger=(2, "epoch"),
                          out=out)
        trainer.extend(E.LogReport(trigger=(1, "epoch")))
        trainer.extend(lambda t: None, name="every_epoch", trigger=(1, "epoch"))
        return trainer

    first = build(tmp_path / "a")
    first.stop_trigger = first.stop_trigger.__class__(1, "epoch")
    first.run()
    state = first.state_dict()
    del state["triggers"]
    del state["extensions"]["LogReport"]["trigger"]
    calls = []
    again = build(tmp_path / "b")
    again.extend(lambda t: calls.append(t.iteration), name="probe", trigger=(1, "epoch"))
    again.load_state_dict(state)
    again.run()
    assert [e["iteration"] for e in again.get_extension("LogReport").log] == [4, 8]  # none at 5
    assert calls == [8]


def test_log_report_called_before_training_makes_an_entry_of_its_own(tmp_path):
    from gan_ignite import extensions as E

    trainer = Trainer(lambda engine, batch: {"loss": float(batch)}, [1, 2], stop_trigger=(1, "epoch"), out=tmp_path)
    trainer.extend(E.observe_value("val/x", lambda t: 42.0), call_before_training=True)
    trainer.extend(E.LogReport(), call_before_training=True)
    trainer.run()
    log = trainer.get_extension("LogReport").log
    assert [(e["iteration"], e.get("val/x"), e.get("loss")) for e in log] == [(0, 42.0, None), (2, 42.0, 1.5)]


def test_an_update_function_that_only_reports_returns_nothing(tmp_path):
    from gan_ignite.reporting import report

    def update_core(engine, batch):  # Chainer's update_core: it reports and returns None
        report({"main/loss": float(batch)})

    trainer = Trainer(update_core, [1, 2], stop_trigger=(2, "iteration"), out=tmp_path)
    trainer.run()
    assert trainer.observation == {"main/loss": 2.0}


def test_a_loader_without_a_length_is_refused(tmp_path):
    from gan_ignite.errors import UsageError

    with pytest.raises(UsageError, match=r"^Argument `loader` should have a length .* but given a generator; "):
        Trainer(lambda engine, batch: {}, (b for b in [1, 2]), out=tmp_path)
