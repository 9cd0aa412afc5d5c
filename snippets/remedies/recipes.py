"""Four recipes keep per-layer gradient norms within a small factor where naive
twins spread them over many orders of magnitude.

Each recipe (an MLP, a CNN, an RNN and a Transformer, written as a practitioner
would: activation, initialization, normalization, skips) is built at depth next
to a naive counterpart: 20 sigmoid layers with PyTorch's default init against
20 ReLU layers with He init; 21 plain convolutions against a stem and 10
pre-activation residual blocks with batch norm; a tanh nn.RNN against an
nn.LSTM with forget-gate bias 3, over 100 time steps; a 12-layer Post-LN
nn.TransformerEncoder against a Pre-LN one with GPT-2's scaled residual
projections. One forward and backward pass at initialization, in float64, on
synthetic data, measures the gradient norm of every layer's own parameters (of
every input time step, for the recurrent networks) and the spread: the largest
over the smallest. Then every recipe takes a few training steps with its
optimizer, schedule, clipping and precision setting, to show that the code
runs. No claim is made about those steps.

Run: python snippets/remedies/recipes.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.optim import lr_scheduler


# --8<-- [start:mlp]
def he_(layer, g=None, nonlinearity="relu"):
    """He init (chapter 3) for a Linear or Conv layer, zero bias."""
    nn.init.kaiming_normal_(
        layer.weight, nonlinearity=nonlinearity, generator=g
    )
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def mlp(g=None, depth=20, width=256, n_in=64, classes=10):
    """ReLU layers with He init and zero biases; no normalization."""
    layers, fan_in = [], n_in
    for _ in range(depth):
        layers += [he_(nn.Linear(fan_in, width), g), nn.ReLU()]
        fan_in = width
    return nn.Sequential(*layers, he_(nn.Linear(width, classes), g, "linear"))


# --8<-- [end:mlp]


# --8<-- [start:cnn]
class PreActBlock(nn.Module):
    """x + F(x), F = BN, ReLU, conv, BN, ReLU, conv: nothing after the sum."""

    def __init__(self, c, g=None):
        super().__init__()
        layers = []
        for _ in range(2):
            conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
            layers += [nn.BatchNorm2d(c), nn.ReLU(), he_(conv, g)]
        self.branch = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.branch(x)


def cnn(g=None, blocks=10, c=16, classes=10):
    return nn.Sequential(
        he_(nn.Conv2d(3, c, 3, padding=1), g),  # the stem
        *[PreActBlock(c, g) for _ in range(blocks)],
        nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        he_(nn.Linear(c, classes), g, "linear"),
    )  # fmt: skip


# --8<-- [end:cnn]


class LastStep(nn.Module):
    """A recurrent layer, read out at its last time step."""

    def __init__(self, rnn, classes=2):
        super().__init__()
        self.rnn, self.head = rnn, nn.Linear(rnn.hidden_size, classes)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


# --8<-- [start:rnn]
def lstm(g=None, n_in=4, hidden=32, forget_bias=3.0):
    model = LastStep(nn.LSTM(n_in, hidden, batch_first=True))
    for p in model.parameters():  # PyTorch's own init, drawn from g
        nn.init.uniform_(p, -(hidden**-0.5), hidden**-0.5, generator=g)
    with torch.no_grad():  # gates stacked i, f, g, o; the two biases add up
        model.rnn.bias_ih_l0[hidden : 2 * hidden].fill_(forget_bias)
        model.rnn.bias_hh_l0[hidden : 2 * hidden].zero_()
    return model


# --8<-- [end:rnn]


class MeanToken(nn.Module):
    """A Transformer encoder, read out from the mean of its tokens."""

    def __init__(self, encoder, d, classes=10):
        super().__init__()
        self.encoder, self.head = encoder, nn.Linear(d, classes)

    def forward(self, x):
        return self.head(self.encoder(x).mean(dim=1))


# --8<-- [start:transformer]
def transformer(g=None, depth=12, d=32, heads=4, ff=128, norm_first=True):
    layer = nn.TransformerEncoderLayer(
        d, heads, ff, dropout=0.0, activation="gelu", batch_first=True,
        norm_first=norm_first,  # Pre-LN; False is PyTorch's default, Post-LN
    )  # fmt: skip
    final = nn.LayerNorm(d) if norm_first else None  # Pre-LN ends with one
    encoder = nn.TransformerEncoder(
        layer, depth, norm=final, enable_nested_tensor=False
    )
    model = MeanToken(encoder, d)
    for name, p in model.named_parameters():  # as nn.Transformer initializes
        if p.dim() > 1:
            nn.init.xavier_uniform_(p, generator=g)
        elif "norm" not in name:
            nn.init.zeros_(p)
    if norm_first:  # GPT-2: what writes into the stream, times 1/sqrt(2L)
        with torch.no_grad():
            for block in encoder.layers:
                block.self_attn.out_proj.weight.mul_((2 * depth) ** -0.5)
                block.linear2.weight.mul_((2 * depth) ** -0.5)
    return model


# --8<-- [end:transformer]


# --8<-- [start:train]
def optimizer_and_schedule(model, recipe, steps=1000, warmup=100):
    if recipe == "CNN":  # batch norm lets SGD take large steps
        opt = torch.optim.SGD(
            model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4
        )
    else:  # Adam: every layer moves, whatever its gradient's scale
        lr = {"MLP": 1e-3, "RNN": 3e-3, "Transformer": 3e-4}[recipe]
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
    warm = lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=warmup)
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=steps - warmup)
    return opt, lr_scheduler.SequentialLR(opt, [warm, cosine], [warmup])


MAX_NORM = {"MLP": 1.0, "CNN": math.inf, "RNN": 1.0, "Transformer": 1.0}
BF16 = torch.bfloat16  # autocast's 16-bit type; None: float32 throughout
PRECISION = {"MLP": BF16, "CNN": BF16, "RNN": None, "Transformer": BF16}


def train_step(model, x, y, opt, schedule, scaler, max_norm, dtype):
    with torch.autocast(x.device.type, dtype, enabled=dtype is not None):
        loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()  # float16: the loss times S
    scaler.unscale_(opt)  # float16: divide by S before clipping
    norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)  # log it
    scaler.step(opt)  # float16: skipped if a gradient is inf or NaN
    scaler.update()
    schedule.step()  # after the optimizer's step
    return loss.item(), norm.item()


# --8<-- [end:train]


# The naive twins: what the same architectures look like without the recipe.
def default_init_(model, g):
    """PyTorch's default init of nn.Linear and nn.Conv2d, drawn from g:
    weights and biases from U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            bound = m.weight[0].numel() ** -0.5  # 1 / sqrt(fan_in)
            nn.init.uniform_(m.weight, -bound, bound, generator=g)
            nn.init.uniform_(m.bias, -bound, bound, generator=g)
    return model


