"""Highway layers: the carry path is the input times 1 - T, not the identity.

Stacks of 30 highway layers y = H(x) T(x) + x (1 - T(x)), with H and T built as
in the source post's HighwayLayer (nn.Linear with PyTorch's default init),
changing only the gate bias b_T. With the default bias (about 0) every gate
starts near T = 0.5, and the carry path halves, at every layer, both the
gradient on its way down and the differences between inputs on their way up:
in 60 SGD steps the network does not move from the loss of a constant
prediction. Srivastava et al. (2015) suggest b_T = -1, -2, -3 for depths of
about 10, 20 and 30: at -3 the carry is about 0.95 per layer and the network
trains. A residual stack x + H(x) (no gate, same H) for comparison. Three seeds
each; the 12 highway networks are trained at once, with a leading axis over
the networks.

Run: python snippets/05-skip-connections/highway_gate_bias.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn


def make_task(g, n=32, dim=16):
    """Labels from a random two-layer teacher: learnable, but not linear."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1) @ w2 > 0).long()
    return x, y


GATE_BIASES = {  # b_T; None: PyTorch's default U(-1/sqrt(n), 1/sqrt(n))
    "default b_T (source)": None,
    "b_T = -1": -1.0,
    "b_T = -2": -2.0,
    "b_T = -3": -3.0,
}


def default_init(*shape, fan_in, g):
    """What nn.Linear.reset_parameters draws: U(-1/sqrt(fan_in), ...)."""
    return (torch.rand(*shape, generator=g) * 2 - 1) / math.sqrt(fan_in)


# --8<-- [start:core]
def highway_layer(h, WH, bH, WT, bT):
    """y = H(h) T(h) + h (1 - T(h)); returns y and the carry gate 1 - T."""
    H = torch.relu(WH @ h + bH)
    T = torch.sigmoid(WT @ h + bT)  # transform gate
    return H * T + h * (1 - T), 1 - T


def residual_layer(h, WH, bH, WT, bT):
    """The ungated limit h + H(h): carry 1 and transform 1 (T unused)."""
    return h + torch.relu(WH @ h + bH), torch.ones_like(h)


def carry_path_only(g_top, carries):
    """g_L times the carry 1 - T of every layer above: the carry path."""
    grads = [g_top]
    for carry in reversed(carries):
        grads.insert(0, grads[0] * carry)
    return grads


# --8<-- [end:core]


def init(L, n, dim, seeds):
    """One network per (seed, gate bias); a seed's networks share weights."""
    nets, xs, ys = [], [], []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        x, y = make_task(g, dim=dim)
        base = {
            "stem": default_init(n, dim, fan_in=dim, g=g),
            "stem bias": default_init(n, 1, fan_in=dim, g=g),
            "WH": default_init(L, n, n, fan_in=n, g=g),
            "bH": default_init(L, n, 1, fan_in=n, g=g),
            "WT": default_init(L, n, n, fan_in=n, g=g),
            "bT": default_init(L, n, 1, fan_in=n, g=g),
            "head": default_init(2, n, fan_in=n, g=g),
        }
        for bias in GATE_BIASES.values():
            net = dict(base)
            if bias is not None:  # nn.init.constant_(T.bias, bias)
                net["bT"] = torch.full_like(base["bT"], bias)
            nets.append(net)
            xs.append(x.T)
            ys.append(y)
    p = {k: torch.stack([net[k] for net in nets]) for k in nets[0]}
    for k in ("WH", "bH", "WT", "bT"):  # layer first: (layer, network, ...)
        p[k] = p[k].transpose(0, 1)
    return p, torch.stack(xs), torch.stack(ys)


def forward(p, x, layer=highway_layer, keep=None):
    """A plain layer to width n, L layers, a linear head. keep collects the
    input of every layer, then x_L, and the carry gates of the layers."""
    h = torch.relu(p["stem"] @ x + p["stem bias"])
    hs, carries = [], []
    for WH, bH, WT, bT in zip(p["WH"], p["bH"], p["WT"], p["bT"]):
        hs.append(h)
        h, carry = layer(h, WH, bH, WT, bT)
        carries.append(carry)
    if keep is not None:
        keep.update(hs=[*hs, h], carries=carries)
    return p["head"] @ h


def at_init(p, x, y, layer=highway_layer):
    """Per network: ||dL/dx_l|| / ||dL/dx_L|| by autograd and on the carry
    path alone, the spread of x_L over the inputs relative to x_0's and to
    x_L's own size, and the mean transform gate."""
    keep = {}
    loss = nn.functional.cross_entropy(forward(p, x, layer, keep), y)
    hs = keep["hs"]  # x_0 .. x_L, each (network, unit, example)
    grads = torch.autograd.grad(loss, hs)
    carried = carry_path_only(grads[-1], keep["carries"])
    top = grads[-1].norm(dim=(1, 2))
    measured = torch.stack([g.norm(dim=(1, 2)) / top for g in grads], 1)
    carry = torch.stack([g.norm(dim=(1, 2)) / top for g in carried], 1)
    spread = hs[-1].std(-1).mean(-1)
    size = hs[-1].abs().mean(dim=(1, 2))
    mean_T = 1 - torch.stack(keep["carries"]).mean(dim=(0, 2, 3))
    return (
        measured.detach(),
        carry.detach(),
        (spread / hs[0].std(-1).mean(-1)).detach(),
        (spread / size).detach(),
        mean_T.detach(),
    )


