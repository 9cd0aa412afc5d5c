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
# # Pretraining lab
#
# Before ReLU, careful initialization, normalization and skip connections,
# deep networks were trained in two stages: first a stack of restricted
# Boltzmann machines (RBMs), one layer at a time and without labels; then
# the whole network, with labels, by backpropagation. In this lab you build
# such a stack on small digit-like images, copy it into a deep sigmoid
# network, and compare fine-tuning from it with fine-tuning from a random
# start. The theory and the history are in the chapter on
# [greedy layer-wise pretraining](../../10-greedy-pretraining/).
#
# **What you will learn**
#
# - to train an RBM with contrastive divergence (CD-$k$) in a few lines of
#   PyTorch, and to stack RBMs greedily;
# - to read, layer by layer, what an initialization does to the gradient at
#   the first step, and what that means for training;
# - to separate the two things a pretrained stack brings: larger weights,
#   and weights that learned something (a control shuffles them);
# - that a ReLU network with He's initialization does as well with no
#   pretraining at all.

# %%
# Run this lab on Colab (button at the top of the page) or on your machine.
# It needs torch 2.13 or newer and matplotlib; Colab has them.
# Elsewhere: pip install torch matplotlib
import sys

if "google.colab" in sys.modules:  # make sure of them there
    import subprocess

    packages = ["torch", "matplotlib"]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *packages])

# %% [markdown]
# ## Your settings
#
# This is the only cell you need to edit. Change a value, then re-run all
# cells (*Run all* in Jupyter or Colab).
#
# - `INITS`: the starts to compare, any of
#   - `"random"`: PyTorch's default for `nn.Linear`,
#     $U(-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}})$, in a sigmoid network;
#   - `"DBN"`: the sigmoid layers copied from the stack of RBMs (the
#     classifier on top stays random);
#   - `"shuffled DBN"`: the same values as `"DBN"`, permuted at random
#     within each layer: the same scale, none of what the RBMs learned;
#   - `"ReLU + He"`: a ReLU network with He's initialization, no
#     pretraining.
# - `DEPTH`, `WIDTH`: hidden layers and their units (one RBM per layer).
# - `RBM_EPOCHS`, `CD_K`: how long each RBM trains, and how many Gibbs steps
#   its CD-$k$ takes.
# - `STEPS`, `LR`, `RELU_LR`: full-batch SGD with momentum 0.9 for the
#   fine-tuning; `LR` for the sigmoid networks, `RELU_LR` for the ReLU one.
# - `SEED`: seeds the images and every random draw.

# %%
# =================== CHANGE THESE, THEN RE-RUN ALL CELLS ===================
INITS = ["random", "DBN", "shuffled DBN", "ReLU + He"]
DEPTH = 4  # hidden layers (and RBMs in the stack)
WIDTH = 64  # units per hidden layer
RBM_EPOCHS = 20  # epochs of CD for each RBM (mini-batches of 50)
CD_K = 1  # Gibbs steps per CD update
STEPS = 150  # fine-tuning steps (full batch)
LR = 1.0  # learning rate of the sigmoid networks
RELU_LR = 0.02  # learning rate of the ReLU network
SEED = 0  # seeds the images and the weights
# ===========================================================================

# %% [markdown]
# ## The images, the RBM and the stack
#
# Everything the lab uses is defined in the next cell.
#
# - `make_digits` draws seven-segment digits in an 8 × 8 image, at one of 8
#   places, and flips 5% of the pixels: 250 training images and 1000
#   held-out ones.
# - `RBM` holds $W$ ($n_v \times n_h$) and the biases $b$ (visible) and $c$
#   (hidden), with $p(h_j{=}1 \mid v) = \sigma(c_j + v^\top W_{:,j})$,
#   $p(v_i{=}1 \mid h) = \sigma(b_i + W_{i,:} h)$ and the free energy
#   $F(v) = -b^\top v - \sum_j \log(1 + e^{c_j + v^\top W_{:,j}})$.
# - `train_rbm` runs CD-$k$: sample $h$ from the data, alternate $k$ times
#   between $v$ (as probabilities) and $h$, then take a step of SGD on
#   $F(v_0) - F(v_k)$, whose gradient is minus the CD update. It records the
#   reconstruction error of every epoch.
# - `greedy_pretrain` trains one RBM per layer, each on the hidden
#   probabilities of the one below; `build` makes a network for one of
#   `INITS`, copying the RBMs' $W^\top$ and $c$ into its `nn.Linear` layers
#   for `"DBN"`.

