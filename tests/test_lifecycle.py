"""Chainer's registration and hook rules, unit by unit (``gan_ignite/lifecycle.py``).

Ports the name and hook rules of Chainer's ``Trainer.extend`` / ``Trainer.run``
(``chainer/training/trainer.py``, tested in
``tests/chainer_tests/training_tests/test_trainer.py``) and of pytorch-pfn-extras'
``ExtensionEntry`` (``tests/pytorch_pfn_extras_tests/training_tests/test_extension_entry.py``:
``test_default_name``, ``test_name``): the name given, else ``name``, else
``default_name``, else ``__name__``, with ``_1``, ``_2`` for names taken; ``finalize``
called with the trainer or, Chainer's form, without; a failing hook reported on stderr
while the others still run. The trainer-level behaviour is in ``tests/test_trainer_api.py``.
"""

from __future__ import annotations

import functools

import pytest

from gan_ignite.extensions.extension import Extension, make_extension
from gan_ignite.lifecycle import ExtensionEntry, call_with_trainer, registered_name, run_guarded

TRAINER = object()


# -- names ------------------------------------------------------------------------------
class WithName(Extension):
    name = "name"
    default_name = "defalut_name"


class WithDefaultName(Extension):
    name = None
    default_name = "defalut_name"


class Plain:
    def __call__(self, trainer):
        pass


def function_extension(trainer):
    pass


@pytest.mark.parametrize("extension, expected", [
    (WithName(), "name"),  # ppe test_name
    (WithDefaultName(), "defalut_name"),  # ppe test_default_name
    (Extension(), "Extension"),  # the default_name property: the class name
    (function_extension, "function_extension"),  # __name__
    (make_extension(default_name="my_ext")(lambda t: None), "my_ext"),
    (make_extension()(function_extension), "function_extension"),
    (lambda t: None, "<lambda>"),
    (Plain(), "Plain"),  # no name attribute at all: the class name
])
def test_the_name_an_extension_registers_under(extension, expected):
    assert registered_name(extension, None, ()) == expected


def test_a_name_given_wins_over_the_attributes():
    assert registered_name(WithName(), "updated", ()) == "updated"
    assert registered_name(WithDefaultName(), "updated", ()) == "updated"


def test_an_empty_or_non_string_name_attribute_is_passed_over():
    class EmptyName(Extension):
        name = ""

    class NumberName(Plain):
        name = 3

    assert registered_name(EmptyName(), None, ()) == "EmptyName"
    assert registered_name(NumberName(), None, ()) == "NumberName"


@pytest.mark.parametrize("taken, expected", [
    ((), "LogReport"),
    (("LogReport",), "LogReport_1"),
    (("LogReport", "LogReport_1"), "LogReport_2"),
    (("LogReport", "LogReport_2"), "LogReport_1"),  # the first free ordinal, as Chainer's loop
    (("LogReport_1",), "LogReport"),
    (("Other",), "LogReport"),
])
def test_a_name_taken_gets_the_first_free_ordinal(taken, expected):
    assert registered_name(object(), "LogReport", iter(taken)) == expected


def test_the_ordinal_goes_on_the_base_name_not_a_suffixed_one():
    assert registered_name(object(), "x_1", ("x", "x_1")) == "x_1_1"


# -- calling hooks ------------------------------------------------------------------------
class Hooks:
    def __init__(self):
        self.calls = []

    def chainer_finalize(self):
        self.calls.append(())

    def ppe_finalize(self, trainer):
        self.calls.append((trainer,))


def test_finalize_with_or_without_the_trainer():
    hooks = Hooks()
    call_with_trainer(hooks.chainer_finalize, TRAINER)
    call_with_trainer(hooks.ppe_finalize, TRAINER)
    assert hooks.calls == [(), (TRAINER,)]


@pytest.mark.parametrize("make_hook, expected", [
    (lambda calls: lambda: calls.append("none"), ["none"]),
    (lambda calls: lambda trainer: calls.append(trainer), [TRAINER]),
    (lambda calls: lambda trainer=None: calls.append(trainer), [TRAINER]),
    (lambda calls: lambda *args: calls.append(args), [(TRAINER,)]),
    (lambda calls: functools.partial(lambda label, trainer: calls.append((label, trainer)), "p"), [("p", TRAINER)]),
    (lambda calls: functools.partial(lambda label: calls.append(label), "p"), ["p"]),
])
def test_call_with_trainer_reads_the_signature(make_hook, expected):
    calls = []
    call_with_trainer(make_hook(calls), TRAINER)
    assert calls == expected


def test_a_hook_without_a_signature_gets_the_trainer():
    class Opaque:
        __signature__ = 42  # inspect.signature raises TypeError on it

        def __init__(self):
            self.calls = []

        def __call__(self, *args):
            self.calls.append(args)

    hook = Opaque()
    call_with_trainer(hook, TRAINER)
    assert hook.calls == [(TRAINER,)]


def test_call_with_trainer_returns_what_the_hook_returns():
    assert call_with_trainer(lambda trainer: ("got", trainer), TRAINER) == ("got", TRAINER)


# -- guarded hooks ------------------------------------------------------------------------
def test_run_guarded_runs_every_call_and_reports_each_failure(capsys):
    ran = []

    def fail(message):
        ran.append(message)
        raise RuntimeError(message)

    failures = run_guarded([
        ("first", "on_error", lambda: fail("one")),
        ("second", "on_error", lambda: ran.append("fine")),
        ("third", "finalize", lambda: fail("three")),
    ])
    assert ran == ["one", "fine", "three"]
    assert [str(f) for f in failures] == ["one", "three"]
    assert all(type(f) is RuntimeError for f in failures)
    err = capsys.readouterr().err
    assert "Exception in on_error of extension 'first': RuntimeError: one\n" in err
    assert "Exception in finalize of extension 'third': RuntimeError: three\n" in err
    assert err.count("Traceback (most recent call last)") == 2
    assert "second" not in err


def test_run_guarded_with_no_failure_is_silent(capsys):
    assert run_guarded([("a", "finalize", lambda: None)]) == []
    assert run_guarded([]) == []
    assert capsys.readouterr().err == ""


def test_run_guarded_lets_a_keyboard_interrupt_through():
    """Only ``Exception``\\ s are guarded, as Chainer's handlers: Ctrl-C still stops the hooks."""
    ran = []

    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_guarded([("a", "finalize", interrupt), ("b", "finalize", lambda: ran.append("b"))])
    assert ran == []


# -- entries ------------------------------------------------------------------------------
def test_an_entry_hands_out_the_hooks_the_extension_has():
    def on_error(trainer, exc, tb):
        pass

    fn = make_extension(on_error=on_error)(lambda t: None)
    entry = ExtensionEntry("fn", fn, trigger=lambda t: True, priority=100)
    assert entry.hook("on_error") is on_error
    assert entry.hook("finalize") is None
    assert entry.hook("initialize") is None
    assert entry.call_before_training is False
    extension = Extension()
    class_entry = ExtensionEntry("ext", extension, trigger=lambda t: True, priority=100, call_before_training=True)
    assert class_entry.hook("finalize") == extension.finalize
    assert class_entry.call_before_training is True
