"""What the long sequences lab's Markdown says about its outputs is what its cells compute
(see tests/test_labs.py). Every training claim is checked on the lab's run and on a run from
initial weights nudged by one part in 10^7, about what another machine's rounding does."""

import math

NAME = "long-sequences-lab"


def ratio(grads):
    """||dL/dx_1|| / ||dL/dx_T||."""
    return grads[0] / grads[-1]


def final(losses):
    return sum(losses[-10:]) / 10


def test_settings(labs):
    lab = labs[NAME]
    s = lab.numbers["settings"]
    assert s["T"] == 50 and s["models"] == ["rnn", "lstm", "attention"]
    assert s["forget bias"] == 3.0 and s["update bias"] is None
    assert (s["hidden"], s["steps"], s["lr"], s["batch"]) == (32, 150, 0.003, 32)
    lab.states(
        "The defaults compare the RNN, the LSTM with $b_f = 3$ and the attention layer at "
        "$T = 50$, where the chapter's RNN failed.",
        "the loss on a fixed batch of 256 sequences",
    )


def test_gradients_at_initialization(labs):
    lab = labs[NAME]
    before = lab.numbers["before"]
    assert all(len(g) == 50 for g in before.values())
    assert ratio(before["rnn"]) < 1e-6
    # the RNN's falls at (almost) every step back: a straight line on the log scale
    rnn = before["rnn"]
    assert sum(a < b for a, b in zip(rnn[:-1], rnn[1:])) >= 45
    for kind in ("lstm", "attention"):
        assert 0.1 < ratio(before[kind]) < 10, kind
    assert round(1 / (1 + math.exp(-3)), 2) == 0.95
    lab.states(
        "With the defaults the first input's gradient is more than a million times smaller "
        "than the last one's.",
        "With the defaults the LSTM's and the attention layer's ratios are both within a "
        "factor of 10 of 1.",
        "$\\sigma(3) = 0.95$",
    )


def test_training(labs):
    lab = labs[NAME]
    n = lab.numbers
    for losses, after in (
        (n["losses"], n["after"]),
        (
            {k: v["losses"] for k, v in n["nudged"].items()},
            {k: v["after"] for k, v in n["nudged"].items()},
        ),
    ):
        assert all(len(run) == 150 for run in losses.values())
        assert min(losses["rnn"][10:]) > 0.6
        assert abs(final(losses["rnn"]) - math.log(2)) < 0.02
        for kind in ("lstm", "attention"):
            assert final(losses[kind]) < 0.05, kind
        assert ratio(after["rnn"]) < 1e-6
    lab.states(
        "with the defaults the RNN stays at $\\ln 2$: it never gets below 0.6 after its first "
        "10 steps. The LSTM and the attention layer both learn the task; each ends with a loss "
        "below 0.05.",
        "after training, the RNN's first input still receives more than a million times less "
        "gradient than its last one",
        "its gradient there is more than a million times smaller than at step $T$, before and "
        "after training, and its loss stays at $\\ln 2$",
    )
