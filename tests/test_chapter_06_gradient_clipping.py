"""The numbers that chapter 6 states, recomputed by its snippets."""

import functools
import inspect
import math

import pytest
from conftest import (
    assert_page_states,
    latex_sci,
    page,
    snippet_defaults,
    snippet_module,
)

CHAPTER = "06-gradient-clipping"
PAGE = page(CHAPTER)


module = functools.partial(snippet_module, CHAPTER)


defaults = functools.partial(snippet_defaults, CHAPTER)


def finite_steps(losses):
    return sum(map(math.isfinite, losses))


def test_the_running_example():
    """Every snippet trains the same network on the same task."""
    for snippet in (
        "clipping_rescues",
        "norm_vs_value",
        "where_clipping_goes",
        "choosing_the_threshold",
        "clipping_hides_a_bug",
    ):
        assert defaults(snippet, "make_net") == dict(
            g=inspect.Parameter.empty, depth=10, width=32, dim=16
        )
        assert defaults(snippet, "make_task") == dict(g=inspect.Parameter.empty, n=128, dim=16)
        source = inspect.getsource(module(snippet).make_net)
        assert source == inspect.getsource(module("clipping_rescues").make_net)
    assert_page_states(
        PAGE,
        "10 ReLU layers of width 32 with He initialization",
        "(128 points in 16 dimensions, labelled by a random teacher network)",
        "full-batch SGD for 150 steps, from three seeds",
    )


def test_clipping_rescues_a_learning_rate_that_is_too_large(run):
    r = run("clipping_rescues")
    runs = module("clipping_rescues").RUNS
    assert list(runs.values()) == [(1.5, math.inf), (1.5, 1.0), (0.15, math.inf)]
    assert r["settings"] == dict(seeds=[0, 1, 2], steps=150, points=128)
    unclipped = r["lr 1.5, no clipping"]
    clipped = r["lr 1.5, max_norm = 1"]
    small = r["lr 0.15, no clipping"]
    # the three runs of a seed start from the same weights
    for k in range(3):
        firsts = {run_["losses"][k][0] for run_ in (unclipped, clipped, small)}
        assert len(firsts) == 1
    # without clipping: NaN within 10 steps, after the norm grew by more than 10^4
    for losses, norms in zip(unclipped["losses"], unclipped["norms"]):
        n = finite_steps(losses)
        assert n < len(losses) <= 10
        assert max(v for v in norms[:n] if math.isfinite(v)) > 1e4 * norms[0]
    # with clipping: below 1e-3, clipped on fewer than 25 steps, none after step 100
    for losses, norms in zip(clipped["losses"], clipped["norms"]):
        assert len(losses) == 150 and losses[-1] < 1e-3
        steps = [i for i, v in enumerate(norms) if v > 1.0]
        assert 0 < len(steps) < 25 and max(steps) < 100
    # the ten times smaller rate: more than ten times higher, seed by seed
    for a, b in zip(small["losses"], clipped["losses"]):
        assert len(a) == 150 and 10 * b[-1] < a[-1] < 0.05  # trains, more slowly
    assert 1.5 * 1.0 == 1.5  # eta * tau
    assert_page_states(
        PAGE,
        "At learning rate $0.15$ it trains. At $1.5$ it diverges.",
        "NaN within 10 steps, in every seed.",
        "The gradient norm grows by more than four orders of magnitude before the loss turns NaN",
        "every run ends below $10^{-3}$",
        "Clipping acted on fewer than 25 of the 150 steps, none after step 100",
        "$\\eta\\tau = 1.5$",
        "At $0.15$ without clipping, every seed ends more than ten times higher than the "
        "clipped run at $1.5$ after the same 150 steps",
        # the caption
        "every run at learning rate 1.5 is NaN within a few steps (crosses); with "
        "`max_norm = 1` every run ends below one in a thousand",
    )


