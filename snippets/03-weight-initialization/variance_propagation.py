"""The variance recursions predict every layer of a ReLU net, forward and back.

A ReLU MLP whose width doubles every three layers (64 to 512), initialized three
ways: He with mode='fan_in' (Var(w) = 2/n_in), He with mode='fan_out'
(Var(w) = 2/n_out) and Glorot's compromise with ReLU's gain
(Var(w) = 4/(n_in + n_out)). The measured second moment of the
pre-activations (forward) and of the gradients dL/dz (backward) sit on the
predictions of the recursions: fan_in keeps the forward pass level, fan_out
the backward pass, and the other direction drifts only by the ratio of the
first and last widths, not exponentially with depth.

Run: python snippets/03-weight-initialization/variance_propagation.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch

WIDTHS = [64] * 3 + [128] * 3 + [256] * 3 + [512] * 3


def weight_variance(scheme, n_in, n_out):
    return {
        "He, fan_in": 2 / n_in,  # kaiming_normal_(w, nonlinearity='relu')
        "He, fan_out": 2 / n_out,  # ... and mode='fan_out'
        "Glorot, gain sqrt(2)": 2 * 2 / (n_in + n_out),  # xavier_normal_
    }[scheme]


# --8<-- [start:core]
def measured(scheme, gaussians, x, r):
    """E[(z^(l))^2] and E[(delta^(l))^2] of each layer, for one draw of the weights.

    gaussians[l-1] holds i.i.d. N(0, 1) entries of shape (n_l, n_{l-1});
    scaling it gives zero-mean i.i.d. weights of the scheme's variance.
    """
    zs, a = [], x
    for G in gaussians:
        n_out, n_in = G.shape
        W = G * math.sqrt(weight_variance(scheme, n_in, n_out))
        zs.append((a @ W.T).requires_grad_())  # zero biases
        a = torch.relu(zs[-1])
    # loss = sum(r * z_L) with r ~ N(0, 1): the gradient at the top is r
    deltas = torch.autograd.grad((r * zs[-1]).sum(), zs)
    forward = [z.detach().pow(2).mean().item() for z in zs]
    return forward, [d.pow(2).mean().item() for d in deltas]


# --8<-- [end:core]


def predicted(scheme, n):
    """The recursions, with v_l = Var(w^(l)) and d = delta:
    forward   E[(z^(l))^2] = n_{l-1} v_l E[(a^(l-1))^2],  E[a^2] = E[z^2] / 2,
    backward  E[(d^(l))^2] = n_{l+1} v_{l+1} E[relu'(z^(l))^2] E[(d^(l+1))^2].
    """
    L = len(n) - 1
    v = [None] + [
        weight_variance(scheme, n[l - 1], n[l]) for l in range(1, L + 1)
    ]
    forward = [n[0] * v[1] * 1.0]  # the input: E[x^2] = 1, no ReLU
    for l in range(2, L + 1):
        forward.append(n[l - 1] * v[l] * forward[-1] / 2)
    backward = [1.0]  # E[r^2] = 1 at the top
    for l in range(L - 1, 0, -1):
        backward.insert(0, n[l + 1] * v[l + 1] * backward[0] / 2)
    return forward, backward


def experiment(widths=WIDTHS, seeds=48, batch=32):
    n = [widths[0]] + widths  # the input has as many features as layer 1
    schemes = ("He, fan_in", "He, fan_out", "Glorot, gain sqrt(2)")
    runs = {scheme: [] for scheme in schemes}
    for seed in range(seeds):  # average over many draws of the weights
        g = torch.Generator().manual_seed(seed)
        gaussians = [
            torch.randn(n[l], n[l - 1], generator=g) for l in range(1, len(n))
        ]
        x = torch.randn(batch, n[0], generator=g)
        r = torch.randn(batch, n[-1], generator=g)
        for scheme in schemes:
            runs[scheme].append(measured(scheme, gaussians, x, r))
    results = {}
    for scheme in schemes:
        forward, backward = torch.tensor(runs[scheme]).mean(dim=0).tolist()
        pf, pb = predicted(scheme, n)
        results[scheme] = {
            "forward": forward,
            "backward": backward,
            "forward predicted": pf,
            "backward predicted": pb,
        }
    return results


def check_constants(g, samples=1_000_000):
    """The constants the derivation uses, measured."""
    z = torch.randn(samples, generator=g)
    a = 0.5
    u = torch.empty(samples).uniform_(-a, a, generator=g)
    w = torch.empty(300, 500)
    bounds = {}
    torch.nn.init.xavier_uniform_(w, generator=g)
    bounds["xavier_uniform_"] = (w.abs().max().item(), math.sqrt(6 / 800))
    torch.nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=g)
    bounds["kaiming_uniform_"] = (w.abs().max().item(), math.sqrt(6 / 500))
    return {
        "Var U(-a, a) / (a^2/3)": u.var().item() / (a**2 / 3),
        "E[relu(z)^2] / Var(z)": (torch.relu(z).pow(2).mean() / z.var()).item(),
        "E[relu'(z)^2]": (z > 0).double().mean().item(),
        "E[tanh(z)^2] / Var(z)": {
            s: torch.tanh(s * z).pow(2).mean().item() / s**2
            for s in (0.1, 0.5, 1.0)
        },
        "uniform bounds (max |w|, formula)": bounds,
    }


def plot(results):
    fig, axes = plt.subplots(2, 1, figsize=(4.2, 6.4), sharex=True)
    markers = {
        "He, fan_in": "o",
        "He, fan_out": "s",
        "Glorot, gain sqrt(2)": "^",
    }
    labels = {"Glorot, gain sqrt(2)": "Glorot, gain √2"}
    for ax, direction in zip(axes, ("forward", "backward")):
        for scheme, r in results.items():
            layers = range(1, len(r[direction]) + 1)
            (line,) = ax.plot(
                layers,
                r[direction],
                markers[scheme],
                ms=5,
                mfc="none",
                label=labels.get(scheme, scheme),
            )
            ax.plot(
                layers,
                r[f"{direction} predicted"],
                "--",
                color=line.get_color(),
                lw=1,
            )
        for i in range(3, len(WIDTHS), 3):
            ax.axvline(i + 0.5, color="grey", lw=0.5, linestyle=":")
        ax.set_yscale("log", base=2)
        ax.set_ylim(1 / 32, 32)
        ax.set_yticks(
            [1 / 16, 1 / 4, 1, 4, 16], ["1/16", "1/4", "1", "4", "16"]
        )
        ax.minorticks_off()
        ax.grid(True, alpha=0.3)
    for i in range(0, len(WIDTHS), 3):
        axes[0].text(i + 2, 1 / 20, f"n={WIDTHS[i]}", ha="center", color="grey")
    axes[0].plot([], [], "k--", lw=1, label="recursion")
    axes[0].set_ylabel(r"$\mathbb{E}[(z^{(l)})^2]$")
    axes[0].set_title("Forward (mean of 48 nets)")
    axes[1].set_ylabel(r"$\mathbb{E}[(\delta^{(l)})^2]$")
    axes[1].set_title("Backward")
    axes[1].set_xlabel("layer l")
    axes[1].set_xticks([1, 3, 6, 9, 12])
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
        handlelength=1.5,
        columnspacing=0.8,
    )
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for scheme, r in results.items():
        print(
            f"{scheme:22s} forward E[z^2]: layer 1 {r['forward'][0]:.3g}, "
            f"layer {len(WIDTHS)} {r['forward'][-1]:.3g}; "
            f"backward E[delta^2]: layer 1 {r['backward'][0]:.3g}, "
            f"layer {len(WIDTHS)} {r['backward'][-1]:.3g}"
        )
    constants = check_constants(torch.Generator().manual_seed(1))
    for name, value in constants.items():
        print(f"{name}: {value}")
    save(plot(results), out_dir / f"{Path(__file__).stem}.svg")
    return {"runs": results, "constants": constants}


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
