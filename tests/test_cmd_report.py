"""``gan-ignite report`` and ``gan-ignite compare``, through the real command line, on tiny runs."""

import base64
import io
import json
import os
import shlex
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from gan_ignite.commands import main
from gan_ignite.commands._runs import show_value
from conftest import TINY_RUN

# The options finished_run has besides TINY_RUN: a second run with these and others keeps them.
FINISHED_EXTRA = ["--ema-decay", "0.9", "--early-stopping", "gen/loss", "--patience", "5"]


class Page(HTMLParser):
    """What a report page holds: its images (attributes), table rows (class, cells), tags and text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images, self.rows, self.tags, self.text = [], [], [], []
        self._row = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "img":
            self.images.append(attrs)
        elif tag == "tr":
            self._row = (attrs.get("class"), [])
            self.rows.append(self._row)
        elif tag == "td" and self._row is not None:
            self._row[1].append("")

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._row is not None and self._row[1]:
            self._row[1][-1] += data

    def image(self, alt: str) -> bytes:
        (found,) = [i for i in self.images if i.get("alt") == alt]
        head, data = found["src"].split(",", 1)
        assert head.startswith("data:image/") and head.endswith(";base64")
        return base64.b64decode(data)

    def row(self, first_cell: str) -> list[str]:
        (found,) = [cells for _, cells in self.rows if cells and cells[0] == first_cell]
        return found


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder`` with its size and modification time."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            found[str(path.relative_to(folder))] = (path.lstat().st_size, path.lstat().st_mtime_ns)
    return found


def log_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def report(run: Path, out: Path) -> Page:
    main(["report", str(run), "--out", str(out)])
    return Page(out.read_text())


def test_report_is_one_self_contained_page_of_the_whole_run(finished_run, tmp_path, capsys):
    before = listing(finished_run)
    page = report(finished_run, tmp_path / "r.html")
    assert listing(finished_run) == before  # --out elsewhere: nothing written in the run
    assert capsys.readouterr().out == f"wrote {tmp_path / 'r.html'}\n"

    log, settings = log_of(finished_run), json.loads((finished_run / "config.json").read_text())
    epochs = [entry["epoch"] for entry in log]
    assert epochs == [1, 2, 3]
    for epoch in epochs:  # every epoch's grid, byte for byte, with its label
        assert page.image(f"epoch {epoch}") == (finished_run / "images" / f"epoch_{epoch:04d}.png").read_bytes()
        assert f"epoch {epoch}" in page.text
    assert page.image("losses") == (finished_run / "plots" / "loss.png").read_bytes()
    assert page.image("D(x) and D(G(z))") == (finished_run / "plots" / "dis_output.png").read_bytes()
    gif = Image.open(io.BytesIO(page.image("samples over epochs")))
    assert (gif.format, gif.n_frames) == ("GIF", len(epochs))

    # Self-contained: every image inline, no script, no style sheet or link to fetch.
    assert all(image["src"].startswith("data:") for image in page.images)
    assert not [attrs for tag, attrs in page.tags if tag in ("script", "link", "iframe", "object")]
    assert not [attrs for _, attrs in page.tags if "src" in attrs and not attrs["src"].startswith("data:")]
    assert not [attrs for _, attrs in page.tags if "http" in attrs.get("href", "")]

    # Every setting, and exactly those other than gan_mnist's defaults marked (TINY_RUN's
    # batch size 16 is gan_mnist's default; --no-progress says how the process ran).
    cells = {cells[0]: cells for _, cells in page.rows if cells}
    assert all(cells[key][1] == (value if isinstance(value, str) else json.dumps(value))
               for key, value in settings.items())
    marked = {cells[0] for kind, cells in page.rows if kind == "changed"}
    assert marked == {"limit", "image_size", "feature_maps", "z_dim", "n_samples", "log_interval", "epochs",
                      "ema_decay", "early_stopping", "patience"}
    assert page.row("z_dim")[1:] == ["8", "100"]  # value, default

    # Final metrics are the last entry's; best losses the lowest, with their epoch.
    for key in ("gen/loss", "dis/loss", "dis/real", "dis/fake"):
        assert page.row(key)[1] == show_value(log[-1][key])
    best = min(log, key=lambda entry: entry["gen/loss"])
    assert page.row("gen/loss")[2:] == [show_value(best["gen/loss"]), str(best["epoch"])]
    text = "".join(page.text)
    assert f"gan-ignite train gan_mnist --out {finished_run} --resume --epochs 6" in text
    assert "epoch 3 of 3 (finished" in text


def test_report_defaults_into_the_run_and_adds_only_itself(finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    before = listing(run)
    main(["report", str(run)])
    after = listing(run)
    assert after.keys() - before.keys() == {"report.html"}
    assert {k: v for k, v in after.items() if k != "report.html" and k != "."} == {
        k: v for k, v in before.items() if k != "."}
    assert "samples over epochs" in (run / "report.html").read_text()
    assert capsys.readouterr().out == f"wrote {run / 'report.html'}\n"


def test_report_draws_the_evaluation_curve(finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    fids = {1: 90.5, 3: 40.25}  # evaluated at epochs 1 and 3
    lines = [json.dumps({**entry, **({"eval/fid": fids[entry["epoch"]], "eval/is": 1.5 + entry["epoch"]}
                                     if entry["epoch"] in fids else {})}) for entry in log_of(run)]
    (run / "log.jsonl").write_text("\n".join(lines) + "\n")
    page = report(run, tmp_path / "r.html")
    assert Image.open(io.BytesIO(page.image("evaluation"))).format == "PNG"
    assert page.row("eval/fid")[1:] == ["40.2500", "40.2500", "3"]
    assert page.row("eval/is")[1:] == ["4.5000", "4.5000", "3"]


def test_report_reads_a_run_as_far_as_it_went(finished_run, tmp_path, capsys):
    """A run still training: its last entry half appended, no grid of that epoch yet; and a damaged line."""
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    lines = (run / "log.jsonl").read_text().splitlines()
    (run / "log.jsonl").write_text(f"{lines[0]}\n{{oops\n{lines[1]}\n{lines[2][:25]}")
    (run / "images" / "epoch_0003.png").unlink()
    page = report(run, tmp_path / "r.html")
    assert capsys.readouterr().err == f"warning: {run / 'log.jsonl'} line 2 is not a log entry (a JSON object " \
                                      "with a finite, non-negative epoch); skipped\n"
    assert [i["alt"] for i in page.images if i["alt"].startswith("epoch ")] == ["epoch 1", "epoch 2"]
    assert Image.open(io.BytesIO(page.image("samples over epochs"))).n_frames == 2
    assert page.row("gen/loss")[1] == show_value(json.loads(lines[1])["gen/loss"])
    assert "epoch 2 of 3 (stopped" in "".join(page.text)


def _no_run_at_all(run):
    (run / "run.json").unlink()
    settings = json.loads((run / "config.json").read_text())
    del settings["experiment"]
    (run / "config.json").write_text(json.dumps(settings))


def _empty(run):
    shutil.rmtree(run)
    run.mkdir()


def _other_files(run):
    _empty(run)
    (run / "notes.txt").write_text("not a run")


def _no_config(run):
    (run / "config.json").unlink()


def _bad_config(run):
    (run / "config.json").write_text('{"epochs": 3,')


def _bad_marker(run):
    (run / "run.json").write_text("[]")


@pytest.mark.parametrize("damage, argv, message", [
    (None, ["{tmp}/nowhere"], "RUN_DIR {tmp}/nowhere does not exist"),
    (_no_run_at_all, ["{run}"], "{run} is not a run directory (it has no run.json, and its config.json names no "
                                "experiment); pass the --out of a training run"),
    (_empty, ["{run}"], "{run} is not a run directory (it is empty); pass the --out of a training run"),
    (_other_files, ["{run}"], "{run} is not a run directory (it has neither run.json nor config.json)"),
    (_bad_marker, ["{run}"], "{run}/run.json is not a gan_ignite run marker"),
    (_no_config, ["{run}"], "{run} has no config.json"),
    (_bad_config, ["{run}"], "cannot read the run's settings {run}/config.json"),
    (None, ["{run}", "--out", "{tmp}/missing/r.html"], "the folder {tmp}/missing does not exist"),
    (None, ["{run}", "--out", "{tmp}"], "--out {tmp} is a directory"),
    # Inside the run only its report.html: any other file would make train --force refuse the run.
    (None, ["{run}", "--out", "{run}/foo.html"], "--out {run}/foo.html is inside the run directory {run}, where a "
                                                 "report may only be report.html; pass --out {run}/report.html, "
                                                 "or a path outside the run"),
    (None, ["{run}", "--out", "{run}/config.json"], "is inside the run directory {run}"),
    (None, ["{run}", "--out", "{run}/images/r.html"], "is inside the run directory {run}"),
    (None, ["{run}", "--out", "{run}/missing/r.html"], "is inside the run directory {run}"),
    (None, ["{run}", "--out", "{run}"], "--out {run} is a directory; pass a file path, such as {run}/report.html"),
    pytest.param(None, ["{run}", "--out", "/sys/r.html"], "--out /sys/r.html is not writable",
                 marks=pytest.mark.skipif(not os.path.isdir("/sys"), reason="needs Linux's /sys")),
])
def test_report_refuses_bad_input_in_one_line(finished_run, tmp_path, capsys, damage, argv, message):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    if damage is not None:
        damage(run)
    before = listing(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["report", *(a.format(run=run, tmp=tmp_path) for a in argv)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message.format(run=run, tmp=tmp_path) in err
    assert listing(tmp_path) == before


def test_report_into_its_own_run_keeps_the_run_one_that_force_replaces(finished_run, tmp_path, capsys):
    from experiments import gan_mnist

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    main(["report", str(run), "--out", str(run / "report.html")])
    assert capsys.readouterr().out == f"wrote {run / 'report.html'}\n"
    gan_mnist.main([*TINY_RUN, "--epochs", "1", "--out", str(run), "--force"])
    assert not (run / "report.html").exists()  # replaced with the rest of the run


def test_report_refuses_to_write_into_another_run(finished_run, tmp_path, capsys):
    run, other = tmp_path / "run", tmp_path / "other"
    shutil.copytree(finished_run, run)
    shutil.copytree(finished_run, other)
    before = listing(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(run), "--out", str(other / "images" / "r.html")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: --out {other / 'images' / 'r.html'} is inside another run directory, {other}, which a " \
                  f"report of {run} must not change; pass a path outside it\n"
    assert listing(tmp_path) == before


# Lines a log may hold that are JSON objects but no entries: no epoch to show, count or resume from.
NOT_ENTRIES = ['{"epoch": true}', '{"epoch": -1}', '{"epoch": 4, "iteration": Infinity}',
               '{"epoch": 1e400, "iteration": 99}', '{"epoch": NaN, "iteration": 99}']


def test_report_and_compare_skip_entries_of_no_finite_epoch(finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    lines = (run / "log.jsonl").read_text().splitlines()
    (run / "log.jsonl").write_text("\n".join([*lines, *NOT_ENTRIES]) + "\n")  # the last entry the bad ones
    warning = f"warning: {run / 'log.jsonl'} lines 4, 5, 6, 7, 8 are not a log entry (a JSON object with a " \
              "finite, non-negative epoch); skipped\n"
    page = report(run, tmp_path / "r.html")
    assert capsys.readouterr().err == warning
    text = "".join(page.text)
    assert "epoch 3 of 3 (finished" in text and "--resume --epochs 6" in text
    assert page.row("epoch / iteration")[1] == f"3 / {log_of(finished_run)[-1]['iteration']}"

    main(["compare", str(run), str(finished_run)])
    captured = capsys.readouterr()
    assert captured.err == warning
    final = tables(captured.out)["final"]
    assert final["epoch"] == ["3", "3"] and final["iteration"][0] == final["iteration"][1]
    assert "inf" not in captured.out and "nan" not in captured.out


def _junk(path: Path) -> None:
    path.write_bytes(b"not an image at all")


def _jpeg(path: Path) -> None:
    Image.new("RGB", (8, 8)).save(path, format="JPEG")  # an image, but not the PNG the page says it is


def _bad_checksum(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[data.index(b"IDAT") + 8] ^= 0xFF  # a byte of the compressed pixels: the chunk's CRC no longer holds
    path.write_bytes(bytes(data))


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:60])


def test_report_leaves_out_each_plot_and_grid_that_is_no_valid_png(finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    damaged = {run / "plots" / "loss.png": _junk, run / "plots" / "dis_output.png": _bad_checksum,
               run / "images" / "epoch_0001.png": _jpeg, run / "images" / "epoch_0002.png": _truncated}
    for path, damage in damaged.items():
        damage(path)
    page = report(run, tmp_path / "r.html")
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == len(damaged) and "<_io" not in "".join(warnings) and "0x" not in "".join(warnings)
    for path in damaged:  # each named, in one line
        assert [line for line in warnings if line.startswith(f"warning: {path} is not a")]
        assert [line for line in warnings if line.endswith("; left it out")]
    assert f"warning: {run / 'images' / 'epoch_0001.png'} is not a PNG image; left it out" in warnings
    assert [i["alt"] for i in page.images] == ["samples over epochs", "epoch 3"]  # no plot, only grid 3
    assert page.image("epoch 3") == (run / "images" / "epoch_0003.png").read_bytes()
    assert Image.open(io.BytesIO(page.image("samples over epochs"))).n_frames == 1
    text = "".join(page.text)
    assert "plots/loss.png: left out, not a valid PNG" in text and "plots/dis_output.png: left out" in text


def _legacy(run: Path) -> None:
    """``run`` as runs before run.json were: config.json names the experiment's module."""
    (run / "run.json").unlink()
    settings = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**settings, "experiment": "experiments.gan_mnist"}))


