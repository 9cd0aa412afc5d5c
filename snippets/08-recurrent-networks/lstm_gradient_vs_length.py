"""An LSTM's gradient vanishes at PyTorch's default initialization, carries
over 100 steps with a forget-gate bias of 3, and explodes with large weights.

The same measurement as gradient_vs_length.py: ||dL/dx_1||, L = v . h_T, for
32 random sequences of every length T up to 100, in float64, for nn.LSTM (32
hidden units, 4 inputs): PyTorch's default initialization, forget-gate bias 1
and 3, and forget-gate bias 3 with the recurrent weights W_hh multiplied by 8;
the default tanh nn.RNN of the same size for comparison. PyTorch draws every
bias from U(-1/sqrt(H), 1/sqrt(H)), the forget gate's included, in both
bias_ih_l0 and bias_hh_l0, which add up; here the forget-gate slice of
bias_ih_l0 is set to b_f and that of bias_hh_l0 to 0. The snippet also records
the forget gates f_t, whose product is the cell state's direct path
dc_T/dc_1 = diag(f_T) ... diag(f_2).

Run: python snippets/08-recurrent-networks/lstm_gradient_vs_length.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

LENGTHS = (
    1,
    2,
    3,
    4,
    5,
    6,
    8,
    10,
    12,
    15,
    20,
    25,
    30,
    40,
    50,
    60,
    70,
    80,
    90,
    100,
)
VARIANTS = {  # name: (forget-gate bias b_f or None for PyTorch's, W_hh factor)
    "LSTM, default": (None, 1.0),
    "LSTM, b_f = 1": (1.0, 1.0),
    "LSTM, b_f = 3": (3.0, 1.0),
    "LSTM, b_f = 3, W_hh x 8": (3.0, 8.0),
}


def seeded(module, g):
    """PyTorch's default init, U(-1/sqrt(H), 1/sqrt(H)) for every parameter,
    drawn from the generator g."""
    k = 1 / math.sqrt(module.hidden_size)
    for p in module.parameters():
        nn.init.uniform_(p, -k, k, generator=g)
    return module


def lstm(b_f, hh_scale, g, n_in=4, H=32):
    """nn.LSTM with PyTorch's init; forget-gate bias b_f, W_hh * hh_scale."""
    m = seeded(nn.LSTM(n_in, H, batch_first=True, dtype=torch.float64), g)
    with torch.no_grad():
        if b_f is not None:  # gates stacked i, f, g, o: f is rows H..2H-1
            m.bias_ih_l0[H : 2 * H] = b_f  # the two biases add up:
            m.bias_hh_l0[H : 2 * H] = 0.0  # b_f in one, 0 in the other
        m.weight_hh_l0.mul_(hh_scale)
    return m


