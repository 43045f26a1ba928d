"""TensorBoard as users see it: tiny runs read back by the real ``tensorboard`` server.

Two runs side by side in one folder, as ``--out result/a`` and ``--out result/b`` make
them: ``a`` trains 2 epochs with histograms every 2 iterations and is resumed for a
third; ``b`` trains one epoch at another learning rate, without histograms. The server's
HTTP API (what its dashboards draw) must show both runs, their scalars as the events
files hold them, the sample images, the settings as text and as hparams with the final
metrics, the weight histograms and the custom-scalars layout; the events files
themselves (TensorBoard's ``EventAccumulator``) must hold the run-wide summaries once,
across the resume. Stub-trainer tests cover the extension's parts on their own.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from torch import nn

from conftest import TINY_RUN
from gan_ignite import extensions as E
from gan_ignite.extensions.tensorboard import (
    CONFIG_TAG, GAN_METRICS, config_table, custom_scalars_layout, hparam_values,
)
from gan_ignite.trainer import Trainer

HPARAMS_TAGS = ("_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info")
LAYOUT_TAG = "custom_scalars__config__"
# Generous for a loaded 2-core machine: the server starts in seconds and rereads its logdir every few.
SERVER_TIMEOUT = 90.0


# --- the extension on a stub trainer --------------------------------------------------------------------------


def update(engine, batch):
    return {"x": float(batch)}


def stub_trainer(tmp_path: Path, models: dict[str, nn.Module] | None = None, n_epochs: int = 2) -> Trainer:
    return Trainer(update, [1, 2, 3, 4], stop_trigger=(n_epochs, "epoch"), out=tmp_path, models=models)


def read_events(log_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    guidance = {"scalars": 0, "images": 0, "histograms": 0, "tensors": 0}
    return EventAccumulator(str(log_dir), size_guidance=guidance).Reload()


def summary_counts(log_dir: Path) -> Counter:
    """How many times each tag was written, over every events file of ``log_dir`` (no purging, no merging)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    counts = Counter()
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            counts.update(value.tag for value in event.summary.value)
    return counts


def test_histograms_of_every_parameter_at_multiples_of_the_interval(tmp_path):
    models = {"gen": nn.Linear(2, 3), "dis": nn.Sequential(nn.Linear(3, 1))}
    trainer = stub_trainer(tmp_path, models)
    trainer.extend(E.TensorBoardReport(trigger=(2, "iteration"), histogram_interval=3))
    trainer.run()
    acc = read_events(tmp_path / "tb")
    assert set(acc.Tags()["histograms"]) == {"gen/weight", "gen/bias", "dis/0.weight", "dis/0.bias"}
    for tag in acc.Tags()["histograms"]:
        assert [e.step for e in acc.Histograms(tag)] == [3, 6]  # 8 iterations
    weight = acc.Histograms("gen/weight")[-1].histogram_value
    assert weight.num == 6 and weight.min == pytest.approx(models["gen"].weight.min().item())


def test_no_histograms_with_interval_zero_nor_without_models(tmp_path):
    trainer = stub_trainer(tmp_path / "zero", {"gen": nn.Linear(2, 3)})
    trainer.extend(E.TensorBoardReport(trigger=(2, "iteration")))
    trainer.run()
    assert read_events(tmp_path / "zero" / "tb").Tags()["histograms"] == []
    trainer = stub_trainer(tmp_path / "none")  # the update function names no models
    trainer.extend(E.TensorBoardReport(trigger=(2, "iteration"), histogram_interval=1))
    trainer.run()
    assert read_events(tmp_path / "none" / "tb").Tags()["histograms"] == []


def test_histograms_look_through_a_wrapper_and_default_to_the_trainers_models(tmp_path):
    inner = nn.Linear(2, 2)
    trainer = stub_trainer(tmp_path, {"dis": nn.DataParallel(inner)}, n_epochs=1)
    trainer.extend(E.TensorBoardReport(histogram_interval=4))  # models=None: trainer.models
    trainer.run()
    assert set(read_events(tmp_path / "tb").Tags()["histograms"]) == {"dis/weight", "dis/bias"}


def test_bad_histogram_interval_and_config_are_refused():
    with pytest.raises(ValueError, match=r"Argument `histogram_interval` should be zero \(none\) or a positive "
                                         r"number of iterations, but given -1"):
        E.TensorBoardReport(histogram_interval=-1)
    with pytest.raises(ValueError, match="Argument `config` should be a mapping of settings or a config "
                                         "dataclass, but given list"):
        E.TensorBoardReport(config=[1, 2])


