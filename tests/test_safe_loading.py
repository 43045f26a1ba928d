"""Checkpoints load with weights_only=True: crafted files run no code, mismatches name the parameter."""

import pickle
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from experiments import ebgan_mnist, gan_mnist
from gan_ignite.config import parse_config
from gan_ignite.errors import UsageError
from gan_ignite.extensions.snapshot import _network_mismatch, latest_checkpoint, load_snapshot

SMALL = ["--limit", "64", "--batch-size", "16", "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
         "--n-samples", "4", "--no-progress"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    gan_mnist.main([*SMALL, "--epochs", "1", "--out", str(out)])
    return latest_checkpoint(out)


def trainer_for(module, tmp_path, *options):
    config = parse_config(module.Config, [*SMALL, *options, "--out", str(tmp_path / "new")])
    return module.build(config)


class WritesMarker:
    """Unpickling this object calls ``Path(marker).touch()``: it creates the marker file."""

    def __init__(self, marker):
        self.marker = Path(marker)

    def __reduce__(self):
        return Path.touch, (self.marker,)


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_a_crafted_checkpoint_runs_no_code(tmp_path, writer):
    marker, path = tmp_path / "marker", tmp_path / "checkpoint_4.pt"
    payload = {"gen": WritesMarker(marker), "trainer": {}}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    # The file is really harmful: a plain unpickling creates the marker.
    pickle.loads(path.read_bytes()) if writer == "pickle.dump" else torch.load(path, weights_only=False)
    assert marker.exists()
    marker.unlink()
    trainer = trainer_for(gan_mnist, tmp_path)
    with pytest.raises(UsageError) as info:
        load_snapshot(trainer, path)
    assert not marker.exists()
    message = str(info.value)
    # torch's diagnosis is kept (its wording is torch's: "Unsupported global: GLOBAL getattr ...",
    # "Unsupported operand 149"), its advice to load with weights_only=False or allowlist the global is not.
    assert re.fullmatch(
        rf"Cannot read checkpoint {re.escape(str(path))} \(it holds objects other than tensors and plain data, "
        r"which are never unpickled: Unsupported [\w :]+\); delete it to resume from an earlier one",
        message,
    ), message
    assert "weights_only" not in message and "safe_globals" not in message


@pytest.mark.parametrize("cut, reason", [
    (0, "the file ends early: it is empty or truncated"),
    (0.1, "the file is cut off: it ends before its zip archive does"),
    (0.5, "the file is cut off: it ends before its zip archive does"),
    (0.999, "the file is cut off: it ends before its zip archive does"),
])
def test_a_truncated_checkpoint(checkpoint, tmp_path, cut, reason):
    path = tmp_path / checkpoint.name
    data = checkpoint.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(UsageError) as info:
        load_snapshot(trainer_for(gan_mnist, tmp_path), path)
    assert str(info.value) == f"Cannot read checkpoint {path} ({reason}); delete it to resume from an earlier one"


def test_a_file_that_is_no_checkpoint(tmp_path):
    path = tmp_path / "checkpoint_1.pt"
    path.write_text("hello")
    with pytest.raises(UsageError, match=r"^Cannot read checkpoint .* \(not a PyTorch checkpoint \(\w+Error: "):
        load_snapshot(trainer_for(gan_mnist, tmp_path), path)


@pytest.mark.parametrize("module, options, mismatch", [
    (gan_mnist, ["--feature-maps", "16"],
     "gen.net.0.weight has shape [256, 8] in the checkpoint but [512, 8] here (and 10 more differences)"),
    (gan_mnist, ["--z-dim", "4"],
     "gen.net.0.weight has shape [256, 8] in the checkpoint but [256, 4] here"),
    (ebgan_mnist, [], "dis.encoder.0.0.weight is missing from the checkpoint (and 33 more differences)"),
])
def test_a_checkpoint_of_another_configuration_names_the_first_difference(checkpoint, tmp_path, module, options,
                                                                          mismatch):
    trainer = trainer_for(module, tmp_path, *options)
    before = [t.clone() for t in trainer.updater.gen.state_dict().values()]
    with pytest.raises(UsageError) as info:
        load_snapshot(trainer, checkpoint)
    assert str(info.value) == (
        f"Checkpoint {checkpoint} does not match this run: {mismatch}; "
        f"resume with the options the run was started with"
    )
    after = list(trainer.updater.gen.state_dict().values())
    assert all(torch.equal(a, b) for a, b in zip(before, after))  # nothing half-loaded


def test_network_mismatch_lists_missing_unexpected_and_reshaped_parameters():
    here = {"dis": nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)), "opt": object()}
    saved = {"dis": {"0.weight": torch.zeros(3, 2), "0.bias": torch.zeros(3), "1.weight": torch.zeros(1, 3),
                     "1.bias": torch.zeros(1)}}
    assert _network_mismatch(here, saved) is None
    assert _network_mismatch(here, {"dis": {**saved["dis"], "2.weight": torch.zeros(1)}}) == (
        "the checkpoint has dis.2.weight, which this run lacks"
    )
    del saved["dis"]["1.bias"]
    saved["dis"]["0.bias"] = torch.zeros(4)
    assert _network_mismatch(here, saved) == (
        "dis.0.bias has shape [4] in the checkpoint but [3] here (and 1 more difference)"
    )


def test_the_checkpoint_loads_when_the_configuration_matches(checkpoint, tmp_path):
    trainer = trainer_for(gan_mnist, tmp_path)
    load_snapshot(trainer, checkpoint)
    saved = torch.load(checkpoint, weights_only=True)
    assert trainer.engine.state.iteration == 4
    for name, tensor in trainer.updater.gen.state_dict().items():
        torch.testing.assert_close(tensor, saved["gen"][name], rtol=0, atol=0)


def test_a_checkpoint_without_the_networks(tmp_path):
    path = tmp_path / "checkpoint_1.pt"
    torch.save({"gen": {}}, path)
    with pytest.raises(UsageError, match=r"^Checkpoint .* does not match this run: gen\.net\.0\.weight is missing "):
        load_snapshot(trainer_for(gan_mnist, tmp_path), path)