# %%
import math

import matplotlib.pyplot as plt
import torch
from torch import nn

SEGMENTS = {  # seven segments in a box 5 pixels wide and 7 high
    "a": [(0, c) for c in range(5)],  # top
    "g": [(3, c) for c in range(5)],  # middle
    "d": [(6, c) for c in range(5)],  # bottom
    "f": [(r, 0) for r in range(4)],  # upper left
    "b": [(r, 4) for r in range(4)],  # upper right
    "e": [(r, 0) for r in range(3, 7)],  # lower left
    "c": [(r, 4) for r in range(3, 7)],  # lower right
}
DIGITS = ("abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg",
          "abc", "abcdefg", "abcdfg")


def make_digits(g, n, flip=0.05):
    """n noisy 8x8 digits, as rows of 64 zeros and ones, and labels."""
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
        x[i, dy[i]: dy[i] + 7, dx[i]: dx[i] + 5] = glyphs[y[i]]
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

    def p_h(self, v):
        return torch.sigmoid(self.c + v @ self.W)

    def p_v(self, h):
        return torch.sigmoid(self.b + h @ self.W.T)

    def free_energy(self, v):
        softplus = nn.functional.softplus(self.c + v @ self.W)
        return -(v @ self.b) - softplus.sum(1)


def train_rbm(data, n_hidden, g, epochs, k, batch=50, lr=0.2):
    """CD-k with SGD (momentum 0.5); returns the RBM and its
    reconstruction error (squared, per image) after every epoch."""
    rbm = RBM(data.shape[1], n_hidden, g)
    opt = torch.optim.SGD(rbm.parameters(), lr=lr, momentum=0.5)
    errors = []
    for _ in range(epochs):
        total = 0.0
        for idx in torch.randperm(len(data), generator=g).split(batch):
            v0 = data[idx]
            with torch.no_grad():
                v = v0
                for _ in range(k):  # h sampled, v as probabilities
                    h = torch.bernoulli(rbm.p_h(v), generator=g)
                    v = rbm.p_v(h)
                if k == 1:  # v is the reconstruction of v0
                    total += ((v0 - v) ** 2).sum().item()
            loss = rbm.free_energy(v0).mean() - rbm.free_energy(v).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if k != 1:  # one up-down pass, for the error
            with torch.no_grad():
                h = torch.bernoulli(rbm.p_h(data), generator=g)
                total = ((data - rbm.p_v(h)) ** 2).sum().item()
        errors.append(total / len(data))
    return rbm, errors


def greedy_pretrain(x, g):
    """One RBM per hidden layer, each trained on the probabilities
    p(h | v) of the one below. No labels."""
    rbms, errors, h = [], [], x
    for _ in range(DEPTH):
        rbm, err = train_rbm(h, WIDTH, g, RBM_EPOCHS, CD_K)
        rbms.append(rbm)
        errors.append(err)
        with torch.no_grad():
            h = rbm.p_h(h)
    return rbms, errors


def build(init, rbms, g):
    """A network of DEPTH hidden layers for one of INITS."""
    relu = init == "ReLU + He"
    sizes = [64] + [WIDTH] * DEPTH
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        activation = nn.ReLU() if relu else nn.Sigmoid()
        layers += [nn.Linear(n_in, n_out), activation]
    net = nn.Sequential(*layers, nn.Linear(WIDTH, 10))
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for m in linears:  # PyTorch's default, drawn from our generator
        nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
        bound = 1 / math.sqrt(m.in_features)
        nn.init.uniform_(m.bias, -bound, bound, generator=g)
    with torch.no_grad():
        if relu:
            for m in linears:
                nn.init.kaiming_normal_(
                    m.weight, nonlinearity="relu", generator=g
                )
                nn.init.zeros_(m.bias)
        elif init in ("DBN", "shuffled DBN"):
            for m, rbm in zip(linears, rbms):  # the classifier stays random
                m.weight.copy_(rbm.W.T)
                m.bias.copy_(rbm.c)
                if init == "shuffled DBN":
                    for p in (m.weight, m.bias):
                        flat = p.flatten()
                        order = torch.randperm(len(flat), generator=g)
                        p.copy_(flat[order].view_as(p))
        elif init != "random":
            raise ValueError(f"unknown init {init!r}")
    return net


