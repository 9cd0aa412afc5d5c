"""The numbers that chapter 4 states, recomputed by its snippets."""

import math
from statistics import median_high

import pytest
import torch
from conftest import assert_page_states, latex_sci, page
from torch import nn

CHAPTER = "04-normalization"
PAGE = page(CHAPTER)


def test_batch_norm_by_hand_is_nn_batchnorm1d(run):
    r = run("batch_norm_by_hand")
    # train output and its gradients, running_mean, running_var, eval output: float64 rounding
    assert set(r["max abs difference"]) == {
        "train output",
        "gradients",
        "running_mean",
        "running_var",
        "eval output",
    }
    assert max(r["max abs difference"].values()) < 1e-13  # measured: a few 1e-15
    assert_page_states(PAGE, "to within $10^{-13}$")


def test_the_running_variance_is_unbiased_without_the_correction_it_fails():
    # the hand-written update with var instead of var * n/(n-1) does not match
    g = torch.Generator().manual_seed(0)
    bn = nn.BatchNorm1d(3, dtype=torch.float64)
    x = torch.randn(16, 3, generator=g, dtype=torch.float64)
    bn(x)
    unbiased = 0.9 + 0.1 * x.var(dim=0, correction=1)
    biased = 0.9 + 0.1 * x.var(dim=0, correction=0)
    assert torch.allclose(bn.running_var, unbiased, rtol=0, atol=1e-15)
    assert not torch.allclose(bn.running_var, biased, rtol=1e-3)


def test_std_under_the_root(run):
    r = run("batch_norm_by_hand")
    correct, wrong = r["output std, correct"], r["output std, std under root"]
    eps = 1e-5
    for s, c, w in zip(r["input std"], correct, wrong):
        assert c == pytest.approx(s / math.sqrt(s**2 + eps), rel=1e-9)
        assert w == pytest.approx(s / math.sqrt(s + eps), rel=1e-9)
    # correct: 1 wherever the variance is well above eps
    assert all(abs(c - 1) < 1e-3 for s, c in zip(r["input std"], correct) if s >= 0.1)
    (c10, w10), (c01, w01) = r["examples"]["std 10"], r["examples"]["std 0.1"]
    assert w10 == pytest.approx(math.sqrt(10), rel=1e-5)
    assert w01 == pytest.approx(math.sqrt(0.1), rel=1e-3)
    assert_page_states(
        PAGE,
        f"${c10:.3f}$ and ${c01:.4f}$",
        f"${w10:.3f}$ for a feature with",
        f"${w01:.3f}$ for one with",
    )


def test_momentum_sets_the_noise_of_the_running_variance(run):
    r = run("batch_norm_by_hand")
    spread = r["running_var spread (last 200)"]
    single = r["std of unbiased batch variances"]
    ema = {m: math.sqrt(m / (2 - m)) for m in (0.1, 0.9)}
    assert spread[0.9] / single == pytest.approx(ema[0.9], rel=0.15)
    assert spread[0.1] / single == pytest.approx(ema[0.1], rel=0.25)
    assert spread[None] < spread[0.1] < spread[0.9] < single
    # momentum=None: the plain average of the unbiased batch variances
    cumulative = r["running_var"][None][-1]
    assert cumulative == pytest.approx(r["mean of unbiased batch variances"], abs=1e-12)
    # the biased batch variances, averaged on their own: (n - 1) / n = 7/8 of that, below 4
    biased = r["mean of biased batch variances"]
    assert biased == pytest.approx(cumulative * 7 / 8, rel=1e-12)
    assert biased == pytest.approx(4 * 7 / 8, rel=0.1)  # settles near 3.5, not 4
    assert_page_states(
        PAGE,
        f"${single:.3g}$",
        f"${spread[0.9]:.3g}$",
        f"${spread[0.1]:.3g}$",
        f"${spread[0.9] / single:.3f}$ and ${spread[0.1] / single:.3f}$ times the noise",
        f"${ema[0.9]:.3f}$ and ${ema[0.1]:.3f}$",
        f"`running_var` is ${cumulative:.3f}$",
        f"average ${biased:.3f}$",
        "4 \\cdot \\frac78 = 3.5",
    )


