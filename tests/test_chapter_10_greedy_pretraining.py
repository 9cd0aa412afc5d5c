"""The numbers that chapter 10 states, recomputed by its snippets."""

import functools
import math
import statistics

import pytest
from conftest import ROOT, assert_page_states, latex_sci, page, snippet_defaults

CHAPTER = "10-greedy-pretraining"
PAGE = page(CHAPTER)


defaults = functools.partial(snippet_defaults, CHAPTER)


def mantissa_range(values):
    """'1.7 \\times 10^{-4}$ to $2.0 \\times 10^{-4}': a range in the page's notation."""
    return f"{latex_sci(min(values), 2)}$ to ${latex_sci(max(values), 2)}"


def test_the_setting(run):
    r = run("pretrained_vs_random")
    s = r["settings"]
    assert s["widths"] == (64, 64, 64, 64) and s["n"] == 250 and s["n_test"] == 1000
    assert s["seeds"] == (0, 1, 2) and s["steps"] == 150
    assert s["lrs"] == {"random init": 1.0, "DBN init": 1.0, "ReLU + He": 0.02}
    assert defaults("pretrained_vs_random", "fine_tune")["momentum"] == 0.9
    assert defaults("pretrained_vs_random", "make_digits")["flip"] == 0.05
    rbm = defaults("pretrained_vs_random", "train_rbm")
    assert (rbm["epochs"], rbm["batch"]) == (20, 50)
    assert_page_states(
        PAGE,
        "in an 8 × 8 box, at one of 8 places, with 5% of the pixels flipped",
        "64 inputs, four sigmoid layers of 64 units and a linear classifier for the 10 digits",
        "it sees 250 training images",
        "full-batch SGD with momentum $0.9$ for 150 steps, in three seeds",
        "learning rate $1.0$",
        "learning rate $0.02$",
        "CD-1 with mini-batches of 50",
        "(the stacks above: 20)",
    )


def test_random_init_does_not_train_and_the_stack_does(run):
    r = run("pretrained_vs_random")
    arms, constant = r["arms"], r["constant"]
    final = {name: [run_[-1] for run_ in a["losses"]] for name, a in arms.items()}
    # random init: the loss of predicting the label frequencies, to within 0.01
    assert all(abs(f - c) < 0.01 for f, c in zip(final["random init"], constant))
    assert all(2.27 < c < 2.30 for c in constant) and math.log(10) > max(constant)
    assert max(arms["random init"]["test"]) < 0.15
    # DBN init and ReLU + He train
    assert max(final["DBN init"]) < 0.2
    assert max(final["ReLU + He"]) < 0.05
    # "ReLU + He beats the DBN without pretraining", in every seed
    assert all(r < d for r, d in zip(final["ReLU + He"], final["DBN init"]))
    # held-out accuracy
    assert all(0.55 < a < 0.7 for a in arms["DBN init"]["test"])
    assert all(0.6 < a < 0.75 for a in arms["ReLU + He"]["test"])
    assert_page_states(
        PAGE,
        "loss ends within $0.01$ of the loss of predicting the label frequencies",
        f"(${min(constant):.2f}$ to ${max(constant):.2f}$, close to $\\ln 10 = "
        f"{math.log(10):.3f}$)",
        "right about as often as chance (below $15\\%$)",
        "it ends below $0.2$ in every seed",
        "below $0.05$ in every seed",
        "right $55\\%$ to $70\\%$ of the time in every seed",
        "with no pretraining at all, $60\\%$ to $75\\%$",
        # the figure's alt text
        "one falls below 0.2",
        "ReLU + He beats the DBN without pretraining",
        "falls fastest, below 0.05",
    )


def test_gradients_at_the_first_step(run):
    arms = run("pretrained_vs_random")["arms"]
    grads = {name: a["grads"] for name, a in arms.items()}
    first = {name: [g[0] for g in gs] for name, gs in grads.items()}
    random_first = first["random init"]
    # the random network: layer 1 more than 1000 times below the classifier
    assert all(g[-1] / g[0] > 1000 for g in grads["random init"])
    # DBN: more than 10 times the random network's; ReLU + He: more than 1000 times
    assert all(d / r > 10 for d, r in zip(first["DBN init"], random_first))
    assert all(d / r > 1000 for d, r in zip(first["ReLU + He"], random_first))
    assert_page_states(
        PAGE,
        f"gets a gradient of ${mantissa_range(random_first)}$, more than 1000 times smaller",
        "first layer gets more than 10 times as much as the random network's",
        "the ReLU network's more than 1000 times as much",
        "its first layer gets a gradient more than ten times larger",
    )


