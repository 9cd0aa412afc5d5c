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
# # Training stability lab
#
# In this lab you take a network that is hard to train, the 10-layer ReLU
# network of the chapter on [gradient clipping](../../06-gradient-clipping/)
# at a learning rate ten times too large, and try the usual remedies on it
# side by side: clipping by norm or by value, another optimizer, a
# learning-rate warmup, and bfloat16 mixed precision. For every run you watch
# two traces: the training loss, and the norm of the whole gradient $\|G\|$
# before any clipping, the number a practitioner logs to see trouble coming.
#
# **What you will learn**
#
# - to read a gradient-norm trace: the explosion that precedes a NaN, the
#   spikes that clipping catches, a norm that sits at the threshold because
#   every step is clipped;
# - what clipping by norm and by value do to the same run, and why a tiny
#   `clip_value` can act like a moderate `max_norm`;
# - that a warmup postpones a divergence it does not prevent, and that an
#   adaptive optimizer changes the picture;
# - what bfloat16 autocast changes on a CPU (the rounding of the activations)
#   and what it does not (the parameters, their gradients and the clipping
#   stay in float32).

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
# This is the only cell you need to edit. Change a value, then re-run all
# cells (*Run all* in Jupyter or Colab).
#
# - `RUNS`: the runs to compare, by name. Each one lists only what it changes
#   from `DEFAULTS`; all of them start from the same weights and learn the
#   same task.
# - `DEFAULTS`, the settings of a run:
#   - `optimizer`: `"sgd"`, `"momentum"` (SGD with momentum 0.9) or `"adam"`;
#   - `lr`: the learning rate ($\eta$);
#   - `clip`: `"none"`, `"norm"` (`clip_grad_norm_`) or `"value"`
#     (`clip_grad_value_`), applied after `backward()` and before `step()`;
#   - `threshold`: `max_norm` for `"norm"`, `clip_value` for `"value"`;
#   - `warmup`: the number of steps over which the learning rate rises
#     linearly to `lr` (`torch.optim.lr_scheduler.LinearLR`); 0 for none;
#   - `precision`: `"float32"` or `"bfloat16"` (the forward pass under
#     `torch.autocast("cpu", dtype=torch.bfloat16)`).
# - `DEPTH`, `WIDTH`: hidden layers and units per layer.
# - `STEPS`: full-batch steps per run. `SEED`: seeds the task and the
#   weights.
#
# The defaults compare six runs at plain SGD's learning rate of 1.5: no
# remedy, clipping by norm, clipping by value, a warmup, Adam instead of SGD,
# and clipping by norm in bfloat16.

# %%
# =================== CHANGE THESE, THEN RE-RUN ALL CELLS ===================
DEFAULTS = dict(
    optimizer="sgd",  # "sgd", "momentum" or "adam"
    lr=1.5,  # learning rate
    clip="none",  # "none", "norm" or "value"
    threshold=1.0,  # max_norm or clip_value
    warmup=0,  # steps of linear learning-rate warmup
    precision="float32",  # "float32" or "bfloat16"
)
RUNS = {  # name: what the run changes from DEFAULTS
    "SGD": {},
    "SGD, clip norm 1": dict(clip="norm", threshold=1.0),
    "SGD, clip value 0.01": dict(clip="value", threshold=0.01),
    "SGD, warmup 50": dict(warmup=50),
    "Adam, lr 0.01": dict(optimizer="adam", lr=0.01),
    "SGD, clip norm 1, bf16": dict(clip="norm", precision="bfloat16"),
}
DEPTH = 10  # hidden layers
WIDTH = 32  # units per hidden layer
STEPS = 150  # full-batch steps per run
SEED = 0  # seeds the task and the weights
# ===========================================================================

# %% [markdown]
# ## The network, the task and one training run
#
# The next cell defines everything the lab uses; nothing is hidden in a
# helper package.
#
# - `make_task` draws 128 points in 16 dimensions and labels them with a
#   random two-layer "teacher" network.
# - `make_net` stacks `DEPTH` linear layers with ReLU, He-initialized
#   (`nn.init.kaiming_normal_`), and a linear head with two outputs.
# - `train` runs one configuration. At every step it records the loss, the
#   learning rate, and $\|G\|$ before clipping: `clip_grad_norm_` returns it,
#   and `torch.nn.utils.get_total_norm` measures it when the run clips by
#   value or not at all. A run stops at the first loss that is NaN or
#   infinite.
#
# Every random draw takes an explicit `torch.Generator` seeded with `SEED`:
# every run starts from the same weights, and re-running gives the same
# numbers.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

