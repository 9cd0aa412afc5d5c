"""What the initialization lab's Markdown says about its outputs is what its cells compute
(see tests/test_labs.py)."""

import math

import numpy as np

LN2 = math.log(2)


def test_initialization_lab(labs):
    lab = labs["initialization-lab"]
    n = lab.numbers
    shown = n["shown"]
    spread = {s: np.array(v) for s, v in n["spreads"].items()}
    norms = {s: np.array(v) for s, v in n["norms"].items()}
    final = {s: v[-1] for s, v in n["losses"].items()}
    collapsed, trained = ("std 0.01", "pytorch default"), ("xavier", "he", "lsuv")
    at = {d: i for i, d in enumerate(shown)}

    # std 0.01: the ratio looks healthy, every gradient tiny
    assert 0.1 < norms["std 0.01"][0] / norms["std 0.01"][-1] < 10
    assert norms["std 0.01"].max() < 1e-20
    assert norms["std 0.01"].max() < 10 * norms["std 0.01"].min()
    lab.states(
        'with `"std 0.01"` the ratio looks healthy, but every layer\'s gradient is tiny',
        "so the product is equally tiny at every layer",
    )
    # pytorch default: histograms stop narrowing, the signal falls by orders of magnitude
    pooled = n["pooled"]["pytorch default"]
    assert min(pooled[at[7] :]) > 0.5 * pooled[at[7]]
    assert spread["pytorch default"][at[30]] < 1e-4 * spread["pytorch default"][at[7]]
    lab.states(
        'With `"pytorch default"` the histograms stop narrowing after the first few layers',
        "the signal, falling by orders of magnitude",
    )
    # the collapsed schemes: tiny layer-1 gradients, loss at ln 2; the others train
    for s in collapsed:
        assert spread[s][at[30]] < 1e-6 * spread[s][at[1]]
        assert norms[s][0] < 1e-7
        assert abs(final[s] - LN2) < 0.005
    for s in trained:
        assert norms[s][0] > 1e-2
        assert final[s] < LN2 / 2
    lab.states(
        'the schemes whose activations collapse in the first table, `"std 0.01"` and '
        '`"pytorch default"`, are the ones whose layer-1 gradients are tiny in the second '
        "(below $10^{-7}$), and whose loss stays at $\\ln 2$ in the third",
        "the schemes that keep the signal alive train",
    )
    # he and lsuv roughly level; xavier shrinks by about 4, trains, ends 10x above them
    for s in ("he", "lsuv"):
        assert 0.8 < spread[s][at[30]] / spread[s][at[7]] < 1.25
    assert (np.diff(spread["xavier"]) < 0).all()
    assert 3.3 < spread["xavier"][at[1]] / spread["xavier"][at[30]] < 4.5
    assert final["xavier"] > 10 * max(final["he"], final["lsuv"])
    lab.states(
        '`"he"` and `"lsuv"` keep the activation spread roughly level',
        "by a factor of about 4 over the 30 layers",
        "ends with a loss more than ten times theirs",
    )
