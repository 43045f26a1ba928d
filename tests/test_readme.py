"""The README's Python examples run as written (with a shorter stop trigger)."""

import re

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow


def python_blocks():
    return re.findall(r"```python\n(.*?)```", (PROJECT_ROOT / "README.md").read_text(), re.S)


def test_readme_examples_train_and_extend(tmp_path, capsys):
    extension, ignite_handler, library = python_blocks()
    library = library.replace('stop_trigger=(5, "epoch")', 'stop_trigger=(2, "epoch")')
    library = library.replace('out="result/lib"', f'out="{tmp_path}"')
    namespace: dict = {}
    exec(library.replace("trainer.run()", ""), namespace)
    exec(extension, namespace)
    exec(ignite_handler, namespace)
    namespace["trainer"].run()
    assert "epoch 2: D(x) - D(G(z)) = " in capsys.readouterr().out
    assert namespace["timer"].value() > 0
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
