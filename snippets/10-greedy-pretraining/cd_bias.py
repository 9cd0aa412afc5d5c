"""Contrastive divergence is a biased estimate of the log-likelihood gradient,
and the bias grows with the weights.

An RBM with 8 visible and 4 hidden units is small enough to enumerate: its
2^12 = 4096 joint states give the partition function, hence the exact
log-likelihood and, by autograd, its exact gradient. The snippet checks the
RBM's formulas against that table (the factorized conditionals, the free
energy, the gradient as data term minus model term), then trains the RBM on
the 18 bars-and-stripes images of 2 x 4 pixels by exact gradient ascent
(plain SGD, 1778 steps). Along the way it computes the CD-k update averaged
over infinitely many chains (the distribution of v_k is exact: the Gibbs
transition matrix to the power k) and measures how far it is from the exact
gradient, for k = 1, 3, 10 and 30. At the end, CD-1 run as it is run
(sampled states, 100000 chains) checks the exact average.

Run: python snippets/10-greedy-pretraining/cd_bias.py [OUT_DIR]
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
logsigmoid = nn.functional.logsigmoid


def all_states(n):
    """Every binary vector of length n, one per row, in binary order."""
    bits = torch.arange(2**n)[:, None] >> torch.arange(n - 1, -1, -1)
    return (bits & 1).to(F64)


def bars_and_stripes(rows=2, cols=4):
    """Images whose columns are all on or off, or whose rows are."""
    bars = all_states(cols).repeat(1, rows)  # column j on in every row
    stripes = all_states(rows).repeat_interleave(cols, dim=1)
    return torch.unique(torch.cat([bars, stripes]), dim=0)


def index(v):
    """Row of each binary vector in all_states(n)."""
    return (v @ 2 ** torch.arange(v.shape[-1] - 1.0, -1, -1, dtype=F64)).long()


def energy(v, h, W, b, c):  # E(v, h) = -b.v - c.h - v.W h
    return -(v @ b) - (h @ c) - ((v @ W) * h).sum(-1)


def free_energy(v, W, b, c):  # F(v) = -log sum_h exp(-E(v, h))
    x = c + v @ W  # log(1 + e^x) exactly: softplus turns linear above x = 20
    return -(v @ b) - torch.logaddexp(x, torch.zeros_like(x)).sum(-1)


def conditional(a, states, bias, W):
    """p(states | a) for every row of a and every row of states, when each
    unit is on with probability sigmoid(bias + a W), independently."""
    x = bias + a @ W
    return torch.exp(logsigmoid(x) @ states.T + logsigmoid(-x) @ (1 - states).T)


# --8<-- [start:core]
def exact_gradient(W, b, c, data, V):
    """d mean(log p(data)); log Z sums exp(-F(v)) over all 2^n visible v."""
    log_z = torch.logsumexp(-free_energy(V, W, b, c), 0)
    log_likelihood = (-free_energy(data, W, b, c) - log_z).mean()
    return torch.autograd.grad(log_likelihood, (W, b, c))


def cd_gradient(W, b, c, data, V, H, k):
    """CD-k averaged over all chains: the model term is taken at v_k, whose
    distribution, started at the data, is exactly row(data) T^k."""
    with torch.no_grad():  # p_k is a fixed distribution, not differentiated
        T = conditional(V, H, c, W) @ conditional(H, V, b, W.T)  # p(v'|v)
        p_k = torch.linalg.matrix_power(T, k)[index(data)].mean(0)
    model_term = p_k @ free_energy(V, W, b, c)
    surrogate = -free_energy(data, W, b, c).mean() + model_term
    return torch.autograd.grad(surrogate, (W, b, c))


# --8<-- [end:core]


def flat(grads):
    return torch.cat([t.flatten() for t in grads])


def check_formulas(W, b, c, data, V, H):
    """The RBM's formulas against the table of all 2^(n_v + n_h) states."""
    minus_e = -energy(V[:, None, :], H[None, :, :], W, b, c)  # (v, h) table
    p_h = torch.softmax(minus_e, 1)  # p(h | v): each row normalized
    p_v = torch.softmax(minus_e, 0)  # p(v | h): each column
    p_joint = torch.softmax(minus_e.flatten(), 0).view_as(minus_e)
    free = -torch.logsumexp(minus_e, 1)
    # <v h^T> under the data (with p(h|v)) and under the model, from the table
    data_term = torch.einsum("nh,ni,hj->ij", p_h[index(data)], data, H) / len(
        data
    )
    model_term = torch.einsum("vh,vi,hj->ij", p_joint, V, H)
    params = [t.clone().requires_grad_() for t in (W, b, c)]
    grad_W = exact_gradient(*params, data, V)[0]

    def gap(a, b):
        return (a - b).abs().max().item()

    return {
        "p(h_j=1|v)": gap(p_h @ H, torch.sigmoid(c + V @ W)),
        "p(v_i=1|h)": gap(p_v.T @ V, torch.sigmoid(b + H @ W.T)),
        "free energy": gap(free, free_energy(V, W, b, c)),
        "gradient": gap(grad_W, data_term - model_term),
    }