def test_config_as_text_hparams_and_layout_at_step_zero(tmp_path):
    from tensorboard.plugins.hparams import metadata

    config = {"batch_size": 16, "lr": 2e-4, "classes": (7, 9), "amp": False, "dataset": "a|b"}
    trainer = stub_trainer(tmp_path, n_epochs=1)
    trainer.extend(E.TensorBoardReport(trigger=(2, "iteration"), config=config, metrics=["x", "eval/fid"]))
    trainer.run()
    acc = read_events(tmp_path / "tb")
    (text,) = acc.Tensors(CONFIG_TAG)
    assert text.step == 0 and text.tensor_proto.string_val == [config_table(config).encode()]
    assert text.tensor_proto.tensor_shape.dim == []  # one markdown document, not a one-cell table of it
    assert set(acc.PluginTagToContent("hparams")) == set(HPARAMS_TAGS)
    content = acc.PluginTagToContent("hparams")
    experiment = metadata.parse_experiment_plugin_data(content["_hparams_/experiment"])
    assert [m.name.tag for m in experiment.metric_infos] == ["x", "eval/fid"]
    assert sorted(h.name for h in experiment.hparam_infos) == sorted(config)
    start = metadata.parse_session_start_info_plugin_data(content["_hparams_/session_start_info"])
    assert start.hparams["batch_size"].number_value == 16 and start.hparams["lr"].number_value == 2e-4
    assert start.hparams["classes"].string_value == "(7, 9)" and start.hparams["amp"].string_value == "False"
    assert list(acc.PluginTagToContent("custom_scalars")) == [LAYOUT_TAG]
    assert acc.Tags()["scalars"] == ["x"]  # the run-wide summaries are no scalars


def test_without_config_no_text_nor_hparams(tmp_path):
    trainer = stub_trainer(tmp_path, n_epochs=1)
    trainer.extend(E.TensorBoardReport(trigger=(2, "iteration"), charts={}))
    trainer.run()
    counts = summary_counts(tmp_path / "tb")
    assert set(counts) == {"x"}


def test_config_table_and_hparam_values():
    config = {"classes": (), "out": "runs/a|b", "quiet": True, "epochs": 3, "lr": 1e-3}
    assert config_table(config).splitlines() == [
        "| setting | value |", "| --- | --- |", "| classes | () |", "| out | runs/a\\|b |", "| quiet | True |",
        "| epochs | 3 |", "| lr | 0.001 |",
    ]
    assert hparam_values(config) == {"classes": "()", "out": "runs/a|b", "quiet": "True", "epochs": 3, "lr": 1e-3}


def test_layout_draws_exactly_the_keys_of_each_chart():
    layout = custom_scalars_layout({"D(x) and D(G(z))": ["dis/real", "dis/fake"], "losses": ["gen/loss", "dis/loss"]})
    assert layout == {"GAN": {"D(x) and D(G(z))": ["Multiline", ["dis/real$", "dis/fake$"]],
                              "losses": ["Multiline", ["gen/loss$", "dis/loss$"]]}}
    (pattern,) = custom_scalars_layout({"c": ["a.b(1)"]})["GAN"]["c"][1]
    assert re.match(pattern, "a.b(1)") and not re.match(pattern, "a.b(1)/x") and not re.match(pattern, "aXb(1)")


def test_the_recipe_lists_the_evaluation_among_the_metrics_when_the_run_evaluates(tmp_path):
    from experiments import gan_mnist
    from gan_ignite.config import parse_config
    from gan_ignite.recipes import CLASSLESS_EVAL_REPORT_KEYS, EVAL_REPORT_KEYS, _writers, dcgan_models

    config = parse_config(gan_mnist.Config, [*TINY_RUN, "--histogram-interval", "5", "--out", str(tmp_path)])
    gen, dis = dcgan_models(config)
    cases = (([], []), (EVAL_REPORT_KEYS, ["eval/fid", "eval/is"]),
             (CLASSLESS_EVAL_REPORT_KEYS, ["eval/fid", "eval/recall"]))  # an image folder's features
    for eval_keys, extra in cases:
        trainer = Trainer(update, [1], stop_trigger=(1, "epoch"), out=tmp_path, models={"gen": gen, "dis": dis})
        _writers(trainer, config, gen, config.z_dim, eval_keys)
        report = trainer.get_extension("TensorBoardReport")
        assert report.metrics == [*GAN_METRICS, *extra]
        assert report.histogram_interval == 5 and set(report.models) == {"gen", "dis"}
        assert report.config["batch_size"] == 16 and report.config["out"] == str(tmp_path)


