"""The numbers that chapter 7 states, recomputed by its snippets."""

import functools
import inspect
import math

import pytest
import torch
from conftest import (
    assert_page_states,
    latex_sci,
    page,
    snippet_defaults,
    snippet_module,
)

CHAPTER = "07-optimizers-and-precision"
PAGE = page(CHAPTER)


defaults = functools.partial(snippet_defaults, CHAPTER)


module = functools.partial(snippet_module, CHAPTER)


def test_sgd_vs_adam(run):
    r = run("sgd_vs_adam")
    assert defaults("sgd_vs_adam", "make_mlp")["depth"] == 14
    assert defaults("sgd_vs_adam", "make_mlp")["width"] == 64
    assert defaults("sgd_vs_adam", "make_task")["n"] == 64
    settings = defaults("sgd_vs_adam", "experiment")
    assert list(settings["seeds"]) == list(range(5)) and settings["steps"] == 100
    assert r["lr"] == {"SGD": 0.1, "Adam": 3e-3}
    sgd = module("sgd_vs_adam").OPTIMIZERS["SGD"]([torch.zeros(1)])
    assert sgd.defaults["momentum"] == 0.9
    adam = module("sgd_vs_adam").OPTIMIZERS["Adam"]([torch.zeros(1)])
    assert adam.defaults["betas"] == (0.9, 0.999) and adam.defaults["eps"] == 1e-8
    runs = r["runs"]
    assert all(len(x["losses"]) == 100 for v in runs.values() for x in v)
    # the loss of predicting the mean: targets with unit (n - 1)-variance, n = 64
    assert all(c == pytest.approx(63 / 64, abs=1e-6) for c in r["constant prediction"])
    assert all(abs(x["losses"][-1] - 63 / 64) < 1e-5 for x in runs["SGD"])
    assert all(x["losses"][-1] < 0.05 for x in runs["Adam"])
    # the same gradients at step 0: the optimizer plays no part in them
    for s, a in zip(runs["SGD"], runs["Adam"]):
        assert s["mean |gradient| at step 0"] == a["mean |gradient| at step 0"]
    grads = [x["mean |gradient| at step 0"] for x in runs["SGD"]]
    ratios = [g[0] / g[-1] for g in grads]
    assert all(10**-5.5 < v < 1e-4 for v in ratios)  # four to five orders of magnitude
    # SGD's first step is lr * gradient (the momentum buffer starts at the gradient); in the
    # first layers that is at float32's resolution (near weights of 0.07, float32's numbers
    # are 7.5e-9 apart) and rounding takes part of it
    assert torch.finfo(torch.float32).eps * 0.0625 == pytest.approx(7.45e-9, rel=1e-3)
    for x in runs["SGD"]:
        for moved, grad in zip(x["mean |step| at step 0"], x["mean |gradient| at step 0"]):
            assert moved == pytest.approx(0.1 * grad, rel=1e-3 if 0.1 * grad > 1e-6 else 0.5)
    sgd_first = [x["mean |step| at step 0"][0] for x in runs["SGD"]]
    adam_first = [x["mean |step| at step 0"][0] for x in runs["Adam"]]
    assert all(a > 1e5 * s for a, s in zip(adam_first, sgd_first))
    adam_steps = [v / 3e-3 for x in runs["Adam"] for v in x["mean |step| at step 0"]]
    assert 0.1 < min(adam_steps) and max(adam_steps) < 0.9
    # the first layer's gradients: a few eps, so its first Adam step is below lr
    first_grads = [g[0] for g in grads]
    assert round(min(first_grads) / 1e-8) == 4 and round(max(first_grads) / 1e-8) == 13
    first_layer = [v / 3e-3 for v in adam_first]
    # after 50 steps (the ratio list starts at step 1)
    at_50 = {name: [x["gradient ratio"][49] for x in v] for name, v in runs.items()}
    assert min(at_50["Adam"]) > 0.05 and max(at_50["SGD"]) < 0.01
    assert_page_states(
        PAGE,
        "14 hidden\nlayers of width 64",
        "Fit 64 points",
        "100 steps, five\nseeds",
        "With learning rate $0.1$ and momentum $0.9$",
        "$63/64 = 0.984$ (to within $10^{-5}$;",
        "learning rate $3 \\times 10^{-3}$, every seed ends\n  below $0.05$",
        f"${latex_sci(min(sgd_first), 2)}$ to\n  ${latex_sci(max(sgd_first), 2)}$ per weight",
        "$7.5 \\times 10^{-9}$ apart, rounded part of it away",
        "more than $10^{5}$\n  times as much",
        "between $0.1$ and $0.9$ of its learning rate",
        f"is between ${latex_sci(min(ratios), 2)}$ and ${latex_sci(max(ratios), 2)}$ times",
        f"${latex_sci(1 / max(ratios), 2)}$ to ${latex_sci(1 / min(ratios), 2)}$ times smaller",
        "four to five orders of magnitude",
        "after 50 steps",
        "above $0.05$ in every Adam run",
        "below $0.01$",
        f"between ${latex_sci(min(first_grads), 2)}$ and\n  ${latex_sci(max(first_grads), 2)}$, "
        "four to thirteen times $\\epsilon$",
        f"${min(first_layer):.2f}$ to ${max(first_layer):.2f}$ of its learning rate",
    )