def sampled_cd1(W, b, c, data, chains, g):
    """CD-1 as it is run: sample h0 ~ p(h|v0), v1 ~ p(v|h0), one chain per
    row; the update's model term is v1 p(h|v1)^T, averaged over the chains."""
    v0 = data[torch.arange(chains) % len(data)]
    h0 = torch.bernoulli(torch.sigmoid(c + v0 @ W), generator=g)
    v1 = torch.bernoulli(torch.sigmoid(b + h0 @ W.T), generator=g)
    p0, p1 = torch.sigmoid(c + v0 @ W), torch.sigmoid(c + v1 @ W)
    n = chains
    return flat(
        ((v0.T @ p0 - v1.T @ p1) / n, (v0 - v1).mean(0), (p0 - p1).mean(0))
    )


def experiment(
    n_v=8, n_h=4, steps=1778, lr=0.7, ks=(1, 3, 10, 30), chains=100_000
):
    g = torch.Generator().manual_seed(0)
    data, V, H = bars_and_stripes(), all_states(n_v), all_states(n_h)
    W = (0.01 * torch.randn(n_v, n_h, generator=g, dtype=F64)).requires_grad_()
    b = torch.zeros(n_v, dtype=F64, requires_grad=True)
    c = torch.zeros(n_h, dtype=F64, requires_grad=True)
    opt = torch.optim.SGD((W, b, c), lr=lr)  # ascent: minimize -log p
    checkpoints = {
        round(10 ** (i / 8))
        for i in range(12, 8 * 4)
        if 10 ** (i / 8) <= steps + 0.5
    }
    track = dict(step=[], rms_W=[], log_likelihood=[], norm=[])
    track.update(rel_error={k: [] for k in ks}, cosine={k: [] for k in ks})
    for step in range(steps + 1):
        if step in checkpoints:
            exact = flat(exact_gradient(W, b, c, data, V))
            track["step"].append(step)
            track["rms_W"].append(W.detach().pow(2).mean().sqrt().item())
            track["norm"].append(exact.norm().item())
            for k in ks:
                cd = flat(cd_gradient(W, b, c, data, V, H, k))
                err = (cd - exact).norm() / exact.norm()
                track["rel_error"][k].append(err.item())
                cos = cd @ exact / (cd.norm() * exact.norm())
                track["cosine"][k].append(cos.item())
        log_z = torch.logsumexp(-free_energy(V, W, b, c), 0)
        log_likelihood = (-free_energy(data, W, b, c) - log_z).mean()
        if step in checkpoints:
            track["log_likelihood"].append(log_likelihood.item())
        if step == steps:
            break
        opt.zero_grad()
        (-log_likelihood).backward()
        opt.step()
    expected = flat(cd_gradient(W, b, c, data, V, H, 1))
    exact = flat(exact_gradient(W, b, c, data, V))
    W, b, c = W.detach(), b.detach(), c.detach()
    sampled = sampled_cd1(W, b, c, data, chains, g)
    return dict(
        track=track,
        checks=check_formulas(W, b, c, data, V, H),
        # distances from the sampled average, in units of |exact gradient|
        sampled_to_average=((sampled - expected).norm() / exact.norm()).item(),
        sampled_to_gradient=((sampled - exact).norm() / exact.norm()).item(),
        n_patterns=len(data),
        n_states=len(V) * len(H),
        settings=dict(steps=steps, lr=lr, ks=ks, chains=chains),
    )


def plot(results):
    t = results["track"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.0), sharex=True)
    for i, k in enumerate(t["rel_error"]):
        top.plot(
            t["rms_W"],
            t["rel_error"][k],
            "o-",
            ms=3,
            color=f"C{i}",
            label=f"CD-{k}",
        )
        bottom.plot(t["rms_W"], t["cosine"][k], "o-", ms=3, color=f"C{i}")
    top.set_xscale("log")
    top.set_yscale("log")
    top.set_ylim(1e-6, 3)
    top.set_ylabel("|CD - exact| / |exact|")
    top.set_title("CD-k vs the exact gradient")
    top.legend(loc="upper left")
    bottom.set_ylabel("cosine(CD, exact)")
    bottom.set_xlabel("rms of the weights W (training \u2192)")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    t = results["track"]
    print(
        f"{results['n_patterns']} patterns, {results['n_states']} joint states"
    )
    for name, err in results["checks"].items():
        print(f"  {name}: formula vs table, max difference {err:.1e}")
    print(
        "step  rms W  log p  "
        + "  ".join(f"CD-{k} err/cos" for k in t["rel_error"])
    )
    for i, step in enumerate(t["step"]):
        cols = "  ".join(
            f"{t['rel_error'][k][i]:7.2g}/{t['cosine'][k][i]:.2f}"
            for k in t["rel_error"]
        )
        print(
            f"{step:5d} {t['rms_W'][i]:6.2f} {t['log_likelihood'][i]:6.3f}  {cols}"
        )
    chains = results["settings"]["chains"]
    print(
        f"CD-1 averaged over {chains} sampled chains: "
        f"{results['sampled_to_average']:.3f} from its exact average, "
        f"{results['sampled_to_gradient']:.3f} from the gradient (x |gradient|)"
    )
    n = results["n_patterns"]
    print(f"best possible mean log p(v): -ln {n} = {-math.log(n):.3f}")
    save(plot(results), out_dir / f"{Path(__file__).stem}.svg")
    return results


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
