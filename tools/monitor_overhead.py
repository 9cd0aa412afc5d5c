"""What watching costs: the monitor's overhead, and detect_anomaly's (``make bench``).

The chapter's three models (nn.TransformerEncoder, nn.LSTM and the plain CNN of
nan_at_high_lr.py, nan_from_the_loss.py and layer_profile.py) take training
steps of three kinds: plain (the monitor attached, not sampling) and sampled
(gradient_monitor.GradientMonitor's hooks on), alternating, then steps under
torch.autograd.detect_anomaly(). Each kind's time is the median over the
repeats of the thread's CPU time, so that other processes on a shared machine
do not count, and alternating makes slow drifts cancel. Sampling every k steps
costs (sampled - plain) / k per step: under 5% of a plain step at k = 10 on all
three, a budget tools/bench.py checks. A time measurement differs from run to run, so this is
a benchmark, not a snippet: no figure, and no test that times anything.

Run: python tools/monitor_overhead.py
"""

import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parents[1] / "snippets/11-diagnosing-gradient-problems"))
from gradient_monitor import GradientMonitor  # noqa: E402


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
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 4))
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
    return {kind: statistics.median_high(t) for kind, t in times.items()}


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
            "detect_anomaly, extra": (t["detect_anomaly"] - t["plain"]) / t["plain"],
        }
    return results


BUDGET = 0.05  # of a plain step, at k = 10 (issue: the monitor's overhead budget)


def main() -> dict:
    """Print each model's step time and overheads; return them (tools/bench.py checks BUDGET)."""
    results = experiment()
    for name, r in results.items():
        plain = r["seconds per step"]["plain"]
        print(
            f"{name}: plain step {1e3 * plain:.2f} ms of CPU; extra: "
            f"sampled step {r['sampled step, extra']:.0%}, every 10 steps "
            f"{r['every 10 steps, extra']:.1%}, detect_anomaly "
            f"{r['detect_anomaly, extra']:.0%}"
        )
    return results


if __name__ == "__main__":
    main()
