"""Config files: any experiment option in a TOML, YAML or JSON file, given as ``--config FILE``.

A config file holds options by their field names (``batch_size = 32``; ``batch-size``
works too), flat, in TOML (``.toml``), YAML (``.yaml``/``.yml``) or JSON (``.json``). The
command line overrides the file: ``--config base.toml --lr 1e-3`` is the file's run with
another learning rate. A run's own ``config.json`` is a config file too, so::

    gan-ignite train gan_mnist --config result/config.json --out result2

repeats a run in a new directory. Of a run's ``config.json`` the entries that record how
the run went rather than what it is (its experiment, number of processes, global batch,
whether it was resumed or replaced) are passed over; any other key that is no option of
the experiment is an error naming the nearest option, as a mistyped flag would be. Values
are checked as the run's saved settings are: their type here, their range by the config.
"""

from __future__ import annotations

import difflib
import json
import typing
from pathlib import Path
from typing import Any

from gan_ignite.errors import UsageError
from gan_ignite.options import OptionError, coerce, flag
from gan_ignite.run_dir import read_small, resolve_path

__all__ = ["read_config_file", "FORMATS", "RUN_RECORD_KEYS"]

FORMATS = {".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}
# What a run's config.json records besides its options: passed over when it is a config file.
RUN_RECORD_KEYS = ("experiment", "world_size", "global_batch_size", "resume", "force")
_MAX_BYTES = 1 << 20  # a config file is small; anything larger is not one


def read_config_file(file: str, cls: type, experiment: str | None = None) -> dict[str, Any]:
    """The option values ``file`` sets for the config dataclass ``cls``, by field name, typed.

    Args:
        experiment: the experiment being configured; a run's ``config.json`` naming
            another one is refused.

    Raises:
        UsageError: the file is missing, unreadable, of an unknown format, not a flat
            mapping, a run's config.json of another experiment, holds a key that is no
            option (naming the nearest one) or a value of the wrong type (naming the
            file and the key).
    """
    path = resolve_path(file, "--config")
    shown = f"--config {file}"
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(f"{shown}: unknown format {path.suffix or '(no suffix)'}; use a .toml, .yaml, .yml or "
                         f".json file")
    if not path.is_file():
        raise UsageError(f"{shown}: no such file" if not path.exists() else f"{shown}: not a file")
    try:
        data = read_small(path, _MAX_BYTES + 1)
        text = data.decode()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{shown}: cannot read it ({exc}); pass a readable {kind} file") from None
    if len(data) > _MAX_BYTES:
        raise UsageError(f"{shown} is larger than {_MAX_BYTES >> 20} MiB, too large for a config file; pass a "
                         f"{kind} file of options")
    mapping = _parsed(text, kind, shown)
    if kind == "JSON":
        _check_experiment(mapping.get("experiment"), experiment, file)
    return _options(mapping, cls, path, run_record=kind == "JSON")


def _check_experiment(recorded: Any, experiment: str | None, file: str) -> None:
    """Refuse a run's config.json of another experiment: its settings would train another model."""
    if isinstance(recorded, str) and recorded.startswith("experiments."):  # runs from before run.json
        recorded = recorded.removeprefix("experiments.")
    if experiment is None or not isinstance(recorded, str) or recorded == experiment:
        return
    raise UsageError(f"--config {file} holds the settings of a {recorded} run, not of {experiment}; train "
                     f"{recorded} with it, or copy the options you want into a TOML file")


def _parsed(text: str, kind: str, shown: str) -> dict[str, Any]:
    """The file's top-level mapping."""
    try:
        if kind == "TOML":
            import tomllib

            data = tomllib.loads(text)
        elif kind == "YAML":
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # each parser has its own error class; all mean the same here
        detail = " ".join(str(exc).split())
        raise UsageError(f"{shown} is not valid {kind} ({detail}); repair it") from None
    if data is None:  # an empty YAML file
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{shown} does not hold a mapping of options (it holds a {type(data).__name__}); write one "
                         f"option per line, e.g. batch_size = 32")
    return data


def _options(mapping: dict[str, Any], cls: type, path: Path, run_record: bool) -> dict[str, Any]:
    """Keys checked against ``cls``'s fields, values coerced to the fields' types."""
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in mapping.items():
        name = str(key).replace("-", "_")
        if run_record and name in RUN_RECORD_KEYS:
            continue
        if isinstance(value, dict):
            raise UsageError(f"--config {path}: {key!r} is a table of options; write every option at the top level "
                             f"of the file, e.g. batch_size = 32")
        if name not in hints:
            raise _unknown(str(key), path, list(hints))
        if name in ("resume", "force"):
            raise UsageError(f"--config {path}: {key} belongs on the command line ({flag(name)}), not in a config "
                             f"file; remove it from the file")
        try:
            values[name] = coerce(name, hints[name], _yaml_number(hints[name], value))
        except OptionError as exc:
            raise exc.in_file(path) from None
    return values


def _yaml_number(kind: Any, value: Any) -> Any:
    """YAML 1.1 reads ``2e-4`` (no dot) as a string: a float option takes it as the number it spells."""
    if kind is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _unknown(key: str, path: Path, names: list[str]) -> UsageError:
    nearest = difflib.get_close_matches(key.replace("-", "_"), names, n=1, cutoff=0.6)
    hint = f"did you mean {nearest[0]}?" if nearest else "see --help for the options"
    return UsageError(f"--config {path}: unknown option {key!r}; {hint}")
