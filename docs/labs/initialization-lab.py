# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Initialization lab
#
# One deep network, several ways to draw its first weights. For each initialization
# you will see, layer by layer, how the activations spread out, how large the
# gradients are, and then how training goes. These are the diagnostics to reach for
# when your own network will not train: activation histograms, the share of saturated
# or dead units, gradient norms per layer and the update-to-weight ratio.
#
# **What you will learn**
#
# - to read per-layer activation histograms: collapsing to zero, saturating, or
#   keeping their shape;
# - how the initialization sets the gradient of every layer before the first step;
# - that a bad initialization is not forgotten after a few steps: with plain SGD and a
#   fixed budget, it decides whether the network trains at all.

# %%
# Run this lab on Colab (button at the top of the page) or on your machine.
# It needs torch 2.13 or newer, numpy and matplotlib; Colab has them.
# Elsewhere: pip install torch numpy matplotlib
import sys

if "google.colab" in sys.modules:  # make sure of them there
    import subprocess

    packages = ["torch", "numpy", "matplotlib"]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *packages])

# %% [markdown]
# ## Your settings
#
# Edit this cell, then run all cells again.
#
# - `ACTIVATION`: `"tanh"` or `"relu"`.
# - `INITS`: the schemes to compare, any of `"std 0.01"` (small random weights),
#   `"pytorch default"` (what `nn.Linear` does on its own), `"xavier"`, `"he"`,
#   `"orthogonal"` and `"lsuv"` (orthogonal, then each layer rescaled on a batch of
#   data until its outputs have unit variance).
# - `DEPTH`, `WIDTH`: hidden layers and their width; `LR`, `STEPS`: plain SGD.

# %%
# =================== CHANGE THESE, THEN RE-RUN ALL CELLS ===================
ACTIVATION = "tanh"  # "tanh" or "relu"
INITS = ["std 0.01", "pytorch default", "xavier", "he", "lsuv"]
DEPTH = 30  # hidden layers
WIDTH = 64  # units per hidden layer
LR = 0.05  # SGD learning rate
STEPS = 150  # full-batch SGD steps
SEED = 0  # seeds the task and the weights
# ===========================================================================

# %% [markdown]
# ## The network, the task and the initializations
#
# Everything is defined here; nothing is hidden in a helper package. Each scheme
# sets the weights of every `nn.Linear` and zeroes the biases, except
# `"pytorch default"`, which is exactly what `nn.Linear.reset_parameters` does:
# weights and biases from $U(-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}})$.

# %%
import math

import matplotlib.pyplot as plt
import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def make_task(g, n=512, dim=16):
    """Inputs and 0/1 labels from a random two-layer teacher network."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1) @ w2 > 0).long()
    return x, y


def init_linear(layer, scheme, g):
    """Draw one layer's weights with the named scheme."""
    w, n_in = layer.weight, layer.in_features
    if scheme == "pytorch default":
        nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
        nn.init.uniform_(layer.bias, -(n_in**-0.5), n_in**-0.5, generator=g)
        return
    if scheme == "std 0.01":
        nn.init.normal_(w, 0.0, 0.01, generator=g)
    elif scheme == "xavier":
        # Glorot's: variance 2/(n_in+n_out)
        nn.init.xavier_normal_(w, generator=g)
    elif scheme == "he":
        nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g)
    elif scheme in ("orthogonal", "lsuv"):
        # gain: 5/3 for tanh, sqrt(2) for ReLU
        gain = nn.init.calculate_gain(ACTIVATION)
        nn.init.orthogonal_(w, gain=gain, generator=g)
    else:
        raise ValueError(f"unknown init {scheme!r}")
    nn.init.zeros_(layer.bias)


@torch.no_grad()
def lsuv_(model, x, tol=0.1, max_iter=10):
    """LSUV (Mishkin & Matas 2015): scale each layer to output variance 1."""
    h = x
    for module in model:
        if isinstance(module, nn.Linear):
            for _ in range(max_iter):
                var = module(h).var().item()
                if abs(var - 1) < tol:
                    break
                module.weight /= math.sqrt(var)
        h = module(h)


def make_mlp(scheme, g, x):
    sizes = [x.shape[1]] + [WIDTH] * DEPTH
    blocks = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        blocks += [nn.Linear(n_in, n_out), ACTIVATIONS[ACTIVATION]()]
    model = nn.Sequential(*blocks, nn.Linear(WIDTH, 2))
    for m in model:
        if isinstance(m, nn.Linear):
            init_linear(m, scheme, g)
    if scheme == "lsuv":
        lsuv_(model, x)
    return model