# --- tiny runs -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """The folder of runs ``a`` (2 epochs, histograms every 2 iterations, resumed to 3) and ``b`` (1 epoch)."""
    from experiments import gan_mnist

    parent = tmp_path_factory.mktemp("result")
    a = [*TINY_RUN, "--quiet", "--histogram-interval", "2", "--out", str(parent / "a")]
    gan_mnist.main([*a, "--epochs", "2"])
    gan_mnist.main([*a, "--resume", "--epochs", "3"])
    gan_mnist.main([*TINY_RUN, "--quiet", "--epochs", "1", "--lr", "1e-3", "--out", str(parent / "b")])
    return parent


def network_parameters() -> dict[str, list[str]]:
    """The names of the tiny run's generator and discriminator parameters."""
    from experiments import gan_mnist
    from gan_ignite.config import parse_config
    from gan_ignite.recipes import dcgan_models

    gen, dis = dcgan_models(parse_config(gan_mnist.Config, TINY_RUN))
    return {"gen": [n for n, _ in gen.named_parameters()], "dis": [n for n, _ in dis.named_parameters()]}


def test_a_resumed_run_writes_its_run_wide_summaries_once(runs):
    tb = runs / "a" / "tb"
    assert len(list(tb.glob("events.out.tfevents.*"))) == 2  # the first process's and the resumed one's
    counts = summary_counts(tb)
    assert {tag: counts[tag] for tag in (CONFIG_TAG, *HPARAMS_TAGS, LAYOUT_TAG)} == dict.fromkeys(
        (CONFIG_TAG, *HPARAMS_TAGS, LAYOUT_TAG), 1)
    acc = read_events(tb)  # purge_step of the resumed writer left step 0 alone
    assert [e.step for e in acc.Tensors(CONFIG_TAG)] == [0]
    assert b"| batch_size | 16 |" in acc.Tensors(CONFIG_TAG)[0].tensor_proto.string_val[0]
    assert [e.step for e in acc.Scalars("dis/loss")] == [2, 4, 6, 8, 10, 12]
    assert [e.step for e in acc.Images("samples")] == [4, 8, 12]


def test_histograms_of_both_networks_at_multiples_of_the_interval_across_the_resume(runs):
    acc = read_events(runs / "a" / "tb")
    expected = {f"{model}/{name}" for model, names in network_parameters().items() for name in names}
    assert set(acc.Tags()["histograms"]) == expected
    for tag in expected:
        assert [e.step for e in acc.Histograms(tag)] == [2, 4, 6, 8, 10, 12]
    assert read_events(runs / "b" / "tb").Tags()["histograms"] == []


