"""The numbers that chapter 2 states, recomputed by its snippets."""

import inspect
import math

import pytest
import torch
from conftest import ROOT, assert_page_states, latex_sci, load_snippet, page
from torch import nn

CHAPTER = "02-activation-functions-and-saturation"
PAGE = page(CHAPTER)
# result keys that contain a quote, which f-string expressions cannot (Python 3.11)
TANH_THERE, SIGMOID_THERE = "tanh' there", "sigmoid' there"
SLOPE_AT_MINUS_3, MAX_SLOPE = "f'(-3)", "max f'"
SELU_GAIN = "calculate_gain('selu') = 3/4"


def snippet(name):
    return load_snippet(ROOT / "snippets" / CHAPTER / f"{name}.py")


def pct(fraction):
    return f"${100 * fraction:.1f}\\%$"


def test_sigmoid_and_tanh_bounds_identity_and_saturation(run):
    r = run("sigmoid_and_tanh")
    # the bounds 1/4 and 1 are attained, and only at z = 0
    assert r["max sigmoid'"] == 0.25 and r["argmax sigmoid'"] == 0.0
    assert r["max tanh'"] == 1.0 and r["argmax tanh'"] == 0.0
    assert r["identity error"] < 1e-15  # tanh(z) = 2 sigma(2z) - 1, to rounding
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
        latex_sci(r["identity error"], 2),
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
    assert_page_states(PAGE, *rows, f"$-{lam * alpha:.3f}$ (limit)", "$-1$ (limit)")


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
    he, default, bn = (r["at init"][k] for k in ("He", "PyTorch default", "He + batch norm"))
    assert he[0] == 0 and he[9] < he[-1]  # more dead units with depth
    assert sum(he[-10:]) / 10 > 5 * sum(he[:10]) / 10
    assert all(0.4 < f < 0.65 for f in default[9:])  # about half, from layer 10 on
    assert not any(bn)
    k = r["killed layer"]
    width = inspect.signature(snippet("dead_relus").train_after_killing_a_layer)
    width = width.parameters["width"].default
    for name in k:  # the accident leaves every unit of the layer off
        assert k[name]["never active"][0] == 1.0
    relu, leak1, leak10 = k["ReLU"], k["LeakyReLU(0.01)"], k["LeakyReLU(0.1)"]
    elu, gelu = k["ELU"], k["GELU"]
    assert all(f == 1.0 for f in relu["never active"])  # never revives
    assert abs(relu["loss"][-1] - math.log(2)) < 2e-3  # a coin flip
    assert leak1["never active"][-1] == 1.0 and leak1["loss"][0] - leak1["loss"][-1] < 0.1
    assert leak10["loss"][-1] < 0.4 and elu["loss"][-1] < 0.6
    assert gelu["never active"][-1] == 1.0 and gelu["loss"][0] - gelu["loss"][-1] < 0.05
    drop = {n: k[n]["loss"][0] - k[n]["loss"][-1] for n in k}
    assert drop["LeakyReLU(0.1)"] > 5 * drop["LeakyReLU(0.01)"]

    def change(name):
        return f"${k[name]['loss'][0]:.3f} \\to {k[name]['loss'][-1]:.3f}$"

    assert_page_states(
        PAGE,
        f"${100 * he[9]:.1f}\\%$ of layer 10",
        f"${100 * he[-1]:.1f}\\%$ of layer 50",
        f"${100 * default[9]:.1f}\\%$ at layer 10, ${100 * default[-1]:.1f}\\%$ at layer 50",
        f"from ${relu['loss'][0]:.3f}$ to ${relu['loss'][-1]:.3f}$",
        f"loss {change('LeakyReLU(0.01)')}",
        f"trains, {change('LeakyReLU(0.1)')}",
        f"${100 * leak10['never active'][-1]:.0f}\\%$ of the layer is still below",
        f"({change('ELU')}, ${100 * elu['never active'][-1]:.0f}\\%$ still",
        f"({change('GELU')})",
        f"none of the {width} units",
        f"from ${leak1['loss'][0]:.3f}$ to ${leak1['loss'][-1]:.3f}$",
        f"down to ${leak10['loss'][-1]:.3f}$",
        f"$U(-1/{round(math.sqrt(256))}, 1/{round(math.sqrt(256))})$",
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