def test_train_and_eval_mode(run):
    r = run("train_eval_mode")
    ev = r["outputs"]["eval"]
    assert len(set(ev)) == 1  # eval mode: the same output every time, bit for bit
    assert len(set(r["outputs"]["train"])) == len(r["outputs"]["train"])
    gap = r["gap"]
    sizes = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    assert all(a > b for a, b in zip(gap, gap[1:]))
    # 1/sqrt(n) for large n: four times the batch, half the gap
    assert gap[sizes.index(256)] / gap[sizes.index(1024)] == pytest.approx(2, rel=0.2)
    assert r["LayerNorm train == eval"] is True
    # one example's spread over 200 batches of 16 is the train/eval gap at n = 16
    assert r["relative spread"] == pytest.approx(gap[sizes.index(16)], rel=0.2)
    change = r["change after train-mode evaluation"]
    assert change[0] == 0 and change[1] > 0.01 and change[-1] > 0.5
    assert r["num_batches_tracked"] == 120  # 100 collecting + 20 "evaluations"
    assert_page_states(
        PAGE,
        f"${r['relative spread']:.2f}$ times the spread",
        f"${gap[0]:.2g}$ at $n = 2$",
        f"${gap[sizes.index(16)]:.2g}$ at $16$",
        f"${gap[sizes.index(256)]:.2g}$ at $256$",
        f"${gap[-1]:.2g}$ at $1024$",
        f"${change[1]:.2g}$ of their",
        "half their standard deviation (root mean square)",
        f"twenty batches by ${change[-1]:.2g}$",
        f"(${r['num_batches_tracked']}$ after",
    )


def test_deep_plain_networks_with_batch_norm_explode(run):
    r = run("deep_bn_gradients")
    ratio = {k: v["delta"][0] / v["delta"][-1] for k, v in r.items()}
    weights = {k: v["weight gradient"][0] / v["weight gradient"][-1] for k, v in r.items()}
    growth = {k: v["growth per layer"] for k, v in r.items()}
    # batch norm: forward statistics flat to a few percent, gradients explode
    for name in ("ReLU, He, BN", "tanh, Xavier, BN", "linear, BN"):
        stds = r[name]["activation std"]
        assert max(stds) / min(stds) < 1.1
    assert ratio["ReLU, He, BN"] > 1e3 and ratio["tanh, Xavier, BN"] > 10
    assert growth["ReLU, He, BN"] > growth["tanh, Xavier, BN"] > growth["linear, BN"] > 1
    assert weights["ReLU, He, BN"] > 1e3 and weights["tanh, Xavier, BN"] > 10
    # the same weights without batch norm: no explosion; they shrink, by about 2 and 10
    assert ratio["ReLU, He"] < 1 and ratio["tanh, Xavier"] < 1
    assert 1.5 < 1 / ratio["ReLU, He"] < 2.5 and 7 < 1 / ratio["tanh, Xavier"] < 13
    assert 1.25 < ratio["linear, BN"] < 1.45  # "grows by a third"
    # without batch norm the ReLU network's forward std drifts down
    relu_std = r["ReLU, He"]["activation std"]
    assert relu_std[-1] < relu_std[0] / 3
    # ... and the tanh network's decays
    tanh_std = r["tanh, Xavier"]["activation std"]
    assert tanh_std[-1] < tanh_std[0] / 3
    # the caption: "about four orders of magnitude" with ReLU, "almost two" with tanh
    assert round(math.log10(ratio["ReLU, He, BN"])) == 4
    assert 1.5 < math.log10(ratio["tanh, Xavier, BN"]) < 2
    assert_page_states(
        PAGE,
        latex_sci(ratio["ReLU, He, BN"]),
        f"${ratio['tanh, Xavier, BN']:.3g}$ for tanh",
        f"${growth['ReLU, He, BN']:.3f}$ (ReLU) and ${growth['tanh, Xavier, BN']:.3f}$ (tanh)",
        latex_sci(weights["ReLU, He, BN"]),
        f"${weights['tanh, Xavier, BN']:.3g}$ times with tanh",
        f"${growth['ReLU, He']:.3f}$ (ReLU, He) and ${growth['tanh, Xavier']:.3f}$",
        f"${ratio['ReLU, He']:.3g}$ and ${ratio['tanh, Xavier']:.3g}$",
        f"${growth['linear, BN']:.3f}$ per layer, ${ratio['linear, BN']:.3g}$ in all",
        f"measured, ${growth['ReLU, He, BN']:.3f}$ per layer",
        f"${growth['tanh, Xavier, BN']:.3f}$ with tanh",
        f"${ratio['tanh, Xavier, BN']:.3g}$ with tanh",
        f"(${ratio['ReLU, He']:.3g}$ and ${ratio['tanh, Xavier']:.3g}$ from the last layer",
        f"from ${relu_std[0]:.2f}$ at",
        f"layer 1 to ${relu_std[-1]:.2f}$ at layer 50",
    )


