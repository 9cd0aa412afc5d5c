"""The numbers that chapter 5 states, recomputed by its snippets."""

import functools
import math
import statistics

import pytest
import torch
from conftest import assert_page_states, latex_sci, page, snippet_defaults, snippet_module

CHAPTER = "05-skip-connections"
PAGE = page(CHAPTER)


def g3(x):
    return f"${x:.3g}$"


defaults = functools.partial(snippet_defaults, CHAPTER)


def test_one_block_jacobian(run):
    r = run("block_jacobian")
    settings = defaults("block_jacobian", "experiment")
    assert settings["n"] == 64 and settings["depth"] == 32
    assert r["max |I + J - autograd|"] < 1e-15
    branch = r["spectra"]["J (branch)"]
    block = r["spectra"]["I + J (block)"]
    scaled = r["spectra"]["I + J/sqrt(32)"]
    norm, a = r["||J||"], r["a = 1/sqrt(L)"]
    assert len(block) == settings["n"] and a == pytest.approx(1 / math.sqrt(settings["depth"]))
    assert branch[0].item() == pytest.approx(norm)
    # D1 and D2 switch off units: more than half of J's singular values are 0
    assert (branch < 1e-10).sum().item() > len(branch) / 2
    # the block is far from an isometry, in both directions
    assert block[0] > 3 and block[-1] < 0.01
    # J = W2 D2 W1 D1 has rank r; I + J is the identity where J neither reads nor writes, so
    # n - 2r singular values are exactly 1, at most r below and at most r above
    rank, n = r["rank of J"], len(block)
    below, equal, above = r["I + J: below, equal to, above 1"]
    assert below + equal + above == n and equal == n - 2 * rank and below == above == rank
    # the nearly cancelled direction: a real eigenvalue of J close to -1, so I + J has an
    # eigenvalue close to 0, and no singular value is below the smallest |eigenvalue|
    lam = r["leftmost eigenvalue of J"]
    assert lam.imag.item() == 0 and abs(1 + lam.real.item()) < 0.05
    assert block[-1] <= abs(1 + lam.real.item())
    # Weyl: every singular value of I + aJ lies in [1 - a||J||, 1 + a||J||]
    assert 1 - a * norm <= scaled[-1] <= scaled[0] <= 1 + a * norm
    lower, upper = 1 - r["scales"] * norm, 1 + r["scales"] * norm
    assert (r["sigma_min"] >= lower - 1e-12).all()
    assert (r["sigma_max"] <= upper + 1e-12).all()
    assert 1 - norm < 0  # at a = 1 the lower bound says nothing
    # ||M|| < 1 is guaranteed for 32 equal blocks only below 2^(1/32) - 1, about ln 2 / 32,
    # and even the scaled block is far above that
    worst_case = 2 ** (1 / 32) - 1
    assert worst_case == pytest.approx(math.log(2) / 32, rel=0.02)
    assert a * norm > 10 * worst_case
    # mean square: branch terms (1 + s^2)^L - 1 times the direct term, below 1 only for
    # s < sqrt(ln 2 / L); at s = 1/sqrt(L) they are e - 1 times it for large L, 1.68 at L = 32
    assert math.sqrt(math.log(2)) == pytest.approx(0.83, abs=0.005)
    assert (1 + 1 / 32) ** 32 - 1 > 1
    assert_page_states(
        PAGE,
        "one block of width 64",
        "to within $10^{-15}$",
        f"$\\|J\\| = {norm:.3g}$",
        g3(block[-1]),
        g3(block[0]),
        f"${below}$ of the ${n}$ are",
        f"below 1, ${above}$ above and ${equal} = {n} - 2 \\cdot {rank}$",
        f"rank ${rank}$",
        f"eigenvalue {g3(lam.real.item())}",
        f"has the eigenvalue {g3(1 + lam.real.item())}",
        f"between {g3(scaled[-1])} and {g3(scaled[0])}",
        f"$[{1 - a * norm:.3g}, {1 + a * norm:.3g}]$",
        f"$\\|J_i\\| < 2^{{1/32}} - 1 = {worst_case:.3g}$",
        f"$a\\|J\\| = {a * norm:.3g}$",
        "$s \\lesssim 0.83/\\sqrt L$",
        f"($e - 1 = {math.e - 1:.2f}$ times",
    )


