"""What the debugging lab's Markdown says about its outputs is what its cells compute (see
tests/test_labs.py). Its claims are facts of scale (an infinity at step 0, ratios near 1 or
near 10^-6, a loss at ln 10), which hold for every seed tried and under both numerics
profiles."""

import math
import statistics

NAME = "debugging-lab"


def finite_steps(losses):
    return next((i for i, v in enumerate(losses) if not math.isfinite(v)), len(losses))


def test_settings(labs):
    lab = labs[NAME]
    assert lab.numbers["settings"] == dict(
        depth=8, width=64, lr=0.01, batch=128, steps=300, every=10, seed=0
    )
    lab.states("an 8-layer ReLU network that classifies small images into ten classes")


def test_the_run_as_received_is_infinite_at_step_0_because_the_loss_underflows(labs):
    lab = labs[NAME]
    numbers = lab.numbers
    received = numbers["losses"]["received"]
    assert received[0] == math.inf and all(math.isnan(v) for v in received[1:])
    assert numbers["first_nonfinite"] == [0, "backward", "16"]
    assert "'SoftmaxBackward0' returned nan" in numbers["anomaly"]
    assert numbers["logit_gap"] > 104  # e^-104 is below float32's smallest subnormal
    assert numbers["zero_probabilities"] > 0
    lab.states(
        "the loss is infinite from the first step",
        "The loss is `inf` at step 0, and NaN after that",
        "Every module's output was finite; the first non-finite gradient is the one the loss "
        "sends back into the last layer",
        "Anomaly mode names the softmax, not the log",
        "more than about 104 is below the smallest positive float32",
    )


def test_with_the_loss_fixed_every_update_ratio_is_above_a_tenth(labs):
    lab = labs[NAME]
    losses = lab.numbers["losses"]["fix_loss"]
    ratios = lab.numbers["ratios"]["fix_loss"]
    assert 100 <= losses[0] < 1000 and finite_steps(losses) <= 10
    assert min(ratios.values()) > 0.1 and 0.5 < max(ratios.values()) < 3
    lab.states(
        "it is in the hundreds where a network that knows nothing scores",
        "it is NaN within a few steps",
        "here every weight's ratio is above 0.1, and the largest near 1",
    )


def test_with_the_inputs_standardized_the_run_trains_and_the_monitor_finds_nothing(labs):
    lab = labs[NAME]
    losses = lab.numbers["losses"]["fixed"]
    ratios = lab.numbers["ratios"]["fixed"]
    assert finite_steps(losses) == len(losses) and 1 < losses[0] < 5 and losses[-1] < 0.01
    assert all(1e-4 < r < 1e-2 for r in ratios.values())
    assert lab.numbers["findings"]["fixed"] == []
    lab.states(
        "The loss starts at a few units and falls below 0.01",
        "the update ratios sit within a factor of ten of $10^{-3}$, no ReLU layer is half "
        "dead, and the monitor finds nothing",
    )


def test_without_he_init_the_loss_sits_at_ln_10_and_the_first_layers_barely_move(labs):
    lab = labs[NAME]
    losses = lab.numbers["losses"]["tidied"]
    ratios = lab.numbers["ratios"]["tidied"]
    assert abs(sum(losses[-50:]) / 50 - math.log(10)) < 0.01
    assert all(ratios[f"{i}.weight"] < 1e-5 for i in (0, 2, 4))
    assert 1e-6 < ratios["0.weight"] < 1e-5  # millionths at step 0
    first_layer = lab.numbers["first_layer"]
    tidied = statistics.median(r for step, r in first_layer["tidied"] if step > 0)
    fixed_early = statistics.median(r for step, r in first_layer["fixed"] if step < 50)
    assert 1e-5 < tidied < 1e-4 and fixed_early > 10 * tidied
    assert lab.numbers["dead"]["15"] > 0.5
    last_hidden = lab.numbers["last_hidden"]
    assert last_hidden["spread"] < 0.01 and last_hidden["bias"] > 10 * last_hidden["spread"]
    findings = " ".join(lab.numbers["findings"]["tidied"])
    assert "0.weight" in findings and "barely move" in findings and "15:" in findings
    lab.states(
        "the loss stays at $\\ln 10$",
        "At step 0 they change by a few millionths of their size; momentum then builds the "
        "steps up to a few hundred-thousandths, still tens of times less than in the healthy "
        "run's first steps",
        "more than half the ReLUs of the last hidden layer dead",
        "it hardly varies from one example to the next, by a few thousandths, while the "
        "biases are tens of times larger",
    )