def test_noisy_batch_norm_trains_where_plain_diverges_and_the_landscape_is_smoother(run):
    """Training results at learning rate 1 amplify rounding: the page states bounds, ranges
    and the order of the medians, and shows the sensitivity itself."""
    r = run("why_bn_helps")
    final, move, first_nan = r["final"], r["median move"], r["first NaN step"]
    fast, slow = 1.0, 0.03
    assert all(len(final[v][lr]) == 5 for v in final for lr in (fast, slow))  # five seeds
    # learning rate 1: the plain network is NaN within 10 steps on every seed
    assert all(step is not None and step < 10 for step in first_nan["plain"])
    assert all(math.isnan(x) for x in final["plain"][fast])
    # ... both BN variants train, every seed below 0.05
    for v in ("BN", "noisy BN"):
        assert first_nan[v] == [None] * 5 and all(x < 0.05 for x in final[v][fast])
    # ... the noisy one's median above BN's, both between 0.001 and 0.01
    med = {v: median_high(final[v][fast]) for v in ("BN", "noisy BN")}
    assert med == {v: r["median final"][v][fast] for v in med}  # what the snippet prints
    assert 0.001 < med["BN"] < med["noisy BN"] < 0.01
    # a rounding-level change of the initial weights: more than 20% on some seed at rate 1,
    # less than 10% on every seed at 0.03; the medians keep their order in every rerun
    factor = r["rounding factor"]
    assert factor[fast] > 1.2 and factor[slow] < 1.1
    assert len(r["rerun medians"]) == 3
    assert all(med["BN"] < m < 0.01 for m in r["rerun medians"])
    # learning rate 0.03: BN below 0.1, plain between 0.3 and 0.4, noisy between 0.4 and 0.5
    low = {v: median_high(final[v][slow]) for v in final}
    assert low == {v: r["median final"][v][slow] for v in low}
    assert low["BN"] < 0.1 and 0.3 < low["plain"] < 0.4 < low["noisy BN"] < 0.5
    # the figure plots the median of the seeds at every step: at rate 1 plain is NaN, both
    # BN variants end below 0.01; at 0.03 BN is lowest, the noisy one ends above the plain one
    curves = {
        (v, lr): [median_high(step) for step in zip(*r["losses"][v][lr])]
        for v in final
        for lr in (fast, slow)
    }
    assert math.isnan(curves["plain", fast][-1])
    assert curves["BN", fast][-1] < 0.01 and curves["noisy BN", fast][-1] < 0.01
    assert curves["BN", slow][-1] < curves["plain", slow][-1] < curves["noisy BN", slow][-1]
    # full-batch BN fixes each unit's mean and std to float32 rounding; the noise moves them
    # by construction: |change| of a uniform draw on [-a, a] averages 2a/3, a = 0.25
    assert move["BN"] < 1e-6
    assert move["noisy BN"] == pytest.approx(2 * 0.25 / 3, rel=0.03)
    along = r["along gradient"]
    assert 1e5 <= along["plain"][-1] < 1e6  # "hundreds of thousands"
    assert along["plain"][-1] > 1e4 * along["BN"][-1]
    assert min(along["BN"]) < min(along["plain"])
    # both first fall, the batch-normalized one to about half its starting loss
    assert min(along["plain"]) < along["plain"][0] and min(along["BN"]) < along["BN"][0]
    assert 0.4 < min(along["BN"]) / r["loss at init"]["BN"] < 0.65
    assert_page_states(
        PAGE,
        "move by less than $10^{-6}$ per step",
        "less than $10^{-6}$ with plain batch norm",
        f"by ${move['noisy BN']:.2g}$ per step",
        "NaN within 10 steps on all five seeds",
        "every seed to a loss below 0.05",
        "its median loss over the five seeds is above batch norm's, both between 0.001 and",
        "(both between 0.001 and 0.01): a stable input distribution",
        "changed by one part in $10^7$",
        "moves by more than 20% on some",
        "by less than 10% on every seed",
        "above batch norm's in every rerun",
        "between 0.3 and 0.4 without batch norm, below 0.1 with it and between 0.4 and 0.5 with",
        "the noisy network ends above the plain one",
        "both go down to below 0.01",
        "the noisy one ends above the plain one",
        f"to ${min(along['plain']):.3f}$ without",
        f"${min(along['BN']):.3f}$ with it",
        latex_sci(along["plain"][-1]),
        f"distance {r['distances'][-1]:.1f}",
        f"only to ${along['BN'][-1]:.3g}$",
    )