def test_a_stack_of_32_blocks_at_initialization(run):
    r = run("signal_propagation")
    measured = r["measured"]
    settings = defaults("signal_propagation", "propagate")
    depth = settings["depth"]
    assert (depth, settings["width"], settings["batch"]) == (32, 128, 128)
    assert all(len(m["second moment"]) == depth + 1 for m in measured.values())

    def ratios(name):
        m = measured[name]
        return m["second moment"][-1] / m["second moment"][0], m["gradient"][0]

    # no normalization: doubling per block, forward and backward (within 25% over 32)
    fwd, bwd = ratios("residual")
    assert fwd == pytest.approx(2.0**depth, rel=0.25)
    assert bwd == pytest.approx(2.0 ** (depth / 2), rel=0.25)
    per_block_fwd, per_block_bwd = fwd ** (1 / depth), bwd ** (2 / depth)
    assert per_block_fwd == pytest.approx(2, abs=0.03)
    assert per_block_bwd == pytest.approx(2, abs=0.03)
    assert 9 < math.log10(fwd) < 10  # "almost ten orders of magnitude"
    assert 4.5 < math.log10(bwd) < 5  # "almost five orders of magnitude"
    # 1/sqrt(L): (1 + 1/L)^L in expectation; this finite draw lands above e
    fwd_s, bwd_s = ratios("residual, branch / sqrt(L)")
    assert fwd_s == pytest.approx((1 + 1 / depth) ** depth, rel=0.2)
    assert fwd_s > math.e > (1 + 1 / depth) ** depth
    assert bwd_s == pytest.approx((1 + 1 / depth) ** (depth / 2), rel=0.05)
    # batch norm in the branch: q_l = 1 + l; the gradient grows, but far less than 2^16
    fwd_bn, bwd_bn = ratios("residual + BN (pre-activation)")
    assert fwd_bn == pytest.approx(1 + depth, rel=0.05)
    assert math.sqrt(1 + depth) < bwd_bn < 100
    # one scale per layer: q_l = 1 + l too, and the telescoping product gives sqrt(1 + L)
    fwd_sc, bwd_sc = ratios("residual + one scale per layer")
    telescoped = math.prod(1 + 1 / (1 + l) for l in range(depth))
    assert telescoped == pytest.approx(1 + depth)
    assert fwd_sc == pytest.approx(1 + depth, rel=0.25)
    assert bwd_sc == pytest.approx(math.sqrt(telescoped), rel=0.1)
    assert bwd_bn > 3 * bwd_sc  # batch norm's per-unit treatment: a larger gain
    # the per-unit offsets that batch norm subtracts, at the top of its stack
    offsets = measured["residual + BN (pre-activation)"]["offset share"]
    assert 0.2 < offsets < 0.4
    # the control: per-unit centring with one scale recovers most of batch norm's gain
    fwd_c, bwd_c = ratios("residual + centring, one scale")
    assert bwd_c > 3 * bwd_sc and abs(bwd_c - bwd_bn) < 0.2 * bwd_bn
    # no skips: chapter 4's plain batch-normalized network, exploding at ~1.2 per layer
    fwd_pbn, bwd_pbn = ratios("plain + BN (no skip)")
    per_layer_pbn = bwd_pbn ** (1 / (2 * depth))
    assert fwd_pbn == pytest.approx(1, abs=0.01) and bwd_pbn > 1e5 > bwd
    assert per_layer_pbn == pytest.approx(1.205, abs=0.01)  # chapter 4, ReLU
    fwd_orig, bwd_orig = ratios("original block + BN")
    assert 10 < fwd_orig < 100 and 10 < bwd_orig < 100
    # a zero last layer: exactly the identity
    zero = measured["residual, last layer zero"]
    assert zero["second moment"][0] == zero["second moment"][-1]
    assert all(v == 1.0 for v in zero["gradient"])
    # the plain stack keeps the scale on average: within a factor of 4
    fwd_p, bwd_p = ratios("plain (no skip)")
    assert 0.25 < fwd_p < 4 and 0.25 < bwd_p < 4
    assert round(1 / fwd_p) == 4  # "loses a factor of about 4 in variance"
    # the ReLU after the sum: the direct path is open for few coordinates
    open_ = measured["original block + BN"]["identity path open"]
    assert 0.05 < open_ < 0.25
    assert_page_states(
        PAGE,
        "32 blocks of width 128 and a batch of 128 random inputs",
        latex_sci(fwd),
        f"$2^{{32}} = {latex_sci(2.0**32)}$",
        latex_sci(bwd),
        f"$2^{{16}} = {2**16}$",
        f"${fwd_s:.3g}$",
        f"$(1 + 1/32)^{{32}} = {(1 + 1 / 32) ** 32:.3g}$",
        f"$(1 + 1/32)^{{16}} = {(1 + 1 / 32) ** 16:.3g}$",
        f"${bwd_s:.3g}$",
        f"${fwd_bn:.3g}$",
        f"${bwd_bn:.3g}$",
        f"| ${fwd_sc:.3g}$ | $1 + 32 = 33$ | ${bwd_sc:.3g}$ | "
        f"$\\sqrt{{33}} = {math.sqrt(33):.3g}$ |",
        f"measures ${bwd_sc:.3g}$",
        f"$\\sqrt{{33}} = {math.sqrt(33):.3g}$",
        f"${100 * offsets:.0f}\\%$ of $q_{{32}}$",
        f"${fwd_orig:.3g}$",
        f"${bwd_orig:.3g}$",
        f"${fwd_p:.3g}$",
        f"(${bwd_p:.3g}$)",
        f"${per_block_fwd:.3g}$ per block",
        f"${per_block_bwd:.3g}$",
        f"${100 * open_:.1f}\\%$",
        f"other ${100 - 100 * open_:.0f}\\%$",
        "almost five orders",
        "almost ten orders",
        f"over the {2 * depth} layers",
        f"about 4 in variance over {2 * depth} layers of width {settings['width']}",
        f"(one finite draw here: ${fwd_s:.3g}$)",
        f"| ${fwd_c:.3g}$ | $1 + 32 = 33$ | ${bwd_c:.3g}$ |",
        f"grows by ${bwd_c:.3g}$, close to batch norm's ${bwd_bn:.3g}$",
        f"| ${fwd_pbn:.2f}$ | $1$ | ${latex_sci(bwd_pbn)}$ |",
        f"($q_{{32}} / q_0 = {fwd_pbn:.2f}$)",
        f"${latex_sci(bwd_pbn)}$ over the 64 layers,",
        f"${per_layer_pbn:.3f}$ per layer, close to the $1.205$",
        "more than five orders of magnitude",
    )
    # the misconception box and the summary quote the same gradient ratio
    assert PAGE.count(latex_sci(bwd)) >= 3
    # ... and the summary the plain batch-normalized one, next to batch norm with skips
    assert_page_states(
        PAGE, f"(${latex_sci(bwd_pbn)}$ over 64 layers); with the skips it grows by ${bwd_bn:.3g}$"
    )


