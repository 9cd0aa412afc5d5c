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
# # Normalization and skips lab
#
# In this lab you build one deep network in several versions: plain, with batch or
# layer normalization, with skip connections, and with skip connections whose branches
# start at zero. For each version you measure, layer by layer, how the signal spreads on
# the way forward and how large the weight gradients are on the way back, then train
# all of them with the same plain gradient descent and compare the loss curves. The
# theory is in the chapters on [normalization](../../04-normalization/) and
# [skip connections](../../05-skip-connections/); here you poke at it.
#
# **What you will learn**
#
# - that normalization and skip connections act on different things: a normalization
#   layer resets the *forward* scale at every layer, a skip connection gives the
#   *backward* signal a path around every weight matrix;
# - that batch normalization alone does not give level gradients: in a deep plain
#   network with batch norm, the weight gradients at initialization grow from the
#   output towards the input;
# - that a skip connection alone does not give a level forward signal: unscaled
#   residual branches pile their variance onto the stream, layer after layer;
# - how the fixes combine: normalize inside the branch (pre-activation), scale the
#   branches down, or start them at zero;
# - why a batch-normalized network is trained in train mode and evaluated in eval mode.

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
# This is the only cell you need to edit. Change a value, then re-run all cells
# (*Run all* in Jupyter or Colab).
#
# - `ARCHS`: the versions to compare, any of
#   - `"plain"`: each layer is $x_{l+1} = \sigma(W^{(l)} x_l + b^{(l)})$;
#   - `"plain + batchnorm"`, `"plain + layernorm"`:
#     $x_{l+1} = \sigma(\mathrm{norm}(W^{(l)} x_l + b^{(l)}))$, the normalization between the linear
#     map and the activation, as in the original batch-norm paper;
#   - `"residual"`: $x_{l+1} = x_l + s \cdot (W^{(l)} \sigma(x_l) + b^{(l)})$, a pre-activation
#     residual block with nothing after the addition;
#   - `"residual + batchnorm"`, `"residual + layernorm"`:
#     $x_{l+1} = x_l + s \cdot (W^{(l)} \sigma(\mathrm{norm}(x_l)) + b^{(l)})$, the normalization
#     first inside the branch (norm, then activation, then the linear map);
#   - `"residual, zero-init"`: like `"residual"`, but every branch's $W^{(l)}$ starts at zero,
#     so at initialization each block is the identity.
# - `ACTIVATION`: $\sigma$, `"relu"` or `"tanh"`.
# - `DEPTH`: number of layers (blocks) between the input and the output; `WIDTH`: units
#   per layer.
# - `BRANCH_SCALE`: $s$, the factor on every residual branch; 1 leaves the branches as
#   they are, `DEPTH ** -0.5` scales them by $1/\sqrt{\text{DEPTH}}$.
# - `LR`, `STEPS`: learning rate and number of full-batch SGD steps.
# - `SEED`: seeds the task and the initial weights; same seed, same numbers.
#
# The defaults compare five 30-layer ReLU networks.

# %%
# =================== CHANGE THESE, THEN RE-RUN ALL CELLS ===================
ARCHS = [
    "plain",
    "plain + batchnorm",
    "residual",
    "residual + batchnorm",
    "residual, zero-init",
]
ACTIVATION = "relu"  # "relu" or "tanh"
DEPTH = 30  # layers (blocks) between the input and the output
WIDTH = 64  # units per layer
BRANCH_SCALE = 1.0  # multiplies every residual branch; try DEPTH ** -0.5
LR = 0.05  # SGD learning rate
STEPS = 100  # full-batch SGD steps
SEED = 0  # seeds the task and the weights
# ===========================================================================

