"""The numbers that chapter 5 states, recomputed by its snippets."""

import math

import pytest
from conftest import assert_page_states, latex_sci, page

CHAPTER = "05-skip-connections"
PAGE = page(CHAPTER)


def g3(x):
    return f"${x:.3g}$"


def test_one_block_jacobian(run):
    r = run("block_jacobian")
    assert r["max |I + J - autograd|"] < 1e-15
    branch = r["spectra"]["J (branch)"]
    block = r["spectra"]["I + J (block)"]
    scaled = r["spectra"]["I + J/sqrt(32)"]
    norm, a = r["||J||"], r["a = 1/sqrt(L)"]
    assert branch[0].item() == pytest.approx(norm)
    # D1 and D2 switch off units: more than half of J's singular values are 0
    assert (branch < 1e-10).sum().item() > len(branch) / 2
    # the block is far from an isometry, in both directions
    assert block[0] > 3 and block[-1] < 0.01
    below = (block < 1).sum().item()
    assert 0 < below < len(block)
    # the nearly cancelled direction: an eigenvalue of J with real part near -1
    assert -1.2 < r["min real eigenvalue of J"] < -0.8
    # Weyl: every singular value of I + aJ lies in [1 - a||J||, 1 + a||J||]
    assert 1 - a * norm <= scaled[-1] <= scaled[0] <= 1 + a * norm
    lower, upper = 1 - r["scales"] * norm, 1 + r["scales"] * norm
    assert (r["sigma_min"] >= lower - 1e-12).all()
    assert (r["sigma_max"] <= upper + 1e-12).all()
    assert 1 - norm < 0  # at a = 1 the lower bound says nothing
    assert a == 1 / math.sqrt(32)
    assert_page_states(
        PAGE,
        "to within $10^{-15}$",
        f"$\\|J\\| = {norm:.3g}$",
        g3(block[-1]),
        g3(block[0]),
        f"${below}$ of the ${len(block)}$",
        g3(r["min real eigenvalue of J"]),
        f"between {g3(scaled[-1])} and {g3(scaled[0])}",
        f"$[{1 - a * norm:.3g}, {1 + a * norm:.3g}]$",
    )


def test_a_stack_of_32_blocks_at_initialization(run):
    r = run("signal_propagation")
    measured, predicted = r["measured"], r["predicted"]
    depth = 32

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
    # 1/sqrt(L): (1 + 1/L)^L, below e; the gradient (1 + 1/L)^(L/2)
    fwd_s, bwd_s = ratios("residual, branch / sqrt(L)")
    assert fwd_s == pytest.approx((1 + 1 / depth) ** depth, rel=0.2) and fwd_s < math.e + 0.5
    assert bwd_s == pytest.approx((1 + 1 / depth) ** (depth / 2), rel=0.05)
    # batch norm in the branch: q_l = 1 + l; the gradient grows, but far less than 2^16
    fwd_bn, bwd_bn = ratios("residual + BN (pre-activation)")
    assert fwd_bn == pytest.approx(1 + depth, rel=0.05)
    assert math.sqrt(1 + depth) < bwd_bn < 100
    fwd_orig, bwd_orig = ratios("original block + BN")
    assert 10 < fwd_orig < 100 and 10 < bwd_orig < 100
    # a zero last layer: exactly the identity
    zero = measured["residual, last layer zero"]
    assert zero["second moment"][0] == zero["second moment"][-1]
    assert all(v == 1.0 for v in zero["gradient"])
    # the plain stack keeps the scale on average: within a factor of 4
    fwd_p, bwd_p = ratios("plain (no skip)")
    assert 0.25 < fwd_p < 4 and 0.25 < bwd_p < 4
    # the ReLU after the sum: the direct path is open for few coordinates
    open_ = measured["original block + BN"]["identity path open"]
    assert 0.05 < open_ < 0.25
    assert predicted["residual"][0][-1] == 2.0**32
    assert_page_states(
        PAGE,
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
        f"$\\sqrt{{33}} = {math.sqrt(33):.3g}$",
        f"${fwd_orig:.3g}$",
        f"${bwd_orig:.3g}$",
        f"${fwd_p:.3g}$",
        f"${bwd_p:.3g}$",
        f"${per_block_fwd:.3g}$ per block",
        f"${per_block_bwd:.3g}$",
        f"${100 * open_:.1f}\\%$",
        f"other ${100 - 100 * open_:.0f}\\%$",
        "almost five orders",
    )
    assert 4.5 < math.log10(bwd) < 5  # "almost five orders of magnitude"
    # the misconception box quotes the same gradient ratio
    assert PAGE.count(latex_sci(bwd)) >= 3


def test_zero_initialized_branches(run):
    r = run("zero_init_first_steps")
    for scheme in r.values():
        assert scheme["identity error"] == 0.0  # the blocks are exactly the identity

    def kinds(name, step):
        norms = r[name]["gradient norms"][step]
        out = {}
        for key, value in norms.items():
            kind = key.rstrip("0123456789").rstrip()
            kind = "bias" if kind.startswith("bias") else kind
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
    # Fixup: the zero classifier first, then W2 (and the stem), then W1 and the multiplier
    f0, f1, f2 = (kinds("Fixup", t) for t in range(3))
    assert f0["head"] > 0 and all(v == 0 for k, v in f0.items() if k != "head")
    assert f1["W2"] > 0 and f1["stem"] > 0 and f1["bias"] > 0
    assert f1["W1"] == 0 and f1["multiplier"] == 0
    assert all(v > 0 for v in f2.values())
    assert_page_states(PAGE, "difference $0$", "**only the classifier**")


