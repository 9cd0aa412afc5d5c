"""The numbers that chapter 8 states, recomputed by its snippets."""

import functools
import inspect
import math
import statistics

import pytest
import torch
from conftest import (
    assert_page_states,
    latex_sci,
    page,
    snippet_defaults,
    snippet_module,
)

CHAPTER = "08-recurrent-networks"
PAGE = page(CHAPTER)
LN2 = math.log(2)


def g3(x):
    return f"${x:.3g}$"


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


defaults = functools.partial(snippet_defaults, CHAPTER)


def final(losses):
    """How the page reads the end of a run: the mean loss over its last 10 steps."""
    return sum(losses[-10:]) / 10


def orders(ratio):
    return math.log10(ratio)


def test_an_rnn_that_cannot_remember(run):
    r = run("remember_first_input")
    settings = defaults("remember_first_input", "train")
    assert (settings["steps"], settings["batch"], settings["hidden"]) == (100, 32, 32)
    assert settings["lr"] == 0.003
    assert defaults("remember_first_input", "experiment") == {
        "lengths": (10, 50),
        "seeds": (0, 1, 2),
    }
    assert all(len(losses) == 100 for runs in r.values() for losses in runs)
    # T = 10: every seed learns; T = 50: every seed stays at ln 2
    assert max(final(losses) for losses in r[10]) < 0.01
    assert min(min(losses[10:]) for losses in r[50]) > 0.6
    assert max(abs(final(losses) - LN2) for losses in r[50]) < 0.02
    assert_page_states(
        PAGE,
        "A tanh `nn.RNN` with 32 hidden units and PyTorch's default initialization",
        "learns it with Adam (learning rate $0.003$) on fresh batches of 32 sequences, 100 steps,",
        "three seeds, at $T = 10$ and at $T = 50$",
        "At $T = 10$ every seed ends below $0.01$.",
        "At $T = 50$ no run gets below $0.6$ after its first 10 steps",
        f"$\\ln 2 = {LN2:.3f}$",
        # the caption and the alt text
        "at $T = 50$ every seed stays at $\\ln 2$",
        "fall below one in a hundred",
    )


def test_the_page_checks_pytorchs_rnn_convention():
    """The column form on the page is PyTorch's row form, with W_hh = weight_hh_l0."""
    rnn = torch.nn.RNN(3, 5)
    assert rnn.weight_hh_l0.shape == (5, 5) and rnn.weight_ih_l0.shape == (5, 3)
    assert_page_states(
        PAGE,
        "$h_t = \\tanh(x_t W_{ih}^\\top + b_{ih} + h_{t-1} W_{hh}^\\top + b_{hh})$",
        "where $W_{hh}$ **is** `weight_hh_l0`",
    )


