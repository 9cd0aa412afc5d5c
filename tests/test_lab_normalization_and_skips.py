"""What the normalization and skips lab's Markdown says about its outputs is what its cells compute
(see tests/test_labs.py)."""

import math

import numpy as np
import pytest


def test_normalization_and_skips_lab_at_initialization(labs):
    lab = labs["normalization-and-skips-lab"]
    at_init = lab.numbers["at init"]
    stds = {a: np.array(v["stds"]) for a, v in at_init.items()}
    grads = {a: np.array(v["grads"]) for a, v in at_init.items()}
    growth = {a: (s[-1] / s[0]) ** (1 / (len(s) - 1)) for a, s in stds.items()}

    assert abs(growth["residual"] - math.sqrt(2)) < 0.1
    lab.states("the std grows by a factor close to √2 per block")
    # residual + batchnorm: slower growth, the variance grows by a constant amount
    var = stds["residual + batchnorm"] ** 2
    middle = var[len(var) // 2 - 1]
    arithmetic, geometric = (var[0] + var[-1]) / 2, math.sqrt(var[0] * var[-1])
    assert 1 < growth["residual + batchnorm"] < 1.1
    assert abs(middle - arithmetic) < abs(middle - geometric)
    lab.states("the variance grows by a constant *amount* per block")
    # plain + batchnorm: level forward, gradients growing towards the input at every layer
    assert abs(growth["plain + batchnorm"] - 1) < 0.02
    g = grads["plain + batchnorm"]
    assert (g[:-1] > g[1:]).all() and g[0] > 10 * g[-1]
    lab.states("the weight gradients grow towards the input, layer after layer")
    # residual: huge, roughly level; zero-init: perfectly level
    assert grads["residual"].min() > 1e3
    assert 0.1 < grads["residual"][0] / grads["residual"][-1] < 10
    zero = grads["residual, zero-init"]
    assert zero.max() / zero.min() - 1 < 1e-6
    lab.states("huge at every layer, yet roughly level", "perfectly level")


def test_normalization_and_skips_lab_training(labs):
    lab = labs["normalization-and-skips-lab"]
    after, nudged = lab.numbers["after"], lab.numbers["nudged"]
    init_grads = {a: v["grads"] for a, v in lab.numbers["at init"].items()}
    last = {a: r["last loss"] for a, r in after.items()}
    best, plain = ("residual + batchnorm", "residual, zero-init"), ("plain", "plain + batchnorm")

    residual = after["residual"]["losses"]
    assert residual[0] > 100 and not math.isfinite(residual[-1]) and len(residual) <= 5
    lab.states("the run ends in a cross almost at once")
    assert min(last[a] for a in plain) > 5 * max(last[a] for a in best)
    finite = sorted((v, a) for a, v in last.items() if math.isfinite(v))
    assert {a for _, a in finite[:2]} == set(best)
    lab.states(
        "the slow ones, both far from the two best residual networks",
        "the two fastest curves",
    )
    # plain + batchnorm: the gradient range shrinks; eval mode differs from train mode
    bn = after["plain + batchnorm"]
    before = init_grads["plain + batchnorm"][0] / init_grads["plain + batchnorm"][-1]
    assert bn["grads"][0] / bn["grads"][-1] < before / 4
    assert abs(bn["eval loss"] - bn["last loss"]) > 1e-3
    for a in ("plain", "residual, zero-init"):  # no batch norm: the same in both modes
        assert after[a]["eval loss"] == pytest.approx(after[a]["last loss"], rel=1e-5)
    lab.states(
        "settle into a much smaller range across layers",
        "Its eval-mode loss differs from its train-mode loss",
        "Layer norm and the networks without normalization compute the same thing in both modes",
    )
    # fitting the training points almost perfectly, not the held-out ones
    for a in best:
        assert last[a] < 0.05 and after[a]["test accuracy"] < 0.9
    lab.states("Fitting 256 points almost perfectly is not the same as learning the teacher")
    # a rounding-sized nudge moves the plain networks' final losses, not the residual ones'
    final = {a: r["losses"][-1] for a, r in after.items()}
    for a in plain:
        assert abs(nudged[a] / final[a] - 1) > 0.005
    for a in best:
        assert abs(nudged[a] / final[a] - 1) < 0.01
    lab.states(
        "It can even depend on rounding: their final losses are sensitive to it",
        "unlike for the two best residual networks",
    )