def train(L=30, n=32, dim=16, seeds=(0, 1, 2), steps=60, lr=0.5):
    p, x, y = init(L, n, dim, seeds)
    # At initialization in float64: with the default bias, the inputs differ
    # at x_L by about float32's resolution, and float32 would measure noise.
    p64 = {k: t.double().requires_grad_() for k, t in p.items()}
    measured, carry_only, spread, resolution, mean_T = at_init(
        p64, x.double(), y
    )
    residual = at_init(p64, x.double(), y, residual_layer)[0]  # b_T unused
    for t in p.values():
        t.requires_grad_()
    opt = torch.optim.SGD(p.values(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(forward(p, x), y, reduction="none")
        loss = loss.mean(-1)  # one loss per network
        losses.append(loss.detach())
        opt.zero_grad()
        loss.sum().backward()  # each network's loss reaches only its weights
        opt.step()
    per_seed = (len(seeds), len(GATE_BIASES), -1)  # (seed, gate bias, ...)
    losses = torch.stack(losses).T.reshape(per_seed)
    measured, carry_only = measured.view(per_seed), carry_only.view(per_seed)
    spread, mean_T = spread.view(per_seed[:2]), mean_T.view(per_seed[:2])
    resolution = resolution.view(per_seed[:2])
    freq = y.float().mean(-1).view(per_seed[:2])[:, 0]  # label frequency
    return {
        "highway": {
            name: {
                "losses": losses[:, i].tolist(),
                "gradient at init": measured[:, i],
                "carry path only": carry_only[:, i],
                "mean T at init": mean_T[:, i].tolist(),
                "spread of x_L / x_0 at init": spread[:, i].tolist(),
                "spread of x_L / |x_L| at init": resolution[:, i].tolist(),
            }
            for i, name in enumerate(GATE_BIASES)
        },
        "residual gradient at init": residual.view(per_seed)[:, 0],
        # the loss of predicting each seed's label frequency for every input
        "constant prediction": (
            -(freq * freq.log() + (1 - freq) * (1 - freq).log())
        ).tolist(),
        "settings": dict(layers=L, width=n, seeds=seeds, steps=steps, lr=lr),
    }


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 7.0))
    for i, (name, r) in enumerate(results["highway"].items()):
        color, label = f"C{i}", name.replace(" b_T (source)", "")
        geo = r["gradient at init"].log().mean(0).exp()  # over the seeds
        top.plot(range(len(geo)), geo, color=color, label=label)
        carry = r["carry path only"].log().mean(0).exp()
        top.plot(range(len(carry)), carry, ":", color=color, linewidth=2.5)
        losses = torch.tensor(r["losses"])
        bottom.plot(losses.median(0).values, color=color, label=label)
        bottom.fill_between(
            range(losses.shape[1]),
            losses.min(0).values,
            losses.max(0).values,
            color=color,
            alpha=0.2,
        )
    res = results["residual gradient at init"].log().mean(0).exp()
    top.plot(range(len(res)), res, "k-", label="residual")
    top.plot([], [], "k:", linewidth=2.5, label="carry only")
    top.set_yscale("log")
    top.set_xlabel("layer l (0 = input of the stack)")
    top.set_ylabel("gradient at x\u2097 / at x\u2083\u2080")
    top.set_title("Gradient at initialization")
    for k, v in enumerate(results["constant prediction"]):
        label = "constant" if k == 0 else None
        bottom.axhline(v, color="grey", linestyle=":", linewidth=1, label=label)
    bottom.set_xlabel("SGD step")
    bottom.set_ylabel("training loss")
    bottom.set_title("Training: median, range of 3 seeds")
    handles, labels = top.get_legend_handles_labels()  # for both panels
    bottom.legend(
        handles,
        labels,
        loc="lower left",
        ncol=2,
        handlelength=1.2,
        columnspacing=0.8,
    )
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = train()
    for name, r in results["highway"].items():
        first = r["gradient at init"][:, 0].log().mean().exp()
        carry = r["carry path only"][:, 0].log().mean().exp()
        spread = torch.tensor(r["spread of x_L / x_0 at init"])
        own = ", ".join(f"{v:.2g}" for v in r["spread of x_L / |x_L| at init"])
        final = ", ".join(f"{run[-1]:.3g}" for run in r["losses"])
        print(
            f"{name:21s} |g_0|/|g_L| = {first:.3g} (carry path only "
            f"{carry:.3g}); spread of x_L / x_0 = "
            f"{spread.log().mean().exp():.3g} (/ |x_L|: {own}); "
            f"mean T = {sum(r['mean T at init']) / 3:.3f}; final losses {final}"
        )
    res = results["residual gradient at init"][:, 0].log().mean().exp()
    print(f"residual, no gate      |g_0|/|g_L| = {res:.3g}")
    print(f"constant prediction: {results['constant prediction']}")
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
