"""The Extension base class and make_extension, against Chainer's and pytorch-pfn-extras' tests.

Ports Chainer ``tests/chainer_tests/training_tests/test_extension.py`` and
pytorch-pfn-extras ``tests/pytorch_pfn_extras_tests/training_tests/test_extension.py``
(``__call__`` not implemented, ``default_name``, the removed ``invoke_before_training``,
``make_extension`` with its keywords and defaults, unexpected keywords) and
``test_extension_entry.py`` (``name`` / ``default_name`` / ``priority`` / ``trigger``
taken from the extension unless ``extend`` overrides them), driven through a
:class:`~gan_ignite.trainer.Trainer` where they need one.

Where the two references differ, the test says which it follows: an unset hook of a
``make_extension`` function is ``None`` in Chainer and a no-op in pytorch-pfn-extras;
here the attribute is not set, so ``getattr(fn, 'initialize', None)`` is ``None`` as
in Chainer.
"""

from __future__ import annotations

import pytest

from gan_ignite.errors import UsageError
from gan_ignite.extensions.extension import (
    PRIORITY_EDITOR,
    PRIORITY_READER,
    PRIORITY_SNAPSHOT,
    PRIORITY_WRITER,
    Extension,
    make_extension,
)
from gan_ignite.trainer import Trainer


def make_trainer(tmp_path, iterations=8, epoch_length=4, update=lambda engine, batch: {}):
    return Trainer(update, [0] * epoch_length, (iterations, "iteration"), tmp_path / "out")


# -- Extension ----------------------------------------------------------------------------
def test_raise_error_if_call_not_implemented(tmp_path):
    class MyExtension(Extension):
        pass

    with pytest.raises(NotImplementedError):
        MyExtension()(make_trainer(tmp_path))


def test_default_name():
    class MyExtension(Extension):
        pass

    assert MyExtension().default_name == "MyExtension"


def test_deleted_invoke_before_training():
    class MyExtension(Extension):
        pass

    with pytest.raises(AttributeError):
        MyExtension().invoke_before_training


def test_class_defaults_and_priorities():
    assert (Extension.trigger, Extension.priority, Extension.name) == ((1, "iteration"), PRIORITY_READER, None)
    assert PRIORITY_WRITER > PRIORITY_EDITOR > PRIORITY_READER > PRIORITY_SNAPSHOT
    assert (PRIORITY_WRITER, PRIORITY_EDITOR, PRIORITY_READER, PRIORITY_SNAPSHOT) == (300, 200, 100, -100)


def test_the_default_hooks_do_nothing_and_the_state_is_empty(tmp_path):
    extension = Extension()
    trainer = make_trainer(tmp_path)
    assert extension.initialize(trainer) is None
    assert extension.on_error(trainer, RuntimeError("x"), None) is None
    assert extension.finalize(trainer) is None
    assert extension.state_dict() == {}
    assert extension.load_state_dict({"anything": 1}) is None


def test_a_subclass_runs_through_a_trainer_with_its_class_defaults(tmp_path):
    events = []

    class EveryEpoch(Extension):
        trigger = (1, "epoch")
        priority = PRIORITY_WRITER

        def __call__(self, trainer):
            events.append(("call", trainer.iteration))

        def initialize(self, trainer):
            events.append(("initialize", trainer.iteration))

        def finalize(self, trainer):
            events.append(("finalize", trainer.iteration))

    trainer = make_trainer(tmp_path)
    extension = EveryEpoch()
    trainer.extend(extension)
    trainer.extend(lambda t: events.append(("reader", t.iteration)), trigger=(1, "epoch"))
    trainer.run()
    assert events == [("initialize", 0), ("call", 4), ("reader", 4), ("call", 8), ("reader", 8), ("finalize", 8)]
    assert extension.name == "EveryEpoch"
    assert EveryEpoch.name is None  # written on the instance, not the class


# -- ExtensionEntry's rules (pytorch-pfn-extras), through extend (names: tests/test_trainer_api.py) ---
def test_priority_from_the_extension_unless_given(tmp_path):
    order = []

    class High(Extension):
        priority = 100

        def __call__(self, trainer):
            order.append("high")

    class Low(Extension):
        priority = 50

        def __call__(self, trainer):
            order.append("low")

    trainer = make_trainer(tmp_path, iterations=2)
    trainer.extend(Low())
    trainer.extend(High())
    trainer.extend(High(), name="demoted", priority=10)
    trainer.run()
    assert order == ["high", "low", "high"] * 2