def build(scheme):
    """Task and model from one generator: every scheme sees the same data."""
    g = torch.Generator().manual_seed(SEED)
    x, y = make_task(g)
    return x, y, make_mlp(scheme, g, x)


print(f"{DEPTH} hidden layers of {WIDTH} {ACTIVATION} units")
print(f"initializations compared: {', '.join(INITS)}")

# %% [markdown]
# ## Activations, layer by layer
#
# One forward pass of the 512 training points. Each panel is one initialization;
# each curve is the histogram of one layer's activations (darker = deeper). Look for
# three patterns:
#
# - **collapse**: the histograms shrink towards 0 with depth, and the signal is gone;
# - **saturation** (tanh): mass piles up at $\pm 1$, where $\tanh' \approx 0$;
# - **stable**: the deep layers look like the shallow ones.
#
# The printed table gives, at a few depths, how much the activations vary across the
# 512 inputs (the standard deviation over the inputs, averaged over the units), and
# for tanh the share of *saturated* units ($|a| > 0.97$, where
# $\tanh'(z) = 1 - a^2 < 0.06$) or for ReLU the share of *dead* units (never
# positive on this batch). The forward pass runs in float64, so a spread far below
# float32's resolution is measured rather than rounded away.
#
# The table and the histograms can disagree, and then the table is right about the
# signal. A histogram pools all units, so it also shows differences between units
# that are the same for every input. With `"pytorch default"` the histograms stop
# narrowing after the first few layers, held apart by the random biases, while the
# table shows the spread across inputs, the signal, falling by orders of magnitude.


# %%
def forward_record(model, x):
    """Activations after every nonlinearity."""
    acts, h = [], x
    for module in model:
        h = module(h)
        if not isinstance(module, nn.Linear):
            acts.append(h)
    return acts


def unhealthy_share(a):
    if ACTIVATION == "tanh":
        return (a.abs() > 0.97).float().mean().item()
    return (a <= 0).all(dim=0).float().mean().item()


