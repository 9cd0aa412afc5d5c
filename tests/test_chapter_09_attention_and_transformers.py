"""The numbers that chapter 9 states, recomputed by its snippets."""

import math

import pytest
from conftest import assert_page_states, latex_sci, page

CHAPTER = "09-attention-and-transformers"
PAGE = page(CHAPTER)


def test_path_length(run):
    r = run("path_length")
    assert r["T"] == [2, 4, 8, 16, 32, 64, 128]
    assert r["settings"] == dict(width=32, batch=8, seed=0)
    rnn, attention, p, value = r["RNN"], r["attention"], r["p_T1"], r["value path"]
    # the RNN falls geometrically: every doubling of T costs more than the one before
    steps = [math.log(a / b) for a, b in zip(rnn, rnn[1:])]
    assert all(b > a > 0 for a, b in zip(steps, steps[1:]))
    assert rnn[-1] < 1e-40 and r["RNN factor per step"] < r["W_hh spectral radius"] < 1
    # attention: roughly like 1/T, p_T1 close to 1/T, and the value path carries most of it
    assert all(0.7 < pt * T < 1.3 for pt, T in zip(p, r["T"]))
    assert all(0.6 < v / a < 1 for v, a in zip(value, attention))
    assert 30 < attention[0] / attention[-1] < 100  # T grows 64-fold
    # the closed form of dy_T/dx_1 agrees with autograd
    assert r["max |formula - autograd|"] < 1e-15
    assert_page_states(
        PAGE,
        "width 32) and one self-attention layer",
        "(`nn.MultiheadAttention`, one head, width 32",
        "$T = 2$ to $128$ inputs",
        "geometric mean over 8 sequences",
        f"$\\lVert \\partial y_T / \\partial x_1 \\rVert = {latex_sci(rnn[-1])}$",
        f"a factor of ${r['RNN factor per step']:.3g}$ per step",
        f"spectral radius ${r['W_hh spectral radius']:.3g}$",
        f"layer gives ${attention[-1]:.3g}$ at the same length",
        "to about 10 to the minus 44 at T = 128",
        "agree to within $10^{-15}$",
        f"is ${p[-1]:.3g}$ against $1/128 = {1 / 128:.3g}$",
        f"$\\lVert W_o W_v \\rVert = {r['||W_o W_v||']:.3g}$",
        "falls roughly like $1/T$",
        "accounts for most of it",
        f"fell to ${latex_sci(rnn[-1])}$ over 128 steps; one attention layer passed "
        f"${attention[-1]:.3g}$",
    )
    assert round(math.log10(rnn[-1])) == -44


def test_softmax_saturation(run):
    r = run("softmax_saturation")
    assert r["d_k"] == [16, 32, 64, 128, 256, 512, 1024]
    assert r["settings"]["keys"] == 64
    u, s = r["unscaled"], r["scaled"]
    # unscaled: variance d_k; scaled: 1 (within the sampling error of 8 x 64 x 64 logits)
    for d_k, vu, vs in zip(r["d_k"], u["logit variance"], s["logit variance"]):
        assert 0.9 < vu / d_k < 1.1 and 0.9 < vs < 1.1
    # the Jacobian vanishes without the scale, and stays the same with it
    assert all(b < a for a, b in zip(u["median ||J||"][1:], u["median ||J||"][2:]))
    assert max(s["median ||J||"]) / min(s["median ||J||"]) < 1.03
    assert 0.25 < u["median ||J||"][0] < 0.35 and 1.5e-4 < u["median ||J||"][-1] < 2.5e-4
    assert max(s["rows above 0.99"]) == 0
    assert max(s["median ||dL/dq||"]) / min(s["median ||dL/dq||"]) < 1.1
    # SDPA's default scale is 1/sqrt(d_k), and it multiplies dL/dq by 1/sqrt(d_k)
    assert r["max |SDPA - by hand|"] < 1e-14
    assert all(abs(x - 0.125) < 1e-12 for x in r["dL/dq scaled / dL/dq of the pre-scaled query"])
    assert_page_states(
        PAGE,
        "64 keys per query, $d_k = 16$ to $1024$",
        f"variance ${latex_sci(u['logit variance'][-1])}$",
        f"is ${u['mean max p'][-1]:.3g}$ on average, ${100 * u['rows above 0.99'][-1]:.0f}\\%$",
        f"= {latex_sci(u['median ||J||'][-1])}$",
        f"${s['logit variance'][-1]:.3g}$, largest weight ${s['mean max p'][-1]:.3g}$",
        f"no row above $0.99$, Jacobian ${s['median ||J||'][-1]:.3f}$",
        f"${latex_sci(u['median ||dL/dq||'][-1])}$ without the scale and "
        f"${s['median ||dL/dq||'][-1]:.3g}$ with it",
        "agree to within $10^{-14}$",
        "differ by the factor $1/8$, to rounding",
        "from about 16 to about 1000",
        "from about 0.3 to about 2 times 10 to the minus 4",
        "stays near 0.18",
    )