def test_the_gradient_against_the_sequence_length(run):
    r = run("gradient_vs_length")
    module = snippet_module(CHAPTER, "gradient_vs_length")
    assert module.SCALES == (0.5, 1.0, 2.0, 4.0)
    assert r["lengths"][0] == 1 and r["lengths"][-1] == 100
    assert defaults("gradient_vs_length", "scaled_rnn") == {
        "scale": inspect.Parameter.empty,
        "g": inspect.Parameter.empty,
        "n_in": 4,
        "hidden": 32,
    }
    assert defaults("gradient_vs_length", "experiment")["batch"] == 32
    T = r["lengths"]
    s = r["scales"]
    default, half, double, quad = s[1.0], s[0.5], s[2.0], s[4.0]
    # one input step is the same for every scale: W_hh does not enter yet
    assert all(v["rms"][0].item() == default["rms"][0].item() for v in s.values())
    first = default["rms"][0].item()
    at = {t: default["rms"][T.index(t)].item() for t in (50, 100)}
    # Pascanu et al.: below 1/gamma = 1 the bound holds for every sequence, at every T
    assert half["s_max(W_hh)"] < 1
    assert (half["largest over the batch"] <= half["bound"] * (1 + 1e-9)).all()
    # above 1 and still vanishing: the condition is only necessary for exploding
    for v in (default, double):
        assert v["s_max(W_hh)"] > 1 and v["rms"][-1] < 1e-4 * v["rms"][0]
    assert (default["rms"][1:] < default["rms"][:-1]).all()  # falls at every length
    assert quad["rms"][-1] > 1e8 * quad["rms"][0]
    assert 14.5 < orders(first / at[50]) < 15
    assert 29 < orders(first / at[100]) < 30  # the LSTM section's "almost thirty"
    assert default["spectral radius"] < 1 / math.sqrt(3) < default["s_max(W_hh)"]
    assert_page_states(
        PAGE,
        "the same `nn.RNN` (32 units, 4 inputs, PyTorch's default initialization, in float64), 32 "
        "random sequences",
        "Then it multiplies $W_{hh}$ by $0.5$, $2$ and $4$.",
        f"It is ${first:.3g}$ at $T = 1$, ${latex_sci(at[50])}$ at $T = 50$ and "
        f"${latex_sci(at[100])}$ at $T = 100$",
        "almost fifteen orders of magnitude smaller",
        f"to ${latex_sci(double['rms'][-1].item())}$ at $T = 100$",
        f"to ${latex_sci(quad['rms'][T.index(50)].item())}$ at $T = 50$ and "
        f"${latex_sci(quad['rms'][-1].item())}$ at $T = 100$",
        f"At scale $0.5$, $s_{{\\max}} = {half['s_max(W_hh)']:.3g}$",
        "every one of the 32 sequences lies below it at every $T$",
        f"PyTorch's default has $s_{{\\max}} = {default['s_max(W_hh)']:.3g}$ and scale 2 has "
        f"${double['s_max(W_hh)']:.3g}$",
        f"The default $W_{{hh}}$ has $s_{{\\max}} = {default['s_max(W_hh)']:.3g}$",
        f"its *spectral radius*, is ${default['spectral radius']:.3g}$",
        f"$1/\\sqrt 3 = {1 / math.sqrt(3):.3f}$",
        # the summary
        f"falls from ${first:.3g}$ at $T = 1$ to ${latex_sci(at[100])}$ at $T = 100$",
    )


def test_the_lstm_gradient_against_the_sequence_length(run):
    r = run("lstm_gradient_vs_length")
    module = snippet_module(CHAPTER, "lstm_gradient_vs_length")
    assert module.VARIANTS == {
        "LSTM, default": (None, 1.0),
        "LSTM, b_f = 1": (1.0, 1.0),
        "LSTM, b_f = 3": (3.0, 1.0),
        "LSTM, b_f = 3, W_hh x 8": (3.0, 8.0),
    }
    H = defaults("lstm_gradient_vs_length", "experiment")["H"]
    assert H == 32
    T = r["lengths"]
    v = r["variants"]
    # the RNN is the previous snippet's default, on the same sequences and readout
    rnn = run("gradient_vs_length")["scales"][1.0]["rms"]
    assert torch.equal(v["RNN, default"]["rms"], rnn)
    lstms = {k: x for k, x in v.items() if k.startswith("LSTM")}
    # the equations on the page are nn.LSTM's
    assert max(x["max |h - nn.LSTM|"] for x in lstms.values()) < 1e-10
    # the forget-gate bias is b_f in total, PyTorch's draw otherwise
    for name, (b_f, _) in module.VARIANTS.items():
        bias = lstms[name]["forget-gate bias (both slices)"]
        if b_f is None:
            assert bias.abs().max() <= 2 / math.sqrt(H)
        else:
            assert (bias == b_f).all()
    default, one, three = (lstms[f"LSTM, {k}"] for k in ("default", "b_f = 1", "b_f = 3"))
    big = lstms["LSTM, b_f = 3, W_hh x 8"]
    first = default["rms"][0].item()
    assert all(x["rms"][0].item() == first for x in lstms.values())
    assert 20.5 < orders(first / default["rms"][-1].item()) < 21.5
    # bias 3: level over the whole range, within a factor of 3 of T = 1
    assert (three["rms"] < 3 * first).all() and (three["rms"] > first / 3).all()
    # W_hh x 8: more than two orders within 30 steps, and higher still at T = 100
    at30 = big["rms"][T.index(30)].item()
    assert at30 > 100 * first and big["rms"][-1] > at30
    assert big["direct path at T = 100"] < 1  # the direct path can only shrink
    assert_page_states(
        PAGE,
        "agree with `nn.LSTM` to\nwithin $10^{-10}$",
        f"From ${first:.3g}$ at $T = 1$ to ${latex_sci(default['rms'][-1].item())}$ at\n"
        f"  $T = 100$: twenty-one orders of magnitude, against the RNN's almost thirty",
        f"Its forget gates average\n  ${default['mean forget gate']:.3f}$",
        f"the forget gates average\n  ${one['mean forget gate']:.3f}$ and the gradient at "
        f"$T = 100$ is ${latex_sci(one['rms'][-1].item())}$",
        f"they average\n  ${three['mean forget gate']:.3f}$ and the gradient is "
        f"${three['rms'][T.index(50)].item():.3g}$ at $T = 50$ and "
        f"${three['rms'][-1].item():.3g}$ at $T = 100$",
        f"the gradient reaches ${big['rms'][T.index(50)].item():.3g}$ at $T = 50$ and "
        f"${big['rms'][-1].item():.3g}$ at $T = 100$",
        f"the measured gradient at $T = 100$ is ${latex_sci(default['rms'][-1].item())}$",
        "twenty-one orders of magnitude below its value at $T = 1$",
        f"recurrent weights has a gradient at $T = 100$ of ${big['rms'][-1].item():.3g}$",
        "$\\sigma(0) = 0.5$",
        f"$\\sigma(3) = {sigmoid(3):.3f}$",
        "climbs by more than two orders of magnitude in the first 30 steps",
    )


