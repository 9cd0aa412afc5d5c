"""What each remedy costs: exact parameters, saved activations and extra work.

One reference layer, nn.Linear(256, 256) followed by a ReLU, in a stack of 16
such layers at batch 64, is given each remedy in turn: batch norm, layer norm,
weight normalization, spectral normalization, a residual connection, a highway
gate. The snippet counts, exactly, what one layer of each adds: parameters,
buffers, and the floats autograd keeps for the backward pass (found with
torch.autograd.graph.saved_tensors_hooks, parameters and buffers aside, each
storage once). It also counts the extra work that can be counted: the
matrix-vector products of spectral normalization (torch.overrides.
TorchFunctionMode), the floating-point operations of the step's matrix products
(torch.utils.flop_counter), what clipping by norm reads, the state of the
optimizers, and what an LSTM costs next to a plain RNN. Times depend on the
machine, so none is measured.

Run: python snippets/remedies/costs.py [OUT_DIR]
"""

import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.nn.utils import parametrizations
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

WIDTH, BATCH, DEPTH = 256, 64, 16


class Residual(nn.Module):
    """x + relu(linear(x)): the layer with an identity skip around it."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return x + torch.relu(self.layer(x))


class Highway(nn.Module):
    """relu(H x) * T + x * (1 - T), T = sigmoid(W_T x + b_T): a gated skip."""

    def __init__(self, layer):
        super().__init__()
        self.layer, self.gate = layer, nn.Linear(WIDTH, WIDTH)

    def forward(self, x):
        t = torch.sigmoid(self.gate(x))
        return torch.relu(self.layer(x)) * t + x * (1 - t)


REMEDIES = {  # one layer of each: the plain layer, and the remedy around it
    "plain": lambda lin: nn.Sequential(lin, nn.ReLU()),
    "batch norm": lambda lin: nn.Sequential(
        lin, nn.BatchNorm1d(WIDTH), nn.ReLU()
    ),
    "layer norm": lambda lin: nn.Sequential(
        lin, nn.LayerNorm(WIDTH), nn.ReLU()
    ),
    "weight norm": lambda lin: nn.Sequential(
        parametrizations.weight_norm(lin), nn.ReLU()
    ),
    "spectral norm": lambda lin: nn.Sequential(
        parametrizations.spectral_norm(lin), nn.ReLU()
    ),
    "residual": Residual,
    "highway": Highway,
}


# --8<-- [start:core]
def saved_floats(model, x):
    """The floats autograd keeps for the backward pass: each storage once,
    parameters and buffers aside (the model holds them anyway)."""
    own = {t.untyped_storage().data_ptr() for t in model.state_dict().values()}
    kept = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in own:
            kept[storage.data_ptr()] = storage.nbytes() // t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(kept.values())


# --8<-- [end:core]


def stack(remedy, depth):
    """depth layers of nn.Linear(WIDTH, WIDTH) + ReLU, each with the remedy."""
    make = REMEDIES[remedy]
    return nn.Sequential(*[make(nn.Linear(WIDTH, WIDTH)) for _ in range(depth)])


def numel(tensors):
    return sum(t.numel() for t in tensors)


class CountCalls(TorchFunctionMode):
    """How often each torch function is called inside the `with` block."""

    def __init__(self):
        super().__init__()
        self.calls = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        self.calls[name] = self.calls.get(name, 0) + 1
        return func(*args, **(kwargs or {}))


def step_flops(model, x):
    """Floating-point operations of the matrix products of one forward and
    backward pass (FlopCounterMode counts matrix products only)."""
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return counter.get_total_flops()


def experiment(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, WIDTH, generator=g)
    rows = {}
    for remedy in REMEDIES:
        one = stack(remedy, 1)
        # one layer more in the middle of a deep stack: first-layer effects
        # (its input needs no gradient) cancel out
        saved = saved_floats(stack(remedy, DEPTH), x) - saved_floats(
            stack(remedy, DEPTH - 1), x
        )
        rows[remedy] = {
            "parameters": numel(one.parameters()),
            "buffers": numel(one.buffers()),
            "buffer dtypes": sorted({str(b.dtype) for b in one.buffers()}),
            "saved floats": saved,
            "step flops": step_flops(stack(remedy, DEPTH), x),
        }
    plain = rows["plain"]
    for row in rows.values():
        for key in ("parameters", "buffers", "saved floats", "step flops"):
            row[f"extra {key}"] = row[key] - plain[key]
    # spectral norm: torch.mv calls per forward pass, training and eval mode
    sn = stack("spectral norm", 1)
    mv = {}
    for mode in ("train", "eval"):
        getattr(sn, mode)()
        with CountCalls() as counted:
            sn(x)
        mv[mode] = counted.calls.get("mv", 0)
    # clipping by norm, on the plain 16-layer stack: what it reads
    mlp = stack("plain", DEPTH)
    P = numel(mlp.parameters())
    mlp(x).sum().backward()  # gradients, for the optimizers' first step
    # optimizer state, floats per parameter, after one step
    state = {}
    for name, make in (
        ("SGD", lambda p: torch.optim.SGD(p, lr=0.1)),
        ("SGD, momentum", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
        ("Adam", lambda p: torch.optim.Adam(p)),
    ):
        opt = make(mlp.parameters())
        opt.step()
        tensors = [t for s in opt.state.values() for t in s.values()]
        state[name] = numel(t for t in tensors if t.dim() > 0) / P
    # a gated recurrent layer against a plain one, H = WIDTH
    rnn, lstm = nn.RNN(WIDTH, WIDTH), nn.LSTM(WIDTH, WIDTH)
    return {
        "settings": dict(width=WIDTH, batch=BATCH, depth=DEPTH),
        "rows": rows,
        "spectral norm mv calls": mv,
        "clipping": {"P": P},
        "optimizer state per parameter": state,
        "RNN parameters": numel(rnn.parameters()),
        "LSTM parameters": numel(lstm.parameters()),
    }


LABELS = {  # shorter names for the figure
    "batch norm": "batch norm",
    "layer norm": "layer norm",
    "weight norm": "weight norm",
    "spectral norm": "spectral norm",
    "residual": "residual",
    "highway": "highway gate",
}


def plot(results):
    rows = results["rows"]
    plain = rows["plain"]
    names = list(LABELS)[::-1]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.0), sharey=True)
    panels = (
        (top, "extra parameters", "parameters"),
        (bottom, "extra saved floats", "saved floats"),
    )
    for ax, key, base in panels:
        values = [100 * rows[n][key] / plain[base] for n in names]
        ax.barh(range(len(names)), values, color="C0")
        for i, v in enumerate(values):
            ax.annotate(
                f"{v:.0f}%" if v >= 10 or v == 0 else f"{v:.1f}%",
                (v, i),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
            )
        ax.set_xlim(0, 1.3 * max(values))
        ax.set_xlabel(f"{key}, % of the plain layer's")
        ax.grid(True, axis="x", alpha=0.3)
    top.set_yticks(range(len(names)), [LABELS[n] for n in names])
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    s = results["settings"]
    print(
        f"per layer of nn.Linear({s['width']}, {s['width']}) + ReLU, batch "
        f"{s['batch']}, in a stack of {s['depth']}:"
    )
    print(
        f"{'':14} {'params':>8} {'buffers':>8} {'saved':>8} {'stack flops':>11}"
    )
    for name, r in results["rows"].items():
        print(
            f"{name:14} {r['parameters']:8d} {r['buffers']:8d} "
            f"{r['saved floats']:8d} {r['step flops']:11d}"
        )
    print(f"spectral norm, mv per forward: {results['spectral norm mv calls']}")
    c = results["clipping"]
    print(f"clipping reads the P = {c['P']} gradient entries of the stack")
    print(
        f"optimizer state per parameter: {results['optimizer state per parameter']}"
    )
    print(
        f"nn.RNN: {results['RNN parameters']} parameters, "
        f"nn.LSTM: {results['LSTM parameters']}"
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
