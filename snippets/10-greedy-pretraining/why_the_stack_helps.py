"""What the stack changed: per layer, the factor by which the backward pass
shrinks the gradient, and a control that keeps the weights' values but not
their places.

The network and data of pretrained_vs_random.py (64 pixels, four sigmoid
layers of 64, 10 classes, 250 images, 3 seeds). From the top, the gradient
with respect to the pre-activations is multiplied by D^(l) W^(l+1)^T at each
layer: a factor |delta^(l)| / |delta^(l+1)| that the snippet measures, and
compares with the typical slope of the sigmoid (rms of sigma'(z^(l)))
times the gain of the weights (|W^(l+1)|_F / sqrt(n_(l+1)), how much W^T
stretches a direction-less vector). For PyTorch's default initialization,
0.244 * sqrt(1/3) = 0.14: the gradient loses about 7x per layer. The DBN's
weights are larger and its units flatter. A control, "shuffled", permutes
the entries of each pretrained matrix (and bias vector): the same values, so
the same gain, but none of what the RBMs learned. It is then fine-tuned like
the DBN-initialized network.

Run: python snippets/10-greedy-pretraining/why_the_stack_helps.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

# Seven-segment digits in a box 5 pixels wide and 7 high: (row, column) lists.
SEGMENTS = {
    "a": [(0, c) for c in range(5)],  # top
    "g": [(3, c) for c in range(5)],  # middle
    "d": [(6, c) for c in range(5)],  # bottom
    "f": [(r, 0) for r in range(4)],  # upper left
    "b": [(r, 4) for r in range(4)],  # upper right
    "e": [(r, 0) for r in range(3, 7)],  # lower left
    "c": [(r, 4) for r in range(3, 7)],  # lower right
}
DIGITS = ("abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc")
DIGITS += ("abcdefg", "abcdfg")


def make_digits(g, n, flip=0.05):
    """n images of 8x8 pixels (rows of 64 zeros and ones) and their labels:
    a digit at a random place, then each pixel flipped with probability
    flip."""
    glyphs = torch.zeros(10, 7, 5)
    for d, segments in enumerate(DIGITS):
        for s in segments:
            for r, c in SEGMENTS[s]:
                glyphs[d, r, c] = 1
    y = torch.randint(0, 10, (n,), generator=g)
    dx = torch.randint(0, 4, (n,), generator=g).tolist()
    dy = torch.randint(0, 2, (n,), generator=g).tolist()
    x = torch.zeros(n, 8, 8)
    for i in range(n):
        x[i, dy[i] : dy[i] + 7, dx[i] : dx[i] + 5] = glyphs[y[i]]
    noise = torch.rand(n, 8, 8, generator=g) < flip
    return torch.where(noise, 1 - x, x).reshape(n, 64), y


class RBM(nn.Module):
    """Binary RBM: E(v, h) = -b.v - c.h - v.W h."""

    def __init__(self, n_visible, n_hidden, g):
        super().__init__()
        w = 0.01 * torch.randn(n_visible, n_hidden, generator=g)
        self.W = nn.Parameter(w)
        self.b = nn.Parameter(torch.zeros(n_visible))
        self.c = nn.Parameter(torch.zeros(n_hidden))

    def p_h(self, v):  # p(h_j = 1 | v), every j at once
        return torch.sigmoid(self.c + v @ self.W)

    def p_v(self, h):  # p(v_i = 1 | h)
        return torch.sigmoid(self.b + h @ self.W.T)

    def free_energy(self, v):  # F(v) = -log sum_h exp(-E(v, h))
        return -(v @ self.b) - nn.functional.softplus(self.c + v @ self.W).sum(
            1
        )


def train_rbm(data, n_hidden, g, epochs=20, batch=50, lr=0.2, momentum=0.5):
    """CD-1: sample h from the data, reconstruct v as probabilities (Hinton's
    practical guide), and descend F(data) - F(reconstruction), whose gradient
    is minus the CD-1 update (v0 p(h|v0)^T - v1 p(h|v1)^T for W)."""
    rbm = RBM(data.shape[1], n_hidden, g)
    opt = torch.optim.SGD(rbm.parameters(), lr=lr, momentum=momentum)
    for _ in range(epochs):
        for idx in torch.randperm(len(data), generator=g).split(batch):
            v0 = data[idx]
            with torch.no_grad():
                v1 = rbm.p_v(torch.bernoulli(rbm.p_h(v0), generator=g))
            loss = rbm.free_energy(v0).mean() - rbm.free_energy(v1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return rbm


def mlp(widths, activation, n_in=64, n_out=10):
    sizes = (n_in, *widths)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], n_out))


def greedy_pretrain(x, widths, g):
    """One RBM per layer, trained on the hidden probabilities of the one below."""
    rbms, h = [], x
    for n_hidden in widths:
        rbms.append(train_rbm(h, n_hidden, g))
        with torch.no_grad():
            h = rbms[-1].p_h(h)  # the data of the next RBM
    return rbms


def load_stack(net, rbms):
    """Each RBM's p(h|v) = sigmoid(c + v W) is a sigmoid layer: copy it."""
    linears = [m for m in net if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer, rbm in zip(linears, rbms):  # the classifier stays random
            layer.weight.copy_(rbm.W.T)
            layer.bias.copy_(rbm.c)


def shuffle_stack(net, g):
    """The pretrained values of each layer, at random places."""
    with torch.no_grad():
        for layer in [m for m in net if isinstance(m, nn.Linear)][:-1]:
            for p in (layer.weight, layer.bias):
                flat = p.flatten()
                p.copy_(flat[torch.randperm(len(flat), generator=g)].view_as(p))


# --8<-- [start:core]
def layer_factor(z, z_next, W):
    """How one sigmoid layer scales the gradient on its way down:
    delta^(l) = D^(l) W^(l+1)^T delta^(l+1), with delta = dL/dz."""
    s = torch.sigmoid(z)
    return dict(
        factor=(z.grad.norm() / z_next.grad.norm()).item(),  # measured
        slope=(s * (1 - s)).pow(2).mean().sqrt().item(),  # rms of sigma'(z)
        gain=(W.norm() / math.sqrt(W.shape[0])).item(),  # W^T, random vector
        s_max=torch.linalg.matrix_norm(W, 2).item(),  # W^T, its best vector
    )


# --8<-- [end:core]


def backward_factors(net, x, y):
    """layer_factor for every hidden layer, from one backward pass."""
    zs, h = [], x
    for m in net:
        h = m(h)
        if isinstance(m, nn.Linear):
            h.retain_grad()  # h is z^(l): keep its gradient, delta^(l)
            zs.append(h)
    nn.functional.cross_entropy(h, y).backward()
    weights = [m.weight for m in net if isinstance(m, nn.Linear)][1:]
    return [layer_factor(*args) for args in zip(zs[:-1], zs[1:], weights)]


def default_init(net, g):
    """What nn.Linear.reset_parameters does, drawn from our generator."""
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
            bound = 1 / math.sqrt(m.in_features)
            nn.init.uniform_(m.bias, -bound, bound, generator=g)


def fine_tune(net, x, y, steps, lr, momentum=0.9):
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    losses = []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(net(x), y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses


def accuracy(net, x, y):
    with torch.no_grad():
        return (net(x).argmax(1) == y).float().mean().item()


COLORS = {"random init": "C0", "DBN init": "C1", "shuffled DBN": "C3"}


def experiment(
    widths=(64, 64, 64, 64),
    n=250,
    n_test=1000,
    seeds=(0, 1, 2),
    steps=150,
    lr=1.0,
):
    arms = ("random init", "DBN init", "shuffled DBN")
    results = {name: dict(factors=[], losses=[], test=[]) for name in arms}
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        x, y = make_digits(g, n)
        rbms = greedy_pretrain(x, widths, g)
        for name in arms:
            net = mlp(widths, nn.Sigmoid)
            default_init(net, g)
            if name != "random init":
                load_stack(net, rbms)
            if name == "shuffled DBN":
                shuffle_stack(net, g)
            r = results[name]
            r["factors"].append(backward_factors(net, x, y))
            if name != "random init":  # its training: pretrained_vs_random.py
                r["losses"].append(fine_tune(net, x, y, steps, lr))
                held_out = torch.Generator().manual_seed(1000 + seed)
                r["test"].append(accuracy(net, *make_digits(held_out, n_test)))
    settings = dict(widths=widths, n=n, seeds=seeds, steps=steps, lr=lr)
    return dict(arms=results, settings=settings)


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.4))
    for name, r in results["arms"].items():
        factors = torch.tensor(
            [[row["factor"] for row in s] for s in r["factors"]]
        )
        product = torch.tensor(
            [[row["slope"] * row["gain"] for row in s] for s in r["factors"]]
        )
        layers = range(1, factors.shape[1] + 1)
        top.plot(
            layers,
            factors.median(0).values,
            "o-",
            color=COLORS[name],
            label=name,
        )
        top.plot(layers, product.median(0).values, "x:", color=COLORS[name])
        if r["losses"]:
            losses = torch.tensor(r["losses"])
            steps = range(losses.shape[1])
            bottom.plot(
                steps, losses.median(0).values, color=COLORS[name], label=name
            )
            lo, hi = losses.min(0).values, losses.max(0).values
            bottom.fill_between(steps, lo, hi, color=COLORS[name], alpha=0.25)
    top.set_ylim(0, 1.25)
    top.set_xticks(range(1, 5))
    top.set_xlabel("hidden layer l")
    top.set_ylabel("|δ(l)| / |δ(l+1)|")
    top.set_title("Per-layer factor (×: slope × gain)")
    top.legend(loc="upper right")
    bottom.set_yscale("log")
    bottom.set_xlabel("SGD step")
    bottom.set_ylabel("training loss")
    bottom.set_title("Fine-tuning: median, range")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for name, r in results["arms"].items():
        print(f"{name}: per layer, factor (rms slope x gain = product)")
        for rows in r["factors"]:
            print(
                "  "
                + "  ".join(
                    f"{row['factor']:.3f} ({row['slope']:.3f} x {row['gain']:.2f} = "
                    f"{row['slope'] * row['gain']:.3f})"
                    for row in rows
                )
            )
        for losses, test in zip(r["losses"], r["test"]):
            print(
                f"  loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
                f"test accuracy {test:.2f}"
            )
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
