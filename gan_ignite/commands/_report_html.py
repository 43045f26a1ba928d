"""The page ``gan-ignite report`` writes: one self-contained HTML file about a run.

Every image is inlined as a ``data:`` URI and the style sheet is in the page, so the
file can be mailed or archived alone; no script runs. Every text from the run (a
setting, a key of the log) is escaped with :func:`html.escape`, and every image from it
(a plot, a grid) is inlined only once Pillow verifies it is a PNG: one that is not is
left out with a warning naming it. The page, top to bottom: the title (run,
experiment, epochs), the final and best metrics beside the animation of the sample
grids over the epochs and the command that resumes the run, the settings (those other
than the experiment's defaults marked), the run's plots and the evaluation curve, then
the sample grid of every epoch.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import struct
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gan_ignite.commands._runs import (
    NOT_COMPARED, RunView, best_metrics, differs_from_default, final_metrics, read_bytes, resume_command,
    sample_grids, show_setting, show_value,
)
from gan_ignite.errors import UsageError
from gan_ignite.run_dir import DIS_OUTPUT_PLOT, LOSS_PLOT, PLOTS

__all__ = ["render"]

_STYLE = """
body{font:13px/1.35 system-ui,-apple-system,'Segoe UI',sans-serif;margin:12px 16px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 2px}
h2{font-size:14px;margin:14px 0 6px;padding-bottom:2px;border-bottom:1px solid #ddd}
.sub{color:#555}
.row{display:flex;flex-wrap:wrap;gap:8px 22px;align-items:flex-start}
.gallery{gap:6px 8px}
table{border-collapse:collapse}
th,td{padding:1px 7px;text-align:left;border-bottom:1px solid #eee;vertical-align:top}
th{font-weight:600;color:#444;background:#f6f6f6}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.changed td{background:#fff3cd;font-weight:600}
td.default{color:#777;font-weight:400}
figure{margin:0;text-align:center}
figcaption{font-size:12px;color:#555;margin-top:1px}
img.px{image-rendering:pixelated}
code,pre{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
pre{background:#f4f4f4;padding:6px 10px;margin:4px 0;white-space:pre-wrap;overflow-wrap:anywhere}
.note{color:#777;font-style:italic}
.warn{color:#a40}
"""
_PLOT_WIDTH = 400  # px on the page of each 640 x 480 plot: three side by side
_GRID_WIDTH = 160  # px a sample grid is shown at, at least (in whole multiples of its pixels)
_SETTINGS_PER_TABLE = 20


def render(view: RunView, warn: Callable[[str], None]) -> str:
    """The report page of ``view`` as HTML text; ``warn`` gets a line for each thing left out."""
    grids = _read_grids(view, warn)
    parts = [
        _title(view),
        '<div class="row">', _metrics(view), _animation(grids), _resume(view), "</div>",
        _settings(view),
        _plots(view, warn),
        _gallery(grids),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_e(f'{view.experiment} run {view.path.name}')}</title>\n<style>{_STYLE}</style>\n</head>\n"
            f"<body>\n{''.join(parts)}\n</body>\n</html>\n")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _img(data: bytes, mime: str, alt: str, width: int | None = None, cls: str = "") -> str:
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    size = f' width="{width}"' if width else ""
    style = f' class="{cls}"' if cls else ""
    return f'<img src="{uri}" alt="{_e(alt)}"{size}{style}>'


def _title(view: RunView) -> str:
    planned, done = view.epochs_planned, view.epochs_done
    if view.in_use:
        state = "training now"
    elif planned is not None and done >= planned:
        state = "finished"
    else:
        state = "stopped" if done else "not trained yet"
    elapsed = view.last.get("elapsed_time")
    took = f", {elapsed:.0f} s of training" if isinstance(elapsed, (int, float)) and math.isfinite(elapsed) else ""
    written = datetime.now(timezone.utc).isoformat(timespec="seconds")
    notes = "".join(f'<div class="warn">warning: {_e(w)}</div>' for w in view.warnings)
    return (f"<h1>{_e(view.experiment)} run <code>{_e(view.path.name)}</code></h1>\n"
            f'<div class="sub">{_e(view.path)} &middot; epoch {done} of {planned if planned is not None else "?"} '
            f"({state}{took}) &middot; started {_e(view.started or '? (a run from before run.json)')} &middot; "
            f"report written {written}</div>\n"
            f"{notes}")


def _metrics(view: RunView) -> str:
    final, best = final_metrics(view), best_metrics(view)
    if not final:
        return '<div><h2>Metrics</h2><p class="note">no log entries yet (the first comes after epoch 1)</p></div>'
    last = view.last
    rows = [f"<tr><td>epoch / iteration</td><td class=n>{_e(show_value(last.get('epoch')))} / "
            f"{_e(show_value(last.get('iteration', '?')))}</td><td></td><td></td></tr>"]
    for key, (value, epoch) in final.items():
        at = "" if epoch == last.get("epoch") else f" <span class=note>(epoch {_e(epoch)})</span>"
        good = best.get(key)
        best_cells = (f"<td class=n>{_e(show_value(good[0]))}</td><td class=n>{_e(good[1])}</td>" if good
                      else "<td></td><td></td>")
        rows.append(f"<tr><td>{_e(key)}</td><td class=n>{_e(show_value(value))}{at}</td>{best_cells}</tr>")
    return ("<div><h2>Metrics</h2><table><tr><th>key</th><th>final</th><th>best</th><th>at epoch</th></tr>"
            f"{''.join(rows)}</table></div>")


def _settings(view: RunView) -> str:
    config_class, note = _config_class(view.experiment)
    rows = []
    for name, value in view.settings.items():
        changed = None if name in NOT_COMPARED or config_class is None else differs_from_default(
            config_class, name, value)
        default = ""
        if changed:
            default = show_setting(_default(config_class, name))
        rows.append(f'<tr{" class=changed" if changed else ""}><td>{_e(name)}</td><td>{_e(show_setting(value))}</td>'
                    f"<td class=default>{_e(default)}</td></tr>")
    tables = [
        f"<table><tr><th>setting</th><th>value</th><th>default</th></tr>{''.join(rows[i:i + _SETTINGS_PER_TABLE])}"
        "</table>" for i in range(0, len(rows), _SETTINGS_PER_TABLE)
    ]
    marked = sum(1 for row in rows if row.startswith("<tr class=changed"))
    legend = note or (f"{marked or 'none'} other than {_e(view.experiment)}'s defaults{', marked' if marked else ''}; "
                      "where and how the process ran (out, device...) is not compared")
    return f'<h2>Settings <span class="note">({legend})</span></h2>\n<div class="row">{"".join(tables)}</div>\n'


def _config_class(experiment: str) -> tuple[type | None, str]:
    from gan_ignite.registry import load_experiment

    try:
        return load_experiment(experiment).Config, ""
    except (UsageError, AttributeError):
        return None, f"{_e(experiment)} is not an installed experiment: no defaults to compare with"


def _default(config_class: type, name: str) -> Any:
    import dataclasses

    default = next(f.default for f in dataclasses.fields(config_class) if f.name == name)
    return list(default) if isinstance(default, tuple) else default


def _resume(view: RunView) -> str:
    return ("<div style=\"max-width:520px\"><h2>Resume for more epochs</h2>"
            f"<pre>{_e(resume_command(view))}</pre><div class=note>every other setting comes from the run's "
            "config.json; --epochs is the new total</div></div>")


def _read_png(path: Path, warn: Callable[[str], None]) -> tuple[bytes, Any] | None:
    """The PNG file ``path`` as (bytes, decoded Pillow image), or None with a warning naming it.

    Pillow's ``verify`` checks the file's structure and checksums, ``load`` that its pixels
    decode: only then are the bytes inlined as ``image/png``.
    """
    from PIL import Image, UnidentifiedImageError

    data = read_bytes(path)
    if data is None:
        warn(f"{path} is not a readable file; left it out")
        return None
    try:
        Image.open(io.BytesIO(data), formats=["PNG"]).verify()
        image = Image.open(io.BytesIO(data), formats=["PNG"])  # verify leaves an image unusable
        image.load()
    except UnidentifiedImageError:
        warn(f"{path} is not a PNG image; left it out")
        return None
    # A damaged PNG raises any of these, by where the damage is.
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError) as exc:
        warn(f"{path} is not a valid PNG image ({type(exc).__name__}: {exc}); left it out")
        return None
    return data, image


def _read_grids(view: RunView, warn: Callable[[str], None]) -> list[tuple[int, bytes, Any]]:
    """Each epoch's grid as (epoch, PNG bytes, Pillow image); grids that are no valid PNG are left out."""
    grids = []
    for epoch, path in sample_grids(view.path):
        if (found := _read_png(path, warn)) is not None:
            grids.append((epoch, *found))
    return grids


def _animation(grids: Sequence[tuple[int, bytes, Any]]) -> str:
    """An animated GIF of the grids over the epochs, 0.5 s a frame, the last one held for 2 s."""
    if not grids:
        return ""
    frames = [image.convert("RGB") for _, _, image in grids]
    size = frames[0].size
    frames = [frame if frame.size == size else frame.resize(size) for frame in frames]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=[500] * (len(frames) - 1) + [2000])
    width = _shown_width(size[0])
    gif = _img(buffer.getvalue(), "image/gif", "samples over epochs", width, "px")
    return (f"<div><h2>Samples over epochs</h2><figure>{gif}<figcaption>epochs {grids[0][0]}&ndash;"
            f"{grids[-1][0]}, the same noise</figcaption></figure></div>")


def _shown_width(width: int) -> int:
    return width * max(1, math.ceil(_GRID_WIDTH / max(width, 1)))


def _plots(view: RunView, warn: Callable[[str], None]) -> str:
    figures = []
    for name, caption in ((LOSS_PLOT, "losses"), (DIS_OUTPUT_PLOT, "D(x) and D(G(z))")):
        path = view.path / PLOTS / name
        found = _read_png(path, warn) if os.path.lexists(path) else None
        if found is None:
            why = "left out, not a valid PNG" if os.path.lexists(path) else "not drawn yet"
            figures.append(f'<figure><p class="note">{_e(PLOTS)}/{_e(name)}: {why}</p></figure>')
            continue
        figures.append(f"<figure>{_img(found[0], 'image/png', caption, _PLOT_WIDTH)}<figcaption>{_e(caption)} "
                       f"({_e(PLOTS)}/{_e(name)})</figcaption></figure>")
    curve = _eval_curve(view)
    if curve is not None:
        figures.append(f"<figure>{_img(curve, 'image/png', 'evaluation', _PLOT_WIDTH)}"
                       "<figcaption>evaluations over the epochs</figcaption></figure>")
    return f'<h2>Plots</h2>\n<div class="row">{"".join(figures)}</div>\n'


def _eval_curve(view: RunView) -> bytes | None:
    """A PNG of each eval/ key over the epochs (one panel each), or None when the run has no evaluations."""
    series: dict[str, list[tuple[float, float]]] = {}
    for entry in view.log:
        for key, value in entry.items():
            if key.startswith("eval/") and key != "eval/n" and _is_finite(value):
                series.setdefault(key, []).append((entry["epoch"], value))
    if not series:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = [key for key in ("eval/fid", "eval/kid", "eval/is") if key in series] or sorted(series)
    figure = Figure(figsize=(6.4, 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # attaches itself as figure.canvas
    for i, key in enumerate(keys):
        axes = figure.add_subplot(len(keys), 1, i + 1)
        xs, ys = zip(*series[key])
        axes.plot(xs, ys, marker="x")
        axes.set_ylabel(key)
        axes.grid(True)
    axes.set_xlabel("epoch")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _is_finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _gallery(grids: Sequence[tuple[int, bytes, Any]]) -> str:
    if not grids:
        return '<h2>Samples</h2><p class="note">no sample grids yet (the first comes after epoch 1)</p>\n'
    figures = [f"<figure>{_img(data, 'image/png', f'epoch {epoch}', _shown_width(image.size[0]), 'px')}"
               f"<figcaption>epoch {epoch}</figcaption></figure>" for epoch, data, image in grids]
    return (f'<h2>Samples of every epoch <span class="note">(the same fixed noise)</span></h2>\n'
            f'<div class="row gallery">{"".join(figures)}</div>\n')