def rows_at(r, *thresholds):
    """The rows of norm_vs_value at the given thresholds."""
    out = []
    for t in thresholds:
        (row,) = [x for x in r["rows"] if abs(math.log10(x["threshold"] / t)) < 1e-6]
        out.append(row)
    return out


def test_norm_clipping_rescales_value_clipping_turns(run):
    r = run("norm_vs_value")
    rows = r["rows"]
    thresholds = [x["threshold"] for x in rows]
    assert min(thresholds) == pytest.approx(1e-6) and max(thresholds) == pytest.approx(10)
    n = r["parameters"]
    assert n == 16 * 32 + 32 + 9 * (32 * 32 + 32) + 32 * 2 + 2 == 10114
    norm = r["norm"]
    # norm clipping: the direction kept, the norm min(threshold, norm), at every threshold
    for x in rows:
        assert x["norm clipping: angle"] < 1e-5
        assert x["norm clipping: norm"] == pytest.approx(min(x["threshold"], norm), rel=1e-5)
        assert x["value clipping: small entries unchanged"]
        assert x["zeros before, after"] == (2107, 2107)
        assert 0 < x["value clipping: cosine"]  # a descent direction, always
        assert x["value clipping: angle"] < r["sign angle"] + 0.01
    one, tenth, hundredth = rows_at(r, 1.0, 0.1, 0.01)
    # at the smallest threshold: a norm close to a hundred times the threshold
    assert 80 < rows[0]["value clipping: norm"] / rows[0]["threshold"] < 100
    assert tenth["value clipping: norm"] / 0.1 == pytest.approx(38, abs=0.5)
    assert tenth["value clipping: norm"] <= math.sqrt(n) * 0.1
    post = r["post formula"]
    assert post["negative entries unchanged"]
    assert round(post["norm"]) == 5  # "five times the threshold"
    assert min(100, 1 / 100) == 0.01  # read as norms, theta = 1: a norm of 100 cut to 0.01
    assert 1.0 < r["max entry"] < 1.2  # above 1, the largest entry: nothing clamped at 10
    assert_page_states(
        PAGE,
        f"$\\|G\\| = {norm:.3g}$",
        f"({n:,} parameters)",
        f"$2107$ of its ${n}$ entries",
        "at thresholds from $10^{-6}$ to $10$",
        "below $10^{-5}$ degrees",
        f"(${100 * one['value clipping: entries clamped']:.2f}\\%$ of them) and turns the "
        f"gradient by ${one['value clipping: angle']:.3g}°$",
        f"At $0.1$ it clamps ${100 * tenth['value clipping: entries clamped']:.1f}\\%$ and "
        f"turns it by ${tenth['value clipping: angle']:.3g}°$",
        f"at $0.01$, ${100 * hundredth['value clipping: entries clamped']:.1f}\\%$ and "
        f"${hundredth['value clipping: angle']:.3g}°$",
        f"the gradient's sign vector, ${r['sign angle']:.3g}°$ away",
        f"has norm ${tenth['value clipping: norm']:.3g}$, 38 times the threshold",
        "$\\sqrt{n}\\,\\tau$",
        f"returns a vector of norm ${post['norm']:.3g}$, five times",
        f"turned by ${post['angle']:.3g}°$",
        f"keeps ${100 - 100 * tenth['value clipping: entries clamped']:.1f}\\%$ of its entries",
        f"the other ${100 * tenth['value clipping: entries clamped']:.1f}\\%$ become $\\pm 0.1$",
        f"points ${tenth['value clipping: angle']:.3g}°$ away from the gradient",
        f"(up to ${r['sign angle']:.0f}°$ here)",
        "about a hundred times larger than the threshold",
        "a gradient of norm 100 would be cut to $0.01$",
        "shrinks every gradient whose norm exceeds $\\sqrt\\theta$",
        f"(up to $\\|G\\| = {norm:.3g}$)",
    )