def test_per_layer_factors(run):
    arms = run("why_the_stack_helps")["arms"]
    settings = defaults("why_the_stack_helps", "experiment")
    assert settings["widths"] == (64, 64, 64, 64) and settings["seeds"] == (0, 1, 2)

    def column(name, key, layers=range(4)):
        return [rows[l][key] for rows in arms[name]["factors"] for l in layers]

    def over_four(name):
        return [math.prod(row["factor"] for row in rows) for rows in arms[name]["factors"]]

    # random init: 1/4 sqrt(1/3) per layer
    predicted = 0.25 * math.sqrt(1 / 3)
    assert all(0.13 < f < 0.15 for f in column("random init", "factor"))
    assert all(abs(g - math.sqrt(1 / 3)) < 0.05 for g in column("random init", "gain", range(3)))
    random_total = over_four("random init")
    assert all(3e-4 < t < 5e-4 for t in random_total)
    # DBN: larger weights, flatter units, and factors far above slope x gain in layers 1-2
    gains = column("DBN init", "gain", range(3))
    assert all(1.5 < g < 2.1 for g in gains)
    assert 2.6 < statistics.mean(gains) / math.sqrt(1 / 3) < 3.6  # "about 3 times larger"
    assert all(0.11 < s < 0.16 for s in column("DBN init", "slope"))
    half = statistics.mean(column("DBN init", "slope")) / statistics.mean(
        column("random init", "slope")
    )
    assert 0.4 < half < 0.65  # "half the random network's"
    rows = [row for rows in arms["DBN init"]["factors"] for row in rows]
    assert all(0.2 < r["slope"] * r["gain"] < 0.28 for r in rows[:3])
    low = [rows_[l] for rows_ in arms["DBN init"]["factors"] for l in (0, 1)]
    assert all(0.7 < r["factor"] < 0.95 for r in low)
    assert all(6 < r["s_max"] < 8 and 0.85 < r["slope"] * r["s_max"] < 1.05 for r in low)
    dbn_total = over_four("DBN init")
    assert all(0.005 < t < 0.02 for t in dbn_total)
    assert all(d / r > 20 for d, r in zip(dbn_total, random_total))
    # shuffled: the same values, factors close to slope x gain, about half the DBN's overall
    shuffled = [rows_[l] for rows_ in arms["shuffled DBN"]["factors"] for l in range(3)]
    assert all(0.3 < r["factor"] < 0.4 for r in shuffled)
    assert all(abs(r["factor"] / (r["slope"] * r["gain"]) - 1) < 0.15 for r in shuffled)
    for d_rows, s_rows in zip(arms["DBN init"]["factors"], arms["shuffled DBN"]["factors"]):
        same = [r["gain"] for r in s_rows[:3]]  # the classifier above is not shuffled
        assert [r["gain"] for r in d_rows[:3]] == pytest.approx(same)
    ratios = [s / d for s, d in zip(over_four("shuffled DBN"), dbn_total)]
    assert all(0.35 < q < 0.7 for q in ratios)  # "about half"
    # ... and it trains far worse
    dbn_final = [run_[-1] for run_ in arms["DBN init"]["losses"]]
    shuffled_final = [run_[-1] for run_ in arms["shuffled DBN"]["losses"]]
    assert max(dbn_final) < 0.2 < 0.5 < min(shuffled_final)
    assert max(arms["shuffled DBN"]["test"]) < 0.45
    assert_page_states(
        PAGE,
        f"$\\tfrac14\\sqrt{{1/3}} = {predicted:.3f}$",
        "**Random init: $0.13$ to $0.15$ at every layer**",
        "is about $4 \\times 10^{-4}$ of the one at the logits",
        "(gain about $1.8$)",
        "typical slope about $0.13$",
        "about $0.24$ per layer",
        "far larger, $0.7$ to $0.95$",
        "close to slope × $s_{\\max} \\approx 0.95$",
        "($s_{\\max} \\approx 7$), not along a random one",
        "typical slope about $0.13$, half the random network's",
        "about $10^{-2}$, more than 20 times the random network's",
        "about $0.35$ per layer, within $15\\%$ of slope × gain",
        "layers about half of the DBN's",
        "it ends above $0.5$ in every seed, where the DBN ends below $0.2$",
        "the shuffled stack less than $45\\%$",
    )