def test_zero_initialized_branches(run):
    r = run("zero_init_first_steps")
    settings = defaults("zero_init_first_steps", "first_steps")
    for scheme in r.values():
        assert scheme["identity error"] == 0.0  # the blocks are exactly the identity
        assert len(scheme["gradient norms"]) == settings["steps"] == 3
    assert settings["L"] == 4
    assert sum(key.startswith("W1") for key in r["Fixup"]["gradient norms"][0]) == 4

    def kinds(name, step):
        norms = r[name]["gradient norms"][step]
        out = {}
        for key, value in norms.items():
            kind = key.rstrip("0123456789").rstrip()
            out[kind] = max(out.get(kind, 0.0), value)
        return out

    # SkipInit / ReZero: the branch weights wait one step, alpha does not
    s0, s1 = kinds("SkipInit / ReZero", 0), kinds("SkipInit / ReZero", 1)
    assert s0["W1"] == s0["W2"] == 0 and s0["alpha"] > 0
    assert all(v > 0 for v in s1.values())
    # torchvision: the zeroed gamma and its beta learn at once, the rest one step later
    t0 = kinds("torchvision zero_init_residual", 0)
    t1 = kinds("torchvision zero_init_residual", 1)
    assert t0["BN2 gamma"] > 0 and t0["BN2 beta"] > 0
    assert t0["W1"] == t0["W2"] == t0["BN1 gamma"] == t0["BN1 beta"] == 0
    assert all(v > 0 for v in t1.values())
    # Fixup: the zero classifier first; then W2, the stem and the bias after W2; then W1,
    # the multipliers and the three biases in front of W2
    f0, f1, f2 = (kinds("Fixup", t) for t in range(3))
    assert f0["head"] > 0 and all(v == 0 for k, v in f0.items() if k != "head")
    assert f1["W2"] > 0 and f1["stem"] > 0 and f1["bias d"] > 0
    assert f1["W1"] == f1["multiplier"] == f1["bias a"] == f1["bias b"] == f1["bias c"] == 0
    assert all(v > 0 for v in f2.values())
    assert_page_states(
        PAGE, "difference $0$", "**only the classifier**", "4-block MLP for three SGD steps"
    )