# %% [markdown]
# ## The networks and the task
#
# The next cell defines everything the lab uses; nothing is hidden in a helper
# package.
#
# - `make_task` draws 512 points in 16 dimensions and labels them with a random
#   two-layer "teacher" network. The first 256 are the training set, the other 256 a
#   held-out set for the final evaluation.
# - Every network has the same outer shape: a linear *stem* from the 16 inputs to
#   `WIDTH` units, `DEPTH` layers of the chosen kind, each with one `WIDTH` × `WIDTH`
#   linear map, and a linear *head* with two outputs.
# - `Layer` is one of those layers, plain or residual, with or without a normalization.
#   Its weights are drawn with `nn.init.kaiming_normal_` for the chosen activation (He
#   init for ReLU), so even the plain network starts from a sensible scale; biases
#   start at zero. The stem and the head are drawn so that they keep the variance of
#   their input, and they are drawn first: every version gets the same task, the same
#   stem and the same head.
#
# Every random draw takes an explicit `torch.Generator` seeded with `SEED`, so
# re-running a cell gives the same numbers.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
KINDS = (
    "plain",
    "plain + batchnorm",
    "plain + layernorm",
    "residual",
    "residual + batchnorm",
    "residual + layernorm",
    "residual, zero-init",
)
if ACTIVATION not in ACTIVATIONS:
    raise ValueError(
        f"ACTIVATION must be one of {list(ACTIVATIONS)}, not {ACTIVATION!r}"
    )
for arch in ARCHS:
    if arch not in KINDS:
        raise ValueError(
            f"ARCHS entries must be among {list(KINDS)}, not {arch!r}"
        )