def test_logit_growth(run):
    r = run("logit_growth")
    assert r["settings"] == dict(d=64, tokens=32, batch=8, seed=0)
    c = r["c"]
    i1, i4, i16 = c.index(1.0), c.index(4.0), c.index(16.0)
    s, q = r["standard"], r["QK-norm"]
    assert s["logit std"][i1] == pytest.approx(1.0, abs=0.005)
    # logits grow like c^2
    for k, ck in enumerate(c):
        assert s["logit std"][k] == pytest.approx(ck**2 * s["logit std"][i1], rel=1e-9)
    # QK-norm: the same logits, weights and Jacobian at every c; the gradient like 1/c
    # (LayerNorm's eps = 1e-5 makes them differ in the fifth digit, no more)
    assert max(q["logit std"]) / min(q["logit std"]) < 1 + 1e-4
    assert max(q["median ||J||"]) / min(q["median ||J||"]) < 1 + 1e-4
    assert q["median ||dL/dq_i||"][i1] / q["median ||dL/dq_i||"][i16] == pytest.approx(16, rel=0.01)
    assert s["median max p"][0] < 0.06 and s["median max p"][i4] > 0.99
    assert all(v == pytest.approx(0.143, abs=0.0005) for v in q["median max p"])
    assert s["median ||J||"][i16] < 1e-33 and s["median ||dL/dq_i||"][i16] < 1e-30
    # the total gradient of W_q does not vanish: it grows, carried by a few queries
    assert s["||dL/dW_q||"][i16] > 3 * s["||dL/dW_q||"][i1]
    assert s["share of the 10 largest"][i16] > 0.999 and s["share of the 10 largest"][i1] < 0.2
    assert s["their median logit gap"][i16] < s["median logit gap"][i16] / 10
    assert_page_states(
        PAGE,
        "($d = d_k = 64$, 8 sequences of 32 tokens)",
        f"standard deviation ${s['logit std'][i4]:.3g}$ instead of ${s['logit std'][i1]:.2f}$",
        f"puts ${s['median max p'][i4]:.3f}$ of its weight",
        f"fallen from ${s['median ||J||'][i1]:.3g}$ to ${s['median ||J||'][i4]:.3g}$",
        f"at $c = 16$ it is {latex_sci(s['median ||J||'][i16]).join('$$')}",
        f"from ${s['median ||dL/dq_i||'][i1]:.2f}$ at $c = 1$ to "
        f"${latex_sci(s['median ||dL/dq_i||'][i16])}$ at $c = 16$",
        f"standard deviation is ${q['logit std'][i1]:.3g}$ and the Jacobian "
        f"${q['median ||J||'][i1]:.3g}$ at every $c$",
        f"(from ${q['median ||dL/dq_i||'][i1]:.3g}$ to ${q['median ||dL/dq_i||'][i16]:.3g}$)",
        f"from ${s['||dL/dW_q||'][i1]:.3g}$ at $c = 1$ to "
        f"${latex_sci(s['||dL/dW_q||'][i16])}$ at $c = 16$",
        f"${100 * s['queries above 0.99'][i16]:.0f}\\%$ of the queries",
        f"The 10 queries (of {8 * 32}) with the",
        f"carry ${100 * s['share of the 10 largest'][i16]:.2f}\\%$ of its square "
        f"(${100 * s['share of the 10 largest'][i1]:.0f}\\%$ at $c = 1$)",
        f"a gap of ${s['their median logit gap'][i16]:.3g}$ in the median, against "
        f"${s['median logit gap'][i16]:.3g}$ over all queries",
        f"median row is ${s['median max p'][i4]:.3f}$ one-hot",
        "from about 0.05 to 1",
        "close to 1 by c = 4",
        "stays at 0.14",
        "below 10 to the minus 34 at c = 16",
    )
    assert s["median ||J||"][i16] < 1e-34