OPTIMIZERS = ("sgd", "momentum", "adam")
CLIPS = ("none", "norm", "value")
PRECISIONS = ("float32", "bfloat16")
for name, changes in RUNS.items():
    unknown = set(changes) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"{name!r}: unknown settings {sorted(unknown)}")
    s = {**DEFAULTS, **changes}
    for key, allowed in (("optimizer", OPTIMIZERS), ("clip", CLIPS),
                         ("precision", PRECISIONS)):
        if s[key] not in allowed:
            raise ValueError(
                f"{name!r}: {key} must be one of {allowed}, not {s[key]!r}"
            )


def make_task(g, n=128, dim=16):
    """Labels from a random two-layer teacher: learnable, but not linear."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1) @ w2 > 0).long()
    return x, y


def make_net(g, dim=16):
    """DEPTH ReLU layers of WIDTH units (He init, zero biases), 2 logits."""
    layers, fan_in = [], dim
    for _ in range(DEPTH):
        linear = nn.Linear(fan_in, WIDTH)
        nn.init.kaiming_normal_(
            linear.weight, nonlinearity="relu", generator=g
        )
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.ReLU()]
        fan_in = WIDTH
    head = nn.Linear(WIDTH, 2)
    nn.init.kaiming_normal_(head.weight, nonlinearity="linear", generator=g)
    nn.init.zeros_(head.bias)
    return nn.Sequential(*layers, head)


def make_optimizer(params, optimizer, lr):
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if optimizer == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    return torch.optim.Adam(params, lr=lr)


def train(model, x, y, optimizer, lr, clip, threshold, warmup, precision,
          steps=STEPS):
    """One run. Per step: the loss, the gradient norm before clipping,
    whether clipping acted, and the learning rate."""
    params = list(model.parameters())
    opt = make_optimizer(params, optimizer, lr)
    schedule = None
    if warmup:  # lr / warmup at step 0, rising linearly to lr at step warmup
        schedule = torch.optim.lr_scheduler.LinearLR(
            opt, start_factor=1 / warmup, total_iters=warmup
        )
    bf16 = precision == "bfloat16"
    run = dict(losses=[], norms=[], clipped=[], lrs=[])
    for _ in range(steps):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()  # parameters and gradients stay float32
        grads = [p.grad for p in params]
        if clip == "norm":  # returns the norm before clipping
            norm = nn.utils.clip_grad_norm_(params, threshold)
            acted = norm.item() > threshold
        else:
            norm = nn.utils.get_total_norm(grads)
            largest = nn.utils.get_total_norm(grads, norm_type=math.inf)
            acted = clip == "value" and largest.item() > threshold
            if clip == "value":
                nn.utils.clip_grad_value_(params, threshold)
        run["lrs"].append(opt.param_groups[0]["lr"])
        opt.step()
        if schedule is not None:
            schedule.step()
        run["losses"].append(loss.item())
        run["norms"].append(norm.item())
        run["clipped"].append(acted)
        if not math.isfinite(run["losses"][-1]):
            break  # NaN or inf: nothing sensible can follow
    return run


def run_all(nudge=0.0, names=RUNS):
    """The runs `names` of RUNS, all from the same task and weights
    (optionally nudged by a relative `nudge`, about float32 rounding)."""
    g = torch.Generator().manual_seed(SEED)
    x, y = make_task(g)
    start = make_net(g).state_dict()
    if nudge:
        noise = torch.Generator().manual_seed(SEED + 1)
        start = {k: v * (1 + nudge * torch.randn(v.shape, generator=noise))
                 for k, v in start.items()}
    results = {}
    for name in names:
        model = make_net(torch.Generator().manual_seed(SEED))
        model.load_state_dict(start)
        results[name] = train(model, x, y, **{**DEFAULTS, **RUNS[name]})
    return x, y, results


x, y, results = run_all()
p = y.float().mean().item()
CONSTANT = -p * math.log(p) - (1 - p) * math.log(1 - p)
counted = make_net(torch.Generator().manual_seed(SEED))
n_params = sum(t.numel() for t in counted.parameters())
print(f"{DEPTH} layers of {WIDTH} ReLU units, {n_params} parameters")
print(f"{len(x)} points, {y.float().mean():.2f} of the labels are 1")
print(f"loss of a constant prediction (label frequencies): {CONSTANT:.3f}")

# %% [markdown]
# ## Loss and gradient-norm traces
#
# The table prints, for every run, the loss at the first and the last step,
# the largest $\|G\|$ it logged, and on how many steps clipping acted (for a
# clipped run: the steps whose $\|G\|$ exceeded `max_norm`, or that had an
# entry beyond `clip_value`). Below it, the two traces, on log scales. A
# cross on the top edge marks a run whose loss became NaN or infinite at that
# step.
#
# What to look at:
#
# - **`"SGD"`**: its gradient norm climbs by orders of magnitude within a few
#   steps and the run ends in a cross: each oversized step makes the next
#   gradient larger.
# - **`"SGD, clip norm 1"`**: the same learning rate, and the loss ends below
#   one in a thousand. Its norm trace spikes above 1 in the first part of the
#   run (those are the steps that clipping shortened) and then falls far
#   below it: clipping acted on a minority of the steps.
# - **`"SGD, clip value 0.01"`**: it trains too, although 0.01 sounds tiny.
#   Clamping every entry to ±0.01 bounds the norm by $0.01\sqrt{n}$ for $n$
#   entries, about 1.0 for this network: a bound close to `max_norm = 1`. It
#   acted on every one of the first 30 steps, and on more steps in all than
#   clipping by norm, and wherever it acts it turns the direction of the
#   step, which `clip_grad_norm_` keeps.
# - **`"SGD, warmup 50"`**: the learning rate starts at 1.5/50 and reaches
#   1.5 at step 50; the norm grows by orders of magnitude as the rate rises,
#   and the run does not train: it ends in a cross, or stuck at the loss of a
#   constant prediction (the dotted line; its value is printed above). A
#   warmup postpones the divergence; it does not prevent it: the rate it
#   climbs to is still too large.
# - **`"Adam, lr 0.01"`**: no clipping, and the loss ends below one in a
#   thousand. Adam divides each coordinate's step by a running estimate of
#   that coordinate's gradient size, so a large $\|G\|$ does not make the
#   step large. Its learning rate is not comparable with SGD's; the
#   [chapter on optimizers](../../07-optimizers-and-precision/) says how they
#   differ.
# - **`"SGD, clip norm 1, bf16"`**: bfloat16 keeps float32's exponent range
#   with a 7-bit mantissa, so it needs no loss scaling; autocast runs the
#   linear layers in it, while the parameters, their gradients and the
#   clipping stay in float32. The run rounds differently from its float32
#   twin, and still trains: its loss ends below 0.01.


# %%
print(f"{'run':26s}{'first':>8s}{'last':>11s}{'max norm':>10s}"
      f"{'clipped':>9s}")
for name, run in results.items():
    losses, norms = run["losses"], run["norms"]
    last = (f"{losses[-1]:11.3g}" if math.isfinite(losses[-1])
            else f"{'NaN @' + str(len(losses) - 1):>11s}")
    finite = [n for n in norms if math.isfinite(n)]
    clip = {**DEFAULTS, **RUNS[name]}["clip"]
    clipped = "-" if clip == "none" else str(sum(run["clipped"]))
    print(f"{name[:25]:26s}{losses[0]:8.3g}{last}{max(finite):10.3g}"
          f"{clipped:>9s}")
print(f"{STEPS} steps; NaN @k: the loss at step k was NaN or infinite;\n"
      "max norm: the largest gradient norm logged before clipping;\n"
      "clipped: the steps on which clipping changed the gradient")

TOP = 1e3  # the axes end here; a run that went beyond gets a cross on top
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
for i, (name, run) in enumerate(results.items()):
    losses, norms = run["losses"], run["norms"]
    n = sum(map(math.isfinite, losses))  # steps before a NaN
    (line,) = left.plot(losses[:n], lw=1.2, label=name)
    right.plot(norms[:n], lw=1.2, color=line.get_color())
    if n < len(losses):
        for ax in (left, right):
            ax.plot(n, TOP, "x", ms=9, color=line.get_color(), clip_on=False)
left.axhline(CONSTANT, color="grey", ls=":", lw=1)
left.annotate("constant prediction", (STEPS, CONSTANT), xytext=(0, 3),
              textcoords="offset points", ha="right", va="bottom",
              color="grey", fontsize="small")
left.set_ylim(1e-6, TOP)
right.set_ylim(1e-4, TOP)
for ax, label in ((left, "training loss"), (right, "gradient norm ‖G‖")):
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"{label} (log scale)")
    ax.grid(True, alpha=0.3)
left.set_title("Loss")
right.set_title("Gradient norm before clipping")
fig.legend(*left.get_legend_handles_labels(), loc="lower center", ncol=3,
           fontsize="small", frameon=False)
fig.tight_layout(rect=(0, 0.11, 1, 1))
plt.show()

# %% [markdown]
# ## The learning rate each run used
#
# Clipping by norm multiplies the step by $\min(1, \tau/\|G\|)$, so on that
# step it acts like a learning rate of $\eta \min(1, \tau/\|G\|)$. The plot
# shows this *effective* learning rate for the runs that clip by norm, and
# the scheduled rate of the runs with a warmup; the other runs keep their
# `lr` at every step (clipping by value has no single factor: it shrinks some
# coordinates and not others). Where a clipped run's line dips below its
# nominal rate, clipping acted on that step.

# %%
fig, ax = plt.subplots(figsize=(9, 3.4))
for i, (name, run) in enumerate(results.items()):
    s = {**DEFAULTS, **RUNS[name]}
    if s["clip"] != "norm" and not s["warmup"]:
        continue  # a constant learning rate
    lrs = np.array(run["lrs"])
    if s["clip"] == "norm":
        norms = np.array(run["norms"])
        with np.errstate(divide="ignore", invalid="ignore"):
            lrs = lrs * np.minimum(1.0, s["threshold"] / norms)
    ax.plot(lrs, lw=1.2, label=name, color=f"C{i}")  # the colours above
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("effective learning rate")
ax.grid(True, alpha=0.3)
ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small",
          frameon=False)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Things to try
#
# Edit the settings cell, re-run all cells, and compare the table and the
# traces with the ones you got before.
#
# 1. **A larger `clip_value`.** Add a run with `clip="value", threshold=0.1`.
#    The bound on the norm is now about 10 instead of 1: is that still a
#    guard?
# 2. **A `max_norm` far below the typical norm.** Add
#    `clip="norm", threshold=0.01`. How many steps are clipped, what does the
#    effective learning rate do, and how far does the loss get? Every step
#    now has the same length, $\eta\tau$, whatever the gradient.
# 3. **Warmup and clipping together.** Add `warmup=50, clip="norm"`. Which of
#    the two does the work?
# 4. **Momentum.** Add `optimizer="momentum", lr=0.15` with and without
#    `clip="norm"`. Momentum adds up past steps, so a spike keeps pushing
#    after it has passed: does clipping matter here?
# 5. **Adam at a larger rate.** Try `optimizer="adam", lr=0.1`, with and
#    without clipping.
# 6. **bfloat16 without clipping.** Add `precision="bfloat16"` alone: does
#    the lower precision change the fate of the unclipped run?
# 7. **Another seed, a deeper network.** Change `SEED`, or set `DEPTH = 20`,
#    and see which conclusions of the list above still hold.

# %% tags=["test"]
# Hidden from readers (hooks/notebooks.py drops cells tagged "test"): the
# numbers tests/test_lab_training_stability.py checks the Markdown against.
import json
float32 = [n for n in RUNS
           if {**DEFAULTS, **RUNS[n]}["precision"] == "float32"]
_, _, nudged = run_all(nudge=1e-7, names=float32)  # bf16: rounded anyway
print("LAB-NUMBERS " + json.dumps({
    "runs": results,
    "nudged": nudged,
    "constant": CONSTANT,
    "parameters": n_params,
    "settings": {"defaults": DEFAULTS, "runs": RUNS, "depth": DEPTH,
                 "width": WIDTH, "steps": STEPS, "seed": SEED},
}))