def test_report_and_compare_read_a_run_from_before_run_json(finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    _legacy(run)
    page = report(run, tmp_path / "r.html")
    text = "".join(page.text)
    assert "gan_mnist run run" in text and "started ? (a run from before run.json)" in text
    assert f"gan-ignite train gan_mnist --out {run} --resume --epochs 6" in text
    assert page.row("z_dim")[1:] == ["8", "100"]  # the defaults of the experiment config.json names
    capsys.readouterr()
    main(["compare", str(run), str(finished_run)])
    found = tables(capsys.readouterr().out)
    assert found["run"]["experiment"] == ["gan_mnist", "gan_mnist"]
    assert "experiment" not in found["setting"]


@pytest.fixture(scope="module")
def second_run(tmp_path_factory):
    """finished_run's settings with two changed: 2 epochs at lr 1e-3; in a folder of the same name."""
    from experiments import gan_mnist

    out = tmp_path_factory.mktemp("second") / "run"
    gan_mnist.main([*TINY_RUN, *FINISHED_EXTRA, "--epochs", "2", "--lr", "1e-3", "--out", str(out)])
    return out


def tables(text: str) -> dict[str, dict[str, list[str]]]:
    """The printed tables by their first header cell: {row key: cells}; lines split on 2+ spaces."""
    import re

    found = {}
    for block in text.strip().split("\n\n")[:-1]:
        rows = [re.split(r"  +", line.strip()) for line in block.splitlines()]
        found[rows[0][0]] = {row[0]: row[1:] for row in rows}
    return found


def test_compare_shows_the_settings_that_differ_the_final_metrics_and_tensorboard(finished_run, second_run, capsys):
    before = listing(finished_run), listing(second_run)
    main(["compare", str(finished_run), str(second_run)])
    out = capsys.readouterr().out
    assert (listing(finished_run), listing(second_run)) == before
    found = tables(out)
    names = found["run"]["run"]
    assert len(set(names)) == 2 and all(name.endswith("/run") for name in names)  # told apart by their folders
    assert found["run"]["path"] == [str(finished_run), str(second_run)]
    assert set(found["setting"]) - {"setting"} == {"epochs", "lr"}
    assert found["setting"]["epochs"] == ["3", "2"] and found["setting"]["lr"] == ["0.0005", "0.001"]
    for column, run in enumerate((finished_run, second_run)):
        last = log_of(run)[-1]
        for key in ("epoch", "iteration", "gen/loss", "dis/loss", "dis/real", "dis/fake"):
            assert found["final"][key][column] == show_value(last[key])
    assert "eval/fid" not in found["final"]

    command = shlex.split(out.strip().splitlines()[-1])
    assert command[:2] == ["tensorboard", "--logdir_spec"]
    spec = [part.partition(":") for part in command[2].split(",")]
    assert [(name, path) for name, _, path in spec] == [(names[0], str(finished_run / "tb")),
                                                         (names[1], str(second_run / "tb"))]


def test_compare_all_lists_every_setting(finished_run, second_run, capsys):
    main(["compare", str(finished_run), str(second_run), "--all"])
    settings = tables(capsys.readouterr().out)["setting"]
    assert set(settings) - {"setting"} == set(json.loads((finished_run / "config.json").read_text()))
    assert settings["batch_size"] == ["16", "16"]


@pytest.mark.parametrize("argv, message", [
    ([], "compare needs two or more run directories, but was given 0"),
    (["{run}"], "compare needs two or more run directories, but was given 1"),
    (["{run}", "{run}/"], "is the same run as {run}"),
    (["{run}", "{tmp}"], "{tmp} is not a run directory (it is empty); pass the --out of a training run"),
    (["{run}", "{run}/images"], "{run}/images is not a run directory (it has neither run.json nor config.json)"),
])
def test_compare_refuses_bad_input_in_one_line(finished_run, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", *(a.format(run=finished_run, tmp=tmp_path) for a in argv)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.format(run=finished_run, tmp=tmp_path) in err


def test_compare_and_report_skip_alike_where_and_how_a_run_ran(finished_run, tmp_path, capsys):
    """Both leave where and how the process ran alone: compare lists none of it, the report marks none of it."""
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    settings = json.loads((run / "config.json").read_text())
    ran_elsewhere = {"device": "cuda", "master_port": 29999, "master_addr": "10.0.0.2", "backend": "nccl",
                     "nproc_per_node": 2, "world_size": 2}
    (run / "config.json").write_text(json.dumps({**settings, **ran_elsewhere, "lr": 1e-3}))
    main(["compare", str(finished_run), str(run)])
    assert set(tables(capsys.readouterr().out)["setting"]) == {"setting", "lr"}
    page = report(run, tmp_path / "r.html")
    marked = {cells[0] for kind, cells in page.rows if kind == "changed"}
    assert "lr" in marked and not marked & set(ran_elsewhere)
    main(["compare", str(finished_run), str(run), "--all"])
    assert set(ran_elsewhere) <= set(tables(capsys.readouterr().out)["setting"])


def test_compare_help_says_what_it_leaves_out(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "where and how each process ran (out, resume, force, device," in text and "master_port" in text
