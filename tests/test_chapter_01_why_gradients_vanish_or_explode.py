"""The numbers that chapter 1 states, recomputed by its snippets."""

import math

import pytest
from conftest import assert_page_states, latex_sci, page

CHAPTER = "01-why-gradients-vanish-or-explode"
PAGE = page(CHAPTER)


def test_the_running_network_measured_by_hand_and_by_autograd(run):
    r = run("backward_recursion")
    assert max(n["max_relative_difference"] for n in r.values()) < 1e-14
    for n in r.values():
        assert n["delta_by_hand"] == pytest.approx(n["delta_by_autograd"], rel=1e-12)
        assert len(n["delta_by_hand"]) == 20  # the 20 hidden layers
    ratio = {name: n["ratio"] for name, n in r.items()}
    per_layer = {name: x ** (1 / 19) for name, x in ratio.items()}
    sigmoid, relu = ratio["sigmoid, default init"], ratio["ReLU, default init"]
    he, over = ratio["ReLU, He init"], ratio["ReLU, 1.5 x He std"]
    # float64 at initialization: rounding cannot move these; the claims about them
    assert sigmoid < 1e-15 and relu < 1e-6 and 0.3 < he < 3 and over > 100
    # the estimate sqrt(n Var(w) E sigma'^2) per layer: sqrt(1/3)/4 bounds the sigmoid
    # factor, sqrt(1/6) matches ReLU's, He's is about one, 1.5 x He's about 1.5
    assert per_layer["sigmoid, default init"] < math.sqrt(1 / 3) / 4 + 0.005
    assert abs(per_layer["ReLU, default init"] - math.sqrt(1 / 6)) < 0.01
    assert 0.9 < per_layer["ReLU, He init"] < 1.1 and 1.3 < per_layer["ReLU, 1.5 x He std"] < 1.6
    # each line is straight on the log scale: every layer's factor near the average
    for n in r.values():
        d = n["delta_by_hand"]
        steps = [b / a for a, b in zip(d, d[1:])]
        mean = (d[-1] / d[0]) ** (1 / 19)
        assert all(0.5 < s / mean < 2 for s in steps)
    sig_f, relu_f = per_layer["sigmoid, default init"], per_layer["ReLU, default init"]
    assert_page_states(
        PAGE,
        "within $10^{-14}$ (relative",
        f"| ${latex_sci(sigmoid, 2)}$ | ${per_layer['sigmoid, default init']:.2f}$ |",
        f"| ${latex_sci(relu, 2)}$ | ${per_layer['ReLU, default init']:.2f}$ |",
        f"| ${he:.2f}$ | ${per_layer['ReLU, He init']:.2f}$ |",
        f"| ${over:.0f}$ | ${per_layer['ReLU, 1.5 x He std']:.1f}$ |",
        f"receives ${latex_sci(sigmoid, 2)}$ times",
        f"\\approx {math.sqrt(1 / 3) / 4:.2f}$, the measured ${sig_f:.2f}$",
        f"\\approx {math.sqrt(1 / 6):.2f}$, the measured ${relu_f:.2f}$",
        f"= {he:.2f}$ instead of ${latex_sci(relu, 2)}$",
        f"by a factor ${latex_sci(relu, 2)}$ over 20 layers",
        f"a factor ${per_layer['sigmoid, default init']:.2f}$\n    per layer, not $0.25$",
        f"${per_layer['sigmoid, default init']:.2f}$ per layer for\n  sigmoid",
        f"${per_layer['ReLU, default init']:.2f}$ for ReLU with it",
    )


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
    ratio = {
        (s, a): stats["delta"][0] / stats["delta"][-1]
        for s in ("pytorch default", "matched")
        for a, stats in r[s].items()
    }
    # default init: every activation vanishes by more than five orders of magnitude
    assert all(ratio["pytorch default", a] < 1e-5 for a in ("sigmoid", "tanh", "relu"))
    # recommended init: ReLU level; tanh decays slowly, a few percent per layer; sigmoid vanishes
    relu, tanh = ratio["matched", "relu"], ratio["matched", "tanh"]
    assert 0.5 < relu < 2
    per_layer = tanh ** (1 / 29)
    assert 0.1 < tanh < 0.5 and 0.9 < per_layer < 0.99
    assert ratio["matched", "sigmoid"] < 1e-15
    small = [latex_sci(ratio[k], 2) for k in ratio if ratio[k] < 0.1]
    assert_page_states(PAGE, *small, f"${tanh:.2g}$", f"${relu:.2g}$")
    assert_page_states(
        PAGE,
        f"(to {tanh:.2g} over 30 layers)",  # the figure's alt text
        f"about ${per_layer:.2g}$, which over 30 layers makes ${tanh:.2g}$",
        f"a factor ${tanh:.2g}$",  # the summary
    )
    # chapter 2 quotes the ReLU result
    relu_default = latex_sci(ratio["pytorch default", "relu"], 2)
    assert_page_states(page("02-activation-functions-and-saturation"), relu_default)


