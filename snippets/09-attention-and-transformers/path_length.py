"""Attention reaches the first token in one step; a tanh RNN needs T.

How much the last output y_T moves with the first input x_1, the norm of the
Jacobian dy_T/dx_1, for sequences of T = 2 to 256 random inputs of width 32,
at initialization, in float64. A tanh RNN (nn.RNN, PyTorch's default
initialization) passes the gradient through T - 1 steps, one factor
D_t W_hh per step, and it falls geometrically with T. One self-attention layer
(nn.MultiheadAttention, one head, PyTorch's default initialization) connects
x_1 to y_T directly: its Jacobian is p_T1 W_o (W_v + (v_1 - v_bar) q_T^T W_k /
sqrt(d_k)), the value path plus a term through the logits, both times x_1's
attention weight p_T1; with nearly uniform attention at initialization p_T1
is about 1/T, so the gradient falls roughly like 1/T, not geometrically.

Run: python snippets/09-attention-and-transformers/path_length.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

F64 = torch.float64


# --8<-- [start:core]
def jacobian_last_first(layer, x):
    """dy_T/dx_1 of every sequence in the batch x, (B, d, d): d copies of
    each sequence, and copy i backpropagates y_T's coordinate i."""
    B, T, d = x.shape
    x = x.repeat_interleave(d, dim=0)
    x1 = x[:, :1].clone().requires_grad_()
    y_T = layer(torch.cat([x1, x[:, 1:]], dim=1))[:, -1].view(B, d, d)
    y_T.diagonal(dim1=1, dim2=2).sum().backward()
    return x1.grad.view(B, d, d)  # row i: dy_T[i]/dx_1


def recurrent(rnn):
    return lambda x: rnn(x)[0]  # h_1 .. h_T of a tanh RNN


def self_attention(mha):
    return lambda x: mha(x, x, x, need_weights=False)[0]  # y_1 .. y_T


# --8<-- [end:core]


def make_layers(d, g):
    """nn.RNN and nn.MultiheadAttention, drawn as their reset_parameters
    draw them, from our generator."""
    rnn = nn.RNN(d, d, batch_first=True, dtype=F64)  # tanh
    for p in rnn.parameters():  # U(-1/sqrt(H), 1/sqrt(H)), every parameter
        nn.init.uniform_(p, -(d**-0.5), d**-0.5, generator=g)
    mha = nn.MultiheadAttention(d, 1, batch_first=True, dtype=F64)
    nn.init.xavier_uniform_(mha.in_proj_weight, generator=g)  # W_q, W_k, W_v
    nn.init.kaiming_uniform_(mha.out_proj.weight, a=math.sqrt(5), generator=g)
    nn.init.zeros_(mha.in_proj_bias)
    nn.init.zeros_(mha.out_proj.bias)
    return rnn, mha


def norms(J):
    """Largest singular value of each Jacobian; geometric mean over them."""
    s = torch.linalg.matrix_norm(J, ord=2)
    return s.log().mean().exp().item()


def formula_check(mha, x):
    """dy_T/dx_1 = p_T1 W_o (W_v + (v_1 - v_bar) q_T^T W_k / sqrt(d_k)), against
    autograd, for every sequence of the batch (biases are zero)."""
    d = x.shape[-1]
    W_q, W_k, W_v = mha.in_proj_weight.detach().chunk(3)
    W_o = mha.out_proj.weight.detach()
    q_T, k, v = x[:, -1] @ W_q.T, x @ W_k.T, x @ W_v.T
    p = ((k @ q_T.unsqueeze(-1)).squeeze(-1) / d**0.5).softmax(dim=-1)  # p_Tj
    v_bar = (p.unsqueeze(-1) * v).sum(1)
    outer = (v[:, 0] - v_bar).unsqueeze(-1) * (q_T @ W_k / d**0.5).unsqueeze(1)
    formula = p[:, :1, None] * (W_o @ (W_v + outer))
    autograd = jacobian_last_first(self_attention(mha), x)
    return (formula - autograd).abs().max().item()


def experiment(d=32, lengths=(2, 4, 8, 16, 32, 64, 128), batch=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    rnn, mha = make_layers(d, g)
    x = torch.randn(batch, max(lengths), d, generator=g, dtype=F64)
    W_v = mha.in_proj_weight[2 * d :].detach()
    W_o = mha.out_proj.weight.detach()
    value_path = torch.linalg.matrix_norm(W_o @ W_v, ord=2).item()
    r = {"T": list(lengths), "RNN": [], "attention": [], "p_T1": []}
    for T in lengths:
        xs = x[:, :T]
        r["RNN"].append(norms(jacobian_last_first(recurrent(rnn), xs)))
        r["attention"].append(
            norms(jacobian_last_first(self_attention(mha), xs))
        )
        with torch.no_grad():
            _, p = mha(xs, xs, xs)  # attention weights, (B, T, T)
        r["p_T1"].append(p[:, -1, 0].log().mean().exp().item())
    r["||W_o W_v||"] = value_path
    r["max |formula - autograd|"] = formula_check(mha, x)
    r["value path"] = [p * value_path for p in r["p_T1"]]
    # the RNN's factor per step, from the shortest to the longest sequence
    span = lengths[-1] - lengths[0]
    r["RNN factor per step"] = (r["RNN"][-1] / r["RNN"][0]) ** (1 / span)
    r["W_hh spectral radius"] = (
        torch.linalg.eigvals(rnn.weight_hh_l0.detach()).abs().max().item()
    )
    r["settings"] = dict(width=d, batch=batch, seed=seed)
    return r


def plot(r):
    fig, ax = plt.subplots()
    T = r["T"]
    ax.plot(T, r["RNN"], "o-", label="tanh RNN")
    ax.plot(T, r["attention"], "s-", label="self-attention")
    ax.plot(T, r["value path"], "k:", label=r"$p_{T1}\,\|W_o W_v\|$")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel(r"$\|\partial y_T / \partial x_1\|$")
    ax.legend(loc="lower left")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for i, T in enumerate(r["T"]):
        print(
            f"T = {T:3d}  RNN {r['RNN'][i]:.3g}  attention "
            f"{r['attention'][i]:.3g}  p_T1 = {r['p_T1'][i]:.3g} "
            f"(1/T = {1 / T:.3g})"
        )
    print(
        f"RNN: factor {r['RNN factor per step']:.3f} per step; spectral "
        f"radius of W_hh {r['W_hh spectral radius']:.3f}; "
        f"||W_o W_v|| = {r['||W_o W_v||']:.3f}"
    )
    print(f"max |formula - autograd| = {r['max |formula - autograd|']:.2g}")
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
