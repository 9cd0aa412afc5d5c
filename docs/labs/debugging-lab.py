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
# # Debugging lab
#
# You are handed a training script that does not train: an 8-layer ReLU
# network that classifies small images into ten classes. Its author used
# He's initialization and SGD with momentum, and still the loss is infinite
# from the first step. In this lab you diagnose the run with the gradient
# monitor of the chapter on
# [diagnosing gradient problems](../../11-diagnosing-gradient-problems/),
# fix one cause at a time, and check each fix with the same measurements
# that found the cause.
#
# **What you will learn**
#
# - to locate the first non-finite value of a run: what the monitor says,
#   what `torch.autograd.detect_anomaly` says, and why they point at
#   different lines;
# - to read update-to-data ratios, and what a ratio near 1 means;
# - that a fix shows in the measurements before it shows in the loss;
# - to recognize a loss that sits at $\ln C$, and what the update ratios say
#   about it.
#
# The monitor is one file, `gradient_monitor.py`, published beside chapter
# 11 ([download it](../../11-diagnosing-gradient-problems/gradient_monitor.py)).
# Put it in the folder of this notebook; on Colab, the next cell asks you to
# upload it.

# %%
# Run this lab on Colab (button at the top of the page) or on your machine.
# It needs torch 2.13 or newer and matplotlib; Colab has them.
# Elsewhere: pip install torch matplotlib
import sys
from pathlib import Path

if "google.colab" in sys.modules:  # make sure of them there
    import subprocess

    packages = ["torch", "matplotlib"]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *packages])
    if not Path("gradient_monitor.py").exists():
        from google.colab import files

        files.upload()  # choose gradient_monitor.py

# This folder, or chapter 11's in a clone of the site's repository
CHAPTER_11 = Path("../../snippets/11-diagnosing-gradient-problems")
for folder in (Path.cwd(), CHAPTER_11):
    if (folder / "gradient_monitor.py").exists():
        sys.path.insert(0, str(folder.resolve()))
        break
from gradient_monitor import GradientMonitor

# %% [markdown]
# ## Your settings
#
# The lab runs the script four times, changing one thing each time; these
# are what all four share. Change a value, then re-run all cells (*Run all*
# in Jupyter or Colab).
#
# - `DEPTH`, `WIDTH`: hidden ReLU layers and their units.
# - `LR`: the learning rate of SGD with momentum 0.9; `BATCH`: examples per
#   step; `STEPS`: steps per run.
# - `EVERY`: the monitor samples one step in `EVERY`.
# - `SEED`: seeds the images, the weights and the batches.

# %%
# =================== CHANGE THESE, THEN RE-RUN ALL CELLS ===================
DEPTH = 8  # hidden ReLU layers
WIDTH = 64  # units per hidden layer
LR = 0.01  # SGD with momentum 0.9
BATCH = 128  # examples per step
STEPS = 300  # steps per run
EVERY = 10  # the monitor samples one step in EVERY
SEED = 0  # seeds the images, the weights and the batches
# ===========================================================================

# %% [markdown]
# ## The script as you received it
#
# The images are 8 × 8 grey levels, stored as they come from a camera:
# integers from 0 to 255. Each class has a typical image, and every example
# is its class's image plus noise. The network is a stack of `nn.Linear` and
# `nn.ReLU`, initialized with `nn.init.kaiming_normal_`. The loss is written
# by hand, as the definition of cross-entropy reads: minus the log of the
# probability that the softmax gives the right class.
#
# `train` runs the script with the monitor attached; its three switches are
# the fixes you will make, all off for now.

# %%
import math

import matplotlib.pyplot as plt
import torch
from torch import nn

CLASSES, PIXELS = 10, 64


def make_images(g, n=4096):
    """Grey levels 0..255: a typical image per class, plus noise."""
    typical = 255 * torch.rand(CLASSES, PIXELS, generator=g)
    labels = torch.randint(CLASSES, (n,), generator=g)
    noise = 60 * torch.randn(n, PIXELS, generator=g)
    images = (typical[labels] + noise).clamp(0, 255).round()
    return images, labels


