"""The installed experiments, by name: the one way a name read from a file becomes code.

``python -m gan_ignite.evaluate RUN`` rebuilds a run's networks with the experiment its
``config.json`` names, and ``--resume`` checks that the run is this experiment's. Such a
name is data from a file that anyone may have written, so it is looked up among the
modules of the ``experiments`` package installed beside ``gan_ignite``
(:func:`experiment_names`, what ``gan-ignite list`` shows), never imported as given. An
unknown name is one line, and an ``experiments`` package that the working directory
(first on ``sys.path`` under ``python -m``) puts in front of the installed one is refused
before any of its code runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

from gan_ignite.errors import UsageError

__all__ = ["EXPERIMENTS_DIR", "experiment_names", "load_experiment", "experiment_of", "module_name"]

# Installed beside gan_ignite: the project root in an editable install, site-packages otherwise.
EXPERIMENTS_DIR = Path(__file__).resolve().parent.parent / "experiments"
_PACKAGE = "experiments"


def experiment_names() -> list[str]:
    """The installed experiments' names (``gan_mnist``, ...), sorted."""
    modules = pkgutil.iter_modules([str(EXPERIMENTS_DIR)])
    return sorted(m.name for m in modules if not m.ispkg and not m.name.startswith("_"))


def load_experiment(name: object) -> ModuleType:
    """The module of the installed experiment ``name``.

    Raises:
        UsageError: ``name`` is not an installed experiment, or another package named
            ``experiments`` would be imported in place of the installed one.
    """
    names = experiment_names()
    if not isinstance(name, str) or name not in names:
        raise UsageError(f"unknown experiment {name!r}; choose one of {', '.join(names)}")
    _check_package()
    return importlib.import_module(f"{_PACKAGE}.{name}")


def _check_package() -> None:
    loaded = sys.modules.get(_PACKAGE)
    # find_spec of a top-level name locates the package without running it.
    spec = loaded.__spec__ if loaded is not None else importlib.util.find_spec(_PACKAGE)
    origin = Path(spec.origin).resolve().parent if spec is not None and spec.origin else None
    if origin != EXPERIMENTS_DIR:
        raise UsageError(
            f"the package `{_PACKAGE}` found first on the module path is {origin}, not gan_ignite's own "
            f"{EXPERIMENTS_DIR}; run from another directory"
        )


def module_name(module: str) -> str:
    """The importable name of ``module``, also for ``__main__`` under ``python -m``."""
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        return spec.name if spec is not None else module
    return module


def experiment_of(module: str) -> str | None:
    """The experiment name of a module (``experiments.gan_mnist`` -> ``gan_mnist``), or None."""
    package, _, name = module_name(module).rpartition(".")
    return name if package == _PACKAGE else None