def test_relu_with_xavier_has_level_but_tiny_weight_gradients(run):
    r = run("layer_gradient_norms")
    xavier, he = r["relu, xavier"], r["matched"]["relu"]
    delta = xavier["delta"][0] / xavier["delta"][-1]
    forward = xavier["activation"][-1] / xavier["activation"][0]
    level = xavier["weight_grad"][0] / xavier["weight_grad"][-1]
    to_he = [x / h for x, h in zip(xavier["weight_grad"], he["weight_grad"])]
    # delta and the forward signal both vanish, by about as much ...
    assert delta < 1e-4 and forward < 1e-4 and 0.5 < delta / forward < 2
    # ... and cancel in the weight gradient, which is level across the layers
    assert 0.8 < level < 1.25
    # but tiny in every layer: a global failure, not early layers starving
    assert max(to_he) < 1e-4
    assert_page_states(
        PAGE,
        latex_sci(delta, 2),
        latex_sci(forward, 2),
        f"${level:.2g}$ times the last layer's",
        f"between ${latex_sci(min(to_he), 2)}$ and ${latex_sci(max(to_he), 2)}$ times",
    )


def test_large_sigmoid_weights_saturate_yet_a_wide_net_grows(run):
    r = run("layer_gradient_norms")["sigmoid, N(0, 1)"]
    ratio = {w: stats["delta"][0] / stats["delta"][-1] for w, stats in r.items()}
    slope = {w: sum(stats["mean_slope"]) / len(stats["mean_slope"]) for w, stats in r.items()}
    assert all(len(stats["delta"]) == 20 for stats in r.values())
    # wide: saturated (mean sigma' far below its maximum 1/4), yet the gradient grows
    assert slope[256] < 0.25 / 4 and ratio[256] > 10
    # narrow: less saturated, and the gradient vanishes
    assert slope[256] < slope[32] and ratio[32] < 1e-2
    assert_page_states(
        PAGE,
        "$\\mathcal{N}(0, 1)$",
        f"averages ${slope[256]:.2g}$",
        f"= {ratio[256]:.2g}$",
        f"(${slope[32]:.2f}$ on average)",
        latex_sci(ratio[32], 2),
    )


