"""The numbers that chapter 2 states, recomputed by its snippets."""

import functools
import inspect
import math

import pytest
import torch
from conftest import assert_page_states, latex_sci, page, snippet_module
from torch import nn

CHAPTER = "02-activation-functions-and-saturation"
PAGE = page(CHAPTER)


# result keys that contain a quote, which f-string expressions cannot (Python 3.11)
TANH_THERE, SIGMOID_THERE = "tanh' there", "sigmoid' there"
SLOPE_AT_MINUS_3, MIN_SLOPE, MAX_SLOPE = "f'(-3)", "min f'", "max f'"
SELU_GAIN = "calculate_gain('selu') = 3/4"


snippet = functools.partial(snippet_module, CHAPTER)


def pct(fraction):
    return f"${100 * fraction:.1f}\\%$"


def test_sigmoid_and_tanh_bounds_identity_and_saturation(run):
    r = run("sigmoid_and_tanh")
    # the bounds 1/4 and 1 are attained, and only at z = 0
    assert r["max sigmoid'"] == 0.25 and r["argmax sigmoid'"] == 0.0
    assert r["max tanh'"] == 1.0 and r["argmax tanh'"] == 0.0
    # tanh(z) = 2 sigma(2z) - 1, to rounding; the size of the rounding error depends on
    # the kernels, so the page states a bound
    assert r["identity error"] < 1e-15
    # |tanh| > 0.97 <=> |z| > atanh(0.97), where tanh' = 1 - 0.97^2 < 0.06
    assert math.tanh(r["z tanh"]) == pytest.approx(0.97)
    assert r["tanh' there"] == pytest.approx(1 - 0.97**2) and r["tanh' there"] < 0.06
    # the sigmoid threshold is the same flatness: sigma'(2z) = tanh'(z) / 4
    assert r["sigmoid' there"] == pytest.approx(r["tanh' there"] / 4)
    # LeCun et al. 1998: positive inputs give one-signed weight-gradient rows
    width = inspect.signature(snippet("sigmoid_and_tanh").one_signed_rows)
    width = width.parameters["width"].default
    assert r["one-signed rows, sigmoid input"] == 1.0
    assert r["one-signed rows, tanh input"] == 0.0
    assert_page_states(
        PAGE,
        "$0.25$ and $1$, both at $z = 0$",
        "differ by less than $10^{-15}$",
        f"$|z| > {r['z tanh']:.2f}$",
        f"= {r[TANH_THERE]:.4f}$",
        f"$|z| > {r['z sigmoid']:.2f}$",
        f"< {r[SIGMOID_THERE]:.4f}$",
        f"**{width} of\n{width}** rows",
        f"**0 of\n{width}**",
    )


def test_sigmoid_and_tanh_backward_uses_the_output():
    """sigma' = sigma (1 - sigma) and tanh' = 1 - tanh^2, as the page says autograd does."""
    z = torch.linspace(-8, 8, 101, dtype=torch.float64, requires_grad=True)
    for f, from_output in (
        (torch.sigmoid, lambda y: y * (1 - y)),
        (torch.tanh, lambda y: 1 - y**2),
    ):
        y = f(z)
        (dy,) = torch.autograd.grad(y.sum(), z)
        # equal to rounding (tanh's kernel evaluates 1 - y^2 in another order)
        assert torch.allclose(dy, from_output(y.detach()), rtol=0, atol=1e-16)
    # ReLU's derivative at exactly 0 is 0 in PyTorch
    zero = torch.zeros(1, requires_grad=True)
    torch.relu(zero).backward()
    assert zero.grad.item() == 0.0
    assert_page_states(PAGE, "PyTorch uses $0$ at $z = 0$", "(512 for $n = 256$)")