def test_which_deep_networks_train(run):
    r = run("trainability")
    settings = defaults("trainability", "train")
    module = snippet_module(CHAPTER, "trainability")
    lr, small_lr = settings["lrs"]
    assert (lr, small_lr) == (0.1, 0.001) and lr / small_lr == pytest.approx(100)
    assert list(r["losses"]) == [lr, small_lr]
    main, small = r["losses"][lr], r["losses"][small_lr]
    assert len(module.VARIANTS) == len(main) == 7
    assert r["settings"] == dict(blocks=16, width=32, points=32, seeds=(0, 1, 2))
    blocks = r["settings"]["blocks"]
    assert_page_states(
        PAGE,
        f"yet {2 * blocks + 2} weight layers (a stem, two per block and a",
        f"$W_1$ scaled by ${blocks}^{{-1/2}}$",  # Fixup: L^(-1/(2m-2)), m = 2
    )
    steps = settings["steps"]
    assert steps == 40 and all(len(run_) == steps for runs in main.values() for run_ in runs)
    nudged = r["nudged"]
    assert nudged["lr"] == lr and nudged["size"] == settings["size"] == 1e-7
    again = nudged["losses"]
    assert list(again) == list(main)

    def last(runs, name):
        return [run_[-1] for run_ in runs[name]]

    def finite(runs, name):
        return [sum(math.isfinite(v) for v in run_) for run_ in runs[name]]

    # the losses at step 0 come from a forward pass at initialization: stated exactly
    first = [run_[0] for run_ in main["residual"]]
    plain_first = [run_[0] for run_ in main["plain (no skip)"]]
    plain_bn_first = [run_[0] for run_ in main["plain + BN"]]
    # identity skips with He branches and nothing else: NaN within two updates, in both
    # copies (the first loss the next update gives is far beyond float32's range)
    assert min(first) > 10
    for runs in (main, again):
        assert all(1 <= n <= 2 for n in finite(runs, "residual"))
        for name in runs:  # every other run keeps a finite loss
            if name != "residual":
                assert finite(runs, name) == [steps] * 3, name
    # Skips plus small branches: the same final loss, to within 1e-4, from nudged weights;
    # without skips the nudge moves the final loss by more than 0.02 in at least one seed
    small_branches = ("residual + BN", "residual, branch / sqrt(L)", "Fixup", "SkipInit / ReZero")
    no_skips = ("plain (no skip)", "plain + BN")
    moved = {
        name: [abs(a - b) for a, b in zip(last(main, name), last(again, name))]
        for name in small_branches + no_skips
    }
    assert max(max(moved[name]) for name in small_branches) < 1e-4
    assert max(max(moved[name]) for name in no_skips) > 0.02
    # the four with small branches: all below 0.2; stated as ranges rounded outwards
    fixed = {name: last(main, name) + last(again, name) for name in small_branches}
    assert max(max(v) for v in fixed.values()) < 0.2
    assert max(fixed["residual + BN"]) < 1e-3
    ranges = {
        "residual, branch / sqrt(L)": (0.01, 0.03),
        "SkipInit / ReZero": (0.03, 0.1),
        "Fixup": (0.05, 0.2),
    }
    for name, (lo, hi) in ranges.items():
        assert lo < min(fixed[name]) and max(fixed[name]) < hi, name
    # the plain networks: no run (of either copy) gets down to where those four end
    plain = last(main, "plain (no skip)") + last(again, "plain (no skip)")
    assert min(plain) > 0.2
    # batch norm without skips: in the median over the seeds, more than ten times higher
    # than the same blocks with their skips, in both copies
    for runs in (main, again):
        assert statistics.median(last(runs, "plain + BN")) > 10 * statistics.median(
            last(runs, "residual + BN")
        )
    # a zero classifier: the first loss is exactly ln 2
    assert all(run_[0] == pytest.approx(math.log(2), abs=1e-6) for run_ in main["Fixup"])
    # a 100 times smaller learning rate: no run diverges, one unscaled network fits
    small_residual = sorted(last(small, "residual"))
    assert all(math.isfinite(v) for runs in small.values() for run_ in runs for v in run_)
    assert small_residual[0] < 0.01 and small_residual[1] > 0.3
    others = {name: last(small, name) for name in small if name != "residual"}
    assert min(min(v) for v in others.values()) > 0.3
    assert_page_states(
        PAGE,
        "Seven networks of 16 blocks, each block two weight layers of width 32",
        "(32 points labelled by a random teacher)",
        "40 full-batch",
        "steps, three seeds, at learning rate $0.1$ for all of them",
        "and once more at learning rate $0.001$",
        "100 times smaller",
        *(f"${v:.3g}$" for v in first),
        "their loss is NaN within two updates",
        f"${plain_first[0]:.3g}$, ${plain_first[1]:.3g}$ and ${plain_first[2]:.3g}$",
        f"${plain_bn_first[0]:.3g}$, ${plain_bn_first[1]:.3g}$ and ${plain_bn_first[2]:.3g}$",
        "no plain run ends below $0.2$",
        "in the median over the seeds, more than ten times higher",
        "nudged by one part in $10^7$",
        "moves by less than $10^{-4}$",
        "by more than $0.02$ in at least one seed",
        # ... and the figure's caption
        "networks fall to between 0.01 and 0.2",
        "sit exactly under their dots",
        "by more than 0.02 in at least one seed",
        "nudged by one part in ten million",
        "fall fastest, to below one in a thousand",
        "Every run of the four remaining variants ends below $0.2$",
        "below $10^{-3}$ in every seed",
        *(
            f"{name} ends between ${lo:g}$ and ${hi:g}$"
            for name, (lo, hi) in (
                ("scale", ranges["residual, branch / sqrt(L)"]),
                ("SkipInit/ReZero", ranges["SkipInit / ReZero"]),
                ("Fixup", ranges["Fixup"]),
            )
        ),
        f"$\\ln 2 = {math.log(2):.3f}$",
        "$2^{16}$",
        "One unscaled residual network ends below $0.01$, the other two above $0.3$",
        "Every other network ends above $0.3$",
    )