def make_task(g, n=512, dim=16):
    """Inputs, 0/1 labels from a random two-layer teacher; half held out."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1) @ w2 > 0).long()
    return x[: n // 2], y[: n // 2], x[n // 2 :], y[n // 2 :]


class Layer(nn.Module):
    """plain: h -> act(norm(W h + b))
    residual: h -> h + s * (W act(norm(h)) + b)"""

    def __init__(self, arch, g):
        super().__init__()
        self.residual = arch.startswith("residual")
        self.linear = nn.Linear(WIDTH, WIDTH)
        if "batchnorm" in arch:
            self.norm = nn.BatchNorm1d(WIDTH)  # each unit, across the batch
        elif "layernorm" in arch:
            self.norm = nn.LayerNorm(WIDTH)  # each input, across the units
        else:
            self.norm = nn.Identity()
        self.act = ACTIVATIONS[ACTIVATION]()
        if (
            "zero-init" in arch
        ):  # the branch adds nothing until training moves W
            nn.init.zeros_(self.linear.weight)
        else:  # std gain / sqrt(WIDTH): sqrt(2) for ReLU, 5/3 for tanh
            nn.init.kaiming_normal_(
                self.linear.weight, nonlinearity=ACTIVATION, generator=g
            )
        nn.init.zeros_(self.linear.bias)

    def forward(self, h):
        if self.residual:  # pre-activation: norm -> act -> linear, then add
            return h + BRANCH_SCALE * self.linear(self.act(self.norm(h)))
        return self.act(self.norm(self.linear(h)))


def variance_preserving(n_in, n_out, g):
    """A linear layer with weights of std 1 / sqrt(n_in) and zero biases."""
    layer = nn.Linear(n_in, n_out)
    nn.init.kaiming_normal_(layer.weight, nonlinearity="linear", generator=g)
    nn.init.zeros_(layer.bias)
    return layer


def build(arch, seed=SEED):
    """The task and a fresh network, all drawn from one seeded generator."""
    g = torch.Generator().manual_seed(seed)
    data = make_task(g)
    stem = variance_preserving(16, WIDTH, g)
    head = variance_preserving(WIDTH, 2, g)
    layers = [Layer(arch, g) for _ in range(DEPTH)]
    return nn.Sequential(stem, *layers, head), data


_, (x, y, x_test, y_test) = build(ARCHS[0])
print(
    f"{DEPTH} layers of {WIDTH} units, {ACTIVATION}, residual branches "
    f"times {BRANCH_SCALE:.3g}"
)
print(
    f"task: {len(x)} training and {len(x_test)} held-out points, "
    f"{x.shape[1]} inputs;"
    f"\n{y.float().mean():.2f} of the training labels are 1"
)

# %% [markdown]
# ## At initialization: forward and backward
#
# Before any training, one forward pass of the 256 training points records how much
# each layer's output varies across the inputs (the standard deviation over the
# inputs, averaged over the units). For a plain layer that is the output of the
# activation; for a residual block it is the *stream* $x_{l+1}$ after the addition. One
# backward pass of the cross-entropy loss then records the norm of each layer's weight
# gradient, ‖∂L/∂W‖. Both are plotted on a log scale against the layer index, layer 1
# being next to the input.
#
# What to look at:
#
# - **Left, `"residual"`:** a climbing straight line. Each branch adds to the stream a
#   signal about as large as the stream itself, so the variance doubles at every block
#   and the std grows by a factor close to √2 per block (the printed *growth* column is
#   the average factor per layer). A skip connection keeps the gradient's path open,
#   but it does nothing to stop the forward signal from exploding.
# - **Left, `"residual + batchnorm"`:** the stream still grows, but far more slowly:
#   the normalization makes every branch add about the same amount, so the variance
#   grows by a constant *amount* per block instead of a constant *factor*.
# - **Left, `"plain + batchnorm"`:** level by construction; batch norm resets every
#   unit to zero mean and unit variance across the batch.
# - **Right, `"plain + batchnorm"`:** the forward signal is level, yet the weight
#   gradients grow towards the input, layer after layer. This is the gradient explosion
#   that Yang et al. (2019, *A mean field theory of batch normalization*) derived for
#   deep batch-normalized networks without skips. Batch norm itself causes it: in
#   their theory no choice of initial weight scale or activation function removes it.
#   The printed *ratio* of the layer-1 to the layer-`DEPTH` gradient norm measures it.
# - **Right, `"residual"`:** huge at every layer, yet roughly level. The backward
#   signal grows towards the input as the stream grows towards the output, and a
#   weight's gradient is the product of the two (the backward signal at the layer times
#   the input the weight multiplies). A level line is not enough: look at its height.
# - **Right, `"residual, zero-init"`:** perfectly level. Every block is the identity at
#   initialization, so every layer sees the same input and receives the same backward
#   signal.


# %%
def probe(model, x, y):
    """Per layer: output std across inputs, weight-grad norm; the loss."""
    stds, h = [], x
    for module in model:
        h = module(h)
        if isinstance(module, Layer):
            stds.append(h.std(dim=0).mean().item())  # across inputs
    loss = nn.functional.cross_entropy(h, y)
    model.zero_grad()
    loss.backward()
    grads = [
        m.linear.weight.grad.norm().item()
        for m in model
        if isinstance(m, Layer)
    ]
    model.zero_grad()
    return np.array(stds), np.array(grads), loss.item()


def positive(values):
    """Values to plot on a log axis: zeros, inf and NaN become gaps."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def growth(values):
    """Average factor by which values change from one layer to the next."""
    first, last = values[0], values[-1]
    finite = first > 0 and last > 0 and math.isfinite(last)
    if len(values) < 2 or not finite:
        return float("nan")
    return (last / first) ** (1 / (len(values) - 1))


def ratio(first, last):
    """first / last as text, saying so when either is zero or not finite."""
    if not (math.isfinite(first) and math.isfinite(last)) or last == 0:
        return "undefined"
    return f"{first / last:.3g}"


MARKERS = "os^Dv<>"
# below the panels
legend_space = 0.04 + 0.05 * math.ceil((len(ARCHS) + 1) / 3)
models, at_init = {}, {}
for arch in ARCHS:
    models[arch], (x, y, x_test, y_test) = build(arch)
    at_init[arch] = probe(models[arch], x, y)

print(f"At initialization ({DEPTH} layers of {WIDTH} {ACTIVATION} units)")
print(
    f"{'':21s}{'std 1st':>9s}{'std last':>9s}{'growth':>8s}"
    f"{'grad 1st':>9s}{'grad last':>10s}{'ratio':>7s}"
)
for arch, (stds, grads, _) in at_init.items():
    print(
        f"{arch:21s}{stds[0]:9.3g}{stds[-1]:9.3g}{growth(stds):8.3g}"
        f"{grads[0]:9.3g}{grads[-1]:10.3g}{ratio(grads[0], grads[-1]):>7s}"
    )