# --- the tensorboard server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# auto: the Rust data server where installed (TensorBoard's default); false: the Python reader.
@pytest.fixture(scope="module", params=["auto", "false"], ids=lambda mode: f"load_fast={mode}")
def server(runs, tmp_path_factory, request) -> Iterator[str]:
    """A real ``tensorboard --logdir`` over the runs' folder; yields its base address, stops it at the end."""
    port = free_port()
    log = (tmp_path_factory.mktemp("tensorboard") / "server.log").open("w")
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(runs), "--host", "127.0.0.1",
               "--port", str(port), "--reload_interval", "1", f"--load_fast={request.param}"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        # Up when it answers, loaded when both runs' last scalars have been read.
        wait_for(lambda: scalar_steps(base, "a/tb") == [2, 4, 6, 8, 10, 12] and scalar_steps(base, "b/tb") == [2, 4],
                 process, Path(log.name))
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_for(ready: Callable[[], bool], process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tensorboard exited with {process.returncode}:\n{log.read_text()}")
        try:
            if ready():
                return
        except OSError:  # not listening yet (URLError is an OSError)
            pass
        time.sleep(0.5)
    pytest.fail(f"tensorboard did not serve the runs within {SERVER_TIMEOUT:.0f} s:\n{log.read_text()}")


def get(base: str, route: str, body: dict[str, Any] | None = None, **query: str) -> Any:
    """The JSON an API route answers; a POST of ``body`` when given (as the hparams dashboard sends)."""
    url = f"{base}/data/{route}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def scalar_steps(base: str, run: str) -> list[int]:
    return [step for _, step, _ in get(base, "plugin/scalars/scalars", run=run, tag="dis/loss")]


def test_the_server_lists_both_runs_with_their_scalars_and_images(server, runs):
    assert sorted(get(server, "runs")) == ["a/tb", "b/tb"]
    tags = get(server, "plugin/scalars/tags")
    assert {"gen/loss", "dis/loss", "dis/real", "dis/fake"} <= set(tags["a/tb"])
    served = get(server, "plugin/scalars/scalars", run="a/tb", tag="dis/loss")
    events = read_events(runs / "a" / "tb").Scalars("dis/loss")
    assert [(step, value) for _, step, value in served] == [(e.step, pytest.approx(e.value)) for e in events]
    # Scalars are means over --log-interval 2, the log's over an epoch of 4 iterations: two means make one.
    log = [json.loads(line) for line in (runs / "a" / "log.jsonl").read_text().splitlines()]
    values = [value for _, _, value in served]
    assert [(values[i] + values[i + 1]) / 2 for i in (0, 2, 4)] == pytest.approx([e["dis/loss"] for e in log],
                                                                                 rel=1e-5)
    images = get(server, "plugin/images/tags")
    assert images["a/tb"]["samples"]["samples"] == 1 and "samples" in images["b/tb"]


def test_the_server_shows_the_config_as_text_once(server):
    assert get(server, "plugin/text/tags") == {"a/tb": [CONFIG_TAG], "b/tb": [CONFIG_TAG]}
    for run, lr in (("a/tb", "0.0005"), ("b/tb", "0.001")):
        (entry,) = get(server, "plugin/text/text", run=run, tag=CONFIG_TAG)
        assert entry["step"] == 0 and entry["text"].startswith("<table>")  # markdown rendered as a table
        assert re.search(r"<td>batch_size</td>\s*<td>16</td>", entry["text"])
        assert re.search(rf"<td>lr</td>\s*<td>{lr}</td>", entry["text"])


def test_the_server_shows_hparams_and_final_metrics_of_each_run(server):
    experiment = get(server, "plugin/hparams/experiment", {"experimentName": ""})
    assert [m["name"] for m in experiment["metricInfos"]] == [{"tag": key, "group": ""} for key in GAN_METRICS]
    names = {h["name"]: h["type"] for h in experiment["hparamInfos"]}
    assert names["batch_size"] == names["lr"] == "DATA_TYPE_FLOAT64" and names["classes"] == "DATA_TYPE_STRING"
    request = {
        "experimentName": "", "startIndex": 0, "sliceSize": 10,
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "colParams": [{"hparam": "lr"}, *({"metric": {"tag": key, "group": ""}} for key in GAN_METRICS)],
    }
    groups = {g["name"]: g for g in get(server, "plugin/hparams/session_groups", request)["sessionGroups"]}
    assert set(groups) == {"a/tb", "b/tb"}
    for run, lr, last_step in (("a/tb", 5e-4, 12), ("b/tb", 1e-3, 4)):
        group = groups[run]
        assert group["hparams"]["lr"] == pytest.approx(lr) and group["hparams"]["batch_size"] == 16
        assert group["hparams"]["classes"] == "()" and group["hparams"]["dataset"] == "digits"
        metrics = {m["name"]["tag"]: m for m in group["metricValues"]}
        assert set(metrics) == set(GAN_METRICS)
        # The final metrics: each metric's last scalar.
        (_, step, value) = get(server, "plugin/scalars/scalars", run=run, tag="dis/loss")[-1]
        assert metrics["dis/loss"]["trainingStep"] == step == last_step
        assert metrics["dis/loss"]["value"] == pytest.approx(value)


def test_the_server_shows_the_histograms_and_the_custom_scalars_layout(server):
    histograms = get(server, "plugin/histograms/tags")
    expected = {f"{model}/{name}" for model, names in network_parameters().items() for name in names}
    assert set(histograms["a/tb"]) == expected and not histograms.get("b/tb")
    tag = next(iter(sorted(expected)))
    served = get(server, "plugin/histograms/histograms", run="a/tb", tag=tag)
    assert [step for _, step, _ in served] == [2, 4, 6, 8, 10, 12]
    # Both runs wrote the same layout: the server merges them into one category.
    (category,) = get(server, "plugin/custom_scalars/layout")["category"]
    charts = {chart["title"]: chart["multiline"]["tag"] for chart in category["chart"]}
    assert charts == {"D(x) and D(G(z))": ["dis/real$", "dis/fake$"], "losses": ["gen/loss$", "dis/loss$"]}
    # What the custom-scalars dashboard draws on the D chart: the two keys, nothing else.
    for pattern, key in zip(charts["D(x) and D(G(z))"], ["dis/real", "dis/fake"]):
        drawn = get(server, "plugin/custom_scalars/scalars", run="a/tb", tag=pattern)
        assert drawn["regex_valid"] and set(drawn["tag_to_events"]) == {key}