def gradient_norms(net, x, y):
    """The norm of each layer's weight gradient, layer 1 first."""
    net.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    return [m.weight.grad.norm().item()
            for m in net if isinstance(m, nn.Linear)]


def fine_tune(net, x, y, lr, steps=STEPS):
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
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


g = torch.Generator().manual_seed(SEED)
x, y = make_digits(g, 250)
held_out_g = torch.Generator().manual_seed(1000 + SEED)
x_test, y_test = make_digits(held_out_g, 1000)
freq = torch.bincount(y, minlength=10).float() / len(y)
CONSTANT = -(freq[freq > 0] * freq[freq > 0].log()).sum().item()
print(f"{len(x)} training images, {len(x_test)} held-out, 64 pixels each")
print(f"loss of a constant prediction (label frequencies): {CONSTANT:.3f}")

# %% [markdown]
# ## Pretraining the stack
#
# Each RBM learns from the layer below without seeing a label. The table
# gives its reconstruction error (squared, summed over the units, per
# image) after the first and the last epoch, and the root mean square of its
# weights. Reconstruction error is what practitioners watched; it is not
# what CD optimizes, and it says little about the likelihood, but it shows
# that each RBM learns something about its input. Below the table: the first
# RBM's weights $W_{:,j}$ for eight hidden units (red positive, blue
# negative), and what it generates, from random images after 1000 steps of
# Gibbs sampling.

# %%
rbms, rbm_errors = greedy_pretrain(x, g)
print(f"{'RBM':>4} {'recon. error, epoch 1':>22} {'last epoch':>11}"
      f" {'rms of W':>9}")
for i, (rbm, err) in enumerate(zip(rbms, rbm_errors), 1):
    rms = rbm.W.detach().pow(2).mean().sqrt().item()
    print(f"{i:>4} {err[0]:>22.2f} {err[-1]:>11.2f} {rms:>9.3f}")

with torch.no_grad():  # samples of the first RBM: 8 Gibbs chains
    first = rbms[0]
    v = torch.bernoulli(torch.full((8, 64), 0.5), generator=g)
    for _ in range(1000):
        h = torch.bernoulli(first.p_h(v), generator=g)
        p_v = first.p_v(h)
        v = torch.bernoulli(p_v, generator=g)
    filters = first.W.T[first.W.norm(dim=0).argsort(descending=True)[:8]]