print(
    f"1st = layer 1 (next to the input), last = layer {DEPTH}\n"
    f"ratio = grad 1st / grad last\ngrowth = average factor per layer "
    f"by which the std changes\n"
    f"(for comparison, sqrt 2 = {math.sqrt(2):.3f})"
)

layers = np.arange(1, DEPTH + 1)
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
for i, (arch, (stds, grads, _)) in enumerate(at_init.items()):
    style = dict(marker=MARKERS[i % len(MARKERS)], markersize=3, label=arch)
    left.plot(layers, positive(stds), **style)
    right.plot(layers, positive(grads), **style)
left.set_ylabel("std of layer output (log scale)")
left.set_title("Forward: spread across inputs")
right.set_ylabel("‖∂L/∂W‖ (log scale)")
right.set_title("Backward: weight-gradient norm")
for ax in (left, right):
    ax.set_yscale("log")
    ax.set_xlabel("layer (1 = next to the input)")
    ax.grid(True, alpha=0.3)
fig.suptitle(
    f"At initialization: {ACTIVATION}, depth {DEPTH}", fontsize="medium"
)
fig.legend(
    *left.get_legend_handles_labels(),
    loc="lower center",
    ncol=3,
    fontsize="small",
    frameon=False,
)
fig.tight_layout(rect=(0, legend_space, 1, 1))
plt.show()

# %% [markdown]
# ## Training
#
# Now every network trains on the 256 training points with plain SGD: full batch,
# learning rate `LR`, `STEPS` steps, no momentum, the same for all. If the loss becomes
# NaN or infinite the run stops there and the plot marks the step with a cross (on the
# top edge of the plot if the last finite loss lies above it).
#
# **Train mode and eval mode.** During training the network is in *train mode*
# (`model.train()`): batch norm normalizes every unit with the mean and variance of the
# current batch, and updates running averages of them as a side effect. For the final
# evaluation it is switched to *eval mode* (`model.eval()`): batch norm then uses the
# running averages, so a prediction no longer depends on which other inputs share its
# batch. Layer norm and the networks without normalization compute the same thing in
# both modes. The table prints the training loss after the last step in train mode,
# the same loss in eval mode, and the accuracy on the held-out points (eval mode).
#
# What to look at:
#
# - **Left:** which curves fall, how fast, and which ones end in a cross. The dotted
#   line is ln 2, the loss of a model that always answers 50/50; a curve can start
#   far above it when the network's first outputs are large and confidently wrong.
# - **Right:** the weight-gradient norms per layer after training, in train mode,
#   as the next SGD step would see them. Compare their spread across layers with the
#   one at initialization: the printed *grad ratio* against the earlier *ratio*.


# %%
def train(model, x, y, lr=LR, steps=STEPS):
    """Full-batch SGD in train mode; stops once the loss is not finite."""
    model.train()  # batch norm: statistics of the current batch
    losses = []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            break  # NaN or inf: nothing sensible can follow
        model.zero_grad()
        loss.backward()
        with torch.no_grad():  # the plain SGD update, written out
            for p in model.parameters():
                p.add_(p.grad, alpha=-lr)  # p <- p - lr * grad
    return losses


@torch.no_grad()
def evaluate(model, x, y):
    """Loss and accuracy in eval mode: batch norm uses running averages."""
    model.eval()
    logits = model(x)
    model.train()
    loss = nn.functional.cross_entropy(logits, y).item()
    return loss, (logits.argmax(dim=1) == y).float().mean().item()


def plot_losses(ax, losses, label, top, **style):
    """One loss curve, cut at the first NaN/inf, marked with a cross.

    The y-axis ends at top; a cross above it is drawn on the edge.
    """
    finite = [v for v in losses if math.isfinite(v)]
    (line,) = ax.plot(range(len(finite)), finite, label=label, **style)
    if len(finite) < len(losses) and finite:
        step, last = len(finite) - 1, finite[-1]
        text = f"NaN at step {len(finite)}"
        if last > top:
            text += f", after loss {last:.2g} (off the scale)"
        ax.plot(
            step,
            min(last, top),
            "x",
            markersize=10,
            color=line.get_color(),
            clip_on=False,
        )
        ax.annotate(
            text,
            (step, min(last, top)),
            xytext=(8, -8 if last > top else 0),
            textcoords="offset points",
            va="center",
            fontsize="small",
            color=line.get_color(),
        )