def test_where_clipping_goes(run):
    r = run("where_clipping_goes")
    scale = r["loss scale"]
    assert scale == 2.0**16 == 65536
    assert r["scaler changes nothing"]  # unscale_ first: bit for bit the same gradient
    assert r["right vs full batch"] < 1e-6
    assert r["right norm"] == pytest.approx(1.0, rel=1e-5)
    assert r["norm"] == pytest.approx(r["full-batch norm"], rel=1e-6)
    m = r["mistakes"]
    after = m["after the step"]
    assert after["norm"] == pytest.approx(r["norm"], rel=1e-6) and after["angle"] < 1e-4
    micro = m["every micro-batch"]
    assert micro["norm"] == pytest.approx(1.0, rel=1e-5)
    before = m["before unscale_"]
    assert before["norm"] == pytest.approx(1 / scale, rel=1e-4) and before["angle"] < 1e-4
    halves = r["half norms"]
    assert min(halves) > 1  # both halves are clipped
    assert math.hypot(*halves) == pytest.approx(r["norm"], rel=1e-5)
    each = m["each half alone"]
    assert each["norm"] == pytest.approx(math.sqrt(2), rel=1e-5)
    batches = defaults("where_clipping_goes", "train_step")
    assert batches["max_norm"] == 1.0
    assert_page_states(
        PAGE,
        f"of norm ${after['norm']:.3g}$; the clipping only changes",
        f"$\\tau/S = {latex_sci(before['norm'])}$: 65,536 times too small",
        "the clipped gradient is the same, bit for bit, as without the scaler",
        "($2^{16}$ to start)",
        "to within $10^{-6}$ (rounding)",
        f"the step points ${micro['angle']:.1f}°$ away",
        f"Their gradients have norms ${halves[0]:.3g}$ and ${halves[1]:.3g}$",
        f"clips $\\|G\\| = {r['norm']:.3g}$ to 1",
        f"the step is $\\sqrt 2 = {math.sqrt(2):.2f}$ times longer, and it turns by "
        f"${each['angle']:.1f}°$",
        "Four micro-batches of 32, each loss divided by 4",
        # the figure's alt text
        f"right order 1, after the step {after['norm']:.3g}, every micro-batch 1, before "
        f"unscale_ {before['norm']:.3g}, each half alone {each['norm']:.3g}",
        f"0, 0, {micro['angle']:.1f}, 0 and {each['angle']:.1f} degrees",
    )