def test_trigger_from_the_extension_unless_given(tmp_path):
    calls = []

    class MyExtension(Extension):
        trigger = (1, "iteration")

        def __call__(self, trainer):
            calls.append((self.name, trainer.iteration))

    trainer = make_trainer(tmp_path, iterations=12)
    trainer.extend(MyExtension())
    trainer.extend(MyExtension(), name="every3epochs", trigger=(3, "epoch"))
    trainer.run()
    assert [i for name, i in calls if name == "MyExtension"] == list(range(1, 13))
    assert [i for name, i in calls if name == "every3epochs"] == [12]


# -- make_extension -----------------------------------------------------------------------
def test_make_extension():
    calls = []

    def initialize(trainer):
        calls.append(trainer)

    @make_extension(trigger=(2, "epoch"), default_name="my_ext", priority=50, initializer=initialize)
    def my_extension(trainer):
        pass

    assert my_extension.trigger == (2, "epoch")
    assert my_extension.default_name == "my_ext"
    assert my_extension.priority == 50
    assert my_extension.initialize is initialize
    assert calls == []  # ppe: not called by the decorator
    trainer = object()
    my_extension.initialize(trainer)
    assert calls == [trainer]


def test_make_extension_default_values():
    def original(trainer):
        pass

    my_extension = make_extension()(original)
    assert my_extension is original  # the decorator only adds attributes
    assert my_extension.trigger == (1, "iteration")
    assert my_extension.default_name == "original"
    assert my_extension.priority == PRIORITY_READER
    for hook in ("initialize", "on_error", "finalize"):
        assert getattr(my_extension, hook, None) is None  # Chainer: None; ppe: a no-op


def test_make_extension_finalizer_and_on_error_in_a_run(tmp_path):
    events = []

    def on_error(trainer, exc, tb):
        events.append(("on_error", trainer.iteration, str(exc), tb is not None))

    def finalizer(trainer):
        events.append(("finalize", trainer.iteration))

    @make_extension(trigger=(1, "epoch"), finalizer=finalizer, on_error=on_error)
    def my_extension(trainer):
        events.append(("call", trainer.iteration))

    def update(engine, batch):
        if engine.state.iteration == 6:
            raise RuntimeError("step 6")
        return {}

    trainer = make_trainer(tmp_path, update=update)
    trainer.extend(my_extension)
    with pytest.raises(RuntimeError, match="step 6"):
        trainer.run()
    assert events == [("call", 4), ("on_error", 6, "step 6", True), ("finalize", 6)]


def test_make_extension_chainer_finalizer_without_the_trainer(tmp_path):
    finalized = []

    @make_extension(finalizer=lambda: finalized.append(True))
    def my_extension(trainer):
        pass

    trainer = make_trainer(tmp_path, iterations=1)
    trainer.extend(my_extension)
    trainer.run()
    assert finalized == [True]


def test_make_extension_on_a_callable_object_names_it_by_class():
    class Callable:
        def __call__(self, trainer):
            pass

    extension = make_extension(priority=PRIORITY_EDITOR)(Callable())
    assert (extension.default_name, extension.priority) == ("Callable", PRIORITY_EDITOR)


def test_make_extension_deleted_argument():
    with pytest.raises(ValueError, match="invoke_before_training"):
        @make_extension(invoke_before_training=False)
        def my_extension(_):
            pass


def test_make_extension_unexpected_kwargs():
    with pytest.raises(TypeError):
        @make_extension(foo=1)
        def my_extension(_):
            pass


def test_make_extension_unexpected_kwargs_are_named():
    with pytest.raises(UsageError, match=r"^make_extension got unexpected arguments: bar, foo$"):
        make_extension(foo=1, bar=2)


def test_make_extension_earlier_keyword_names():
    def init(trainer):
        pass

    def fin(trainer):
        pass

    fn = make_extension(name="old", initialize=init, finalize=fin)(lambda t: None)
    assert (fn.default_name, fn.initialize, fn.finalize) == ("old", init, fin)
    with pytest.raises(UsageError, match=r"^Arguments `name` and `default_name` of make_extension are the same; "
                                         r"pass only `default_name`$"):
        make_extension(name="a", default_name="b")


def test_make_extension_refuses_is_async():
    with pytest.raises(UsageError, match=r"^Argument `is_async` of make_extension is not supported"):
        make_extension(is_async=True)
