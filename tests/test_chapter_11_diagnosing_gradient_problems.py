"""The numbers that chapter 11 states, recomputed by its snippets."""

import functools
import inspect
import math
import re
import sys

import torch
from conftest import ROOT, assert_page_states, load_snippet, page, snippet_defaults

CHAPTER = "11-diagnosing-gradient-problems"
PAGE = page(CHAPTER)
FOLDER = ROOT / "snippets" / CHAPTER
sys.path.insert(0, str(FOLDER))  # the snippets import gradient_monitor from their folder
import gradient_monitor  # noqa: E402

defaults = functools.partial(snippet_defaults, CHAPTER)


def first_nan(losses):
    return next(i for i, v in enumerate(losses) if not math.isfinite(v))


def test_a_nan_after_a_few_steps_announced_by_the_update_ratio(run):
    r = run("nan_at_high_lr")
    module = load_snippet(FOLDER / "nan_at_high_lr.py")
    assert module.LEARNING_RATES == (2.0, 0.02) and module.SEEDS == (0, 1, 2)
    assert defaults("nan_at_high_lr", "fit")["steps"] == 30
    high = [r[2.0, s] for s in module.SEEDS]
    low = [r[0.02, s] for s in module.SEEDS]
    # at learning rate 2: NaN within a few steps in every seed (fewer than 15, with margin)
    assert max(first_nan(x["losses"]) for x in high) <= 12
    # after climbing by more than six orders of magnitude
    assert all(max(x["losses"][: first_nan(x["losses"])]) > 1e6 * x["losses"][0] for x in high)
    # at 0.02: from between 1.3 and 1.8 to below 0.1 in 30 steps
    assert all(1.3 < x["losses"][0] < 1.8 for x in low)
    assert all(len(x["losses"]) == 30 and x["losses"][-1] < 0.1 for x in low)
    # the median update-to-data ratio at step 0: about 0.1 and 0.001, 100 times apart
    # the figure: at 2 the ratio climbs above 1, at 0.02 it falls
    assert all(max(x["median update ratio"].values()) > 1 for x in high)
    assert all(x["median update ratio"][28] < x["median update ratio"][0] for x in low)
    for h, lo in zip(high, low):
        a, b = h["median update ratio"][0], lo["median update ratio"][0]
        assert 0.09 < a < 0.11 and 0.0009 < b < 0.0011
        assert abs(a / b / 100 - 1) < 1e-3
    assert_page_states(
        PAGE,
        "(fewer than 15 in every seed), after climbing by more than six orders of magnitude",
        "At 0.02 it falls from between $1.3$ and $1.8$ to below $0.1$ in 30 steps.",
        "between $0.09$ and $0.11$ at step 0 in every seed",
        "$100$ times smaller, as the learning rate: between $0.0009$ and $0.0011$",
    )


def test_locating_the_nan(run):
    r = run("locate_the_nan")
    forward = "1.layers.0.self_attn (MultiheadAttention) produced the first non-finite output (NaN)"
    seen_forward = 0
    for seed, x in r.items():
        assert x["weights finite"], seed  # the guard stopped before any non-finite update
        event = x["monitor"]
        assert event.where.startswith("1.layers.0."), event  # the first encoder layer
        # a NaN seen first in the loss was born in the forward pass, one seen first in the
        # gradients in the backward pass
        assert event.phase == ("forward" if x["seen first in"] == "loss" else "backward")
        if event.phase == "forward":
            seen_forward += 1
            assert event.message.startswith(forward), event
            largest = float(re.search(r"largest magnitude ([0-9.e+]+)", event.message)[1])
            assert largest > 1e10
            # detect_anomaly names the loss's backward function, not the attention
            assert x["detect_anomaly"] == (
                "Function 'LogSoftmaxBackward0' returned nan values in its 0th output."
            )
    assert seen_forward >= 1
    at_start = r[0]["profiles"][0]  # the figure: seed 0, every output's std at most about 1
    assert max(stats["std"] for stats in at_start.values()) < 1.01
    assert 3.4e38 < torch.finfo(torch.float32).max < 3.5e38
    assert_page_states(
        PAGE,
        "**The guard stops with every weight still finite**, in every seed",
        "**The monitor names a module of the first encoder layer in every seed.**",
        f'*"{forward} from finite inputs (largest magnitude …) and parameters"*',
        "the largest input being above $10^{10}$",
        "(largest value $3.4 \\times 10^{38}$)",
        "*\"Function 'LogSoftmaxBackward0' returned nan values in its 0th output\"*",
    )