def test_largest_singular_value_is_not_the_whole_story(run):
    r = run("singular_value_spread")
    gauss, orth = r["gaussian"], r["orthogonal"]
    naive = math.prod(row["s_max_of_layer"] for row in gauss)
    last = gauss[-1]
    assert 1.7 < gauss[0]["s_max_of_layer"] < 2.0  # close to 2, not 1
    assert naive > 1e8 and last["singular_values"][0] < 10  # the bound is far off
    assert 0.5 < last["typical_length"] < 1.5  # typical vectors neither vanish nor explode
    assert last["singular_values"].median() < 1e-4  # but most directions are crushed
    deviation = max((row["singular_values"] - 1).abs().max().item() for row in orth)
    assert deviation < 1e-14
    assert_page_states(
        PAGE,
        f"$s_{{\\max}} = {gauss[0]['s_max_of_layer']:.3g}$",
        latex_sci(naive),
        f"$s_{{\\max}} = {last['singular_values'][0]:.2g}$",
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
    # the He run learns in every run, as is and nudged (its final loss: see the next test)
    runs = [relu, *r["ReLU, He init, nudged"]]
    assert all(min(t["losses"]) < 0.4 for t in runs)
    assert all(max(t["losses"][50:]) > t["losses"][0] for t in runs)
    assert sigmoid["losses"][-1] == pytest.approx(math.log(2), abs=1e-3)
    # the first layers did not change by a single bit, although their gradient was not zero
    frozen = sigmoid["relative_change"].index(next(c for c in sigmoid["relative_change"] if c))
    assert frozen == 11 and not any(sigmoid["relative_change"][:frozen])
    assert 0 < sigmoid["first_gradients"][0] < 1e-15
    # every first update of layers 1-11 is below half a float32 spacing; the count is no
    # near-tie: layer 11 stays clear of the threshold and layer 12 is far above it
    closest = sigmoid["update_to_spacing"]
    assert max(closest[:frozen]) == closest[frozen - 1] < 0.95 and closest[frozen] > 3
    # the forward signal is gone too: layer 10 barely depends on the input (float64)
    spread, float32_spacing = sigmoid["input_spread"][9], 2.0**-25
    assert 0.07 < spread / float32_spacing < 0.14 and 1e-2 < relu["input_spread"][9]
    assert over["losses"][0] > 100 and math.isnan(over["losses"][-1])
    # the fix, measured in training: every hidden layer of the He network moves
    assert all(c > 1e-3 for c in relu["relative_change"][:20])
    assert_page_states(
        PAGE,
        f"${sigmoid['losses'][0]:.3f}$",
        f"${sigmoid['losses'][-1]:.3f}$",
        f"from ${relu['losses'][0]:.3f}$ its loss falls below $0.4$",
        "climbs back above where it started at least once after step 50",
        latex_sci(sigmoid["first_gradients"][0], 2),
        f"by ${latex_sci(spread, 2)}$",
        "about a tenth of the spacing between float32 numbers",
        "at least $2^{-25} \\approx 3.0 \\times 10^{-8}$",
        f"layer 11 the largest first update reaches ${closest[frozen - 1]:.1f}$ of it",
        f"in layer 12 about {closest[frozen]:.0f} times",
        f"layers 1 to {frozen} are bit-for-bit unchanged",
        f"${over['losses'][0]:.0f}$",
        f"NaN at step {len(over['losses']) - 1}",
        "every one of its 20 hidden layers moves",
    )


def test_he_runs_final_loss_depends_on_rounding(run):
    r = run("training_symptoms")
    runs = [r["ReLU, He init"], *r["ReLU, He init, nudged"]]
    losses = [t["losses"] for t in runs]
    assert len(runs) == 5 and all(len(l) == 150 for l in losses)
    # a nudge changes the weights by one float32 step: the runs start at the same loss ...
    assert max(l[0] for l in losses) - min(l[0] for l in losses) < 1e-5
    # ... part within a few dozen steps (more than 10% apart by step 60) ...
    base = losses[0]
    assert all(max(abs(a / b - 1) for a, b in zip(l[:60], base)) > 0.1 for l in losses[1:])
    # ... and end far apart. Over 120 perturbed runs (both numerics profiles) the final loss
    # ranged from 0.01 to 1.2; five of them fell within a factor 2 in 0.4% of draws.
    finals = [l[-1] for l in losses]
    assert max(finals) / min(finals) > 2
    assert_page_states(
        PAGE,
        "trained four more times",
        f"All five runs start at the same loss, ${base[0]:.3f}$",
        "part within a few dozen steps",
        "the largest final loss is more than twice the smallest",
        "the He network's loss falls below $0.4$",
    )
