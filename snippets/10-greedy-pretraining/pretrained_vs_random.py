"""A deep sigmoid network that does not train from a random start trains from
a stack of RBMs.

The network: 64 pixels, four sigmoid layers of 64 units, 10 classes, on 250
digit-like 8x8 images that the code draws (seven-segment digits, shifted,
5% of the pixels flipped). From PyTorch's default initialization (Glorot and
Bengio's "standard" U(-1/sqrt(n), 1/sqrt(n))), full-batch SGD with momentum
leaves the loss at the loss of a constant prediction for all 150 steps, in
every seed. The same network initialized from a deep belief net (four RBMs
trained greedily with CD-1 on the same images, no labels) trains; so does a
ReLU network with He's initialization and no pretraining. At the start, the
stack's first layer gets a gradient about 20 times larger than the random
network's, and ReLU + He one about 3000 times larger.

Run: python snippets/10-greedy-pretraining/pretrained_vs_random.py [OUT_DIR]
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


# --8<-- [start:core]
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


# --8<-- [end:core]


def default_init(net, g):
    """What nn.Linear.reset_parameters does, drawn from our generator."""
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
            bound = 1 / math.sqrt(m.in_features)
            nn.init.uniform_(m.bias, -bound, bound, generator=g)


def he_init(net, g):
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=g)
            nn.init.zeros_(m.bias)


def weight_gradients(net, x, y):
    """The norm of each layer's weight gradient, layer 1 first."""
    net.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    return [
        m.weight.grad.norm().item() for m in net if isinstance(m, nn.Linear)
    ]


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


COLORS = {"random init": "C0", "DBN init": "C1", "ReLU + He": "C2"}
ARMS = {  # name: (activation, initialization, learning rate)
    "random init": (nn.Sigmoid, "default", 1.0),
    "DBN init": (nn.Sigmoid, "stack", 1.0),
    "ReLU + He": (nn.ReLU, "he", 0.02),
}


def experiment(
    widths=(64, 64, 64, 64), n=250, n_test=1000, seeds=(0, 1, 2), steps=150
):
    results = {name: dict(losses=[], grads=[], test=[]) for name in ARMS}
    constant = []  # the loss of predicting the label frequencies
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        x, y = make_digits(g, n)
        freq = torch.bincount(y, minlength=10).float() / n
        constant.append(-(freq[freq > 0] * freq[freq > 0].log()).sum().item())
        rbms = greedy_pretrain(x, widths, g)
        nets = {}
        for name, (activation, init, lr) in ARMS.items():
            net = mlp(widths, activation)
            default_init(net, g)
            if init == "stack":
                load_stack(net, rbms)
            elif init == "he":
                he_init(net, g)
            r = results[name]
            r["grads"].append(weight_gradients(net, x, y))
            r["losses"].append(fine_tune(net, x, y, steps, lr))
            nets[name] = net
        held_out = torch.Generator().manual_seed(1000 + seed)
        x_test, y_test = make_digits(held_out, n_test)
        for name, net in nets.items():
            results[name]["test"].append(accuracy(net, x_test, y_test))
    settings = dict(widths=widths, n=n, n_test=n_test, seeds=seeds)
    settings.update(steps=steps, lrs={k: v[2] for k, v in ARMS.items()})
    return dict(arms=results, constant=constant, settings=settings)


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.4))
    for name, r in results["arms"].items():
        losses = torch.tensor(r["losses"])  # (seed, step)
        steps = range(losses.shape[1])
        top.plot(steps, losses.median(0).values, color=COLORS[name], label=name)
        lo, hi = losses.min(0).values, losses.max(0).values
        top.fill_between(steps, lo, hi, color=COLORS[name], alpha=0.25)
        grads = torch.tensor(r["grads"])  # (seed, layer)
        layers = range(1, grads.shape[1] + 1)
        med = grads.median(0).values
        err = (med - grads.min(0).values, grads.max(0).values - med)
        bottom.errorbar(layers, med, yerr=err, fmt="o-", color=COLORS[name])
    top.set_yscale("log")
    top.set_xlabel("SGD step")
    top.set_ylabel("training loss")
    top.set_title("Fine-tuning: median, range (3 seeds)")
    top.legend(loc="lower left")
    bottom.set_yscale("log")
    bottom.set_xlabel("layer (5 = classifier)")
    bottom.set_ylabel("weight-gradient norm")
    bottom.set_title("Gradient at the first step")
    bottom.set_xticks(range(1, 6))
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for name, r in results["arms"].items():
        print(f"{name}:")
        for grads, losses, test in zip(r["grads"], r["losses"], r["test"]):
            g = " ".join(f"{v:.1e}" for v in grads)
            print(
                f"  gradients at step 0: {g}; loss {losses[0]:.3f} -> "
                f"{losses[-1]:.3f}; test accuracy {test:.2f}"
            )
    c = " ".join(f"{v:.3f}" for v in results["constant"])
    print(f"loss of a constant prediction (label frequencies): {c}")
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
