"""The pieces of a run of several processes: data shares, averaged observations, agreed stops, a resumed
state's global batch."""

import json
import os
import signal

import ignite.distributed as idist
import pytest
import torch

from gan_ignite.batching import TensorBatchLoader
from gan_ignite.data import TensorImageDataset
from gan_ignite.distributed import broadcast_numbers, mean_over_processes
from gan_ignite.errors import UsageError
from gan_ignite.sampling import ResumableSampler
from gan_ignite.trainer import Trainer, TrainingInterrupted


def dataset(n):
    images = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    return TensorImageDataset(images, torch.arange(n) % 10)


@pytest.mark.parametrize("world, start", [(2, 0), (3, 0), (3, 2)])
def test_the_processes_batches_together_are_one_process_batches_of_the_global_size(world, start):
    data, batch, seed = dataset(103), 4, 7
    single = ResumableSampler(data, seed=seed)
    single.set_epoch(5, start=start * world * batch)
    whole = [b[0][:, 0, 0, 0] for b in TensorBatchLoader(data, world * batch, single)]
    shares = []
    for rank in range(world):
        sampler = ResumableSampler(data, seed=seed, num_replicas=world, rank=rank)
        sampler.set_epoch(5, start=start * batch)
        loader = TensorBatchLoader(data, batch, sampler)
        assert len(loader) == (103 // world) // batch
        shares.append([b[0][:, 0, 0, 0] for b in loader])
    assert len(whole) == len(shares[0]) == len(shares[-1]) > 0
    for i, global_batch in enumerate(whole):
        # Row j of process r is row world * j + r of the global batch (as the updater deals the noise).
        together = torch.stack([shares[r][i] for r in range(world)], dim=1).reshape(-1)
        assert torch.equal(together, global_batch)


def test_a_sampler_refuses_a_rank_outside_the_world():
    with pytest.raises(ValueError, match=r"Argument `rank` should be in \[0, 1\], but given 2"):
        ResumableSampler(range(10), seed=0, num_replicas=2, rank=2)


def step(engine, batch):
    return {"loss": float(batch[0].mean())}


def trainer_of(n, batch_size, tmp_path):
    data = dataset(n)
    return Trainer(step, TensorBatchLoader(data, batch_size, ResumableSampler(data, seed=0)), (10, "epoch"),
                   out=tmp_path)


def test_a_resumed_state_of_another_global_batch_is_refused(tmp_path):
    trainer = trainer_of(64, 8, tmp_path)  # 8 iterations an epoch
    saved = trainer.state_dict()
    # Two processes of 8: 4 iterations an epoch.
    saved["engine"] = {**saved["engine"], "iteration": 6, "epoch_length": 4}
    saved["data"] = {"size": 64, "global_batch": 16}
    trainer.load_state_dict(saved)
    with pytest.raises(UsageError, match=r"^The run was trained on a global batch of 16 images \(batch size times "
                                         r"processes\), but this one takes 8: each epoch would have another length"):
        trainer.check_same_data()


def test_a_resumed_state_of_other_data_is_refused_whatever_the_world_size(tmp_path):
    trainer = trainer_of(64, 8, tmp_path)
    saved = trainer.state_dict()
    saved["engine"] = {**saved["engine"], "iteration": 5, "epoch_length": 5}
    saved["data"] = {"size": 80, "global_batch": 16}
    trainer.load_state_dict(saved)
    with pytest.raises(UsageError, match="^The run was trained on 80 images, but its data now has 64: the dataset "):
        trainer.check_same_data()


# -- in two processes (gloo) --------------------------------------------------------------------


def _collectives(out):
    rank = idist.get_rank()
    observation = {
        "float": [1.0, 4.0][rank],
        "tensor": torch.tensor([2.0, 6.0][rank]),
        "pair": ([3.0, 10.0][rank], [1.0, 3.0][rank]),  # weighted: (3 * 1 + 10 * 3) / 4
        "half_empty": ([float("nan"), 5.0][rank], [0.0, 2.0][rank]),  # NaN counts for nothing at weight 0
        "empty": (float("nan"), 0.0),
        "tensor_pair": (torch.tensor([1.0, 2.0][rank]), torch.tensor([1.0, 1.0][rank])),
        "name": f"rank {rank}",
    }
    mean, counts = mean_over_processes(observation, [float(rank == 1), 0.0])
    shared = broadcast_numbers({"fid": 12.5 if rank == 0 else -1.0}, ["fid"])
    result = {
        "float": mean["float"], "tensor": [type(mean["tensor"]).__name__, float(mean["tensor"])],
        "pair": list(mean["pair"]), "half_empty": list(mean["half_empty"]), "empty": "empty" in mean,
        "tensor_pair": [float(t) for t in mean["tensor_pair"]], "name": mean["name"], "counts": counts.tolist(),
        "fid": shared["fid"],
    }
    return result


def _stop_together(out):
    rank = idist.get_rank()

    def signal_once(trainer):
        if rank == 1 and trainer.iteration == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # this process only

    data = dataset(64)
    sampler = ResumableSampler(data, seed=0, num_replicas=2, rank=rank)
    trainer = Trainer(step, TensorBatchLoader(data, 4, sampler), (5, "epoch"), out=out / f"run{rank}")
    trainer.extend(signal_once)
    try:
        trainer.run()
        outcome = {"finished": trainer.iteration}
    except TrainingInterrupted as exc:
        outcome = {"signum": exc.signum, "iteration": exc.iteration}
    return outcome


def _both(local_rank, out):
    # One start of two processes for both checks (a start costs seconds).
    results = {"collectives": _collectives(out), "stop": _stop_together(out)}
    (out / f"rank{idist.get_rank()}.json").write_text(json.dumps(results))


def _port():
    from gan_ignite.launch import _free_port

    return _free_port()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("two_processes")
    with idist.Parallel(backend="gloo", nproc_per_node=2, start_method="spawn", master_port=_port()) as parallel:
        parallel.run(_both, out)
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def test_observations_are_averaged_over_the_processes_pairs_by_their_weights(two_processes):
    collectives = [r["collectives"] for r in two_processes]
    for result in collectives:
        assert result["float"] == 2.5
        assert result["tensor"] == ["Tensor", 4.0]  # a tensor stays a tensor (no host sync on a device)
        assert result["pair"] == [(3 * 1 + 10 * 3) / 4, 4.0]
        assert result["half_empty"] == [5.0, 2.0]
        assert result["empty"] is False  # no process had any weight: left out
        assert result["tensor_pair"] == [1.5, 2.0]
        assert result["counts"] == [1.0, 0.0]
        assert result["fid"] == 12.5  # the main process's number
    assert [r["name"] for r in collectives] == ["rank 0", "rank 1"]  # not a number: each keeps its own


def test_a_signal_to_one_process_stops_every_process_at_the_same_iteration(two_processes):
    outcomes = [r["stop"] for r in two_processes]
    # Signalled after its iteration 3's collective, process 1 tells the others in iteration 4's.
    assert outcomes == [{"signum": signal.SIGTERM, "iteration": 4}] * 2
