"""``benchmarks/step_profile.py``: per-operator times and FLOPs of an iteration, without torch.profiler."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import step_profile as P
from benchmarks import throughput as T


def test_convolutions_are_named_by_layer_and_direction_with_hand_counted_flops():
    conv, up = nn.Conv2d(1, 4, 4, 2, 1), nn.ConvTranspose2d(4, 3, 4, 2, 1)
    x = torch.randn(2, 1, 8, 8, requires_grad=True)
    timer = P.OpTimer()
    with timer:
        up(conv(x)).sum().backward()
    # forward: 2 * N * C_out * H_out * W_out * C_in * k * k
    assert timer.flops["conv 1->4 4x4 forward"] == 2 * 2 * 4 * 4 * 4 * 1 * 16
    # the transposed layer maps 4 channels to 3, (2, 4, 4, 4) -> (2, 3, 8, 8): the same
    # products as the 3->4 convolution it is the adjoint of, over its 4x4 input
    assert timer.flops["transposed conv 4->3 4x4 forward"] == 2 * 2 * 4 * 4 * 4 * 3 * 16
    # backward: the input gradient and the weight gradient, each as many as the forward
    assert timer.flops["conv 1->4 4x4 backward"] == 2 * timer.flops["conv 1->4 4x4 forward"]
    assert timer.flops["transposed conv 4->3 4x4 backward"] == 2 * timer.flops["transposed conv 4->3 4x4 forward"]
    assert timer.calls["conv 1->4 4x4 forward"] == 1 and timer.calls["conv 1->4 4x4 backward"] == 1
    assert all(seconds > 0 for seconds in timer.seconds.values())


def test_the_groups_count_what_flop_counter_mode_counts_for_a_plain_step():
    setup = T.digits_setup("28x28x1")
    gen, dis, opt_gen, opt_dis = T.networks(setup, "cpu")
    real = setup.images[: T.BATCH]
    with FlopCounterMode(display=False) as counter:
        T.plain_step(gen, dis, opt_gen, opt_dis, real, setup.config.z_dim)
    timer = P.OpTimer()
    with timer:
        T.plain_step(gen, dis, opt_gen, opt_dis, real, setup.config.z_dim)
    assert sum(timer.flops.values()) == counter.get_total_flops()
    assert {"batch norm", "activations", "optimizer", "matrix products (linear layers)"} <= set(timer.seconds)
    assert timer.calls["optimizer"] > 2 * len(list(dis.parameters()))  # the per-tensor Adam, one op or more each
    assert timer.calls["conv 64->128 4x4 forward"] == 3  # D on real, on the detached fake, in G's step


def test_rows_put_the_rest_of_the_wall_time_outside_the_ops():
    window = P.Window(warmup=1, iterations=2)
    window.wall = 0.010  # two iterations of 5 ms (the mean of the plain windows)
    for name, seconds in {"batch norm": 0.002, "conv 64->128 4x4 forward": 0.004}.items():
        window.timer.seconds[name], window.timer.calls[name] = seconds, 2
    window.timer.flops["conv 64->128 4x4 forward"] = 8 * 10**9
    made = P.rows(window, peak=4000.0)
    assert [row["group"] for row in made] == ["conv 64->128 4x4 forward", "batch norm",
                                              "wall minus ops (engine, extensions, Python; noise)"]
    assert made[0]["ms_per_iteration"] == pytest.approx(2.0) and made[0]["gflops_per_s"] == pytest.approx(2000.0)
    assert made[0]["of_peak"] == pytest.approx(0.5)
    assert made[-1]["ms_per_iteration"] == pytest.approx(5.0 - 2.0 - 1.0)


def test_the_plain_loop_is_timed_then_profiled_over_two_windows():
    setup = T.digits_setup("28x28x1")
    window = P.profile_plain(setup, fast=False, warmup=1, iterations=2, device="cpu")
    assert window.wall > 0 and len(window.plain) == 2
    assert window.timer.calls["conv 64->128 4x4 forward"] == 2 * 3  # two iterations inside the mode