def naive_mlp(g, depth=20, width=256, n_in=64, classes=10):
    layers, fan_in = [], n_in
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.Sigmoid()]
        fan_in = width
    return default_init_(nn.Sequential(*layers, nn.Linear(width, classes)), g)


def naive_cnn(g, depth=21, c=16, classes=10):
    layers, c_in = [], 3
    for _ in range(depth):
        layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU()]
        c_in = c
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return default_init_(nn.Sequential(*layers, *head), g)


def naive_rnn(g, n_in=4, hidden=32):
    model = LastStep(nn.RNN(n_in, hidden, batch_first=True))  # tanh
    for p in model.parameters():  # PyTorch's own init, drawn from g
        nn.init.uniform_(p, -(hidden**-0.5), hidden**-0.5, generator=g)
    return model


def naive_transformer(g):
    return transformer(g, norm_first=False)  # Post-LN, PyTorch's default


def mlp_with_batch_norm(g, depth=20, width=256, n_in=64, classes=10):
    """The MLP recipe with batch norm before every ReLU, and no skips."""
    layers, fan_in = [], n_in
    for _ in range(depth):
        linear = he_(nn.Linear(fan_in, width), g)
        layers += [linear, nn.BatchNorm1d(width), nn.ReLU()]
        fan_in = width
    return nn.Sequential(*layers, he_(nn.Linear(width, classes), g, "linear"))


# --8<-- [start:core]
def gradient_norms(model, x, y, layers):
    """One forward and backward pass at initialization, in float64: the
    gradient norm of each layer's own parameters, or of each input time step."""
    model, x = model.double(), x.double().requires_grad_()
    nn.functional.cross_entropy(model(x), y).backward()
    if layers is None:  # a recurrent network: the gradient reaching each step
        return x.grad.norm(dim=(0, 2)).tolist()
    return [
        torch.cat([p.grad.flatten() for p in layer.parameters()]).norm().item()
        for layer in layers(model)
    ]


