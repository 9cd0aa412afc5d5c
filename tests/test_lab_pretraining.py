"""What the pretraining lab's Markdown says about its outputs is what its cells compute
(see tests/test_labs.py). Every training claim is checked on the lab's run and on a run from
initial weights nudged by one part in 10^7, about what another machine's rounding does."""

NAME = "pretraining-lab"


def test_settings(labs):
    lab = labs[NAME]
    s = lab.numbers["settings"]
    assert s["inits"] == ["random", "DBN", "shuffled DBN", "ReLU + He"]
    assert (s["depth"], s["width"], s["rbm_epochs"], s["cd_k"]) == (4, 64, 20, 1)
    assert (s["steps"], s["lr"], s["relu_lr"], s["seed"]) == (150, 1.0, 0.02, 0)
    lab.states(
        "250 training images and 1000 held-out ones",
        "flips 5% of the pixels",
        "full-batch SGD with momentum 0.9",
    )


def test_the_stack_learns(labs):
    lab = labs[NAME]
    errors = lab.numbers["rbm_errors"]
    assert len(errors) == 4 and all(len(e) == 20 for e in errors)
    assert all(e[-1] < e[0] for e in errors)
    lab.states(
        "Every RBM's reconstruction error is lower after its last epoch than after its first."
    )


def test_gradients_at_the_first_step(labs):
    lab = labs[NAME]
    grads = lab.numbers["grads"]
    random, dbn = grads["random"], grads["DBN"]
    shuffled, relu = grads["shuffled DBN"], grads["ReLU + He"]
    assert random[-1] / random[0] > 1000
    assert dbn[0] / random[0] > 10
    assert 0.1 < shuffled[0] / dbn[0] < 10  # "of the same order"
    assert max(relu) / min(relu) < 3  # "about level"
    lab.states(
        "Its first layer's gradient is more than a thousand times smaller than its classifier's.",
        "At the first step its first layer's gradient is more than ten times the random network's.",
        "a first-layer gradient of the same order as the DBN's",
        "its gradient is about level from the classifier down to layer 1",
    )


def test_fine_tuning(labs):
    lab = labs[NAME]
    n = lab.numbers
    final = {init: losses[-1] for init, losses in n["losses"].items()}
    for last in (final, n["nudged"]):  # the lab's run and the nudged one
        assert abs(last["random"] - n["constant"]) < 0.01
        assert last["DBN"] < 0.2
        assert last["shuffled DBN"] > 0.5
        assert last["ReLU + He"] < 0.05
        assert last["ReLU + He"] == min(last.values())  # "ends lowest"
    assert n["held_out"]["random"] < 0.15
    lab.states(
        "its loss ends within 0.01 of the loss of a constant prediction",
        "it is right on about 10% of the held-out images, like chance",
        '**`"DBN"`** trains: its loss ends below 0.2',
        "yet it ends far higher, above 0.5",
        "ends lowest, below 0.05",
    )