def test_adaptive_steps(run):
    r = run("adaptive_steps")
    grads, steps = r["grads"], r["first step"]
    assert grads.min().item() == pytest.approx(1e-12) and grads.max().item() == pytest.approx(1e4)
    assert r["eps"] == {"Adam": 1e-8, "AdamW": 1e-8, "RMSprop": 1e-8, "Adagrad": 1e-10}
    assert max(r["max error"].values()) < 1e-8
    big = grads > 1e-4
    assert (steps["Adam"][big] - 1).abs().max() < 1e-3
    assert (steps["RMSprop"][big] - 10).abs().max() < 1e-2
    assert (steps["Adagrad"][big] - 1).abs().max() < 1e-3
    assert (steps["AdamW"][big] - 1.01).abs().max() < 1e-3  # plus lr * 0.01 * w, w = 1
    # at |g| = 1e-12: the decay, 0.01, plus Adam's g / eps = 1e-4
    assert steps["AdamW"][0].item() == pytest.approx(0.01 + 1e-4, rel=1e-3)
    # below eps: Adam's (and RMSprop's) step is g / eps, SGD with lr / eps
    tiny = grads < 1e-10
    assert torch.allclose(steps["Adam"][tiny], grads[tiny] / 1e-8, rtol=0.02)
    half, ninety = r["Adam at eps, 9 eps"]
    assert half == pytest.approx(0.5, abs=1e-9) and ninety == pytest.approx(0.9, abs=1e-9)
    later = r["step 100, constant gradient"]
    assert later["Adam"] == pytest.approx(1, abs=1e-4)
    assert later["Adagrad"] == pytest.approx(1 / math.sqrt(100), abs=1e-4)
    # PyTorch's defaults, as the table states them
    assert torch.optim.RMSprop([torch.zeros(1)]).defaults["alpha"] == 0.99
    assert torch.optim.AdamW([torch.zeros(1)]).defaults["weight_decay"] == 1e-2
    assert 1 / math.sqrt(1 - 0.99) == pytest.approx(10)
    assert_page_states(
        PAGE,
        "to within\n$10^{-8}$ relative",
        "both to within $0.1\\,\\%$",
        "half the\n  learning rate at $|g| = \\epsilon = 10^{-8}$",
        "$90\\,\\%$ of it at $|g| = 9\\epsilon$",
        "$\\eta/\\epsilon = 10^{8}\\eta$",
        "$\\eta/\\sqrt{1 - \\alpha} = 10\\,\\eta$",
        "| $10^{-8}$ |",
        "| $10^{-10}$ |",
        "$\\eta$, then $\\eta/\\sqrt t$ for a constant gradient",
    )


