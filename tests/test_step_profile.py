"""``benchmarks/step_profile.py``: per-operator times and FLOPs of an iteration, without torch.profiler."""

from types import SimpleNamespace

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
    window.plain = {"before": [0.004, 0.006], "after": [0.005]}  # 5 ms an iteration
    window.profiled = 2
    for name, seconds in {"batch norm": 0.002, "conv 64->128 4x4 forward": 0.004}.items():
        window.timer.seconds[name], window.timer.calls[name] = seconds, 2
    window.timer.flops["conv 64->128 4x4 forward"] = 8 * 10**9
    made = P.rows(window, peak=4000.0)
    assert [row["group"] for row in made] == ["conv 64->128 4x4 forward", "batch norm",
                                              "wall minus ops (engine, extensions, Python; noise)"]
    assert made[0]["ms_per_iteration"] == pytest.approx(2.0) and made[0]["gflops_per_s"] == pytest.approx(2000.0)
    assert made[0]["of_peak"] == pytest.approx(0.5)
    assert made[-1]["ms_per_iteration"] == pytest.approx(5.0 - 2.0 - 1.0)


def test_an_epoch_s_last_iteration_is_left_out_of_the_times_and_op_counts():
    window = P.Window(warmup=2, iterations=3)  # plain 3-5, profiled 6-8, plain 9-11
    engine = SimpleNamespace(state=SimpleNamespace(iteration=0, epoch_length=4), terminate=lambda: None)
    x = torch.ones(3)
    for engine.state.iteration in range(1, window.last + 1):
        if engine.state.iteration in (6, 7, 8):  # the profiled window
            x.add(1)
        window.completed(engine)
    # iteration 4 ends epoch 1, inside the first plain window; 8, ending epoch 2, is profiled
    assert (len(window.plain["before"]), len(window.plain["after"])) == (2, 3)
    assert window.profiled == 2 and window.timer.calls["other (losses, noise, batch slicing, views)"] == 2


def test_an_epoch_end_inside_the_profiled_window_drops_that_iteration_s_ops():
    window = P.Window(warmup=0, iterations=3)  # plain 1-3, profiled 4-6, plain 7-9
    engine = SimpleNamespace(state=SimpleNamespace(iteration=0, epoch_length=5), terminate=lambda: None)
    x = torch.ones(3)
    for engine.state.iteration in range(1, window.last + 1):
        if engine.state.iteration == 5:  # epoch 1's last: its grid and snapshot would be made here
            x.mul(2), x.mul(3)
        if engine.state.iteration == 6:
            x.add(1)
        window.completed(engine)
    assert window.profiled == 2
    assert window.timer.calls == {"other (losses, noise, batch slicing, views)": 1}


def test_the_plain_loop_is_timed_then_profiled_over_two_windows():
    setup = T.digits_setup("28x28x1")
    window = P.profile_plain(setup, fast=False, warmup=1, iterations=2, device="cpu")
    assert window.wall > 0 and (len(window.plain["before"]), len(window.plain["after"]), window.profiled) == (2, 2, 2)
    assert window.timer.calls["conv 64->128 4x4 forward"] == 2 * 3  # two iterations inside the mode