@pytest.mark.parametrize(
    "mode, n_power_iterations, iterations", [("train", 1, 16), ("eval", 1, 15), ("train", 3, 18)]
)
def test_spectral_norm_registration_runs_16_power_iterations(mode, n_power_iterations, iterations):
    """15 in the constructor, whatever n_power_iterations; n_power_iterations more in train mode."""
    layer = nn.Linear(64, 32, bias=False)
    nn.init.normal_(layer.weight, generator=torch.Generator().manual_seed(0))
    layer.train(mode == "train")
    w = layer.weight.detach().clone()
    with torch.random.fork_rng():  # the same starting u, v as spectral_norm draws
        torch.manual_seed(5)
        u = nn.functional.normalize(w.new_empty(32).normal_(0, 1), dim=0)
        v = nn.functional.normalize(w.new_empty(64).normal_(0, 1), dim=0)
    with torch.random.fork_rng():
        torch.manual_seed(5)
        nn.utils.parametrizations.spectral_norm(layer, n_power_iterations=n_power_iterations)
    sn = layer.parametrizations.weight[0]
    matches = []
    for k in range(1, 21):
        u = nn.functional.normalize(w @ v, dim=0)
        v = nn.functional.normalize(w.T @ u, dim=0)
        if torch.allclose(u, sn._u, atol=1e-7) and torch.allclose(v, sn._v, atol=1e-7):
            matches.append(k)
    assert matches[0] == iterations
    assert_page_states(
        PAGE,
        "runs 16 iterations",
        "(16 iterations)",
        "15 if the layer is in eval mode",
        "whatever `n_power_iterations` is",
        "15 + `n_power_iterations` in general",
    )


