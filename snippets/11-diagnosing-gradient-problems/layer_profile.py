"""Reading the per-layer profile: three initializations of one deep CNN.

A plain CNN of eight 3x3 convolutions (16 channels, ReLU after each), global
average pooling and a linear classifier, all torch.nn layers, on 32 random
16x16 images with four labels. gradient_monitor.GradientMonitor records one SGD
step for each of three initializations of the convolutions: He's
(kaiming_normal_), PyTorch's default for nn.Conv2d (kaiming_uniform_ with
a = sqrt(5), a standard deviation of 1/sqrt(3 fan_in)) and a normal
distribution of std 0.01, an old default. The profile (gradient norm per layer,
output std per layer, update ratio) tells them apart; the monitor's findings
name the layers.

Run: python snippets/11-diagnosing-gradient-problems/layer_profile.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from gradient_monitor import GradientMonitor
from torch import nn

DEPTH = 8


def cnn(g, init, depth=DEPTH, channels=16, classes=4):
    """depth 3x3 convolutions with ReLU, average pooling, a linear classifier;
    named conv1, relu1, ..., classifier, for the monitor's messages."""
    model = nn.Sequential()
    for i in range(depth):
        conv = nn.Conv2d(3 if i == 0 else channels, channels, 3, padding=1)
        if init == "He":
            nn.init.kaiming_normal_(
                conv.weight, nonlinearity="relu", generator=g
            )
        elif init == "PyTorch default":  # nn.Conv2d.reset_parameters
            nn.init.kaiming_uniform_(conv.weight, a=math.sqrt(5), generator=g)
        else:
            nn.init.normal_(conv.weight, std=0.01, generator=g)
        nn.init.zeros_(conv.bias)
        model.add_module(f"conv{i + 1}", conv)
        model.add_module(f"relu{i + 1}", nn.ReLU())
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flatten", nn.Flatten())
    model.add_module("classifier", nn.Linear(channels, classes))
    nn.init.kaiming_uniform_(
        model.classifier.weight, a=math.sqrt(5), generator=g
    )
    nn.init.zeros_(model.classifier.bias)
    return model


INITS = ("He", "PyTorch default", "std 0.01")


# --8<-- [start:core]
def profile(init, seed=0, lr=0.1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 3, 16, 16, generator=g)
    y = torch.randint(0, 4, (32,), generator=g)
    model = cnn(g, init)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    with GradientMonitor(model, optimizer, every=1) as monitor:
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        record = monitor.step(loss)
    return record, monitor.findings(record)


# --8<-- [end:core]


def experiment():
    results = {}
    for init in INITS:
        record, findings = profile(init)
        convs = [f"conv{i + 1}" for i in range(DEPTH)]
        relus = [f"relu{i + 1}" for i in range(DEPTH)]
        head = "classifier"
        results[init] = {
            "gradient norm": [
                record.layer_grad_norm[n] for n in [*convs, head]
            ],
            "output std": [record.activations[n]["std"] for n in relus],
            "dead": [record.activations[n]["dead"] for n in relus],
            "update ratio": [
                record.update_ratio[f"{n}.weight"] for n in [*convs, head]
            ],
            "findings": findings,
        }
    return results


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 5.6), sharex=True)
    layers = range(1, DEPTH + 2)  # the convolutions, then the classifier
    for i, (init, r) in enumerate(results.items()):
        top.plot(layers, r["gradient norm"], "o-", color=f"C{i}", label=init)
        bottom.plot(layers[:-1], r["output std"], "o-", color=f"C{i}")
    top.set_yscale("log")
    top.set_ylabel("gradient norm\n(log scale)")
    top.set_ylim(1e-14, 10)  # room below the curves for the legend
    top.legend(loc="lower right")
    bottom.set_yscale("log")
    bottom.set_ylabel("ReLU output std\n(log scale)")
    bottom.set_xlabel("layer (9: the classifier)")
    bottom.set_xticks(layers)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for init, r in results.items():
        print(f"{init}:")
        print(
            "  gradient norm", " ".join(f"{v:.1e}" for v in r["gradient norm"])
        )
        print("  output std   ", " ".join(f"{v:.1e}" for v in r["output std"]))
        print(
            "  update ratio ", " ".join(f"{v:.1e}" for v in r["update ratio"])
        )
        for finding in r["findings"]:
            print(f"  finding: {finding}")
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