def test_lr_schedules(run):
    r = run("lr_schedules")
    assert r["lr"] == 0.1 and r["epochs"] == 100
    s = r["schedules"]
    expo = s["ExponentialLR"]["lr"]
    assert all(v == pytest.approx(0.1 * 0.95**e, rel=1e-9) for e, v in enumerate(expo))
    cosine = s["CosineAnnealingLR"]["lr"]
    eta_min = 1e-6
    for t, v in enumerate(cosine):
        expected = eta_min + 0.5 * (0.1 - eta_min) * (1 + math.cos(math.pi * t / 100))
        assert v == pytest.approx(expected, rel=1e-6)
    warm = s["warmup + cosine"]["lr"]
    assert warm[0] == pytest.approx(0.001) and warm[10] == pytest.approx(0.1)
    assert all(b > a for a, b in zip(warm[:10], warm[1:11]))
    # ReduceLROnPlateau: only divisions by 10, each after 10 epochs without improvement
    plateau, val = s["ReduceLROnPlateau"]["lr"], s["ReduceLROnPlateau"]["validation loss"]
    assert all(any(v == pytest.approx(0.1 * 10**-k) for k in range(5)) for v in plateau)
    drops = [e for e in range(1, len(plateau)) if plateau[e] < plateau[e - 1]]
    assert drops and drops[0] >= 67  # the last third of the run
    for e in drops:  # the loss of epoch e - 1 decided; none of the 10 before improved on best
        best = min(val[: e - 11])
        assert all(v > best * (1 - 1e-4) for v in val[e - 11 : e])
    assert_page_states(
        PAGE,
        "learning rate $0.1$,\n100 epochs",
        f"$0.1 \\times 0.95^{{99}} = {latex_sci(expo[99])}$",
        "`CosineAnnealingLR(T_max=100, eta_min=1e-6)`",
        "`LinearLR(start_factor=0.01, total_iters=10)` rises from $\\eta/100$ to $\\eta$ in 10",
        '`ReduceLROnPlateau(mode="min", factor=0.1, patience=10)` divides the rate by 10',
        "in the last\n  third of the run",
    )


def test_warmup(run):
    r = run("warmup")
    settings = r["settings"]
    assert settings == {"steps": 100, "warmup": 40, "lr": 0.05}
    assert defaults("warmup", "make_mlp")["depth"] == 10
    runs = r["runs"]
    cold, warm = runs["no warmup"], runs["warmup 40"]
    assert len(cold) == len(warm) == 5
    assert all(c == pytest.approx(63 / 64, abs=1e-6) for c in r["constant prediction"])
    # without warmup: the first update multiplies the loss by more than 1000, no recovery
    assert all(x["losses"][1] > 1000 * x["losses"][0] for x in cold)
    assert all(x["losses"][-1] > 0.2 for x in cold)
    # with warmup: never above 5, every run ends below 1e-3
    assert all(max(x["losses"]) < 5 for x in warm)
    assert all(x["losses"][-1] < 1e-3 for x in warm)
    # the first step: the largest of a run without warmup; 100 times smaller with warmup
    first = [x["mean |step|"][0] for x in cold]
    assert all(x["mean |step|"][0] > max(x["mean |step|"][1:]) for x in cold)
    assert max(max(x["mean |step|"]) for x in warm) < 0.004
    for c, w in zip(cold, warm):
        assert w["mean |step|"][0] == pytest.approx(c["mean |step|"][0] / 100, rel=1e-3)
        assert w["lr"][0] == pytest.approx(c["lr"][0] / 100)
    # Adam's normalized step, |m_hat| / (sqrt(v_hat) + eps) averaged: mean |step| / lr
    normalized = [[m / lr for m, lr in zip(x["mean |step|"], x["lr"])] for x in warm]
    assert all(0.7 < u[0] < 0.9 for u in normalized)
    assert all(u[10] < 0.3 and u[40] < 0.05 for u in normalized)
    # the post's three schedules start at the full rate: the same first step, bit for bit
    for name, losses in r["post 5"].items():
        assert [x[1] for x in losses] == [x["losses"][1] for x in cold], name
    assert_page_states(
        PAGE,
        "10 hidden layers and He init, Adam at\nlearning rate $0.05$ with cosine decay over "
        "100 steps, five seeds",
        "with 40\nsteps of linear warmup",
        "multiplies the loss by more than a thousand in\nevery seed",
        "all end above $0.2$, where predicting the mean would score\n$0.984$",
        "no run's loss ever exceeds $5$, and every run ends below $10^{-3}$",
        f"by ${min(first):.3f}$ to ${max(first):.3f}$ on average, more than any later\nstep",
        "every step of every run stayed below $0.004$",
        "between $0.7$ and $0.9$ at the first step",
        "below $0.3$ by step 10 and below $0.05$ by step 40",
        "more than a thousand times\n    its initial loss",
        "a hundred times smaller",
    )