def test_a_nan_from_the_loss(run):
    r = run("nan_from_the_loss")
    seeds = load_snippet(FOLDER / "nan_from_the_loss.py").SEEDS
    verdict = (
        "the gradient arriving at the output of sigmoid is the first non-finite one (NaN and "
        "Inf), and no module output received a gradient before it: it comes from the loss"
    )
    for s in seeds:
        by_hand, clamped, logit = (r[name, s] for name in ("by hand", "clamped", "logit"))
        assert len(by_hand["losses"]) == 1 and math.isnan(by_hand["losses"][0])  # step 0
        assert by_hand["first non-finite"].message.startswith(verdict)
        assert "sigmoid: 100% of its outputs are saturated" in by_hand["findings at step 0"]
        # every module's output was finite: no forward event
        assert by_hand["first non-finite"].phase == "backward"
        # the clamp: a finite loss that keeps its first value exactly, and no gradient
        assert len(set(clamped["losses"])) == 1 and math.isfinite(clamped["losses"][0])
        assert (
            "no gradient reaches lstm, classifier (norm exactly 0)" in clamped["findings at step 0"]
        )
        # the logit: starts between 7 and 11, below 1 within 50 steps (about 30 to 40 here)
        assert 6 < clamped["losses"][0] < 9  # the figure: flat lines between 6 and 9
        assert 7 < logit["losses"][0] < 11
        below = next(i for i, v in enumerate(logit["losses"]) if v < 1)
        after = logit["losses"][below:]
        assert sum(v < 1 for v in after) > len(after) / 2  # mostly below 1 from then on
        assert next(i for i, v in enumerate(logit["losses"]) if v < 1) <= 45
    # sigma(20) is exactly 1 in float32: e^-20 is below half the gap above 1, 2^-24
    assert torch.sigmoid(torch.tensor(20.0)).item() == 1.0
    assert math.exp(-20) < 2**-24 and f"{math.exp(-20):.0e}" == "2e-09"
    assert f"{2**-24:.0e}" == "6e-08"
    assert_page_states(
        PAGE,
        "$e^{-20} \\approx 2 \\times 10^{-9}$",
        "$2^{-24} \\approx 6 \\times 10^{-8}$",
        "**By hand: NaN at step 0, in every seed.**",
        f'*"{verdict}"*',
        '*"sigmoid: 100% of its outputs are saturated"*',
        '*"no gradient reaches lstm, classifier (norm exactly 0)"*',
        "The loss starts between 7 and 11 and drops below 1 within 50 steps in every seed.",
        "the factor NaN, and every gradient NaN",
    )