# --8<-- [start:core]
def lstm_by_hand(m, x):
    """nn.LSTM's equations (its docs), gates stacked i, f, g, o; returns
    h_1..h_T and the forget gates f_1..f_T."""
    W_ih, W_hh = m.weight_ih_l0, m.weight_hh_l0
    b = m.bias_ih_l0 + m.bias_hh_l0  # the two biases add up
    h = c = x.new_zeros(x.shape[0], m.hidden_size)
    hs, fs = [], []
    for x_t in x.unbind(dim=1):
        i, f, g, o = (x_t @ W_ih.T + h @ W_hh.T + b).chunk(4, dim=1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g  # along c alone, dc_t/dc_(t-1) = diag(f_t)
        h = o * c.tanh()
        hs.append(h), fs.append(f)
    return torch.stack(hs, dim=1), torch.stack(fs, dim=1)


# --8<-- [end:core]


def gradient_at_first_input(rnn, x, v):
    """||dL/dx_1|| for each sequence of the batch x, L = v . h_T."""
    x = x.clone().requires_grad_()
    h, _ = rnn(x)
    (h[:, -1] @ v).sum().backward()
    return x.grad[:, 0].norm(dim=1)


def rms(norms):
    return norms.pow(2).mean(-1).sqrt()


def experiment(lengths=LENGTHS, batch=32, n_in=4, H=32, seed=0):
    # the RNN, readout and sequences of gradient_vs_length.py, drawn in its order
    g = torch.Generator().manual_seed(seed)
    rnn = seeded(nn.RNN(n_in, H, batch_first=True, dtype=torch.float64), g)
    v = torch.randn(H, generator=g, dtype=torch.float64)
    v = v / v.norm()
    xs = torch.randn(
        batch, max(lengths), n_in, generator=g, dtype=torch.float64
    )
    out = {"lengths": list(lengths), "variants": {}}
    models = {
        name: lstm(b_f, s, torch.Generator().manual_seed(seed + 1), n_in, H)
        for name, (b_f, s) in VARIANTS.items()
    }  # the same draw for all four, changed only as the name says
    models["RNN, default"] = rnn
    for name, m in models.items():
        norms = torch.stack(
            [gradient_at_first_input(m, xs[:, :T], v) for T in lengths]
        )
        r = {"rms": rms(norms)}
        if name.startswith("LSTM"):
            with torch.no_grad():
                h, f = lstm_by_hand(m, xs)  # (batch, T, H) each
                r["max |h - nn.LSTM|"] = (m(xs)[0] - h).abs().max().item()
            r["mean forget gate"] = f.mean().item()
            # the direct path dc_T/dc_1 = diag(f_T ... f_2), per unit: its mean
            r["direct path at T = 100"] = f[:, 1:100].prod(dim=1).mean().item()
            r["forget-gate bias (both slices)"] = (
                (m.bias_ih_l0[H : 2 * H] + m.bias_hh_l0[H : 2 * H])
                .detach()
                .clone()
            )
        out["variants"][name] = r
    return out


def label(name):
    """The variant's name as the figure writes it."""
    return name.replace("b_f", "b$_f$").replace("W_hh x", "W$_{hh}$ \u00d7")


def plot(r):
    fig, ax = plt.subplots(figsize=(4.2, 4.6))
    T = r["lengths"]
    for name, s in r["variants"].items():
        style = (
            {"color": "grey", "linestyle": ":"}
            if name.startswith("RNN")
            else {}
        )
        ax.plot(
            T, s["rms"], marker=".", markersize=4, label=label(name), **style
        )
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("\u2016\u2202L/\u2202x$_1$\u2016 (log scale)")
    ax.set_title("LSTM: forget-gate bias b$_f$")
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.45, -0.22), handlelength=1.5
    )
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    T = r["lengths"]
    for name, s in r["variants"].items():
        extra = ""
        if "mean forget gate" in s:
            extra = (
                f"; h by hand - nn.LSTM: {s['max |h - nn.LSTM|']:.1g}"
                f"; mean f_t {s['mean forget gate']:.3f}, direct path at T = 100: "
                f"{s['direct path at T = 100']:.3g}"
            )
        print(
            f"{name:24s} ||dL/dx_1|| at T = 1: {s['rms'][0]:.3g}, T = 50: "
            f"{s['rms'][T.index(50)]:.3g}, T = 100: {s['rms'][-1]:.3g}{extra}"
        )
    save(plot(r), out_dir / f"{Path(__file__).stem}.svg")
    return r


# Shared by every snippet, so that a copied file runs alone (tests/test_snippets.py keeps
# this part identical everywhere): the PyTorch it needs, the figure style, the command line.
MIN_TORCH = "2.13"  # the release the pages are built and tested with
# 4.2 inches wide and 12-point text: readable at a phone's width (shown 358 px wide, text of
# at least 9 px, super- and subscripts included) and on a desktop (at least 11 px).
STYLE = {
    "figure.figsize": (4.2, 3.0),
    "font.size": 12,
    "axes.titlesize": 12,
    "axes.labelsize": 12,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "figure.titlesize": 12,
    "svg.hashsalt": "vanishing-gradients",  # with Date=None: byte-identical SVGs
}
plt.rcParams.update(STYLE)


def save(fig, path):
    """Write a byte-reproducible SVG and say where, or exit with a one-line error."""
    try:
        fig.savefig(
            path, metadata={"Date": None}, transparent=True, bbox_inches="tight"
        )
    except OSError as err:
        sys.exit(f"error: cannot write {path}: {err.strerror}")
    finally:
        plt.close(fig)
    print(f"wrote {path}")


def command_line() -> Path:
    """OUT_DIR from the command line, checked before any work is done."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "out_dir",
        nargs="?",
        type=Path,
        default=Path("."),
        metavar="OUT_DIR",
        help="folder for the figure, created if needed (default: this folder)",
    )
    out_dir = parser.parse_args().out_dir
    if torch.__version__ < MIN_TORCH:
        parser.exit(
            1, f"error: needs PyTorch {MIN_TORCH}+, not {torch.__version__}\n"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        parser.exit(1, f"error: {out_dir} is a file, not a folder\n")
    except OSError as err:
        parser.exit(1, f"error: cannot create {out_dir}: {err.strerror}\n")
    if not os.access(out_dir, os.W_OK):
        parser.exit(1, f"error: cannot write to {out_dir}\n")
    return out_dir


if __name__ == "__main__":
    main(command_line())
