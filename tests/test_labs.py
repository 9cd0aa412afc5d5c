"""What the labs' Markdown says about their outputs is what their cells compute.

The build runs each lab once (hooks/notebooks.py), under this session's numerics profile, and
caches the executed notebook. Its last cell, tagged "test" and hidden from readers, prints as
JSON the numbers these checks need: the lab's own variables and, where the Markdown says a
result is or is not sensitive to rounding, a training run from weights nudged by a
rounding-sized amount. Each check tests a claim with a margin that holds under every profile
and finds the claim's text in the Markdown.
"""

import json
import math

import jupytext
import nbformat
import numpy as np
import pytest
from conftest import ROOT

from notebooks import TEST_TAG, executed, find_labs

LN2 = math.log(2)
MARK = "LAB-NUMBERS "


class Lab:
    """A lab's Markdown (whitespace collapsed) and the numbers its test cell printed."""

    def __init__(self, path):
        self.name = path.stem
        cells = jupytext.read(path).cells
        self.markdown = " ".join(
            " ".join(c.source.split()) for c in cells if c.cell_type == "markdown"
        )
        (notebook,) = executed(ROOT, path)
        run = nbformat.read(notebook, 4)
        (test_cell,) = [c for c in run.cells if TEST_TAG in c.metadata.get("tags", [])]
        stdout = "".join(o.text for o in test_cell.outputs if o.get("name") == "stdout")
        line = next(ln for ln in stdout.splitlines() if ln.startswith(MARK))
        self.numbers = json.loads(line[len(MARK) :])

    def states(self, *claims: str):
        missing = [c for c in claims if c not in self.markdown]
        assert not missing, f"docs/labs/{self.name}.py does not state: {missing}"


@pytest.fixture(scope="session")
def labs(site):  # the build has run the labs: read its cache
    return {path.stem: Lab(path) for path in find_labs(ROOT)}


def first_below(losses, level):
    """The first step whose loss is below level (len(losses) if none)."""
    return next((i for i, v in enumerate(losses) if v < level), len(losses))


# --- gradient-flow lab ---------------------------------------------------------------------


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


# --- initialization lab --------------------------------------------------------------------


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


# --- normalization and skips lab -----------------------------------------------------------


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


LAB_OUTPUT_WIDTH = 77  # characters of a cell's printed output that show without scrolling


def test_printed_tables_fit_the_page(site):
    """The outputs readers see (the published notebooks) fit the width of the page."""
    too_wide = []
    for path in find_labs(ROOT):
        notebook = nbformat.read(site / "labs" / path.stem / f"{path.stem}.ipynb", 4)
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                lines = output.get("text", "").splitlines()
                too_wide += [f"{path.name}: {ln}" for ln in lines if len(ln) > LAB_OUTPUT_WIDTH]
    assert not too_wide, "\n".join(too_wide)