def test_highway_gate_bias(run):
    r = run("highway_gate_bias")
    highway = r["highway"]
    settings = defaults("highway_gate_bias", "train")
    assert r["settings"] == {k: settings[k] for k in ("seeds", "steps", "lr")} | {
        "layers": settings["L"],
        "width": settings["n"],
    }
    assert (settings["L"], settings["n"], settings["steps"], settings["lr"]) == (30, 32, 60, 0.5)
    assert len(settings["seeds"]) == 3
    inputs = defaults("highway_gate_bias", "make_task")["n"]
    assert inputs == 32
    assert_page_states(PAGE, f"the {inputs} inputs", f"for all {inputs} inputs")
    assert all(len(run_) == 60 for h in highway.values() for run_ in h["losses"])

    def geo(values):
        return math.exp(sum(math.log(v) for v in values) / len(values))

    rows = {}
    for name, h in highway.items():
        rows[name] = (
            sum(h["mean T at init"]) / 3,
            geo(h["gradient at init"][:, 0].tolist()),
            geo(h["carry path only"][:, 0].tolist()),
            geo(h["spread of x_L / x_0 at init"]),
        )
    biases = {"b_T = -1": -1.0, "b_T = -2": -2.0, "b_T = -3": -3.0}
    for name, b in biases.items():
        mean_t, measured, carry, _ = rows[name]
        assert mean_t == pytest.approx(1 / (1 + math.exp(-b)), abs=0.002)
        predicted = (1 - 1 / (1 + math.exp(-b))) ** 30
        assert carry == pytest.approx(predicted, rel=0.1)
        assert 1 / 2 < measured / carry < 2  # "within a factor of 2" of the carry path
    for mean_t, measured, carry, spread in rows.values():
        assert 1 / 2 < spread / measured < 2  # the signal shrinks like the gradient
    mean_t, measured, carry, spread = rows["default b_T (source)"]
    assert mean_t == pytest.approx(0.5, abs=0.005)
    assert carry == pytest.approx(0.5**30, rel=0.2)
    assert 0.5e-8 < measured < 2e-8 and 0.5e-8 < spread < 2e-8  # "about 10^-8"
    # ... which leaves differences between inputs near float32's resolution, 2^-23
    eps = torch.finfo(torch.float32).eps
    assert eps == 2**-23
    own = highway["default b_T (source)"]["spread of x_L / |x_L| at init"]
    assert all(eps / 3 < v < 3 * eps for v in own)
    assert all(v > 100 * eps for v in highway["b_T = -1"]["spread of x_L / |x_L| at init"])
    residual = geo(r["residual gradient at init"][:, 0].tolist())
    assert residual > 10  # the ungated stack grows instead
    constant = r["constant prediction"]
    stuck = ("default b_T (source)", "b_T = -1", "b_T = -2")
    gap = max(
        abs(run_[-1] - c) for name in stuck for run_, c in zip(highway[name]["losses"], constant)
    )
    assert gap < 0.01
    trained = [run_[-1] for run_ in highway["b_T = -3"]["losses"]]
    assert 0.1 < min(trained) and max(trained) < 0.3 < min(constant)
    # the paper's guideline pairs (b_T, depth): the carry product they allow
    guideline = [(1 + math.exp(b)) ** -d for b, d in ((-1, 10), (-2, 20), (-3, 30))]
    assert all(0.04 < v < 0.25 for v in guideline)
    assert_page_states(
        PAGE,
        "stacks 30 such layers of width 32",
        "learning rate $0.5$, 60 steps, three seeds",
        "60 steps at learning rate $0.5$",
        *(f"${rows[n][0]:.3f}$" for n in highway),
        *(latex_sci(rows[n][k]) for n in ("default b_T (source)", "b_T = -1") for k in (1, 2, 3)),
        *(f"${rows[n][k]:.3g}$" for n in ("b_T = -2", "b_T = -3") for k in (1, 2, 3)),
        f"$0.5^{{30}} = {latex_sci(0.5**30)}$",
        latex_sci((1 - 1 / (1 + math.exp(1))) ** 30),
        *(f"${(1 - 1 / (1 + math.exp(-b))) ** 30:.3g}$" for b in (-2.0, -3.0)),
        f"by ${residual:.3g}$",
        "within $0.01$",
        "about $10^{-8}$",
        "the three seeds end between $0.1$ and $0.3$",
        "of order $10^{-7}$ of $x_{30}$'s own size (in every",
        f"($2^{{-23}} = {latex_sci(eps)}$)",
        f"$(1 + e^{{-1}})^{{-10}} = {guideline[0]:.3g}$",
        f"$(1 + e^{{-2}})^{{-20}} = {guideline[1]:.3g}$",
        f"$(1 + e^{{-3}})^{{-30}} = {guideline[2]:.3g}$",
    )