def test_float16_range(run):
    r = run("float16_range")
    f16, bf16, f32 = (r["formats"][k] for k in ("float16", "bfloat16", "float32"))
    assert f16["largest"] == 65504 and f16["smallest normal"] == 2**-14
    assert f16["smallest subnormal"] == 2**-24 and f16["bits of precision"] == 11
    assert bf16["smallest normal"] == f32["smallest normal"] == 2**-126
    assert bf16["smallest subnormal"] == 2**-133 and f32["smallest subnormal"] == 2**-149
    assert (bf16["bits of precision"], f32["bits of precision"]) == (8, 24)
    assert bf16["eps"] == 2**-7
    halves = r["round trips"]["float16"]
    assert halves == [65504.0, 65504.0, math.inf, 2**-24, 0.0, 1.0]
    brains = r["round trips"]["bfloat16"]
    assert brains[0] == 1.0 and brains[1] == pytest.approx(1e-30, rel=0.01)
    runs = r["runs"]
    assert len(runs) == 3 and r["scale"] == 2**16
    medians = [x["median |g|"][0] for x in runs]
    lost = [x["lost in float16"][0] for x in runs]
    assert all(0.15 < v < 0.80 for v in lost)
    scaled = [v for x in runs for v in x["lost in float16, loss x 65536"]]
    assert max(scaled) < 0.01
    assert max(v for x in runs for v in x["lost in bfloat16"]) < 0.05
    largest = [x["largest scaled entry"] for x in runs]
    assert 700 < min(largest) and max(largest) < 1500
    assert min(largest) * 2**8 > 65504  # a scale of 2^24 overflows
    assert_page_states(
        PAGE,
        "| float16 | $65504$ | $2^{-14} = "
        f"{latex_sci(f16['smallest normal'])}$ | $2^{{-24}} = "
        f"{latex_sci(f16['smallest subnormal'])}$ | 11 |",
        f"| bfloat16 | ${latex_sci(bf16['largest'])}$ | $2^{{-126}} = "
        f"{latex_sci(bf16['smallest normal'])}$ | $2^{{-133}}$ | 8 |",
        f"| float32 | ${latex_sci(f32['largest'])}$ | $2^{{-126}} = "
        f"{latex_sci(f32['smallest normal'])}$ | $2^{{-149}}$ | 24 |",
        "anything from $65520$ up rounds to `inf` ($65519$ still rounds to $65504$)",
        "anything up to $2^{-25}$ rounds to $0$",
        "three seeds",
        f"between\n${latex_sci(min(medians), 2)}$ and ${latex_sci(max(medians), 2)}$",
        "between $15\\,\\%$ and\n$80\\,\\%$ of the first layer's gradient entries",
        "$S = 2^{16}$",
        "fewer than $1\\,\\%$ of the entries of any layer are lost",
        "between $700$ and $1500$, well below $65504$; a\nscale of $2^{24}$ would overflow",
        "fewer than $5\\,\\%$ of any layer's gradient entries",
        "$2^{-7}$ apart just above 1 and $2^{-8}$ apart just below",
    )


def test_grad_scaler(run):
    r = run("grad_scaler")
    init = inspect.signature(torch.amp.GradScaler.__init__).parameters
    assert init["init_scale"].default == 2.0**16 and init["growth_factor"].default == 2.0
    assert init["backoff_factor"].default == 0.5 and init["growth_interval"].default == 2000
    settings = r["settings"]
    assert settings == {"steps": 100, "growth_interval": 10, "init_scale": 2.0**24}
    scales, skipped = r["scales"], r["skipped"]
    # the first six steps overflow, each halving the scale, until 2^18
    assert skipped[:6] == [True] * 6 and not skipped[6]
    assert scales[:7] == [2.0**k for k in range(24, 17, -1)]
    # from then on: x 0.5 after every skip, x 2 after every 10 clean steps in a row
    clean = 0
    for t in range(len(scales) - 1):
        if skipped[t]:
            clean = 0
            assert scales[t + 1] == scales[t] / 2
        else:
            clean += 1
            grew = clean == 10
            clean = 0 if grew else clean
            assert scales[t + 1] == scales[t] * (2 if grew else 1)
    assert any(skipped[7:]) and max(scales[7:]) > 2.0**18  # it moves both ways
    assert r["Adam's step counts"] == {len(skipped) - sum(skipped)}
    one = r["one overflowing step"]
    assert one["weights unchanged"] and one["Adam state empty"]
    assert one["scale after"] == 2.0**39
    assert r["losses"][-1] < 1e-2 and r["float32 losses"][-1] < 1e-2
    assert_page_states(
        PAGE,
        "`init_scale=2.0**16`, `growth_factor=2.0`, `backoff_factor=0.5` and "
        "`growth_interval=2000`",
        "multiplies $S$ by $0.5$ after a skipped step, and by\n$2$ after `growth_interval`",
        "Started at $S = 2^{24}$",
        "the first six steps overflow",
        "until $S = 2^{18}$",
        "doubles after every ten clean steps",
        "The float16 run ends below $10^{-2}$, as the\nfloat32 run does",
        '`torch.amp.GradScaler("cpu")`',
    )