def test_reading_the_per_layer_profile(run):
    r = run("layer_profile")
    he, default, small = r["He"], r["PyTorch default"], r["std 0.01"]
    assert he["findings"] == []
    norms = he["gradient norm"]
    assert max(norms) / min(norms) < 15 and min(norms) == norms[0]  # the first is lowest
    assert default["findings"] == [
        "layer gradient norms span 3.3 orders of magnitude, from 6.4e-05 at conv1 to 0.13 at "
        "classifier",
        "update ratio below 1e-05 for conv1.weight: they barely move",
    ]
    # the figure: He near 0.1, the default from below 1e-4 to about 0.1, 0.01 from below 1e-9
    assert all(0.01 < v < 0.5 for v in he["gradient norm"])
    assert default["gradient norm"][0] < 1e-4 and 0.05 < default["gradient norm"][-1] < 0.2
    assert small["gradient norm"][0] < 1e-9
    span = max(small["gradient norm"]) / min(small["gradient norm"])
    assert f"{math.log10(span):.1f}" == "8.3"
    # the default init: the ReLU outputs' std shrinks by about 1/sqrt(6) = 0.41 per layer
    std = default["output std"]
    per_layer = (std[-1] / std[0]) ** (1 / (len(std) - 1))
    assert abs(per_layer - 1 / math.sqrt(6)) < 0.03 and f"{1 / math.sqrt(6):.2f}" == "0.41"
    # update ratios: He between 1e-4 and 1e-1; std 0.01 all below 1e-5, some exactly 0
    assert all(1e-4 < v < 1e-1 for v in he["update ratio"])
    assert all(v < 1e-5 for v in small["update ratio"]) and 0.0 in small["update ratio"]
    assert all(v == 0 for x in r.values() for v in x["dead"])  # none dead here
    m = gradient_monitor
    assert (m.DEAD_ALARM, m.SATURATED_ALARM, m.GRADIENT_SPAN_ALARM) == (0.5, 0.5, 1e3)
    assert m.UPDATE_RATIO_BAND == (1e-5, 1e-1) and m.UPDATE_RATIO_REFERENCE == 1e-3
    assert_page_states(
        PAGE,
        "the layers' norms lie within a factor of 15",
        '*"layer gradient norms span 3.3 orders of magnitude, from 6.4e-05 at conv1 to 0.13 at '
        'classifier"*',
        "With 0.01 they span 8.3 orders.",
        "shrinks by about $0.41$ per layer",
        "and $1/\\sqrt 6 = 0.41$",
        "He's is between $10^{-4}$ and $10^{-1}$ for every weight",
        '(*"update ratio below 1e-05 for conv1.weight: they barely move"*)',
        "**Dead and saturated units**, none here.",
    )


def test_what_watching_costs_is_a_budget_the_benchmark_checks():
    """Times differ from run to run: the page states the budget, tools/bench.py checks it."""
    monitor_overhead = load_snippet(ROOT / "tools" / "monitor_overhead.py")
    assert monitor_overhead.BUDGET == 0.05
    assert_page_states(
        PAGE,
        "**At $k = 10$ the monitor adds less than 5% to a step of each of the three models**",
        "that is a budget, which `make bench` checks",
        "medians of 20 plain and 20 sampled steps, alternating, and of 5 steps under "
        "`detect_anomaly`",
    )
    defaults = monitor_overhead.experiment.__defaults__
    assert defaults[:2] == (20, 5)
    # the code the page shows runs (what it measures is the benchmark's business)
    results = monitor_overhead.experiment(pairs=1, anomalous=1)
    assert set(results) == {"Transformer", "LSTM", "CNN"}


def test_the_monitor_and_the_troubleshooting_guide_state_its_definitions():
    m = gradient_monitor
    assert m.TANH_SATURATED == 0.99 and m.SIGMOID_SATURATED == 0.01
    assert 1 - 0.99**2 < 0.02 and 0.01 * 0.99 == 0.0099  # the slopes at the thresholds
    scaler = inspect.signature(torch.amp.GradScaler).parameters
    assert scaler["init_scale"].default == 2.0**16 and scaler["backoff_factor"].default == 0.5
    assert_page_states(
        PAGE,
        "$\\lvert a\\rvert > 0.99$ (tanh) or $a \\notin [0.01, 0.99]$ (sigmoid): slope below "
        "$0.02$ or $0.0099$",
        f"(${math.log(2):.3f}$ for two, ${math.log(10):.2f}$ for ten)",
        "(initially $2^{16}$)",
    )