def make_net(init="he"):
    """DEPTH ReLU layers of WIDTH units and a linear layer to the logits;
    init "he" (zero biases) or "default" (what nn.Linear draws)."""
    torch.manual_seed(SEED)  # nn.Linear draws from torch's global generator
    layers, fan_in = [], PIXELS
    for _ in range(DEPTH):
        layers += [nn.Linear(fan_in, WIDTH), nn.ReLU()]
        fan_in = WIDTH
    net = nn.Sequential(*layers, nn.Linear(WIDTH, CLASSES))
    if init == "he":
        for m in net.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
    return net


def handwritten_loss(logits, labels):
    """Cross-entropy as the definition reads: -log softmax(z)[y]."""
    p = torch.softmax(logits, dim=1)
    return -torch.log(p[torch.arange(len(labels)), labels]).mean()


def train(fix_loss=False, fix_inputs=False, init="he"):
    """One run of the script; returns the losses and the monitor."""
    g = torch.Generator().manual_seed(SEED)
    images, labels = make_images(g)
    if fix_inputs:  # each pixel: mean 0, std 1 over the training images
        images = (images - images.mean(0)) / images.std(0)
    net = make_net(init)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9)
    loss_fn = nn.functional.cross_entropy if fix_loss else handwritten_loss
    losses = []
    with GradientMonitor(net, optimizer, every=EVERY) as monitor:
        for _ in range(STEPS):
            batch = torch.randint(len(images), (BATCH,), generator=g)
            loss = loss_fn(net(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            monitor.step(loss)
            losses.append(loss.item())
    return losses, monitor


def first_nonfinite_step(losses):
    return next((i for i, v in enumerate(losses) if not math.isfinite(v)),
                None)


def show(losses, steps):
    return ", ".join(f"{losses[i]:.4g}" for i in steps)


received, received_monitor = train()
print(f"loss at steps 0, 1, 2: {show(received, range(3))}")
print(f"first non-finite loss at step {first_nonfinite_step(received)}")

# %% [markdown]
# ## 1. Where the first infinity comes from
#
# The loss is `inf` at step 0, and NaN after that: the first update turned
# every weight into NaN. The monitor sampled step 0 and recorded the first
# non-finite value it saw, with the phase (forward, backward, update) and
# the module.

# %%
import textwrap

print(textwrap.fill(str(received_monitor.first_nonfinite), 77))

# %% [markdown]
# Every module's output was finite; the first non-finite gradient is the
# one the loss sends back into the last layer. So the fault lies after the
# network: in the loss. PyTorch's anomaly mode checks every backward
# function for NaN; replay step 0's batch under it:

# %%
import warnings

g = torch.Generator().manual_seed(SEED)
images0, labels0 = make_images(g)
net0 = make_net()  # the weights of step 0
batch = torch.randint(len(images0), (BATCH,), generator=g)
with warnings.catch_warnings(record=True) as caught:
    try:
        with torch.autograd.detect_anomaly():
            handwritten_loss(net0(images0[batch]), labels0[batch]).backward()
    except RuntimeError as error:
        anomaly = str(error)
print(anomaly)
# Its warning holds the forward call that made the NaN: the last two lines
where = str(caught[-1].message).split("\n (Triggered")[0].splitlines()
print("raised in", where[-2].split(", in ")[-1] + ":", where[-1].strip())

# %% [markdown]
# Anomaly mode names the softmax, not the log. It checks for NaN, and the
# log's backward returned $1/p = \infty$, not NaN; the softmax's backward
# then multiplied that infinity by zero. The infinity itself came from the
# forward pass, and the logits tell why: the softmax of a row whose largest
# logit exceeds the right class's by more than about 104 is below the
# smallest positive float32, so it is exactly 0, and $-\log 0 = \infty$.

# %%
with torch.no_grad():
    logits = net0(images0[batch])
    right = logits[torch.arange(BATCH), labels0[batch]]
    gap = logits.max(dim=1).values - right
    p = torch.softmax(logits, dim=1)[torch.arange(BATCH), labels0[batch]]
print(f"logits: std {logits.std():.3g}, largest gap to the right class "
      f"{gap.max():.3g}")
print(f"examples whose right class gets probability exactly 0: "
      f"{int((p == 0).sum())} of {BATCH}")
print(f"nn.functional.cross_entropy on the same logits: "
      f"{nn.functional.cross_entropy(logits, labels0[batch]):.4g}")

# %% [markdown]
# **Fix 1: give the logits to the loss.** `nn.functional.cross_entropy`
# computes $\log \mathrm{softmax}$ as $z_y - \log\sum_j e^{z_j}$, shifted
# by the largest logit: no probability is formed, nothing underflows, and
# the loss is finite for any finite logits (the
# [chapter on activation functions](../../02-activation-functions-and-saturation/)
# shows the same cancellation for a sigmoid output). Run again with it:

# %%
fixed_loss, loss_monitor = train(fix_loss=True)
print(f"loss at steps 0, 1, 2: {show(fixed_loss, range(3))}")
print(f"first non-finite loss at step {first_nonfinite_step(fixed_loss)}")
print(loss_monitor.summary(loss_monitor.history[0]))

# %% [markdown]
# ## 2. Why the run still diverges
#
# The loss is finite at step 0, but it is in the hundreds where a network
# that knows nothing scores $\ln 10 \approx 2.30$, and it is NaN within a
# few steps. Step 0's row in the summary says why, in the `update` column:
# the update-to-data ratio $\|\Delta W\| / \|W\|$ of each weight. The
# reference is about $10^{-3}$ (a step changes a weight by a thousandth);
# here every weight's ratio is above 0.1, and the largest near 1: one step
# replaces the weights rather than adjusts them. The monitor's findings:

# %%
for finding in loss_monitor.findings(loss_monitor.history[0]):
    print(textwrap.fill(finding, 77))

# %% [markdown]
# Lowering the learning rate would hide this. The cause is upstream: He's
# initialization keeps the scale of the signal from layer to layer, and the
# signal starts at the scale of the pixels, hundreds. So the logits are in
# the hundreds, so is the loss's gradient, and the first layer's weight
# gradient is the backward signal times the input, hundreds again.
#
# **Fix 2: standardize the inputs.** Each pixel minus its mean over the
# training images, divided by its standard deviation: the input has the
# scale He's initialization assumes.

# %%
fixed, fixed_monitor = train(fix_loss=True, fix_inputs=True)
print(f"loss at steps 0, 100, 200, {STEPS - 1}: "
      f"{show(fixed, (0, 100, 200, STEPS - 1))}")
print(fixed_monitor.summary(fixed_monitor.history[0]))
print("findings at step 0:",
      fixed_monitor.findings(fixed_monitor.history[0]) or "none")

# %% [markdown]
# ## 3. The healthy run
#
# The loss starts at a few units and falls below 0.01. At step 0 the update
# ratios sit within a factor of ten of $10^{-3}$, no ReLU layer is half
# dead, and the monitor finds nothing. The heat map shows the layer
# gradient norms of every sampled step: no layer's norm runs away from the
# others. Next to it, the losses of the three runs.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
fixed_monitor.plot_heatmap(ax=left)
left.set_ylabel("layer (index in the Sequential)")
left.set_title("Gradient norms of the healthy run")
for name, losses in (("as received", received), ("fix 1: loss", fixed_loss),
                     ("fixes 1 and 2: inputs", fixed)):
    n = first_nonfinite_step(losses)
    shown = losses[:n]
    (line,) = right.plot(range(len(shown)), shown, lw=1.2, label=name)
    if n is not None:  # a cross where the loss became inf or NaN
        right.plot(n, 1e7, "x", ms=9, color=line.get_color(), clip_on=False)
right.axhline(math.log(CLASSES), color="grey", ls=":", lw=1)
right.set_yscale("log")
right.set_ylim(1e-4, 1e7)
right.set_xlabel("step")
right.set_ylabel("training loss (log scale)")
right.set_title("Loss of each run")
right.legend(fontsize="small", frameon=False)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4. One more: a loss that sits at $\ln 10$
#
# A colleague tidies the script and drops the `kaiming_normal_` lines:
# `nn.Linear` initializes itself, after all. Nothing is infinite now, and
# nothing learns: the loss stays at $\ln 10$, the loss of a network that
# gives every class the same probability.

# %%
tidied, tidied_monitor = train(fix_loss=True, fix_inputs=True,
                               init="default")
print(f"mean loss of the last 50 steps: {sum(tidied[-50:]) / 50:.4f} "
      f"(ln 10 = {math.log(CLASSES):.4f})")
for finding in tidied_monitor.findings(tidied_monitor.history[0]):
    print(textwrap.fill(finding, 77))

# %% [markdown]
# The heat maps show the update ratios of every sampled step, for the
# healthy run and for the tidied one, on the same colour scale. The healthy
# run's ratios fall after step 100 too, because its loss has fallen: a
# small ratio is an alarm only while the loss is not moving.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
for ax, (name, run) in zip(axes, (("He init", fixed_monitor),
                                  ("nn.Linear's default", tidied_monitor))):
    run.plot_heatmap("update_ratio", ax=ax)
    ax.images[0].set_clim(-7, -2)  # log10 of the ratio, both panels alike
    ax.set_title(f"Update ratios, {name}")
axes[0].set_ylabel("weight")
fig.tight_layout()
plt.show()

# %% [markdown]
# The update ratios name the first layers: their weights barely move. At
# step 0 they change by a few millionths of their size; momentum then builds
# the steps up to a few hundred-thousandths, still tens of times less than
# in the healthy run's first steps. `nn.Linear`'s default draws from
# $U(-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}})$, a variance of $1/(3 n_{in})$: a
# sixth of what a ReLU layer needs to keep the signal's scale ($2/n_{in}$).
# So the signal's standard deviation shrinks by a factor of about
# $\sqrt 6$ per layer on the way up, and the gradient's by the same factor
# on the way down: the first layers receive almost nothing. The monitor also
# finds more than half the ReLUs of the last hidden layer dead. Their input
# has shrunk so much that it hardly varies from one example to the next, by
# a few thousandths, while the biases are tens of times larger: each unit is
# on for every example or off for every example. The
# [chapter on initialization](../../03-weight-initialization/) derives the
# $2/n_{in}$.
#
# ## Things to try
#
# 1. **Lower the learning rate instead of fixing the inputs.** Call
#    `train(fix_loss=True, init="he")` with `LR = 1e-5`. Does it train, and
#    what are the update ratios of the first and the last layer?
# 2. **Keep the hand-written loss, fix the inputs.** Does the loss stay
#    finite? It can still overflow later: when?
# 3. **Depth.** Set `DEPTH = 16` and run the four stages. Which diagnosis
#    changes?
# 4. **Sampling.** Set `EVERY = 50`. The run as received still reports its
#    infinite loss (the monitor checks the loss at every step), but does it
#    still say where it came from? Try `monitor.sample_next()` before a
#    replayed step.

# %% tags=["test"]
# Hidden from readers (hooks/notebooks.py drops cells tagged "test"): the
# numbers tests/test_lab_debugging.py checks the Markdown against.
import json


def ratios(monitor, step=0):
    return monitor.history[step].update_ratio


event = received_monitor.first_nonfinite
g = torch.Generator().manual_seed(SEED)
images0, _ = make_images(g)
images0 = (images0 - images0.mean(0)) / images0.std(0)
tidied_net = make_net("default")
with torch.no_grad():  # the last hidden layer's input, before its ReLU
    before_relu = tidied_net[: 2 * DEPTH - 1](images0[:BATCH])
spread = before_relu.std(dim=0).max().item()  # across examples, per unit
first_layer = {  # the first weight's update ratio at every sampled step
    name: [(r.step, r.update_ratio["0.weight"]) for r in run.history]
    for name, run in (("fixed", fixed_monitor), ("tidied", tidied_monitor))
}
bias = tidied_net[2 * DEPTH - 2].bias.abs().median().item()
print("LAB-NUMBERS " + json.dumps({
    "settings": dict(depth=DEPTH, width=WIDTH, lr=LR, batch=BATCH,
                     steps=STEPS, every=EVERY, seed=SEED),
    "losses": {"received": received, "fix_loss": fixed_loss,
               "fixed": fixed, "tidied": tidied},
    "first_nonfinite": [event.step, event.phase, event.where],
    "anomaly": anomaly,
    "logit_gap": gap.max().item(),
    "zero_probabilities": int((p == 0).sum()),
    "ratios": {"fix_loss": ratios(loss_monitor),
               "fixed": ratios(fixed_monitor),
               "tidied": ratios(tidied_monitor)},
    "findings": {
        "fixed": fixed_monitor.findings(fixed_monitor.history[0]),
        "tidied": tidied_monitor.findings(tidied_monitor.history[0]),
    },
    "last_hidden": {"spread": spread, "bias": bias},
    "first_layer": first_layer,
    "dead": {k: v.get("dead") for k, v in
             tidied_monitor.history[0].activations.items()},
}))