def test_which_deep_networks_train(run):
    r = run("trainability")
    finite = {
        name: [sum(math.isfinite(v) for v in run_) for run_ in runs] for name, runs in r.items()
    }
    steps = len(r["plain (no skip)"][0])
    # identity skips with He branches and nothing else: NaN within two updates
    assert all(n <= 2 for n in finite["residual"])
    first = [run_[0] for run_ in r["residual"]]
    assert min(first) > 10
    # every other run keeps a finite loss
    for name, counts in finite.items():
        if name != "residual":
            assert counts == [steps] * 3
    plain = [run_[-1] for run_ in r["plain (no skip)"]]
    fixed = {
        name: [run_[-1] for run_ in r[name]]
        for name in ("residual + BN", "residual, branch / sqrt(L)", "Fixup", "SkipInit / ReZero")
    }
    assert min(plain) > 0.45 and max(max(v) for v in fixed.values()) < 0.15
    assert max(fixed["residual + BN"]) < 1e-3
    # a zero classifier: the first loss is exactly ln 2
    assert all(run_[0] == pytest.approx(math.log(2), abs=1e-6) for run_ in r["Fixup"])
    span = {k: f"between ${min(v):.3g}$ and ${max(v):.3g}$" for k, v in fixed.items()}
    assert_page_states(
        PAGE,
        *(f"${v:.3g}$" for v in first),
        f"NaN after {', '.join(str(n) for n in finite['residual'][:-1])} and "
        f"{finite['residual'][-1]} updates",
        f"${plain[0]:.3g}$, ${plain[1]:.3g}$ and ${plain[2]:.3g}$",
        "ends below $0.15$",
        "below $10^{-3}$ in every seed",
        span["residual, branch / sqrt(L)"],
        span["SkipInit / ReZero"],
        span["Fixup"],
        f"$\\ln 2 = {math.log(2):.3f}$",
        "learning rate $0.1$",
        "40 full-batch steps",
        "$2^{16}$",
    )


def test_highway_gate_bias(run):
    r = run("highway_gate_bias")
    highway = r["highway"]

    def geo(values):
        return values.log().mean().exp().item()

    rows = {}
    for name, h in highway.items():
        rows[name] = (
            sum(h["mean T at init"]) / 3,
            geo(h["gradient at init"][:, 0]),
            geo(h["carry path only"][:, 0]),
        )
    biases = {"b_T = -1": -1.0, "b_T = -2": -2.0, "b_T = -3": -3.0}
    for name, b in biases.items():
        mean_t, measured, carry = rows[name]
        assert mean_t == pytest.approx(1 / (1 + math.exp(-b)), abs=0.002)
        predicted = (1 - 1 / (1 + math.exp(-b))) ** 30
        assert carry == pytest.approx(predicted, rel=0.1)
        assert 1 / 2 < measured / carry < 2  # "within a factor of 2" of the carry path
    mean_t, measured, carry = rows["default b_T (source)"]
    assert mean_t == pytest.approx(0.5, abs=0.005)
    assert carry == pytest.approx(0.5**30, rel=0.2) and measured < 1e-7
    residual = geo(r["residual gradient at init"][:, 0])
    assert residual > 10  # the ungated stack grows instead
    constant = r["constant prediction"]
    stuck = ("default b_T (source)", "b_T = -1", "b_T = -2")
    gap = max(
        abs(run_[-1] - c) for name in stuck for run_, c in zip(highway[name]["losses"], constant)
    )
    assert gap < 0.01
    trained = [run_[-1] for run_ in highway["b_T = -3"]["losses"]]
    assert max(trained) < 0.4 < min(constant)
    # the paper's guideline pairs (b_T, depth): the carry product they allow
    guideline = [(1 + math.exp(b)) ** -d for b, d in ((-1, 10), (-2, 20), (-3, 30))]
    assert all(0.04 < v < 0.25 for v in guideline)
    assert_page_states(
        PAGE,
        *(f"${rows[n][0]:.3f}$" for n in highway),
        *(latex_sci(rows[n][1]) for n in ("default b_T (source)", "b_T = -1")),
        *(latex_sci(rows[n][2]) for n in ("default b_T (source)", "b_T = -1")),
        *(f"${rows[n][1]:.3g}$" for n in ("b_T = -2", "b_T = -3")),
        *(f"${rows[n][2]:.3g}$" for n in ("b_T = -2", "b_T = -3")),
        f"$0.5^{{30}} = {latex_sci(0.5**30)}$",
        latex_sci((1 - 1 / (1 + math.exp(1))) ** 30),
        *(f"${(1 - 1 / (1 + math.exp(-b))) ** 30:.3g}$" for b in (-2.0, -3.0)),
        f"by ${residual:.3g}$",
        "within $0.01$",
        f"${trained[0]:.3g}$, ${trained[1]:.3g}$ and ${trained[2]:.3g}$",
        f"$(1 + e^{{-1}})^{{-10}} = {guideline[0]:.3g}$",
        f"$(1 + e^{{-2}})^{{-20}} = {guideline[1]:.3g}$",
        f"$(1 + e^{{-3}})^{{-30}} = {guideline[2]:.3g}$",
        "learning rate $0.5$, 60 steps",
    )
