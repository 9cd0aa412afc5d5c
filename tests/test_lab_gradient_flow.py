"""What the gradient-flow lab's Markdown says about its outputs is what its cells compute
(see tests/test_labs.py)."""

import math

import numpy as np
from conftest import first_below

LN2 = math.log(2)


def test_gradient_flow_lab_default_run(labs):
    lab = labs["gradient-flow-lab"]
    run, stds = lab.numbers["run"], np.array(lab.numbers["stds"])
    # the default sigmoid network: layer 1's tiny updates are rounded away in float32
    assert run["moved"][0] == 0 < run["moved"][-1]
    lab.states("the first layer moves far less than the last one, possibly not at all")
    # its loss ends at chance
    assert abs(run["losses"][-1] - LN2) < 0.005
    # in float32 the spread reaches rounding noise by layer 10 and stops falling there;
    # float64 keeps falling, and the printed growth understates the shrinking
    float64 = np.array(lab.numbers["stds float64"])
    assert (stds[9:] < 3e-8).all() and stds[-1] > 1e-4 * stds[9]
    assert float64[-1] < 1e-3 * stds[-1]
    first_layers = (stds[7] / stds[0]) ** (1 / 7)
    printed = (stds[-1] / stds[0]) ** (1 / (len(stds) - 1))
    assert first_layers < 0.3 < printed < 0.5 and (stds[1:9] / stds[:8] < 0.5).all()
    lab.states(
        "shrinks several-fold per layer",
        "By layer 10 the spread is below the spacing of float32 numbers near 0.5 "
        "(a few times $10^{-8}$)",
        "where it stops falling, is rounding noise",
        "the printed growth understates how fast the spread shrinks",
    )


def test_gradient_flow_lab_presets_at_initialization(labs):
    lab = labs["gradient-flow-lab"]
    presets = lab.numbers["presets"]
    grads = {name: np.array(p["grads"]) for name, p in presets.items()}
    stds = {name: np.array(p["stds"]) for name, p in presets.items()}
    ratio = {name: g[0] / g[-1] for name, g in grads.items()}
    growth = {name: (s[-1] / s[0]) ** (1 / (len(s) - 1)) for name, s in stds.items()}
    sigmoid, tanh, he = "sigmoid, PyTorch default", "tanh, Xavier", "ReLU, He"
    xavier, big = "ReLU, Xavier", "ReLU, He, gain 1.5"

    # the sigmoid's ratio: smallest by many orders of magnitude
    assert ratio[sigmoid] < 1e-6 * min(r for n, r in ratio.items() if n != sigmoid)
    lab.states("its gradient ratio is the smallest of the five by many orders of magnitude")
    # tanh + Xavier, ReLU + He: many orders closer to 1; little change per layer
    for name in (tanh, he):
        assert abs(math.log10(ratio[name])) < abs(math.log10(ratio[sigmoid])) - 6
        assert 0.8 < ratio[name] ** (1 / (lab.numbers["depth"] - 1)) < 1.25
        assert growth[name] > 0.85
    assert growth[sigmoid] < 0.5
    lab.states(
        "many orders of magnitude closer to 1 than the sigmoid's",
        "two whose gradients change little from layer to layer",
        "the others lose little",
    )
    # ReLU + Xavier: a ratio near 1 (nearer than He's), every gradient hundreds of
    # times smaller than He's at the same layer, the spread shrinking
    assert 0.5 < ratio[xavier] < 2.5
    assert abs(math.log(ratio[xavier])) < abs(math.log(ratio[he]))
    assert (grads[he] / grads[xavier]).min() > 100
    assert growth[xavier] < 0.8 and (np.diff(stds[xavier]) < 0).all()
    lab.states(
        "its gradient ratio is near 1, nearer than ReLU + He's, yet at every layer its "
        "gradient is hundreds of times smaller than ReLU + He's",
        "has a ratio near 1, gradients hundreds of times smaller than with He init at every layer",
        "Its activation spread shrinks at every layer",
        "its line in the left panel is level, far below ReLU + He's",
    )
    # gain 1.5: the spread grows, every gradient far above the others, ratio unremarkable
    assert growth[big] > 1.2 and stds[big][-1] > 100 * stds[big][0]
    assert (np.diff(stds[big]) > 0).all()
    assert grads[big].min() > 10 * max(g.max() for n, g in grads.items() if n != big)
    assert 0.1 < ratio[big] / ratio[he] < 10
    lab.states(
        "its line in the left panel sits far above the others",
        "its activation spread grows at every layer",
        "the gain-1.5 ratio is of the order of ReLU + He's although every gradient is huge",
    )


def test_gradient_flow_lab_presets_training(labs):
    lab = labs["gradient-flow-lab"]
    losses = {name: np.array(p["losses"]) for name, p in lab.numbers["presets"].items()}
    # the sigmoid ends at ln 2
    assert abs(losses["sigmoid, PyTorch default"][-1] - LN2) < 0.005
    lab.states("its final loss is the printed ln 2: it has learned nothing")
    # tanh + Xavier and ReLU + He fall far below ln 2, with spikes
    for name in ("tanh, Xavier", "ReLU, He"):
        assert losses[name].min() < LN2 / 3
        assert np.diff(losses[name]).max() > 0.1
    lab.states(
        "both losses fall far below ln 2",
        "Neither falls smoothly: at this learning rate both curves have spikes.",
    )
    # ReLU + Xavier sits on the chance line for 50 steps; ReLU + He leaves it within 10
    assert np.abs(losses["ReLU, Xavier"][:50] - LN2).max() < 0.01
    assert first_below(losses["ReLU, He"], LN2 - 0.01) <= 10
    lab.states(
        "a loss that sits on the chance line for the first 50 steps",
        "Its loss sits on the chance line for the first 50 steps, while ReLU + He's falls "
        "below it within the first 10",
    )
    # gain 1.5: a huge first loss, then NaN
    big = losses["ReLU, He, gain 1.5"]
    assert big[0] > 100 and not np.isfinite(big[-1])
    lab.states("Its first loss is already huge and the run ends in a cross.")


def test_gradient_flow_lab_what_holds_on_another_machine(labs):
    lab = labs["gradient-flow-lab"]
    nudged = lab.numbers["nudged"]
    presets = lab.numbers["presets"]
    change = {n: abs(v / presets[n]["losses"][-1] - 1) for n, v in nudged.items()}
    assert change["tanh, Xavier"] < 0.05 < 0.1 < change["ReLU, He"]
    he = np.array(presets["ReLU, He"]["losses"])
    above = he[10:] > LN2
    assert np.sum(above[1:] & ~above[:-1]) >= 3  # back above ln 2, again and again
    lab.states(
        "tanh + Xavier's final loss barely moves, by a few per cent at most. ReLU + He's "
        "moves by more than 10 %: its curve jumps back above ln 2 again and again",
        "Where tanh + Xavier's ends is a robust result; where ReLU + He's ends is not",
    )