def test_layernorm_placement(run):
    r = run("layernorm_placement")
    assert r["depths"] == [3, 6, 12, 24, 48] and r["profile depth"] == 12
    assert r["settings"] == dict(seeds=(0, 1, 2), d=32, heads=4, ff=128, batch=4, tokens=16)
    post, pre = r["Post-LN"]["per layer"], r["Pre-LN"]["per layer"]
    ratio = r["Post/Pre, last layer"]
    # Post-LN: about the same in every layer; Pre-LN: falling towards the output
    assert max(post) / min(post) < 1.5 and pre[0] / pre[-1] > 2
    # the ratio of the last layers grows with the depth, in every seed too
    assert all(b > a for a, b in zip(ratio, ratio[1:]))
    for L in (3, 48):
        seeds_post = r["Post-LN"]["last layer, per seed"][L]
        seeds_pre = r["Pre-LN"]["last layer, per seed"][L]
        assert all(a > b for a, b in zip(seeds_post, seeds_pre))
    growth = ratio[-1] / ratio[0]
    assert 3 < growth < 6  # sqrt(48 / 3) = 4
    assert_page_states(
        PAGE,
        "in stacks of 3 to 48 layers ($d = 32$, 4 heads, feed-forward width 128",
        "4 sequences of 16 random tokens",
        "three seeds, float64",
        f"between ${min(post):.2f}$ and ${max(post):.2f}$",
        f"from ${pre[0]:.2f}$ at layer 1 to ${pre[-1]:.2f}$ at layer 12",
        f"${ratio[0]:.3g}$ times Pre-LN's at 3 layers and ${ratio[-1]:.3g}$ times at 48",
        f"$\\sqrt{{16}} = 4$ times the ratio (${growth:.3g}$)",
        f"divides the last layer's gradient by ${ratio[-1]:.3g}$",
        "about 1 in every layer for Post-LN",
        f"from about {pre[0]:.2f} at layer 1 to about {pre[-1]:.2f} at layer 12",
        f"rising from about {ratio[0]:.1f} to about {ratio[-1]:.1f}",
    )


def test_residual_scaling(run):
    r = run("residual_scaling")
    assert r["L"] == 48
    assert r["settings"] == dict(seeds=(0, 1, 2), d=32, heads=4, ff=128, batch=4, tokens=16)
    plain, scaled = r["Pre-LN"], r["Pre-LN, GPT-2 scaling"]
    q, qs = plain["mean square"], scaled["mean square"]
    w, ws = plain["||dL/dW_2||"], scaled["||dL/dW_2||"]
    product = r["Pre-LN ||dL/dW_2|| sqrt(q_l)"]
    assert all(b > a for a, b in zip(q[::6], q[6::6]))  # grows, layer after layer
    assert qs[-1] - qs[0] < r["Pre-LN growth per layer"]  # less than one unscaled layer
    assert w[0] / w[-1] > 3 and max(ws) / min(ws) < 1.25
    assert max(product) / min(product) < 1.4
    assert_page_states(
        PAGE,
        f"grows by ${r['Pre-LN growth per layer']:.3g}$ per layer",
        f"from ${q[0]:.3g}$ at the input to ${q[-1]:.3g}$ after 48 layers",
        f"falls from ${w[0]:.3g}$ in the first layer to ${w[-1]:.3g}$ in the last",
        f"stays between ${min(product):.2f}$ and ${max(product):.2f}$",
        f"the stream ends at ${qs[-1]:.3g}$",
        f"goes from ${ws[0]:.3g}$ to ${ws[-1]:.3g}$",
        f"from 1 to about {q[-1]:.0f} without scaling",
        f"falls from about {w[0]:.2f} to about {w[-1]:.2f} without scaling",
        "stays between about 0.6 and 0.7 with it",
    )
    assert 0.55 < min(ws) and max(ws) < 0.75  # "between about 0.6 and 0.7"