def test_the_lstm_learns_with_forget_gate_bias_3(run):
    r = run("lstm_remembers")
    settings = defaults("lstm_remembers", "train")
    assert (settings["T"], settings["steps"], settings["batch"]) == (50, 100, 32)
    assert settings["lr"] == 0.003
    assert defaults("lstm_remembers", "lstm_classifier")["hidden"] == 32
    assert defaults("lstm_remembers", "experiment")["seeds"] == (0, 1, 2)
    assert list(r) == ["default", "b_f = 3"]
    assert min(min(losses[10:]) for losses in r["default"]) > 0.6
    assert max(final(losses) for losses in r["b_f = 3"]) < 0.05
    assert_page_states(
        PAGE,
        "`nn.LSTM` with 32\nunits, the same readout and the same training (Adam, $0.003$, 100 "
        "steps, three seeds)",
        "With PyTorch's default initialization, no run gets below $0.6$ after its first\n10 steps. "
        "With $b_f = 3$ every seed ends below $0.05$",
        "with $b_f = 3$ every seed learns",
    )


def test_the_pages_pytorch_facts():
    """What the page says about nn.LSTM and nn.GRU's parameters, checked on the modules."""
    H = 4
    lstm, gru = torch.nn.LSTM(2, H), torch.nn.GRU(2, H)
    assert lstm.weight_hh_l0.shape == (4 * H, H) and lstm.bias_hh_l0.shape == (4 * H,)
    assert gru.weight_hh_l0.shape == (3 * H, H)
    assert not hasattr(lstm, "weight")
    assert_page_states(
        PAGE,
        "**stacked in the order $i, f, g, o$**, so the forget gate is rows $H$ to $2H - 1$",
        "draws **every** parameter from\n$\\mathcal U(-1/\\sqrt H, 1/\\sqrt H)$",
        "with the gates\nstacked $r, z, n$",
        "$h_t = (1 - z_t) \\odot n_t + z_t \\odot h_{t-1}$",
    )