def test_the_rbm_formulas_and_the_bias_of_cd(run):
    r = run("cd_bias")
    settings = defaults("cd_bias", "experiment")
    assert (settings["n_v"], settings["n_h"]) == (8, 4) and settings["ks"] == (1, 3, 10, 30)
    assert r["n_states"] == 2**12 == 4096 and r["n_patterns"] == 18
    assert max(r["checks"].values()) < 1e-13
    t = r["track"]
    steps = settings["steps"]
    assert t["step"][-1] == steps == 1778
    # small weights: CD-1 within 1e-2, CD-10 within 1e-10
    small = [i for i, w in enumerate(t["rms_W"]) if w < 0.1]
    assert len(small) >= 4
    assert max(t["rel_error"][1][i] for i in small) < 1e-2
    assert max(t["rel_error"][10][i] for i in small) < 1e-10
    # the end: errors, cosines; every cosine positive
    err = {k: v[-1] for k, v in t["rel_error"].items()}
    cos = {k: v[-1] for k, v in t["cosine"].items()}
    assert err[1] > err[3] > err[10] > err[30]
    assert min(min(v) for v in t["cosine"].values()) > 0
    # the log-likelihood, from uniform towards its maximum, -ln 18
    assert t["log_likelihood"][0] == pytest.approx(-8 * math.log(2), abs=5e-4)
    assert -math.log(18) > t["log_likelihood"][-1] > t["log_likelihood"][0]
    assert r["sampled_to_average"] < 0.5 < 1 < r["sampled_to_gradient"]
    assert_page_states(
        PAGE,
        "$2^{12} = 4096$",
        "the 18 *bars and stripes* images of 2 × 4 pixels",
        "agree with the table of 4096 states to within $10^{-13}$",
        "is below $0.1$, CD-1 is within $10^{-2}$ of the gradient (relative error), CD-10 within "
        "$10^{-10}$",
        f"(rms of $W$ ${t['rms_W'][-1]:.2f}$)",
        f"off by ${err[1]:.2g}$ times the gradient's norm, at a cosine of ${cos[1]:.2f}$",
        f"CD-3 by ${err[3]:.2g}$",
        f"CD-10 by ${err[10]:.2g}$, CD-30 by ${err[30]:.2g}$ (cosine ${cos[30]:.2f}$)",
        f"lands ${r['sampled_to_average']:.2f}$ gradient-norms from its exact average",
        f"and ${r['sampled_to_gradient']:.2g}$ from the gradient",
        f"In {steps} steps of the exact gradient",
        f"from ${t['log_likelihood'][0]:.3f}$ ($= -8 \\ln 2$",
        f"to ${t['log_likelihood'][-1]:.3f}$; the best possible is $-\\ln 18 = "
        f"{-math.log(18):.3f}$",
        f"${err[1]:.2g}$ times the gradient's norm for CD-1 at the end",
        f"(CD-1: ${err[1]:.2g}$ gradient-norms off",
    )


def test_one_rbm_on_the_digits(run):
    r = run("rbm_on_digits")
    s = r["settings"]
    assert (s["n"], s["n_hidden"], s["epochs"], s["chains"], s["steps"]) == (
        250,
        64,
        100,
        64,
        1000,
    )
    assert r["recon_error"] < 4
    assert r["recon_from_clean"] < 2.5 < r["data_from_clean"]
    close = [d for d, x in zip(r["sample_digits"], r["samples_from_clean"]) if x <= 3]
    assert 24 <= len(close) <= 44  # "about half" of 64
    assert len(set(close)) >= 7
    assert_page_states(
        PAGE,
        "64 visible and 64 hidden units",
        "trains it for 100 epochs",
        "runs 64 Gibbs chains from random images for 1000 steps",
        "is below $4$ per image",
        f"against ${r['mean_image_error']:.1f}$ for predicting the mean image",
        "About half of the 64 samples are within 3 pixels of a clean digit",
        f"(below $2.5$ pixels on average, against ${r['data_from_clean']:.2f}$)",
        "at least seven of the ten digits appear among them",
    )


def test_history_and_the_source_post():
    seed = (ROOT.parent / "shared/seeds/003_10f6ee09823418f6.txt").resolve()
    if seed.exists():  # the source post the box quotes, where the seeds are available
        text = seed.read_text(encoding="utf-8")
        for quoted in (
            "贪心逐层无监督预训练（深度信念网络）（目前仅在 NLP 领域使用）",
            "此思想相当于是先寻找局部最优，然后整合起来寻找全局最优",
            "5da713a690c067105aeb2fae32403405",  # Bengio et al. 2007 at NeurIPS
        ):
            assert quoted in text
    assert_page_states(
        PAGE,
        "(贪心逐层无监督预训练（深度信念网络）（目前仅在 NLP 领域使用）)",
        "(此思想相当于是先寻找局部最优，然后整合起来寻找全局最优)",
        "Hinton (2002, *Training Products of Experts by Minimizing Contrastive Divergence*)",
        "Hinton, Osindero and Teh (2006, *A Fast Learning Algorithm for Deep Belief Nets*)",
        "Bengio, Lamblin, Popovici and Larochelle (2007, *Greedy Layer-Wise Training",
        "(2010, *Why Does Unsupervised Pre-training Help Deep Learning?*",
    )