def test_spectral_norm_estimate_and_vanishing(run):
    r = run("spectral_norm")
    errors = r["sigma error"]
    for e in errors.values():
        err = e["error"]
        assert all(x > 0 for x in err)  # u^T W v <= s_max: always low
        assert all(a > b for a, b in zip(err, err[1:]))
        per_pass = (err[-1] / err[0]) ** (1 / (len(err) - 1))
        assert per_pass == pytest.approx(e["s2/s1"] ** 4, rel=0.05)
        assert 0.001 < err[0] < 0.012 and err[-1] < 1e-4  # from 0.1%-1.2% to below 0.01%
    square = errors[(128, 128)]
    stacks = r["stacks"]
    he, relu, linear, orth = (
        stacks[k] for k in ("He init, ReLU", "SN, ReLU", "SN, linear", "SN, orthogonal, linear")
    )
    # about 1/2 per layer without activation, 1/(2 sqrt 2) with a ReLU
    assert linear["per layer"] == pytest.approx(0.5, rel=0.1)
    assert relu["per layer"] == pytest.approx(1 / (2 * math.sqrt(2)), rel=0.1)
    assert orth["per layer"] == pytest.approx(1, abs=1e-9)
    assert 0.9 < he["per layer"] < 1.1
    assert 1 < relu["max s_max"] < 1.1 and orth["max s_max"] == pytest.approx(1)
    # the stack's bound: the product of the layers' s_max, slightly low estimates compounded
    assert 1.2 < relu["product of s_max"] < 2
    # the slowest convergence: the square matrix, whose top two singular values are closest
    ratio = {shape: e["s2/s1"] for shape, e in errors.items()}
    assert max(ratio, key=ratio.get) == (128, 128)
    d_relu, d_linear = relu["delta"], linear["delta"]
    # "about thirteen orders of magnitude" with ReLU, "about eight" without
    assert round(-math.log10(d_relu[0] / d_relu[-1])) == 13
    assert round(-math.log10(d_linear[0] / d_linear[-1])) == 8
    # spectral normalization shrinks a layer only where s_max > 1: with small weights
    # (s_max < 1) it scales every layer up, and the gradient vanishes less
    small, sn_small = stacks["std 0.01, linear"], stacks["SN, std 0.01, linear"]
    assert small["max s_max"] < 1 < he["min s_max"]
    d_small, d_sn_small = small["delta"], sn_small["delta"]
    assert d_sn_small[0] / d_sn_small[-1] > 1e10 * d_small[0] / d_small[-1]
    assert small["per layer"] == pytest.approx(math.sqrt(128) * 0.01, rel=0.05)  # rms sing. value
    # W / s_max(W) does not depend on the scale of W: the He-initialized stack's numbers
    assert d_sn_small[0] / d_sn_small[-1] == pytest.approx(d_linear[0] / d_linear[-1], rel=1e-9)
    assert sn_small["per layer"] < 0.6  # still vanishes, by about 1/2 per layer
    assert_page_states(
        PAGE,
        f"$s_{{\\max}}$ from ${he['min s_max']:.2f}$ to ${he['max s_max']:.2f}$",
        f"between ${small['min s_max']:.2f}$ and ${small['max s_max']:.2f}$",
        f"by a factor ${small['per layer']:.3f}$ per layer (the root mean square",
        f"to ${latex_sci(d_small[0] / d_small[-1])}$ in all",
        f"the stack then passes on ${latex_sci(d_sn_small[0] / d_sn_small[-1])}$ of it",
        "normalization makes it worse when the layers' largest singular values are above 1",
        "every layer up, and the gradient vanishes less",
        f"${latex_sci(d_sn_small[0] / d_sn_small[-1])}$ with it,",
        f"${latex_sci(d_small[0] / d_small[-1])}$ without",
    )
    assert_page_states(
        PAGE,
        *(f"${e['error'][0] * 100:.2g}\\%$ for ${o} \\times {i}$" for (o, i), e in errors.items()),
        f"(${square['s2/s1']:.3f}$ for the square",
        f"${latex_sci(square['error'][-1], 2)}$ after 40",
        f"at most ${relu['max s_max']:.3f}$",
        f"those values: ${relu['product of s_max']:.3g}$ for the 30 layers",
        f"factor ${relu['per layer']:.3f}$ per layer",
        latex_sci(d_relu[0] / d_relu[-1]),
        f"by ${linear['per layer']:.3f}$ per layer",
        latex_sci(d_linear[0] / d_linear[-1]),
        f"(${he['per layer']:.3f}$ per layer)",
        f"\\frac{{1}}{{2\\sqrt2}} = {1 / (2 * math.sqrt(2)):.3f}$",
    )


def test_a_square_gaussian_matrix_rms_singular_value_is_half_the_largest():
    g = torch.Generator().manual_seed(0)
    n = 128
    s = torch.linalg.svdvals(torch.randn(n, n, generator=g, dtype=torch.float64))
    assert s[0] / math.sqrt(n) == pytest.approx(2, rel=0.05)
    assert s.pow(2).mean().sqrt() / math.sqrt(n) == pytest.approx(1, rel=0.05)