def test_choosing_the_threshold(run):
    r = run("choosing_the_threshold")
    thresholds = module("choosing_the_threshold").THRESHOLDS
    assert thresholds == (0.01, 0.1, 1.0, 3.0, math.inf)
    assert (r["lr"], r["steps"], r["seeds"]) == (1.5, 100, [0, 1, 2])
    warm = defaults("choosing_the_threshold", "warm_up_norms")
    assert (warm["lr"], warm["steps"]) == (0.15, 30)
    runs = r["runs"]
    medians, p90 = r["warm-up medians"], r["warm-up 90th percentiles"]
    assert 0.6 < min(medians) and max(medians) < 0.85
    # 0.1 and 1: every run below 0.01
    for t in (0.1, 1.0):
        assert all(x["losses"][-1] < 0.01 and len(x["losses"]) == 100 for x in runs[t])
    # 3: no NaN, a constant prediction, most units of the last hidden layer dead
    for x, constant in zip(runs[3.0], r["constant loss"]):
        assert len(x["losses"]) == 100 and abs(x["losses"][-1] - constant) < 0.02
        assert x["alive units"] < 16
    assert all(not math.isfinite(x["losses"][-1]) for x in runs[math.inf])
    # how often it clips
    assert all(x["clipped"] < 0.25 for x in runs[1.0])
    assert all(x["clipped"] > 0.5 for x in runs[0.1])
    assert all(x["clipped"] < 0.1 for x in runs[3.0])
    assert all(x["clipped"] == 1.0 for x in runs[0.01])
    # every step clipped: normalized gradient descent, step length lr * max_norm
    step = r["lr"] * 0.01
    assert step == pytest.approx(0.015)
    for x in runs[0.01]:
        assert len(x["lengths"]) == 100
        assert all(abs(v / step - 1) < 1e-5 for v in x["lengths"])
        assert 0.05 < x["losses"][-1] < 0.5
    # the exercise: the 90th percentile of the warm-up window
    assert 1.7 < min(p90) and max(p90) < 3.3
    assert sum(v > 3 for v in p90) == 1 and min(p90) > 1
    assert all(2.5 < a / b < 4.5 for a, b in zip(p90, medians))
    assert_page_states(
        PAGE,
        "the first 30 steps at learning rate $0.15$, no clipping",
        "Then it trains the running example at $1.5$ for 100 steps with `max_norm` from $0.01$ "
        "to infinity, three seeds each",
        "It is between $0.6$ and $0.85$ in every seed",
        "at `max_norm` $0.1$ and $1$ every run ends below $0.01$",
        "At `max_norm = 3` no loss is NaN",
        "its loss ends within $0.02$ of the loss of predicting the label frequencies",
        "most units of the last hidden layer are dead",
        "fewer than a quarter of the steps",
        "At $0.1$ it acts on more than half of them, and at $0.01$ on every one",
        "the loss is still between $0.05$ and $0.5$",
        "every update of the snippet has length $\\eta\\tau = 0.015$, to within $10^{-5}$",
        "between $1.7$ and $3.3$ in the three seeds, roughly three to four times the median",
        "for one seed, above the one at which the runs collapsed ($3$)",
        # the figure's alt text
        "At 0.01 the losses are between 0.05 and 0.5; at 0.1 and 1 they are below 0.01",
        "all of them at 0.01, more than half at 0.1, less than a quarter at 1, less than a "
        "tenth at 3, none at infinity",
    )


def test_clipping_hides_a_bug(run):
    r = run("clipping_hides_a_bug")
    assert r["settings"] == dict(seeds=[0, 1, 2], lr=0.15, steps=150)
    assert defaults("clipping_hides_a_bug", "raw_units")["factor"] == 100.0
    bug, clipped, fixed = (
        r[k] for k in ("bug, no clipping", "bug, max_norm = 1", "fixed, no clipping")
    )
    for losses in bug["losses"]:
        assert finite_steps(losses) < len(losses) <= 10
    firsts = [norms[0] for norms in clipped["norms"]]
    assert firsts == [norms[0] for norms in bug["norms"]]
    fixed_firsts = [norms[0] for norms in fixed["norms"]]
    assert min(firsts) > 90 and max(fixed_firsts) < 10
    for losses, norms in zip(clipped["losses"], clipped["norms"]):
        assert len(losses) == 150 and 0.6 < losses[-1] < 0.75
        assert sum(v > 1.0 for v in norms) > 75  # more than half of the steps
    assert all(abs(c - 0.69) < 0.005 for c in r["constant loss"])
    for losses in fixed["losses"]:
        assert len(losses) == 150 and losses[-1] < 0.01
    assert_page_states(
        PAGE,
        "the first input column is 100 times larger than the others",
        "Bug, no clipping: NaN within 10 steps",
        f"between ${min(firsts):.3g}$ and ${max(firsts):.3g}$, against "
        f"${min(fixed_firsts):.3g}$ to ${max(fixed_firsts):.3g}$ with standardized inputs",
        "The loss ends between $0.6$ and $0.75$ in every seed, close to the $0.69$ of a "
        "constant prediction, and clipping acts on more than half of the steps",
        "every run ends below $0.01$",
        "here up to $10^4$ times",
        "they start above 90",
        "to between 0.6 and 0.75 and stays there",
    )
