"""Speed switches: every one trains a tiny run with finite values and resumes it exactly.

``--amp`` (bf16 and fp16, with a gradient scaler per network), ``--no-channels-last`` (the default is on),
``--no-fused-adam``, ``--fresh-fake`` and ``--compile`` (slow). Runs compared bitwise use
one torch thread, as in test_resume.py.
"""

import json
import math
import shutil

import pytest
import torch

from benchmarks.kill_resume import SMALL, checkpoint_iterations, final_weights, identical
from experiments import gan_mnist
from gan_ignite import acceleration
from gan_ignite.acceleration import adam, compile_unavailable
from gan_ignite.config import parse_config
from gan_ignite.precision import slow_16_bit
from gan_ignite.recipes import speed_switches

RUN = [*SMALL, "--epochs", "3", "--n-saved", "20"]  # 4 iterations an epoch, a checkpoint every 3


pytestmark = pytest.mark.usefixtures("one_thread")


def read_log(out):
    entries = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in entry.items() if k != "elapsed_time"} for entry in entries]


def run_and_resume(tmp_path, switches):
    """The uninterrupted run, and a copy resumed from its mid-epoch checkpoint 6."""
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    gan_mnist.main([*RUN, *switches, "--out", str(reference)])
    (resumed / "checkpoints").mkdir(parents=True)
    for name in ("run.json", "config.json", "checkpoints/checkpoint_6.pt", "checkpoints/checkpoint_6.pt.sha256"):
        shutil.copy(reference / name, resumed / name)
    gan_mnist.main([*RUN, *switches, "--out", str(resumed), "--resume"])
    return reference, resumed


def assert_finite_and_exact(reference, resumed):
    log = read_log(reference)
    assert len(log) == 3
    for entry in log:
        assert all(math.isfinite(entry[key]) for key in ("gen/loss", "dis/loss", "dis/real", "dis/fake"))
    assert checkpoint_iterations(reference)[-1] == 12
    assert identical(final_weights(resumed), final_weights(reference))
    assert read_log(resumed) == log


@pytest.mark.parametrize("switches", [
    ["--amp", "bf16"], ["--no-channels-last"], ["--no-fused-adam"], ["--fresh-fake"],
], ids=lambda s: " ".join(s))
def test_switch_trains_finite_and_resumes_exactly(tmp_path, switches):
    assert_finite_and_exact(*run_and_resume(tmp_path, switches))


def test_fp16_saves_one_gradient_scaler_per_network_and_resumes_them(tmp_path):
    reference, resumed = run_and_resume(tmp_path, ["--amp", "fp16"])
    assert_finite_and_exact(reference, resumed)
    def scalers(out, iteration):
        state = torch.load(out / "checkpoints" / f"checkpoint_{iteration}.pt", weights_only=True)
        return {key: state[key] for key in ("scaler_gen", "scaler_dis")}

    # The resumed run's scalers go on from checkpoint 6's, which a fresh scaler (scale
    # 2**16) would not match: the tiny run overflows and halves a scale before that.
    assert any(state["scale"] != 2.0**16 for state in scalers(reference, 6).values())
    for iteration in (9, 12):
        assert scalers(resumed, iteration) == scalers(reference, iteration)


def test_the_default_run_saves_no_scalers(tmp_path):
    gan_mnist.main([*RUN, "--epochs", "1", "--out", str(tmp_path)])
    state = torch.load(tmp_path / "checkpoints" / "checkpoint_3.pt", weights_only=True)
    assert not any(key.startswith("scaler_") for key in state)