def spread(norms):
    return max(norms) / min(norms)


# --8<-- [end:core]


def linears(model):  # the hidden layers, not the classifier
    return [m for m in model if isinstance(m, nn.Linear)][:-1]


def convs(model):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def encoder_layers(model):
    return list(model.encoder.layers)


def data(g, shape, classes):
    return torch.randn(shape, generator=g), torch.randint(
        0, classes, shape[:1], generator=g
    )


CASES = {  # naive twin, recipe, input shape, classes, layers (None: time steps)
    "MLP": (naive_mlp, mlp, (64, 64), 10, linears),
    "CNN": (naive_cnn, cnn, (16, 3, 8, 8), 10, convs),
    "RNN": (naive_rnn, lstm, (32, 100, 4), 2, None),
    "Transformer": (
        naive_transformer,
        transformer,
        (4, 16, 32),
        10,
        encoder_layers,
    ),
}


def train_briefly(name, recipe, shape, classes, seed, steps=3):
    """A few steps of the recipe, with its precision setting: the code runs
    (GradScaler scales only in float16; here it passes the calls through)."""
    g = torch.Generator().manual_seed(seed)
    model = recipe(g)
    opt, schedule = optimizer_and_schedule(model, name)
    dtype = PRECISION[name]
    scaler = torch.amp.GradScaler("cpu", enabled=dtype == torch.float16)
    x, y = data(g, shape, classes)
    log = [
        train_step(model, x, y, opt, schedule, scaler, MAX_NORM[name], dtype)
        for _ in range(steps)
    ]
    finite = all(torch.isfinite(p).all() for p in model.parameters())
    return {"loss, norm": log, "finite": bool(finite)}


def experiment(seeds=(0, 1, 2)):
    r = {"seeds": list(seeds)}
    for name, (naive, recipe, shape, classes, layers) in CASES.items():
        r[name] = {"naive": [], "recipe": []}
        for seed in seeds:
            for variant, build in (("naive", naive), ("recipe", recipe)):
                g = torch.Generator().manual_seed(seed)
                model = build(g)
                x, y = data(g, shape, classes)
                r[name][variant].append(gradient_norms(model, x, y, layers))
        r[name]["training"] = train_briefly(name, recipe, shape, classes, 0)
    r["MLP"]["batch norm, no skips"] = []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        model = mlp_with_batch_norm(g)
        x, y = data(g, CASES["MLP"][2], 10)
        r["MLP"]["batch norm, no skips"].append(
            gradient_norms(model, x, y, linears)
        )
    return r


ROWS = {  # the figure's row labels
    "MLP": "MLP, 20 layers",
    "CNN": "CNN, 21 convolutions",
    "RNN": "RNN, 100 time steps",
    "Transformer": "Transformer, 12 layers",
}


def plot(r):
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    names = list(ROWS)[::-1]
    for i, name in enumerate(names):
        for variant, color, marker, dy in (
            ("naive", "C1", "x", 0.0),
            ("recipe", "C0", "o", -0.3),
        ):
            spreads = [spread(n) for n in r[name][variant]]
            label = variant if i == 0 else None
            ax.plot(
                spreads, [i + dy] * len(spreads), marker, color=color,
                ms=8, mfc="none", ls="none", label=label,
            )  # fmt: skip
        ax.annotate(ROWS[name], (0.15, i + 0.28), va="center")
    ax.set_xscale("log")
    ax.set_xlim(0.1, 1e32)
    ax.set_xticks([1, 1e8, 1e16, 1e24, 1e32])
    ax.set_yticks([])
    ax.set_ylim(-0.55, len(names) - 0.35)
    ax.set_xlabel("largest / smallest gradient norm")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(
        loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False
    )
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    print(
        f"spread of the gradient norms at initialization, seeds {r['seeds']}:"
    )
    for name in ROWS:
        for variant in ("naive", "recipe", "batch norm, no skips"):
            if variant in r[name]:
                spreads = ", ".join(
                    f"{spread(n):.3g}" for n in r[name][variant]
                )
                print(f"  {name:12} {variant:21} {spreads}")
    for name in ROWS:
        t = r[name]["training"]
        steps = "; ".join(
            f"loss {a:.3g}, norm {b:.3g}" for a, b in t["loss, norm"]
        )
        print(f"  {name} recipe, 3 steps: {steps}; finite: {t['finite']}")
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
