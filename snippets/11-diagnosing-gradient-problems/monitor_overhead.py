"""What watching costs: the monitor's overhead, and detect_anomaly's.

The chapter's three models (nn.TransformerEncoder, nn.LSTM and the plain CNN of
nan_at_high_lr.py, nan_from_the_loss.py and layer_profile.py) take training
steps of three kinds: plain (the monitor attached, not sampling) and sampled
(gradient_monitor.GradientMonitor's hooks on), alternating, then steps under
torch.autograd.detect_anomaly(). Each kind's time is the median over the
repeats of the thread's CPU time, so that other processes on a shared machine
do not count, and alternating makes slow drifts cancel. Sampling every k steps
costs (sampled - plain) / k per step: under 5% of a plain step at k = 10 on all
three.

Run: python snippets/11-diagnosing-gradient-problems/monitor_overhead.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from gradient_monitor import GradientMonitor
from torch import nn


class LastStep(nn.Module):
    """nn.LSTM returns (output, (h_n, c_n)): keep the output's last time step."""

    def forward(self, out):
        return out[0][:, -1]


def default_init(model, g):
    """PyTorch's default initialization, drawn from the generator g."""
    for m in model.modules():
        if isinstance(m, nn.Linear):  # nn.Linear.reset_parameters
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
            bound = 1 / math.sqrt(m.weight.shape[1])
            nn.init.uniform_(m.bias, -bound, bound, generator=g)
        elif isinstance(m, nn.LSTM):  # nn.LSTM.reset_parameters
            for p in m.parameters():
                bound = 1 / math.sqrt(m.hidden_size)
                nn.init.uniform_(p, -bound, bound, generator=g)
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):  # its _reset_parameters
            nn.init.xavier_uniform_(m.in_proj_weight, generator=g)
            nn.init.zeros_(m.in_proj_bias)
            nn.init.zeros_(m.out_proj.bias)


def transformer(g, d=64, length=16, features=16, classes=4):
    """nan_at_high_lr.py's model and a batch of its size."""
    layer = nn.TransformerEncoderLayer(
        d, nhead=4, dim_feedforward=2 * d, dropout=0.0, batch_first=True
    )
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    model = nn.Sequential(
        nn.Linear(features, d),
        encoder,
        nn.Flatten(),
        nn.Linear(length * d, classes),
    )
    default_init(model, g)
    x = torch.randn(32, length, features, generator=g)
    return model, x, torch.randint(0, classes, (32,), generator=g)


def lstm(g, features=4, hidden=32):
    """nan_from_the_loss.py's model, ending at the logit, and a batch."""
    model = nn.Sequential(
        nn.LSTM(features, hidden, batch_first=True),
        LastStep(),
        nn.Linear(hidden, 1),
    )
    default_init(model, g)
    x = torch.randn(64, 16, features, generator=g)
    return model, x, (x[:, -4:, 0].sum(1, keepdim=True) > 0).float()


def cnn(g, depth=8, channels=16):
    """layer_profile.py's model, He-initialized, and 32 random images."""
    layers = [nn.Conv2d(3, channels, 3, padding=1), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
    model = nn.Sequential(
        *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 4)
    )
    default_init(model, g)
    for m in model:
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=g)
            nn.init.zeros_(m.bias)
    x = torch.randn(32, 3, 16, 16, generator=g)
    return model, x, torch.randint(0, 4, (32,), generator=g)


MODELS = {  # name: (model and batch, loss, learning rate)
    "Transformer": (transformer, nn.functional.cross_entropy, 0.02),
    "LSTM": (lstm, nn.functional.binary_cross_entropy_with_logits, 0.2),
    "CNN": (cnn, nn.functional.cross_entropy, 0.1),
}


def median(values):
    return sorted(values)[len(values) // 2]


# --8<-- [start:core]
def step_times(train_step, monitor, pairs, anomalous):  # median CPU seconds
    times = {"plain": [], "sampled": [], "detect_anomaly": []}

    def timed(kind):  # this thread's CPU time: other processes do not count
        start = time.thread_time()
        train_step()
        times[kind].append(time.thread_time() - start)

    for _ in range(pairs):  # alternating: slow drifts cancel
        timed("plain")
        monitor.sample_next()  # hooks on for the next step only
        timed("sampled")
    with torch.autograd.detect_anomaly():  # apart: it slows what follows
        for _ in range(anomalous):
            timed("detect_anomaly")
    return {kind: median(t) for kind, t in times.items()}


# --8<-- [end:core]


def measure(make, loss_fn, lr, pairs, anomalous, seed):
    g = torch.Generator().manual_seed(seed)
    model, x, y = make(g)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def train_step():
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        monitor.step(loss)

    # attached, sampling only when asked; step 0 (sampled) is a warm-up
    with GradientMonitor(model, optimizer, every=10**9) as monitor:
        train_step()
        with warnings.catch_warnings():  # detect_anomaly warns that it is on
            warnings.simplefilter("ignore")
            return step_times(train_step, monitor, pairs, anomalous)


def experiment(pairs=20, anomalous=5, seed=0):
    results = {}
    for name, (make, loss_fn, lr) in MODELS.items():
        t = measure(make, loss_fn, lr, pairs, anomalous, seed)
        extra = (t["sampled"] - t["plain"]) / t["plain"]
        results[name] = {
            "seconds per step": t,
            "sampled step, extra": extra,
            "every 10 steps, extra": extra / 10,
            "detect_anomaly, extra": (t["detect_anomaly"] - t["plain"])
            / t["plain"],
        }
    return results


BARS = {
    "every 10 steps, extra": "monitor, every 10 steps",
    "sampled step, extra": "monitor, every step",
    "detect_anomaly, extra": "detect_anomaly",
}


def plot(results):
    fig, ax = plt.subplots(figsize=(4.2, 4.4))
    names = list(results)
    height = 0.8 / len(BARS)
    for i, (key, label) in enumerate(BARS.items()):
        ys = [j + (i - 1) * height for j in range(len(names))]
        values = [100 * results[n][key] for n in names]
        ax.barh(ys, values, height, color=f"C{i}", label=label)
    ax.axvline(5, color="grey", ls="--")
    ax.text(5.5, -0.62, "5%", color="grey", va="center")
    ax.set_xscale("log")
    ax.set_xlim(0.3, 3000)
    ax.set_ylim(len(names) - 0.5, -0.8)  # first model on top, room for "5%"
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("extra time per step, % of a\nplain step (log scale)")
    fig.legend(loc="lower center", frameon=False)
    fig.tight_layout(rect=(0, 0.17, 1, 1))
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for name, r in results.items():
        plain = r["seconds per step"]["plain"]
        print(
            f"{name}: plain step {1e3 * plain:.2f} ms of CPU; extra: "
            f"sampled step {r['sampled step, extra']:.0%}, every 10 steps "
            f"{r['every 10 steps, extra']:.1%}, detect_anomaly "
            f"{r['detect_anomaly, extra']:.0%}"
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