def test_amp_is_not_changed_on_resume(tmp_path, capsys):
    gan_mnist.main([*RUN, "--epochs", "1", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exc:
        gan_mnist.main([*RUN, "--epochs", "2", "--out", str(tmp_path), "--resume", "--amp", "fp16"])
    assert exc.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--amp off, not --amp fp16" in err[0]


def config(*switches):
    return parse_config(gan_mnist.Config, [*RUN, *switches, "--out", "unused"])


def conv_weights(*switches):
    gen, dis = gan_mnist.dcgan_models(config(*switches))
    speed_switches(config(*switches), gen, dis)
    return [m.weight for m in (*gen.modules(), *dis.modules()) if isinstance(m, (torch.nn.Conv2d,
                                                                               torch.nn.ConvTranspose2d))]


def test_channels_last_is_the_default_and_converts_both_networks():
    convs = conv_weights()
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert not all(w.is_contiguous() for w in convs)


def test_no_channels_last_keeps_the_ordinary_layout():
    convs = conv_weights("--no-channels-last")
    assert convs and all(w.is_contiguous() for w in convs)


def test_adam_is_fused_where_the_device_has_the_kernel():
    weight = torch.nn.Parameter(torch.ones(3, 3))
    assert adam([weight], lr=1e-3, betas=(0.5, 0.9), device="cpu").defaults["fused"] is True
    assert adam([weight], lr=1e-3, betas=(0.5, 0.9), device="cpu", fused=False).defaults["fused"] is None
    assert adam([weight], lr=1e-3, betas=(0.5, 0.9), device="meta").defaults["fused"] is None


def test_fused_adam_computes_the_default_adam_update():
    torch.manual_seed(0)
    start = torch.randn(50, 20)
    grads = [torch.randn(50, 20) for _ in range(5)]
    results = []
    for fused in (True, False):
        weight = torch.nn.Parameter(start.clone())
        opt = adam([weight], lr=1e-2, betas=(0.5, 0.999), device="cpu", fused=fused)
        for grad in grads:
            weight.grad = grad.clone()
            opt.step()
        results.append(weight.detach())
    assert not torch.equal(results[0], start)
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_compile_is_skipped_with_the_reason_where_there_is_no_compiler(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(acceleration.shutil, "which", lambda name: None)
    assert "needs a C++ compiler" in compile_unavailable("cpu")
    gan_mnist.main([*RUN, "--epochs", "1", "--compile", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert "warning: --compile skipped: torch.compile needs a C++ compiler on the CPU" in err
    assert len(read_log(tmp_path)) == 1


@pytest.mark.slow
def test_compile_trains_finite_and_resumes(tmp_path):
    if compile_unavailable("cpu"):
        pytest.skip(compile_unavailable("cpu"))
    reference, resumed = run_and_resume(tmp_path, ["--compile"])
    log = read_log(reference)
    assert all(math.isfinite(entry["gen/loss"]) for entry in log)
    # Compiled kernels may round differently from eager ones, but the resumed run
    # compiles the same graphs and continues the same arithmetic.
    assert identical(final_weights(resumed), final_weights(reference))
    state = torch.load(reference / "checkpoints" / "checkpoint_12.pt", weights_only=True)
    assert not any("_orig_mod" in key for key in state["gen"])  # keys as uncompiled


def test_a_run_from_before_channels_last_was_the_default_resumes_in_the_layout_it_trained_in(tmp_path):
    gan_mnist.main([*RUN, "--epochs", "1", "--no-channels-last", "--out", str(tmp_path)])
    settings = json.loads((tmp_path / "config.json").read_text())
    del settings["channels_last"]  # as a run started before the option existed wrote it
    (tmp_path / "config.json").write_text(json.dumps(settings))
    resumed = parse_config(gan_mnist.Config, ["--out", str(tmp_path), "--resume", "--epochs", "2"])
    assert resumed.channels_last is False
    assert parse_config(gan_mnist.Config, ["--out", str(tmp_path / "new")]).channels_last is True


def test_a_run_from_before_fresh_fake_resumes_with_the_two_forward_step_it_trained_with(tmp_path):
    gan_mnist.main([*RUN, "--epochs", "1", "--out", str(tmp_path)])
    settings = json.loads((tmp_path / "config.json").read_text())
    assert settings["fresh_fake"] is False
    del settings["fresh_fake"]  # as a run started before the option existed wrote it
    (tmp_path / "config.json").write_text(json.dumps(settings))
    resumed = parse_config(gan_mnist.Config, ["--out", str(tmp_path), "--resume", "--epochs", "2"])
    assert resumed.fresh_fake is True


@pytest.mark.parametrize("switch", ["--no-channels-last", "--no-fused-adam"])
def test_switches_that_shape_the_optimizer_state_are_not_changed_on_resume(tmp_path, capsys, switch):
    gan_mnist.main([*RUN, "--epochs", "1", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        gan_mnist.main([*RUN, "--epochs", "2", "--out", str(tmp_path), "--resume", switch])
    err = capsys.readouterr().err.strip()
    assert "--resume: the run was started with" in err and f"not {switch}" in err


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as info:
            return next(line for line in info if line.startswith("flags")).split(":")[1].split()
    except (OSError, StopIteration):
        pytest.skip("no /proc/cpuinfo to read the CPU's instruction sets from")


def test_bf16_is_called_slow_exactly_where_the_cpu_has_no_bf16_units():
    native = bool({"avx512_bf16", "amx_bf16"} & set(cpu_flags()))
    reason = slow_16_bit("bf16", torch.device("cpu"))
    assert (reason is None) == native
    if reason is not None:
        assert "has no AVX-512-BF16 or AMX, so bf16 is emulated" in reason
    assert slow_16_bit("off", torch.device("cpu")) is None


@pytest.mark.parametrize("native", [False, True], ids=["emulated", "native"])
def test_amp_bf16_warns_once_where_it_would_be_slow_and_still_trains(tmp_path, monkeypatch, capsys, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    gan_mnist.main([*RUN, "--epochs", "1", "--amp", "bf16", "--out", str(tmp_path)])
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: --amp")]
    if native:
        assert warnings == []
    else:
        assert warnings == [f"warning: --amp bf16 will be slow: this CPU ({torch.backends.cpu.get_cpu_capability()}) "
                            f"has no AVX-512-BF16 or AMX, so bf16 is emulated, many times slower than float32; "
                            f"leave --amp off here"]
    assert len(read_log(tmp_path)) == 1


@pytest.mark.parametrize("amx_fp16", [False, True])
def test_fp16_on_the_cpu_is_called_slow_unless_it_has_amx_fp16(monkeypatch, amx_fp16):
    monkeypatch.setattr(torch.cpu, "_is_amx_fp16_supported", lambda: amx_fp16)
    reason = slow_16_bit("fp16", "cpu")
    assert (reason is None) == amx_fp16
    if not amx_fp16:
        assert "has no AMX-FP16, so fp16 is emulated" in reason and reason.endswith("leave --amp off here")


@pytest.mark.parametrize("ampere", [False, True])
def test_bf16_on_a_gpu_before_ampere_points_to_fp16(monkeypatch, ampere):
    asked = []
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation: asked.append(including_emulation)
                        or ampere)
    reason = slow_16_bit("bf16", "cuda:0")
    assert asked == [False]  # emulated bf16 counts as slow
    assert (reason is None) == ampere
    if not ampere:
        assert reason.endswith("use --amp fp16, which it runs natively")
    assert slow_16_bit("fp16", "cuda:0") is None