def test_clipping_an_lstm(run):
    r = run("lstm_clipping")
    settings = defaults("lstm_clipping", "train")
    assert settings == {
        "max_norm": inspect.Parameter.empty,
        "seed": inspect.Parameter.empty,
        "T": 25,
        "steps": 100,
        "batch": 32,
        "lr": 0.2,
    }
    assert list(defaults("lstm_clipping", "experiment")["seeds"]) == list(range(8))
    assert defaults("lstm_clipping", "lstm_classifier") == {
        "g": inspect.Parameter.empty,
        "b_f": 3.0,
        "hidden": 32,
    }
    assert r["max norms"] == {"no clipping": None, "clipped at 1": 1.0}
    free, clipped = r["runs"]["no clipping"], r["runs"]["clipped at 1"]
    assert len(free) == len(clipped) == 8
    # the unclipped median run fails, every clipped one learns
    assert statistics.median(final(x["losses"]) for x in free) > 0.5
    assert max(final(x["losses"]) for x in clipped) < 0.05

    def spike(x):
        return max(x["norms"]) / statistics.median(x["norms"])

    assert min(spike(x) for x in free + clipped) > 3
    assert min(spike(x) for x in clipped) > 10
    assert max(sum(n > 1 for n in x["norms"]) for x in clipped) < 100 / 3
    assert_page_states(
        PAGE,
        "on the task at $T = 25$ with plain SGD at learning\nrate $0.2$, 100 steps, eight seeds",
        "`clip_grad_norm_(max_norm=1)`",
        "In every run the largest gradient norm is more\n  than 3 times the median one; in every "
        "clipped run, all of which learn, more than 10 times",
        "The median final loss (the mean of the last 10 steps)\n  of the eight unclipped runs is "
        "above $0.5$",
        "Every clipped run ends below $0.05$.",
        "fewer than a third of the steps of any run",
        "every clipped run\nends below $0.05$",
        "spikes to more than 3 times its median in every run",
    )


def test_truncated_bptt(run):
    r = run("truncated_bptt")
    settings = defaults("truncated_bptt", "experiment")
    assert (settings["T"], settings["batch"], settings["H"]) == (100, 32, 32)
    assert settings["truncations"] == (10, 25)
    T, full = r["T"], r["full"]
    assert (full > 0).all()
    for k, s in r["truncated"].items():
        grad = s["grad"]
        assert (grad[: T - k] == 0).all() and (grad[T - k :] > 0).all()
        # inside the window, the truncated gradient is the full one
        assert torch.allclose(grad[T - k :], full[T - k :], rtol=1e-12, atol=0)
        assert s["max |h difference|"] < 1e-12
    ten, twenty_five = r["truncated"][10], r["truncated"][25]
    assert_page_states(
        PAGE,
        "32 sequences of $T = 100$ steps",
        "the states agree to within $10^{-12}$",
        f"With $k = 10$,\n$\\partial\\mathcal L/\\partial x_t$ is exactly zero for {T - 10} of the "
        f"{T} steps; with $k = 25$, for {T - 25}.",
        f"${100 * ten['share beyond k']:.1f}\\%$ of its squared norm comes from inputs more than "
        f"10\nsteps back, ${100 * twenty_five['share beyond k']:.1f}\\%$ from inputs more than 25 "
        "steps back",
    )


def test_exercise_numbers():
    assert_page_states(
        PAGE,
        f"$(3/4)^{{29}} = {latex_sci(0.75**29, 2)}$",
        f"$\\sigma(2) = {sigmoid(2):.3f}$",
        f"$\\sigma(1) = {sigmoid(1):.3f}$",
        f"${sigmoid(2):.3f}^{{49}} = {latex_sci(sigmoid(2) ** 49, 2)}$",
        f"${sigmoid(1):.3f}^{{49}} = {latex_sci(sigmoid(1) ** 49, 2)}$",
    )
    assert 1e3 < (sigmoid(2) / sigmoid(1)) ** 49 < 1e5  # "four orders of magnitude more"
    assert_page_states(PAGE, "four orders of magnitude more")


@pytest.mark.parametrize("gamma, name", [(1.0, "tanh"), (0.25, "sigmoid")])
def test_pascanus_gamma(gamma, name):
    """gamma bounds the activation's derivative, reached at 0."""
    z = torch.linspace(-6, 6, 12001, dtype=torch.float64, requires_grad=True)
    f = torch.tanh if name == "tanh" else torch.sigmoid
    (slope,) = torch.autograd.grad(f(z).sum(), z)
    assert slope.max().item() == pytest.approx(gamma)
    assert_page_states(PAGE, "$\\gamma = 1$ for tanh, $1/4$ for the\nlogistic sigmoid")
