"""What the training stability lab's Markdown says about its outputs is what its cells compute
(see tests/test_labs.py). Every float32 training claim is checked on the lab's run and on a run
from initial weights nudged by one part in 10^7, about what another machine's rounding does."""

import math

import pytest

NAME = "training-stability-lab"


def finite_norms(run):
    return [v for v in run["norms"][: sum(map(math.isfinite, run["losses"]))] if math.isfinite(v)]


def both(lab):
    """The lab's runs and the nudged copy."""
    return lab.numbers["runs"], lab.numbers["nudged"]


def test_settings(labs):
    lab = labs[NAME]
    settings = lab.numbers["settings"]
    assert settings["defaults"]["lr"] == 1.5 and settings["defaults"]["optimizer"] == "sgd"
    assert (settings["depth"], settings["width"], settings["steps"]) == (10, 32, 150)
    assert lab.numbers["parameters"] == 10114
    assert list(settings["runs"]) == [
        "SGD",
        "SGD, clip norm 1",
        "SGD, clip value 0.01",
        "SGD, warmup 50",
        "Adam, lr 0.01",
        "SGD, clip norm 1, bf16",
    ]
    lab.states(
        "the 10-layer ReLU network of the chapter on",
        "at a learning rate ten times too large",
        "The defaults compare six runs at plain SGD's learning rate of 1.5",
    )


def test_sgd_and_clipping_by_norm(labs):
    lab = labs[NAME]
    for runs in both(lab):
        sgd = runs["SGD"]
        assert not math.isfinite(sgd["losses"][-1]) and len(sgd["losses"]) <= 10
        assert max(finite_norms(sgd)) > 1e4 * sgd["norms"][0]
        clipped = runs["SGD, clip norm 1"]
        assert len(clipped["losses"]) == 150 and clipped["losses"][-1] < 1e-3
        steps = [i for i, c in enumerate(clipped["clipped"]) if c]
        assert 0 < len(steps) < 25 and max(steps) < 100
        assert max(clipped["norms"]) > 1 and clipped["norms"][-1] < 0.1
    lab.states(
        "its gradient norm climbs by orders of magnitude within a few steps and the run "
        "ends in a cross",
        "the same learning rate, and the loss ends below one in a thousand",
        "Its norm trace spikes above 1 in the first part of the run",
        "and then falls far below it: clipping acted on a minority of the steps",
    )


def test_clipping_by_value(labs):
    lab = labs[NAME]
    n = lab.numbers["parameters"]
    assert round(0.01 * math.sqrt(n), 1) == 1.0
    for runs in both(lab):
        value, norm = runs["SGD, clip value 0.01"], runs["SGD, clip norm 1"]
        assert len(value["losses"]) == 150 and value["losses"][-1] < 1e-3
        assert all(value["clipped"][:30])
        assert sum(value["clipped"]) > sum(norm["clipped"])
    lab.states(
        "it trains too, although 0.01 sounds tiny",
        "bounds the norm by $0.01\\sqrt{n}$ for $n$ entries, about 1.0 for this network",
        "It acted on every one of the first 30 steps, and on more steps in all than "
        "clipping by norm",
    )


def test_warmup(labs):
    lab = labs[NAME]
    constant = lab.numbers["constant"]
    for runs in both(lab):
        warm = runs["SGD, warmup 50"]
        # LinearLR: 1.5 / 50 at step 0, rising linearly to 1.5 at step 50
        for k, lr in enumerate(warm["lrs"][:51]):
            assert lr == pytest.approx(1.5 / 50 + (1.5 - 1.5 / 50) * k / 50)
        assert max(finite_norms(warm)) > 100 * warm["norms"][0]
        last = warm["losses"][-1]
        assert not math.isfinite(last) or abs(last - constant) < 0.02
    lab.states(
        "the learning rate starts at 1.5/50 and reaches 1.5 at step 50",
        "the norm grows by orders of magnitude as the rate rises, and the run does not "
        "train: it ends in a cross, or stuck at the loss of a constant prediction",
        "A warmup postpones the divergence; it does not prevent it: the rate it climbs to is "
        "still too large.",
    )


def test_adam_and_bfloat16(labs):
    lab = labs[NAME]
    for runs in both(lab):
        adam = runs["Adam, lr 0.01"]
        assert len(adam["losses"]) == 150 and adam["losses"][-1] < 1e-3
        assert not any(adam["clipped"])
    # bfloat16 rounds every activation to 8 significant bits: no nudged copy needed
    bf16 = lab.numbers["runs"]["SGD, clip norm 1, bf16"]
    assert len(bf16["losses"]) == 150 and bf16["losses"][-1] < 0.01
    lab.states(
        "no clipping, and the loss ends below one in a thousand",
        "and still trains: its loss ends below 0.01",
    )