def test_relu_family_table(run):
    r = run("relu_family")
    assert r["ReLU"]["f'(-3)"] == 0.0 and r["ReLU"]["min f"] == 0.0
    assert r["LeakyReLU(0.01)"]["f'(-3)"] == pytest.approx(0.01)
    assert r["PReLU (init 0.25)"]["f'(-3)"] == pytest.approx(0.25)
    assert r["ELU"]["f'(-3)"] == pytest.approx(math.exp(-3))
    lam, alpha = 1.0507009873554805, 1.6732632423543772  # torch.nn.SELU's docstring
    assert r["SELU"]["f'(-3)"] == pytest.approx(lam * alpha * math.exp(-3))
    assert r["SELU"]["max f'"] == pytest.approx(lam * alpha)
    # ELU and SELU approach their limits -alpha and -lambda alpha from above
    assert -1 < r["ELU"]["min f"] < -0.99
    assert -lam * alpha < r["SELU"]["min f"] < -lam * alpha + 0.02
    rows = []
    for name in ("GELU", "SiLU / Swish", "Mish"):
        m = r[name]
        # not monotonic: a minimum below zero, left of which the slope is negative
        assert m["min f"] < 0 and m["f'(-3)"] < 0 and m["argmin f"] > -3
        assert m["max f'"] > 1  # steeper than 1 just right of zero
        rows.append(
            f"| ${m[SLOPE_AT_MINUS_3]:.4f}$ | ${m['min f']:.3f}$ at "
            f"$z = {m['argmin f']:.3f}$ | ${m[MAX_SLOPE]:.3f}$ |"
        )
    for name in ("ELU", "SELU"):
        rows.append(f"| ${r[name][SLOPE_AT_MINUS_3]:.4f}$ |")
    # the entries of D: 0 or 1 only for ReLU; alpha or 1 for the leaks; in (0, 1] for ELU,
    # (0, lambda alpha] for SELU; negative somewhere for GELU, SiLU and Mish
    assert (r["ReLU"][MIN_SLOPE], r["ReLU"][MAX_SLOPE]) == (0.0, 1.0)
    assert r["LeakyReLU(0.01)"][MIN_SLOPE] == pytest.approx(0.01)
    assert r["LeakyReLU(0.01)"][MAX_SLOPE] == 1.0
    assert 0 < r["ELU"][MIN_SLOPE] and r["ELU"][MAX_SLOPE] == 1.0
    assert 0 < r["SELU"][MIN_SLOPE] and r["SELU"][MAX_SLOPE] == pytest.approx(lam * alpha)
    smooth = ("GELU", "SiLU / Swish", "Mish")
    assert all(r[n][MIN_SLOPE] < 0 for n in smooth)
    # GELU' and SiLU' are symmetric about 1/2: their lowest slope is 1 - their highest
    for name in ("GELU", "SiLU / Swish"):
        assert r[name][MIN_SLOPE] == pytest.approx(1 - r[name][MAX_SLOPE], abs=1e-6)
    lowest = ", ".join(f"${r[n][MIN_SLOPE]:.3g}$" for n in smooth[:2])
    assert_page_states(
        PAGE,
        *rows,
        f"$-{lam * alpha:.3f}$ (limit)",
        "$-1$ (limit)",
        f"a SELU's in $(0, {lam * alpha:.3f}]$",
        "an ELU's lies in $(0, 1]$",
        f"GELU, SiLU and Mish are {lowest} and ${r['Mish'][MIN_SLOPE]:.3g}$",
    )


def test_selu_gain_and_init_facts():
    assert nn.init.calculate_gain("selu") == 0.75
    doc = inspect.getdoc(nn.init.calculate_gain)
    assert "you should use ``nonlinearity='linear'`` instead of ``nonlinearity='selu'``" in doc
    # kaiming_normal_ with its defaults is He init: gain sqrt(2)
    default = inspect.signature(nn.init.kaiming_normal_).parameters
    assert default["nonlinearity"].default == "leaky_relu" and default["a"].default == 0
    assert nn.init.calculate_gain("leaky_relu", 0) == pytest.approx(math.sqrt(2))
    assert_page_states(PAGE, '`calculate_gain("selu")` returns $3/4$')