shown = sorted({1, DEPTH // 4, DEPTH // 2, 3 * DEPTH // 4, DEPTH})
spreads = {}  # scheme: spread across inputs at the depths shown
label = "saturated" if ACTIVATION == "tanh" else "dead"
rows = math.ceil(len(INITS) / 3)
fig, axes = plt.subplots(rows, 3, figsize=(10, 3 * rows), squeeze=False)
axes = axes.flatten()
for ax in axes[len(INITS) :]:
    ax.axis("off")
print(
    f"{'init':16s} "
    + " ".join(f"std@{d:<3d}" for d in shown)
    + f"  {label}@{DEPTH}"
)
for ax, scheme in zip(axes, INITS):
    x, y, model = build(scheme)
    with torch.no_grad():  # float64: tiny spreads measured, not rounded
        acts = forward_record(model.double(), x.double())
    for d in shown:
        a = acts[d - 1].flatten()
        top = max(a.max().item(), 1e-6)
        lo, hi = (-1, 1) if ACTIVATION == "tanh" else (0, top)
        counts = torch.histc(a, bins=50, min=lo, max=hi)
        centres = torch.linspace(lo, hi, 50)
        shade = plt.cm.viridis(1 - d / DEPTH)
        ax.plot(
            centres, counts / counts.sum(), color=shade, label=f"layer {d}"
        )
    ax.set_title(scheme)
    ax.set_xlabel("activation")
    # spread across the inputs, unit by unit, averaged over the units
    spreads[scheme] = [acts[d - 1].std(dim=0).mean().item() for d in shown]
    stds = " ".join(f"{v:7.3g}" for v in spreads[scheme])
    print(f"{scheme:16s} {stds}  {unhealthy_share(acts[-1]):8.0%}")
for ax in axes[::3]:
    ax.set_ylabel("share of units")
axes[len(INITS) - 1].legend(fontsize="small")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Gradients at initialization
#
# One backward pass of the cross-entropy loss. The weight-gradient norm of every
# layer, on a log scale: a line falling towards layer 1 is a vanishing gradient, a
# rising one an exploding gradient, a level one is what you want, provided it is
# level at a sensible height. Read the printed ratio together with the norms: with
# `"std 0.01"` the ratio looks healthy, but every layer's gradient is tiny. A weight
# gradient $\delta^{(l)} a^{(l-1)\top}$ is the backward signal at the layer times
# the layer's input; here the input shrinks layer after layer on the way forward, and
# the backward signal by the same factor on the way back, so the product is equally
# tiny at every layer.


# %%
def grad_norms(model, x, y):
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    return [m.weight.grad.norm().item() for m in linears]


fig, ax = plt.subplots(figsize=(7, 3.5))
norms_at_init = {}
for scheme in INITS:
    x, y, model = build(scheme)
    # float64 here, so gradients below 1e-38 are measured, not rounded to 0
    # hidden layers only
    norms = grad_norms(model.double(), x.double(), y)[:-1]
    norms_at_init[scheme] = norms
    ax.plot(range(1, DEPTH + 1), norms, "o-", markersize=3, label=scheme)
    print(
        f"{scheme:16s} grad norm: layer 1 {norms[0]:7.2g}, "
        f"layer {DEPTH} {norms[-1]:7.2g}, ratio {norms[0] / norms[-1]:.2g}"
    )
ax.set_yscale("log")
ax.set_xlabel("layer (1 = next to the input)")
ax.set_ylabel("weight-gradient norm")
ax.legend(fontsize="small")
plt.show()

# %% [markdown]
# ## Training
#
# The same plain SGD for every initialization. Left: the loss. Right: the
# **update-to-weight ratio** of the first layer, $\text{lr} \cdot
# \text{std}(\nabla W) / \text{std}(W)$ on a log scale: around $10^{-3}$ a layer
# learns at a healthy pace; far below it does not move (Karpathy's rule of thumb
# from his *makemore* lectures, a heuristic rather than a law).


# %%
def train(scheme):
    x, y, model = build(scheme)
    first = next(m for m in model if isinstance(m, nn.Linear))
    losses, ratios = [], []
    for _ in range(STEPS):
        loss = nn.functional.cross_entropy(model(x), y)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            break
        model.zero_grad()
        loss.backward()
        ratios.append(
            (LR * first.weight.grad.std() / first.weight.std()).item()
        )
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-LR)
    return losses, ratios


runs = {scheme: train(scheme) for scheme in INITS}
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
for scheme, (losses, ratios) in runs.items():
    left.plot(losses, label=scheme)
    right.plot(ratios, label=scheme)
    print(f"{scheme:16s} loss {losses[0]:.3f} -> {losses[-1]:.3f}")
left.axhline(math.log(2), color="grey", linestyle=":", label="ln 2 (chance)")
left.set_xlabel("SGD step")
left.set_ylabel("training loss")
left.legend(fontsize="small")
right.set_yscale("log")
right.set_xlabel("SGD step")
right.set_ylabel("layer 1: lr * std(grad) / std(W)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## What to take away
#
# Compare the three printed tables with the plots:
#
# - the schemes whose activations collapse in the first table, `"std 0.01"` and
#   `"pytorch default"`, are the ones whose layer-1 gradients are tiny in the second
#   (below $10^{-7}$), and whose loss stays at $\ln 2$ in the third: with this
#   optimizer and budget, the initialization decided the outcome before training
#   began;
# - the schemes that keep the signal alive train. `"he"` and `"lsuv"` keep the
#   activation spread roughly level; `"xavier"` lets it shrink slowly, by a factor of
#   about 4 over the 30 layers (tanh's slope is below 1 away from 0, so at Xavier's
#   scale every layer loses a little), and it trains, but ends with a loss more than
#   ten times theirs.
#
# ## Try this
#
# 1. Set `ACTIVATION = "relu"`. Which schemes now keep the activations level? By
#    what factor per layer does the activation std change under Xavier, and why
#    (ReLU zeroes half of its inputs)? Then read Xavier's gradient ratio beside its
#    gradient norms and its loss curve: is a ratio near 1 enough?
# 2. Set `DEPTH = 60`. Which schemes still train? Look at the update-to-weight ratio
#    of the ones that do not.
# 3. Add `"orthogonal"` to `INITS` with tanh. How do its histograms compare with
#    Xavier's, and why can LSUV start from it?

# %% tags=["test"]
# Hidden from readers (hooks/notebooks.py drops cells tagged "test"): the
# numbers tests/test_labs.py checks the Markdown against, printed as JSON.
import json
pooled = {}
for scheme in INITS:
    x, y, model = build(scheme)
    with torch.no_grad():
        acts = forward_record(model.double(), x.double())
    pooled[scheme] = [acts[d - 1].std().item() for d in shown]
print("LAB-NUMBERS " + json.dumps({
    "shown": shown,
    "spreads": spreads,
    "pooled": pooled,
    "norms": norms_at_init,
    "losses": {scheme: losses for scheme, (losses, _) in runs.items()},
}))
