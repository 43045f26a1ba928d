"""Shared fixtures.

``shared_data`` points at the real datasets beside the project (``../shared/data``). A
user's clone has no such folder: tests that need it skip with a reason there, but under
CI (``CI=true``), where the folder is always present, its absence is a failure.
"""

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        reason = f"real datasets not found at {SHARED_DATA}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI always has them")
        pytest.skip(reason)
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Tests never read or fill the user's cache of extractors and real statistics."""
    before = os.environ.get("GAN_IGNITE_CACHE")
    os.environ["GAN_IGNITE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield Path(os.environ["GAN_IGNITE_CACHE"])
    if before is None:
        del os.environ["GAN_IGNITE_CACHE"]
    else:
        os.environ["GAN_IGNITE_CACHE"] = before


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for the module's tests: runs compared bitwise need one summation order."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits_extractor():
    """A small extractor trained on the fly on the digits training part (about 10 s)."""
    from gan_ignite.train_extractor import train_extractor

    return train_extractor("digits", epochs=8, log=lambda line: None)


# The options of a tiny gan_mnist run on the embedded digits: 4 iterations an epoch, seconds in all.
TINY_RUN = ["--dataset", "digits", "--limit", "64", "--batch-size", "16", "--image-size", "16", "--feature-maps", "8",
            "--z-dim", "8", "--n-samples", "16", "--no-progress", "--log-interval", "2"]


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A tiny finished gan_mnist run: 3 epochs, the generator's EMA kept, its best epoch kept (gen_best.pt).

    Shared by the tests of the commands that read a run (sample, interpolate, report, compare):
    they must not write into it.
    """
    from experiments import gan_mnist

    out = tmp_path_factory.mktemp("finished") / "run"
    gan_mnist.main([*TINY_RUN, "--epochs", "3", "--ema-decay", "0.9", "--early-stopping", "gen/loss",
                    "--patience", "5", "--out", str(out)])
    return out