def test_alpha_dropout_by_hand_matches_pytorch():
    """The snippet's alpha_dropout takes exactly the two values F.alpha_dropout takes."""
    m = snippet("self_normalization")
    p = 0.1
    x = torch.randn(20000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        theirs = nn.functional.alpha_dropout(x, p, training=True)
        dropped = nn.functional.dropout(x, p, training=True)
    ours = m.alpha_dropout(x, p, torch.Generator().manual_seed(0))
    a = ((1 - p) * (1 + p * (m.SCALE * m.ALPHA) ** 2)) ** -0.5
    b = a * p * m.SCALE * m.ALPHA
    kept = torch.isclose(theirs, a * x + b, rtol=0, atol=1e-12)
    gone = torch.isclose(theirs, torch.full_like(x, a * -m.SCALE * m.ALPHA + b), atol=1e-12)
    assert bool((kept | gone).all())
    assert bool(
        (
            torch.isclose(ours, a * x + b, atol=1e-12)
            | torch.isclose(ours, torch.full_like(x, a * -m.SCALE * m.ALPHA + b), atol=1e-12)
        ).all()
    )
    assert gone.double().mean().item() == pytest.approx(p, abs=0.01)
    # ...and nn.functional.dropout zeroes units and scales the rest by 1 / (1 - p)
    assert bool((dropped.eq(0) | torch.isclose(dropped, x / (1 - p))).all())
    assert (m.SCALE, m.ALPHA) == pytest.approx((1.0507009873554805, 1.6732632423543772))


def test_selu_self_normalization(run):
    r = run("self_normalization")
    lecun = r["init"]["LeCun normal"]
    assert max(abs(v) for v in lecun["mean"]) < 0.05
    assert 0.9 < min(lecun["variance"]) and max(lecun["variance"]) < 1.1
    gain = r["init"][SELU_GAIN]["variance"][-1]
    default = r["init"]["PyTorch default"]
    he = r["init"]["He (ReLU) normal"]
    assert gain < 0.1 and default["variance"][-1] < 1e-9 and he["variance"][-1] > 1e3
    drop, alpha = r["dropout"]["Dropout(0.1)"], r["dropout"]["AlphaDropout(0.1)"]
    assert drop["variance"][-1] > 1.4 and drop["mean"][-1] > 0.03
    assert 0.97 < min(alpha["variance"]) and max(alpha["variance"]) < 1.03
    rows = [
        f"| ${lecun['mean'][-1]:.3f}$ | ${lecun['variance'][-1]:.2f}$ |",
        f"| ${r['init'][SELU_GAIN]['mean'][-1]:.3f}$ | ${gain:.2g}$ |",
        f"| ${latex_sci(default['mean'][-1], 2)}$ | ${latex_sci(default['variance'][-1], 2)}$ |",
        f"| ${he['mean'][-1]:.1f}$ | ${latex_sci(he['variance'][-1], 2)}$ |",
        f"| ${drop['mean'][-1]:.3f}$ | ${drop['variance'][-1]:.2f}$ |",
        f"| ${alpha['mean'][-1]:.3f}$ | ${alpha['variance'][-1]:.2f}$ |",
    ]
    assert_page_states(
        PAGE,
        *rows,
        f"between ${min(lecun['variance']):.2f}$ and ${max(lecun['variance']):.2f}$",
        f"between ${min(alpha['variance']):.2f}$ and ${max(alpha['variance']):.2f}$",
        f"variance ${drop['variance'][-1]:.2f}$ and a positive mean",
    )


def test_dead_relus(run):
    r = run("dead_relus")
    m = snippet("dead_relus")
    he, default, bn = (r["at init"][k] for k in ("He", "PyTorch default", "He + batch norm"))
    assert he[0] == 0 and he[9] < he[-1]  # more dead units with depth
    assert sum(he[-10:]) / 10 > 5 * sum(he[:10]) / 10
    assert all(0.4 < f < 0.65 for f in default[9:])  # about half, from layer 10 on
    assert not any(bn)
    # counts at a cut-off, stated exactly: rounding decides none of them (float64 arithmetic
    # on the same random draws counts the same units in every layer)
    for init, fractions in r["at init"].items():
        assert m.dead_at_init(init, dtype=torch.float64) == fractions, init
    k = r["killed layer"]
    width = inspect.signature(m.train_after_killing_a_layer).parameters["width"].default
    for name in k:  # the accident leaves every unit of the layer off
        assert k[name]["never active"][0] == 1.0
    relu, leak1, leak10 = k["ReLU"], k["LeakyReLU(0.01)"], k["LeakyReLU(0.1)"]
    elu, gelu = k["ELU"], k["GELU"]
    # ReLU: the output is constant, so the loss starts at ln 2 exactly and only the output
    # bias learns; nothing revives
    assert all(f == 1.0 for f in relu["never active"])
    assert relu["loss"][0] == pytest.approx(math.log(2), abs=1e-6)
    assert abs(relu["loss"][-1] - math.log(2)) < 2e-3
    # trained losses are stated as bounds, with margin: they move with rounding (below)
    bounds = {"LeakyReLU(0.01)": (0.6, 1), "GELU": (0.65, 1), "LeakyReLU(0.1)": (0, 0.4)}
    bounds["ELU"] = (0, 0.55)
    for name, (low, high) in bounds.items():  # ...and so do the perturbed reruns below
        for run_ in [k[name], *r["perturbed"].get(name, [])]:
            assert low < run_["loss"][-1] < high, name
    assert leak1["never active"][-1] == 1.0 and gelu["never active"][-1] == 1.0
    assert abs(leak10["never active"][-1] - 0.9) < 0.05  # "about 90%"
    assert abs(elu["never active"][-1] - 0.8) < 0.05  # "about 80%"
    drop = {n: k[n]["loss"][0] - k[n]["loss"][-1] for n in k}
    assert drop["LeakyReLU(0.1)"] > 5 * drop["LeakyReLU(0.01)"]
    # far left of zero GELU's slope is smaller than the 0.01 leak's; ELU's is larger
    slope = {n: k[n]["mean |slope|"] for n in k}
    assert slope["ReLU"] == 0 and slope["LeakyReLU(0.01)"] == pytest.approx(0.01)
    assert slope["GELU"] < slope["LeakyReLU(0.01)"] < slope["ELU"]
    # rounding-level perturbations (some ten float32 ulps) move the loss curves of the runs
    # that train apart by over 1e-3, those of the stuck leak by under 1e-4, and no count of
    # units; the final losses of the runs that train move too, which is why they are bounds
    assert 5 < 1e-6 / torch.finfo(torch.float32).eps < 20
    moved = {}
    for name, runs in r["perturbed"].items():
        for p in runs:
            assert p["never active"][-1] == k[name]["never active"][-1], name
            assert abs(p["loss"][0] - k[name]["loss"][0]) < 1e-5  # invisible at the start
        moved[name] = max(abs(a - b) for p in runs for a, b in zip(p["loss"], k[name]["loss"]))
    assert moved["LeakyReLU(0.1)"] > 1e-3 and moved["ELU"] > 1e-3
    assert moved["LeakyReLU(0.01)"] < 1e-4

    def start(name):
        return f"${k[name]['loss'][0]:.3f}$"

    assert_page_states(
        PAGE,
        f"${100 * he[9]:.1f}\\%$ of layer 10",
        f"${100 * he[-1]:.1f}\\%$ of layer 50",
        f"${100 * default[9]:.1f}\\%$ at layer 10, ${100 * default[-1]:.1f}\\%$ at layer 50",
        f"from {start('ReLU')} to ${relu['loss'][-1]:.3f}$",
        f"its loss starts at {start('LeakyReLU(0.01)')} and is still above $0.6$",
        f"trains, from {start('LeakyReLU(0.1)')} to\n  below $0.4$, although about $90\\%$",
        f"(from {start('ELU')} to below $0.55$, about $80\\%$ still off)",
        f"from {start('GELU')}, its loss is still above $0.65$",
        f"$|f'|$ is ${slope['GELU']:.3f}$, less than the ${slope['LeakyReLU(0.01)']:.3f}$ of",
        f"(ELU: ${slope['ELU']:.3f}$)",
        "multiplied by $1 + 10^{-6}\\varepsilon$",
        "some ten units in the last place of a float32",
        "come apart by more than $10^{-3}$",
        "stay within $10^{-4}$ of each\n  other; no run changes how many units of the layer end"
        " off, and every rerun stays within the\n  bounds above.",
        f"none of the {width} units",
        f"the loss, {start('LeakyReLU(0.01)')} at the start, was still above $0.6$",
        "trains the same network to below $0.4$",
        f"$U(-1/{round(math.sqrt(256))}, 1/{round(math.sqrt(256))})$",
        "For ReLU it reads $100\\%$ before training and $100\\%$ after 200 steps",
        "$|\\sigma'|$ is $0$ for ReLU",
    )


def test_tanh_saturation(run):
    r = run("tanh_saturation")
    # the per-layer factor gain * rms(tanh') predicts the gradient ratio
    for name, m in r.items():
        predicted = math.prod(m["gain x rms slope"][:-1])
        measured = m["|dL/dz|"][0] / m["|dL/dz|"][-1]
        assert measured == pytest.approx(predicted, rel=0.3), name
    small, three = r["0.5"], r["3"]
    assert small["|dL/dz|"][0] / small["|dL/dz|"][-1] < 1e-2  # vanishes, unsaturated
    assert max(small["saturated"]) < 1e-3
    assert three["|dL/dz|"][0] / three["|dL/dz|"][-1] > 10  # grows, while saturated
    assert min(three["saturated"]) > 0.35
    ratios = three["dL/dz saturated / unsaturated"]
    assert max(ratios) < 0.06  # saturated entries pass under 6% of the gradient
    five_thirds = r["5/3"]
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert five_thirds["|dL/dz|"][0] / five_thirds["|dL/dz|"][-1] < 2
    rows = []
    for name, m in r.items():
        ratio = m["|dL/dz|"][0] / m["|dL/dz|"][-1]
        ratio = f"${latex_sci(ratio, 3)}$" if ratio < 0.01 else f"${ratio:.3g}$"
        rows.append(
            f"| {name} | {pct(m['saturated'][0])} | {pct(m['saturated'][-1])} | "
            f"${m['gain x rms slope'][-1]:.2f}$ | {ratio} |"
        )
    factor = three["gain x rms slope"][-1]
    # what counts as large depends on the width: W^T multiplies a squared length by about
    # fan-in x variance, so N(0, 1) weights are a gain of sqrt(n)
    g = torch.Generator().manual_seed(0)
    gains = []
    for n, samples in ((256, 20), (4, 4000)):
        w = torch.randn(samples, n, n, generator=g, dtype=torch.float64)
        v = torch.randn(samples, n, 1, generator=g, dtype=torch.float64)
        squared = (w.mT @ v).pow(2).sum((1, 2)) / v.pow(2).sum((1, 2))
        assert squared.mean().sqrt().item() == pytest.approx(math.sqrt(n), rel=0.03)
        gains.append(f"{math.isqrt(n)}$ in a layer of width {n}")
    assert_page_states(
        PAGE,
        f"a gain of ${gains[0]}",
        f"of ${gains[1]}",
        "caps its per-layer factor at $g/4$",
    )
    assert_page_states(
        PAGE,
        *rows,
        f"between ${min(ratios):.2g}$ and ${max(ratios):.2g}$",
        f"average $\\tanh'$ is only ${three['mean slope'][-1]:.2f}$",
        f"by ${three['|dL/dz|'][0] / three['|dL/dz|'][-1]:.3g}$ over nine layers",
        f"${factor:.2f}^9 \\approx {factor**9:.0f}$",
        f"about ${100 * five_thirds['saturated'][-1]:.0f}\\%$ of the\n  units saturated",
    )


def test_saturated_output(run):
    r = run("saturated_output")
    at = r["autograd at z=-10, y=1 (loss, dL/dz)"]
    closed = r["closed form at z=-10, y=1"]
    mse, bce = at["MSE on sigmoid"][1], at["BCEWithLogitsLoss"][1]
    assert mse == pytest.approx(closed["MSE on sigmoid"], rel=1e-12)
    assert bce == pytest.approx(closed["BCEWithLogitsLoss"], rel=1e-12)
    assert at["sigmoid + BCELoss"][1] == pytest.approx(bce, rel=1e-12)  # fine in float64 here
    assert abs(mse) < 1e-4 and bce == pytest.approx(-1, abs=1e-4)
    steps = r["steps to escape"]
    assert steps["BCEWithLogitsLoss"] < 20
    assert steps["MSE on sigmoid"] == pytest.approx(math.exp(10), rel=0.01)
    # a first-step-at-which, stated exactly because it is resolved: the last step before the
    # crossing and the first after it are far from 0, next to the 1e-11 that 22063 float64
    # roundings can add up to
    for name, n in steps.items():
        path = snippet("saturated_output").steps_to_escape(name)
        assert len(path) - 1 == n and path[-2] < -1e-3 and path[-1] > 1e-3, name
    f32 = r["float32 at z=20, y=0 (loss, dL/dz)"]
    assert f32["sigmoid + BCELoss"] == (100.0, 0.0)  # clamped log, no gradient
    assert f32["BCEWithLogitsLoss"] == (20.0, 1.0)
    assert torch.sigmoid(torch.tensor(20.0)).item() == 1.0
    # BCELoss's gradient is right down to p(1 - p) = 1e-12, and wrong below
    curve = r["BCELoss float32 |dL/dz| by z"]
    threshold = math.log(1e-12)
    for z, g in curve.items():
        exact = 1 - 1 / (1 + math.exp(-z))  # |sigma(z) - 1|
        if z > threshold + 0.05:
            assert g == pytest.approx(exact, rel=1e-3), z
        elif z < threshold - 0.05:
            assert g < 0.99 * exact, z
    assert_page_states(
        PAGE,
        f"$\\partial\\mathcal{{L}}/\\partial z = {latex_sci(mse, 3)}$",
        f"gives ${bce:.5f}$",
        "agree to twelve digits",
        f"**{steps['BCEWithLogitsLoss']} steps**",
        f"**{steps['MSE on sigmoid']} steps**",
        f"\\ln 10^{{-12}} \\approx {threshold:.1f}",
        f"a loss of ${f32['sigmoid + BCELoss'][0]:.0f}$ and a gradient of "
        f"${f32['sigmoid + BCELoss'][1]:.0f}$",
        f"returns ${f32['BCEWithLogitsLoss'][0]:.0f}$ and ${f32['BCEWithLogitsLoss'][1]:.0f}$",
        "$\\ge -100$",
    )
    # the clamp the page cites is in PyTorch's documentation
    assert "clamps its log function outputs to be greater than" in inspect.getdoc(nn.BCELoss)