fig, axes = plt.subplots(2, 8, figsize=(8, 2.3))
for i in range(8):
    top = filters[i].abs().max()
    axes[0, i].imshow(filters[i].reshape(8, 8), cmap="RdBu_r",
                      vmin=-top, vmax=top)
    axes[1, i].imshow(p_v[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 0].set_ylabel("filters")
axes[1, 0].set_ylabel("samples")
plt.show()

# %% [markdown]
# ## Gradients at the first step
#
# One backward pass of the cross-entropy for each start, before any
# update. A line that falls towards layer 1 is a vanishing gradient; the
# printed ratio compares the first layer with the classifier (layer
# `DEPTH + 1`).

# %%
nets, starts, first_grads = {}, {}, {}
fig, ax = plt.subplots(figsize=(7, 3.5))
for init in INITS:
    nets[init] = build(init, rbms, g)
    starts[init] = {k: v.clone() for k, v in nets[init].state_dict().items()}
    norms = gradient_norms(nets[init], x, y)
    first_grads[init] = norms
    ax.plot(range(1, len(norms) + 1), norms, "o-", label=init)
    print(f"{init:>13}: layer 1 {norms[0]:8.2g}, classifier "
          f"{norms[-1]:8.2g}, ratio {norms[0] / norms[-1]:8.2g}")
ax.set_yscale("log")
ax.set_xlabel(f"layer ({DEPTH + 1} = classifier)")
ax.set_ylabel("weight-gradient norm")
ax.legend()
plt.show()

# %% [markdown]
# ## Fine-tuning
#
# The same full-batch SGD with momentum 0.9 for every start, `STEPS` steps,
# at `LR` (sigmoid networks) or `RELU_LR` (ReLU). The dotted line is the
# loss of a constant prediction, the label frequencies: a network on it has
# learned nothing about the images. The table adds the accuracy on the 1000
# held-out images (chance: about 10%).

# %%
runs, held_out = {}, {}
fig, ax = plt.subplots(figsize=(7, 3.5))
for init in INITS:
    lr = RELU_LR if init == "ReLU + He" else LR
    runs[init] = fine_tune(nets[init], x, y, lr)
    held_out[init] = accuracy(nets[init], x_test, y_test)
    ax.plot(runs[init], label=init)
    print(f"{init:>13}: loss {runs[init][0]:.3f} -> {runs[init][-1]:.3f},"
          f" held-out accuracy {held_out[init]:.0%}")
ax.axhline(CONSTANT, color="grey", linestyle=":")
ax.set_yscale("log")
ax.set_xlabel("SGD step")
ax.set_ylabel("training loss")
ax.legend()
plt.show()

# %% [markdown]
# ## What to take away
#
# With the default settings:
#
# - **`"random"`** stays on the dotted line: its loss ends within 0.01 of
#   the loss of a constant prediction, and it is right on about 10% of the
#   held-out images, like chance. Its first layer's gradient is more than a
#   thousand times smaller than its classifier's.
# - **`"DBN"`** trains: its loss ends below 0.2. At the first step its first
#   layer's gradient is more than ten times the random network's.
# - **`"shuffled DBN"`** has the same values in its weight matrices, and a
#   first-layer gradient of the same order as the DBN's, yet it ends far
#   higher, above 0.5: the size of the pretrained weights gets the network
#   off the dotted line, what the RBMs learned makes it train fast.
# - **`"ReLU + He"`**, with no pretraining, ends lowest, below 0.05, and
#   its gradient is about level from the classifier down to layer 1.
# - Every RBM's reconstruction error is lower after its last epoch than
#   after its first.
#
# These statements hold with a margin: the stack is trained with random
# draws, and on another machine rounding can change a draw and with it the
# numbers, not the picture. The chapter repeats the comparison over three
# seeds and measures, layer by layer, why.
#
# ## Try this
#
# 1. Set `DEPTH = 6`. Which starts still train in 150 steps? Compare the
#    first-layer gradients with those at depth 4: by what factor per layer
#    does each start lose its gradient?
# 2. Set `RBM_EPOCHS = 0`: the "DBN" is then the RBMs' initial weights,
#    $0.01 \cdot \mathcal N(0, 1)$, and zero biases. What happens to its
#    gradient and its training? What does this say about what pretraining
#    contributes?
# 3. Set `CD_K = 10`. The RBMs' reconstruction errors are now measured after
#    training each epoch; does the fine-tuning change?
# 4. Set `LR = 0.1`. Does the DBN still beat the random start, and the
#    shuffled DBN?
# 5. Set `RBM_EPOCHS = 100` and look at the first RBM's samples and filters
#    again. Does the longer pretraining change the fine-tuning?

# %% tags=["test"]
# Hidden from readers (hooks/notebooks.py drops cells tagged "test"): the
# numbers tests/test_lab_pretraining.py checks the Markdown against. The
# fine-tuning runs again from weights nudged by one part in 10^7, about
# what another machine's rounding does.
import json

nudged = {}
for init in INITS:
    net = build(init, rbms, torch.Generator().manual_seed(SEED))
    net.load_state_dict(starts[init])  # the run above, from the same start
    with torch.no_grad():
        noise = torch.Generator().manual_seed(SEED + 1)
        for p in net.parameters():
            p.mul_(1 + 1e-7 * torch.randn(p.shape, generator=noise))
    lr = RELU_LR if init == "ReLU + He" else LR
    nudged[init] = fine_tune(net, x, y, lr)[-1]
print("LAB-NUMBERS " + json.dumps({
    "settings": dict(inits=INITS, depth=DEPTH, width=WIDTH,
                     rbm_epochs=RBM_EPOCHS, cd_k=CD_K, steps=STEPS, lr=LR,
                     relu_lr=RELU_LR, seed=SEED),
    "constant": CONSTANT,
    "rbm_errors": rbm_errors,
    "grads": first_grads,
    "losses": runs,
    "held_out": held_out,
    "nudged": nudged,
}))
