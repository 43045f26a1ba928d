"""The run directory: its layout, identity marker, lock, path resolution and atomic writes.

A run directory (``--out``) holds what one training run writes (DESIGN.md)::

    run.json       identity marker, written first: format version, experiment, run id, entries
    run.lock       the lock its one writing process holds
    config.json    the resolved settings
    log.jsonl      LogReport entries
    images/        epoch_0001.png sample grids, reconstruction_0001.png reconstructions
    checkpoints/   checkpoint_<iteration>.pt and best_fid_checkpoint_<iteration>.pt, each
                   with a <name>.sha256 sidecar
    tb/            TensorBoard event files
    plots/         loss.png, dis_output.png
    report.html    the page gan-ignite report writes (when asked)

Only a directory with a valid ``run.json`` is a run (:func:`read_marker`). ``--force``
deletes only what :func:`removable_files` finds: the entries the marker lists, and in
them only files of the names above, never through a symbolic link; a run directory that
holds anything else is refused whole, so nothing a user put there is ever deleted.
:class:`RunLock` makes one process at a time the writer of a directory. Paths a user
types are expanded and resolved once (:func:`resolve_path`), so every writer, Ignite's
``DiskSaver`` included, writes to the same place. Files are written atomically
(:func:`write_atomic`).
"""

from gan_ignite.run_dir.layout import (
    MARKER, LOCK, CONFIG, LOG, IMAGES, CHECKPOINTS, TB, PLOTS, REPORT, ENTRIES, FORMAT, SAMPLE_GRID_FILE,
    RECONSTRUCTION_FILE, LOSS_PLOT, DIS_OUTPUT_PLOT, CHECKPOINT_FILE, DIGEST_SUFFIX, TEMPORARY_CHECKPOINT,
    checkpoint_name, Marker, read_marker, write_marker, run_experiment_name, check_same_experiment, removable_files, remove_files,
    foreign_entries, check_folders_writable
)
from gan_ignite.run_dir.lock import RunLock
from gan_ignite.run_dir.paths import (
    looks_like_path, resolve_path, open_regular, read_small, check_writable_dir, cannot_write_in, write_atomic
)

__all__ = [
    "MARKER", "LOCK", "CONFIG", "LOG", "IMAGES", "CHECKPOINTS", "TB", "PLOTS", "REPORT", "ENTRIES", "FORMAT",
    "SAMPLE_GRID_FILE", "RECONSTRUCTION_FILE", "LOSS_PLOT", "DIS_OUTPUT_PLOT", "CHECKPOINT_FILE", "DIGEST_SUFFIX",
    "TEMPORARY_CHECKPOINT", "checkpoint_name", "Marker", "read_marker", "write_marker", "run_experiment_name", "check_same_experiment",
    "removable_files", "remove_files", "foreign_entries", "check_folders_writable", "RunLock", "looks_like_path",
    "resolve_path", "open_regular", "read_small", "check_writable_dir", "cannot_write_in", "write_atomic"
]