results = {}
for arch in ARCHS:
    model = models[arch]  # the network probed above
    losses = train(model, x, y)
    eval_loss, _ = evaluate(model, x, y)  # eval mode, on the training points
    _, test_accuracy = evaluate(model, x_test, y_test)
    # train mode, as SGD sees it
    _, grads_after, last_loss = probe(model, x, y)
    results[arch] = {
        "losses": losses,
        "last loss": last_loss,
        "eval loss": eval_loss,
        "test accuracy": test_accuracy,
        "grads": grads_after,
    }

print(
    f"After {STEPS} SGD steps, learning rate {LR} (ln 2 = {math.log(2):.3f})"
)
print(
    f"{'':21s}{'first':>8s}{'last':>9s}{'eval':>9s}"
    f"{'held-out':>10s}{'grad ratio':>12s}"
)
for arch, r in results.items():
    losses, grads = r["losses"], r["grads"]
    if math.isfinite(losses[-1]):
        print(
            f"{arch:21s}{losses[0]:8.3g}"
            f"{r['last loss']:9.3g}{r['eval loss']:9.3g}"
            f"{r['test accuracy']:10.2f}{ratio(grads[0], grads[-1]):>12s}"
        )
    else:
        print(f"{arch:21s}{losses[0]:8.3g}   NaN at step {len(losses) - 1}")
print(
    "first, last: training loss at the first and last step (train mode)\n"
    "eval: the last loss again with model.eval(); held-out: accuracy\n"
    f"grad ratio: gradient norm of layer 1 / layer {DEPTH}"
)

