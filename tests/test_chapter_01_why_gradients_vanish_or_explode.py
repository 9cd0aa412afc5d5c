"""The numbers that chapter 1 states, recomputed by its snippets."""

import math

import pytest
from conftest import assert_page_states, latex_sci, page

CHAPTER = "01-why-gradients-vanish-or-explode"
PAGE = page(CHAPTER)


def test_hand_written_backprop_matches_autograd(run):
    r = run("backward_recursion")
    assert r["max_abs_difference"] < 1e-15
    assert r["grad_norms_by_hand"] == pytest.approx(r["grad_norms_by_autograd"], rel=1e-12)
    # delta shrinks at every step back towards the input
    assert all(a < b for a, b in zip(r["delta_norms"], r["delta_norms"][1:]))
    shrink = r["delta_norms"][0] / r["delta_norms"][-1]
    assert_page_states(PAGE, "within $10^{-15}$", latex_sci(shrink))


def test_scalar_chains_match_the_closed_forms(run):
    r = run("scalar_examples")
    at_zero = r["autograd"]["sigmoid, W=0.5, z=0 everywhere"]
    zero_bias = r["autograd"]["sigmoid, W=0.5, zero bias"]
    linear = r["autograd"]["linear, W=2"]
    # the bound 1/4 is attained exactly when every z = 0: 0.125^9 = 2^-27, no rounding at all
    assert at_zero[1] == 0.125**9 == 2.0**-27
    assert at_zero == r["formula"]["(0.5 * 1/4)^(L-l)"]
    assert linear[1] == 512.0 and linear == r["formula"]["2^(L-l)"]
    # with zero bias every factor is below the bound, at every layer
    assert all(z < a for z, a in zip(zero_bias[:-1], at_zero[:-1]))
    assert_page_states(PAGE, latex_sci(at_zero[1]), latex_sci(zero_bias[1]), "$512$", "$2^9$")


def test_geometric_examples_in_the_prose():
    assert_page_states(PAGE, rf"0.9^{{10}} \approx {0.9**10:.2f}", latex_sci(0.9**100, 2))


def test_depth_activation_and_init(run):
    r = run("layer_gradient_norms")
    ratio = {(s, a): n[0] / n[-1] for s, by_act in r.items() for a, n in by_act.items()}
    # default init: every activation vanishes by more than five orders of magnitude
    assert all(ratio["pytorch default", a] < 1e-5 for a in ("sigmoid", "tanh", "relu"))
    # recommended init: tanh and ReLU stay within 10x; sigmoid still vanishes
    assert 0.1 < ratio["matched", "tanh"] < 10 and 0.1 < ratio["matched", "relu"] < 10
    assert ratio["matched", "sigmoid"] < 1e-15
    small = [latex_sci(ratio[k], 2) for k in ratio if ratio[k] < 0.1]
    level = [f"${ratio['matched', a]:.2g}$" for a in ("tanh", "relu")]
    assert_page_states(PAGE, *small, *level)
    # chapter 2 quotes the ReLU result
    relu = latex_sci(ratio["pytorch default", "relu"], 2)
    assert_page_states(page("02-activation-functions-and-saturation"), relu)


def test_largest_singular_value_is_not_the_whole_story(run):
    r = run("singular_value_spread")
    gauss, orth = r["gaussian"], r["orthogonal"]
    naive = math.prod(row["sigma_max_of_layer"] for row in gauss)
    last = gauss[-1]
    assert 1.7 < gauss[0]["sigma_max_of_layer"] < 2.0  # close to 2, not 1
    assert naive > 1e8 and last["singular_values"][0] < 10  # the bound is far off
    assert 0.5 < last["typical_length"] < 1.5  # typical vectors neither vanish nor explode
    assert last["singular_values"].median() < 1e-4  # but most directions are crushed
    deviation = max((row["singular_values"] - 1).abs().max().item() for row in orth)
    assert deviation < 1e-14
    assert_page_states(
        PAGE,
        f"$\\sigma_{{\\max}} = {gauss[0]['sigma_max_of_layer']:.3g}$",
        latex_sci(naive),
        f"$\\sigma_{{\\max}} = {last['singular_values'][0]:.2g}$",
        f"${last['typical_length']:.3g}$",
        latex_sci(last["singular_values"].median().item()),
        "to within $10^{-14}$",
    )


def test_training_symptoms(run):
    r = run("training_symptoms")
    relu, sigmoid, over = (
        r[k]
        for k in (
            "ReLU, He init",
            "sigmoid, PyTorch default init",
            "ReLU, 1.5 x He std",
        )
    )
    assert relu["losses"][-1] < 0.2 * relu["losses"][0]
    assert sigmoid["losses"][-1] == pytest.approx(math.log(2), abs=1e-3)
    # the first layers did not change by a single bit, although their gradient was not zero
    frozen = sigmoid["relative_change"].index(next(c for c in sigmoid["relative_change"] if c))
    assert frozen == 11 and not any(sigmoid["relative_change"][:frozen])
    assert 0 < sigmoid["first_gradients"][0] < 1e-15
    # the forward signal is gone too: layer 10 barely depends on the input
    spread = sigmoid["input_spread"][9]
    assert spread < 1e-8 and 1e-7 < relu["input_spread"][9]  # rounding level, and not
    assert over["losses"][0] > 100 and math.isnan(over["losses"][-1])
    assert_page_states(
        PAGE,
        f"${sigmoid['losses'][0]:.3f}$",
        f"${sigmoid['losses'][-1]:.3f}$",
        f"${relu['losses'][0]:.3f}$",
        f"${relu['losses'][-1]:.3f}$",
        latex_sci(sigmoid["first_gradients"][0], 2),
        "by less than $10^{-8}$ (the",
        f"layers 1 to {frozen}",
        f"${over['losses'][0]:.0f}$",
        f"NaN at step {len(over['losses']) - 1}",
    )
