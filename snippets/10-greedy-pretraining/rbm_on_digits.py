"""One RBM trained with CD-1 on digit-like images: reconstructions, samples,
filters.

The RBM has 64 visible units (8 x 8 pixels) and 64 hidden units, like the
first layer of the stacks in pretrained_vs_random.py, and is trained the same
way on 250 images (CD-1, mini-batches of 50, SGD with momentum), but for 100
epochs instead of 20. The figure shows training images, their reconstructions
p(v | h ~ p(h | v)), samples (64 Gibbs chains from random images, 1000 steps
each) and the filters W[:, j] of the 8 hidden units with the largest weights.
Numbers: the reconstruction error against that of the mean image, and how
close the samples come to a clean digit.

Run: python snippets/10-greedy-pretraining/rbm_on_digits.py [OUT_DIR]
"""

import argparse
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


def clean_digits():
    """Every digit at every place make_digits puts it, without noise."""
    glyphs = torch.zeros(10, 7, 5)
    for d, segments in enumerate(DIGITS):
        for s in segments:
            for r, c in SEGMENTS[s]:
                glyphs[d, r, c] = 1
    out = torch.zeros(10, 2, 4, 8, 8)
    for dy in range(2):
        for dx in range(4):
            out[:, dy, dx, dy : dy + 7, dx : dx + 5] = glyphs
    return out.reshape(-1, 64)


# --8<-- [start:core]
@torch.no_grad()
def gibbs_samples(rbm, n_chains, steps, g):
    """Alternating Gibbs sampling from random images: h ~ p(h|v), v ~ p(v|h)."""
    v = torch.bernoulli(
        torch.full((n_chains, rbm.b.shape[0]), 0.5), generator=g
    )
    for _ in range(steps):
        h = torch.bernoulli(rbm.p_h(v), generator=g)
        p_v = rbm.p_v(h)
        v = torch.bernoulli(p_v, generator=g)
    return p_v  # the last step's probabilities, for display


@torch.no_grad()
def reconstruct(rbm, v, g):
    """One up-down pass: sample h ~ p(h|v), return p(v|h)."""
    return rbm.p_v(torch.bernoulli(rbm.p_h(v), generator=g))


# --8<-- [end:core]


def experiment(n=250, n_hidden=64, epochs=100, chains=64, steps=1000, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, _ = make_digits(g, n)
    rbm = train_rbm(x, n_hidden, g, epochs=epochs)
    clean = clean_digits()

    def nearest_clean(v):  # pixels from the nearest clean digit, and its digit
        distance, i = (v[:, None, :] != clean[None]).sum(-1).min(1)
        return distance, i // 8  # clean_digits(): 8 places per digit

    recon = reconstruct(rbm, x, g)
    samples = gibbs_samples(rbm, chains, steps, g)
    with torch.no_grad():
        filters = rbm.W.T.clone()
    order = filters.norm(dim=1).argsort(descending=True)
    return dict(
        images=x[:8],
        reconstructions=recon[:8],
        samples=samples,
        filters=filters[order[:8]],
        recon_error=((x - recon) ** 2).sum(1).mean().item(),
        mean_image_error=((x - x.mean(0)) ** 2).sum(1).mean().item(),
        data_from_clean=nearest_clean(x)[0].float().mean().item(),
        recon_from_clean=nearest_clean((recon > 0.5).float())[0]
        .float()
        .mean()
        .item(),
        samples_from_clean=nearest_clean((samples > 0.5).float())[0].tolist(),
        sample_digits=nearest_clean((samples > 0.5).float())[1].tolist(),
        rms_W=rbm.W.detach().pow(2).mean().sqrt().item(),
        settings=dict(
            n=n, n_hidden=n_hidden, epochs=epochs, chains=chains, steps=steps
        ),
    )


def plot(results):
    rows = {
        "data": results["images"],
        "recon.": results["reconstructions"],
        "samples": results["samples"][:8],
        "filters": results["filters"],
    }
    fig, axes = plt.subplots(4, 8, figsize=(4.2, 2.9))
    for r, (label, images) in enumerate(rows.items()):
        for i, ax in enumerate(axes[r]):
            image = images[i].reshape(8, 8)
            if label == "filters":
                top = image.abs().max()
                ax.imshow(image, cmap="RdBu_r", vmin=-top, vmax=top)
            else:
                ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    fig.subplots_adjust(wspace=0.08, hspace=0.08, left=0.2)
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    print(
        f"reconstruction error (squared, per image): {results['recon_error']:.2f}"
        f" (the mean image: {results['mean_image_error']:.2f})"
    )
    d = results["samples_from_clean"]
    print(f"samples, pixels from the nearest clean digit: {d}")
    print(f"... and that digit: {results['sample_digits']}")
    print(
        f"training images, on average: {results['data_from_clean']:.2f} pixels"
        f"; their reconstructions: {results['recon_from_clean']:.2f}"
        f"; rms of W: {results['rms_W']:.3f}"
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