all_losses = [v for r in results.values() for v in r["losses"]]
finite = [v for v in all_losses if math.isfinite(v)]
top = min(20, 1.5 * max(finite))  # the loss axis ends here
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
for i, (arch, r) in enumerate(results.items()):
    marker = MARKERS[i % len(MARKERS)]
    every = max(1, STEPS // 10)  # a marker every tenth of the run
    style = dict(marker=marker, markersize=3)
    plot_losses(left, r["losses"], arch, top, markevery=every, **style)
    right.plot(layers, positive(r["grads"]), label=arch, **style)
left.axhline(math.log(2), color="grey", linestyle=":", label="ln 2 (chance)")
left.set_yscale("log")
left.set_ylim(top=top)
left.set_xlabel("SGD step")
left.set_ylabel("training loss (log scale)")
left.set_title(f"Training loss, learning rate {LR}")
right.set_yscale("log")
right.set_xlabel("layer (1 = next to the input)")
right.set_ylabel("‖∂L/∂W‖ (log scale)")
right.set_title(f"Weight-gradient norm after {STEPS} steps")
for ax in (left, right):
    ax.grid(True, alpha=0.3)
fig.legend(
    *left.get_legend_handles_labels(),
    loc="lower center",
    ncol=3,
    fontsize="small",
    frameon=False,
)
fig.tight_layout(rect=(0, legend_space, 1, 1))
plt.show()

# %% [markdown]
# ## What the comparison shows
#
# These notes describe the default settings; after your own edits the numbers may tell
# a different story, which is the point.
#
# - **`"residual"`**: the forward explosion of the first figure reaches the head, so the
#   first loss is enormous, the first gradients are enormous too, and the run ends in a
#   cross almost at once (the table prints the step). Skips alone are not enough.
# - **`"plain"`** and **`"plain + batchnorm"`**: the slow ones, both far from the two
#   best residual networks after `STEPS` steps. Which of the two plain networks gets
#   further depends on the seed and the learning rate: try a few. It can even depend
#   on rounding: their final losses are sensitive to it (like the gradient-flow lab's
#   ReLU + He run), so another machine may print other values for them here, unlike
#   for the two best residual networks. Batch norm fixes the forward scale, but with
#   its exploding gradients it is no free win without skips.
# - **`"plain + batchnorm"`, after training:** compare its gradient ratio before and
#   after. Yang et al. also observed that after the first optimization steps the
#   gradients of such networks settle into a much smaller range across layers. Its
#   eval-mode loss differs from its train-mode loss: the running averages lag behind
#   the batch statistics while the weights move, PyTorch stores the variance with the
#   n − 1 correction, and small mismatches compound over `DEPTH` normalizations.
# - **`"residual + batchnorm"`** and **`"residual, zero-init"`**: the two fastest
#   curves. Both keep the identity path from input to output free of weight matrices,
#   and both keep the branches from swamping the stream. With batch norm inside the
#   branch every block adds about the same amount to a stream that keeps growing, so
#   deeper blocks change it relatively less (De & Smith, 2020, *Batch normalization
#   biases residual blocks towards the identity function in deep networks*). With zero
#   init every branch starts at exactly nothing, the idea behind Fixup (Zhang et al.,
#   2019) and SkipInit (De & Smith, 2020).
#
# The held-out accuracies are printed to show how an evaluation is done, not to rank
# the architectures: compare them with the training losses. Fitting 256 points almost
# perfectly is not the same as learning the teacher that labelled them.

# %% [markdown]
# ## Things to try
#
# Edit the settings cell, re-run all cells, and compare the printed numbers with the
# ones you got before.
#
# 1. **Scale the branches.** Set `BRANCH_SCALE = DEPTH ** -0.5`. The variance of the
#    `"residual"` stream now grows by a factor $1 + 1/\text{DEPTH}$ per block instead
#    of 2: what is its printed *growth* now, and does it train? What happens to the
#    stream of `"residual + batchnorm"`, and to the speed of the residual networks that
#    trained well before? Smaller branches also get smaller gradients.
# 2. **Layer norm instead of batch norm.** Add `"plain + layernorm"` and
#    `"residual + layernorm"` to `ARCHS`. Does the plain layer-norm network show the
#    gradient explosion of the batch-norm one? Look at its forward panel too: layer
#    norm normalizes each input across the units, not each unit across the inputs, so
#    nothing stops the inputs from becoming alike as they go deeper.
# 3. **Go deeper.** Set `DEPTH = 60` (the run takes longer). How does the gradient
#    ratio of `"plain + batchnorm"` change: by a constant amount, or by a factor? Do
#    `"residual + batchnorm"` and `"residual, zero-init"` still train at the same
#    learning rate?
# 4. **Change the activation.** Set `ACTIVATION = "tanh"`. Yang et al. predict that
#    batch norm makes the gradients explode for every activation, at a rate that
#    depends on it: is the `"plain + batchnorm"` ratio larger or smaller than with ReLU?
#    Look at `"residual"` too: tanh's output never leaves [−1, 1], however large the
#    stream. What does that do to the amount each branch can add?
# 5. **Push the learning rate.** Raise `LR` to 0.2, then 0.5. Which versions survive?
#    In `"plain + batchnorm"` every hidden weight matrix is followed by a batch norm, so
#    scaling it up leaves the output unchanged; a large step makes the weights larger,
#    which makes the next steps smaller relative to them. In `"residual + batchnorm"`
#    the matrix of each branch comes *after* the norm, and nothing undoes its scale.

# %% tags=["test"]
# Hidden from readers (hooks/notebooks.py drops cells tagged "test"): the
# numbers tests/test_labs.py checks the Markdown against, printed as JSON.
import json
nudged = {}
for arch in ("plain", "plain + batchnorm", "residual + batchnorm",
             "residual, zero-init"):
    model, (x, y, _, _) = build(arch)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1 + 1e-7 * torch.randn(p.shape, generator=gen))
    nudged[arch] = train(model, x, y)[-1]
print("LAB-NUMBERS " + json.dumps({
    "at init": {
        arch: {"stds": s.tolist(), "grads": g.tolist()}
        for arch, (s, g, _) in at_init.items()
    },
    "after": {
        arch: {**r, "grads": r["grads"].tolist()}
        for arch, r in results.items()
    },
    "nudged": nudged,
}))
