"""Chapter 11's gradient monitor (snippets/11-diagnosing-gradient-problems/gradient_monitor.py):
it attaches to any nn.Module, removes every hook it adds, keeps no reference to the model, and
catches and names the faults injected into models this project did not write."""

import ast
import gc
import math
import sys
import weakref

import pytest
import torch
from conftest import ROOT
from torch import nn

FOLDER = ROOT / "snippets" / "11-diagnosing-gradient-problems"
sys.path.insert(0, str(FOLDER))
import gradient_monitor as gm  # noqa: E402
from gradient_monitor import GradientMonitor  # noqa: E402

sys.path.remove(str(FOLDER))


def seeded(make, seed=0):
    """Build a model with torch's default initialization, reproducibly, without touching the
    global random state the rest of the session sees."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return make()


def train(model, x, y, loss_fn, optimizer, steps, monitor, stop_at_nonfinite=True):
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        monitor.step(loss)
        if stop_at_nonfinite and monitor.first_nonfinite:
            break


def all_hooks(model, optimizer=None):
    """Every hook PyTorch keeps on the model's modules, parameters and the optimizer."""
    found = []
    for name, module in model.named_modules():
        for attr in vars(module):
            if "hook" in attr and isinstance(getattr(module, attr), dict):
                found += [(name, attr)] * len(getattr(module, attr))
    for name, p in model.named_parameters():
        for attr in ("_post_accumulate_grad_hooks", "_backward_hooks"):
            found += [(name, attr)] * len(getattr(p, attr) or {})
    if optimizer is not None:
        for attr in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks"):
            found += [("optimizer", attr)] * len(getattr(optimizer, attr))
    return found


def mlp():
    return nn.Sequential(
        nn.Linear(6, 8), nn.Tanh(), nn.Sequential(nn.Linear(8, 8), nn.ReLU()), nn.Linear(8, 1)
    )


DATA = torch.randn(16, 6, generator=torch.Generator().manual_seed(0)), torch.zeros(16, 1)


# -- the module: one file, torch only, importing it runs nothing ------------------------------


def test_importing_the_monitor_imports_only_torch_and_the_standard_library_and_runs_nothing():
    tree = ast.parse((FOLDER / "gradient_monitor.py").read_text())
    imported = set()
    for node in tree.body:  # module level only: plotting imports matplotlib inside functions
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
        else:  # the docstring, constants, functions and classes: nothing that runs work
            assert isinstance(node, (ast.Expr, ast.Assign, ast.FunctionDef, ast.ClassDef)), node
            if isinstance(node, ast.Expr):
                assert isinstance(node.value, ast.Constant)  # the docstring
    assert imported == {
        "__future__",
        "math",
        "warnings",
        "weakref",
        "dataclasses",
        "functools",
        "torch",
    }
    inner = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert {"matplotlib.pyplot", "torch.utils.tensorboard"} <= {
        a.name if isinstance(n, ast.Import) else n.module for n in inner for a in n.names
    }


# -- what it records ----------------------------------------------------------------------------


def test_it_samples_every_k_steps_and_installs_no_hook_on_the_other_steps():
    model = seeded(mlp)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = DATA
    hooks_during = []
    with GradientMonitor(model, opt, every=3) as monitor:
        for _ in range(7):
            hooks_during.append(len(all_hooks(model, opt)))
            loss = nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            monitor.step(loss)
    assert [r.step for r in monitor.history] == [0, 3, 6]
    assert [n > 0 for n in hooks_during] == [s % 3 == 0 for s in range(7)]


def test_the_record_of_one_step():
    model = seeded(mlp)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = DATA
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():  # the same forward, by hand, for the expected values
        h = model[1](model[0](x))
        r = model[2][1](model[2][0](h))
    with GradientMonitor(model, opt, every=1) as monitor:
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        opt.step()
        record = monitor.step(loss)
    assert record.layers() == ["0", "2.0", "3"]  # modules owning parameters, forward order
    assert record.rows() == ["0", "1", "2.0", "2.1", "3"]  # containers have no row
    assert record.loss == pytest.approx(loss.item())
    for n, g in grads.items():
        assert record.grad_norm[n] == pytest.approx(g.norm().item(), rel=1e-6)
    layer0 = math.hypot(grads["0.weight"].norm(), grads["0.bias"].norm())
    assert record.layer_grad_norm["0"] == pytest.approx(layer0, rel=1e-6)
    # plain SGD: the update-to-data ratio is lr * ||g|| / ||theta||, for the weights
    assert list(record.update_ratio) == ["0.weight", "2.0.weight", "3.weight"]
    for n, g in grads.items():
        if n.endswith("bias"):
            continue
        expected = (0.1 * g.norm() / before[n].norm()).item()
        assert record.update_ratio[n] == pytest.approx(expected, rel=1e-3)
    stats = record.activations["1"]
    assert stats["mean"] == pytest.approx(h.mean().item(), abs=1e-6)
    assert stats["std"] == pytest.approx(h.std(correction=0).item(), rel=1e-5)
    assert stats["saturated"] == (h.abs() > gm.TANH_SATURATED).float().mean().item()
    assert record.activations["2.1"]["dead"] == (r.amax(0) == 0).float().mean().item()
    assert record.nonfinite is None and record.no_grad == [] and record.not_called == []


def test_saturated_and_dead_units_as_defined():
    x = torch.tensor([[3.0, 0.0, -0.5], [-3.0, 0.0, -0.1]])
    assert gm._statistics(nn.Tanh(), torch.tanh(x), torch.tanh(x).sum())["saturated"] == 2 / 6
    s = torch.sigmoid(torch.tensor([-5.0, -4.0, 0.0, 4.0, 5.0]))  # sigma(4.6) = 0.99
    assert gm._statistics(nn.Sigmoid(), s, s.sum())["saturated"] == 2 / 5
    relu = torch.relu(x)  # units (columns): alive, dead for both examples, dead
    assert gm._statistics(nn.ReLU(), relu, relu.sum())["dead"] == 2 / 3
    conv = torch.zeros(2, 3, 4, 4)
    conv[1, 0, 3, 3] = 1.0  # channel 0 alive at one position of one example
    assert gm._statistics(nn.ReLU(), conv, conv.sum())["dead"] == 2 / 3  # per channel


def test_a_module_called_twice_a_skipped_module_and_frozen_parameters():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.unused = nn.Linear(4, 4)  # defined, never called
            self.frozen = nn.Linear(4, 4).requires_grad_(False)
            self.head = nn.Linear(4, 1)

        def forward(self, x):
            return self.head(self.frozen(self.lin(torch.tanh(self.lin(x)))))

    model = seeded(Shared)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    with GradientMonitor(model, opt, every=1) as monitor:
        train(model, x, torch.zeros(8, 1), nn.functional.mse_loss, opt, 1, monitor)
    record = monitor.history[0]
    assert list(record.activations) == ["lin", "lin#2", "frozen", "head"]  # call by call
    assert {"lin", "lin#2"} <= set(record.output_grad_norm)
    assert monitor.frozen == ["frozen.weight", "frozen.bias"]
    assert not any(n.startswith("frozen") for n in record.grad_norm | record.update_ratio)
    assert record.not_called == ["unused"]
    assert record.no_grad == ["unused.weight", "unused.bias"]
    assert "not called by the forward pass: unused" in monitor.summary()


def test_evaluation_passes_without_autograd_are_not_recorded():
    model = seeded(mlp)
    x, y = DATA
    with GradientMonitor(model, every=1) as monitor:
        with torch.no_grad():
            model(x)
        nn.functional.mse_loss(model(x), y).backward()
        record = monitor.step()
    assert "0#2" not in record.activations and "0" in record.activations


def test_gradient_accumulation_records_the_full_gradient():
    model = seeded(mlp)
    x, y = DATA
    with GradientMonitor(model, every=1) as monitor:
        for half in (x[:8], x[8:]):
            nn.functional.mse_loss(model(half), y[:8]).backward()
        record = monitor.step()
    assert record.grad_norm["0.weight"] == pytest.approx(model[0].weight.grad.norm().item())


def test_in_place_relu_works_where_full_backward_hooks_raise():
    def make():
        return nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True), nn.Linear(4, 1))

    model = seeded(make)
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(2))
    with GradientMonitor(model, every=1) as monitor:
        model(x).sum().backward()
        record = monitor.step()
    z = model[0](x)  # the same gradient at the first layer's output, without in-place
    z.retain_grad()
    model[2](torch.relu(z)).sum().backward()
    assert record.output_grad_norm["0"] == pytest.approx(z.grad.norm().item())
    copy = seeded(make)
    copy[0].register_full_backward_hook(lambda *args: None)
    with pytest.raises(RuntimeError, match="modified inplace"):
        copy(x).sum().backward()


# -- hooks removed, no reference kept -------------------------------------------------------------


def test_leaving_the_context_removes_every_hook_and_keeps_no_reference_to_the_model():
    model = seeded(mlp)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = DATA
    assert all_hooks(model, opt) == []
    monitor = GradientMonitor(model, opt, every=2)
    with monitor:
        assert all_hooks(model, opt) != []  # step 0 is sampled: armed
        train(model, x, y, nn.functional.mse_loss, opt, 4, monitor)
        assert all_hooks(model, opt) != []  # armed for step 4, which never comes
    assert all_hooks(model, opt) == []
    with pytest.raises(ZeroDivisionError), monitor:  # an exception inside: removed too
        1 / 0
    assert all_hooks(model, opt) == []
    assert len(monitor.history) == 2  # the records outlive the hooks
    alive = weakref.ref(model)
    del model, opt
    gc.collect()
    assert alive() is None
    with pytest.raises(RuntimeError, match="no longer exists"):
        monitor.attach()


# -- non-finite values: the first, named ----------------------------------------------------------


class Log(nn.Module):
    def forward(self, x):
        return torch.log(x)


class Norm(nn.Module):
    """A hand-written norm: finite at 0, its gradient there is not (0 times Inf)."""

    def forward(self, x):
        return torch.sqrt((x * x).sum(-1, keepdim=True))


def first_nonfinite(model, x, loss=lambda out: out.sum()):
    with GradientMonitor(model, every=1) as monitor:
        loss(model(x)).backward()
        monitor.step()
    return monitor.first_nonfinite


def test_a_module_that_produces_a_nan_in_the_forward_pass_is_named():
    model = seeded(lambda: nn.Sequential(nn.Linear(4, 4), Log(), nn.Linear(4, 1)))
    event = first_nonfinite(model, torch.randn(8, 4, generator=torch.Generator().manual_seed(3)))
    assert (event.phase, event.where) == ("forward", "1")
    assert "1 (Log) produced the first non-finite output (NaN" in event.message


def test_non_finite_input_and_non_finite_parameters_are_told_apart():
    model = seeded(lambda: nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1)))
    x = torch.ones(2, 4)
    x[0, 0] = math.nan
    event = first_nonfinite(model, x)
    assert event.where == "0" and "the input of 0 (Linear) is already non-finite" in event.message
    with torch.no_grad():
        model[2].weight[0, 1] = math.inf
    event = first_nonfinite(model, torch.ones(2, 4))
    assert event.where == "2" and "2 (Linear) has non-finite parameters (weight)" in event.message


def test_a_nan_born_in_the_backward_pass_is_placed_between_two_modules():
    model = seeded(lambda: nn.Sequential(nn.Linear(4, 4), Norm(), nn.Linear(1, 1)))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.zero_()  # the first layer's output is 0: the norm's gradient is NaN
    event = first_nonfinite(model, torch.ones(2, 4))
    assert (event.phase, event.where) == ("backward", "0")
    assert "the operations between 0 and 1 produced it" in event.message


def test_a_weight_gradient_that_overflows_is_named_by_its_parameter():
    model = nn.Sequential(nn.Linear(4, 1))
    with torch.no_grad():
        model[0].weight.fill_(1e-30)
    event = first_nonfinite(model, torch.full((2, 4), 1e20), loss=lambda out: 1e25 * out.sum())
    assert (event.phase, event.where) == ("backward", "0.weight")
    assert "0's own backward produced it" in event.message


def test_a_non_finite_loss_on_a_step_not_sampled_says_how_to_locate_it():
    model = seeded(mlp)
    with GradientMonitor(model, every=10) as monitor:
        model(DATA[0]).sum().backward()
        monitor.step(1.0)  # step 0: sampled
        monitor.step(math.nan)  # step 1: not sampled
        assert "call monitor.sample_next()" in str(monitor.first_nonfinite)
        monitor.sample_next()
        model(DATA[0]).sum().backward()
        assert monitor.step().step == 2  # the replay is sampled


# -- models this project did not write, each with a fault ---------------------------------------


class LastStep(nn.Module):
    """nn.LSTM returns (output, (h_n, c_n)); keep the output at the last time step."""

    def forward(self, out):
        return out[0][:, -1]


def test_transformer_with_a_learning_rate_too_high():
    # nn.TransformerEncoder trained with SGD at learning rate 1 (Adam-sized steps would be 1e-3)
    def make(d=16, T=6):
        layer = nn.TransformerEncoderLayer(d, 2, 2 * d, dropout=0.0, batch_first=True)
        encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        return nn.Sequential(nn.Linear(8, d), encoder, nn.Flatten(), nn.Linear(T * d, 4))

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 6, 8, generator=g), torch.randint(0, 4, (32,), generator=g)
    model = seeded(make)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    with GradientMonitor(model, opt, every=1) as monitor:
        train(model, x, y, nn.functional.cross_entropy, opt, 40, monitor)
    first = monitor.history[0]
    # caught at step 0, long before any NaN: steps far above 1e-3 of the weights
    assert any("the learning rate is too high" in f for f in monitor.findings(first))
    assert max(first.update_ratio.values()) > 0.1
    # and the NaN, when it comes (after about ten steps), is placed inside the encoder: a layer
    # norm fed values above 1e19, whose variance overflows float32, in most seeds and kernels
    event = monitor.first_nonfinite
    assert event is not None and event.phase in ("forward", "backward"), event
    assert event.where.startswith("1.layers."), event
    # MultiheadAttention reads out_proj's weights without calling it: not called, has gradients
    assert "1.layers.0.self_attn.out_proj" in first.not_called
    assert "1.layers.0.self_attn.out_proj.weight" in first.grad_norm


def test_lstm_with_a_hand_written_loss_that_takes_log_of_0():
    def make():
        return nn.Sequential(
            nn.LSTM(4, 8, batch_first=True), LastStep(), nn.Linear(8, 1), nn.Sigmoid()
        )

    def bce_by_hand(p, y):  # nn.BCEWithLogitsLoss on the logit would not take log(0)
        return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 10, 4, generator=g), (torch.rand(16, 1, generator=g) > 0.5).float()
    model = seeded(make)
    with torch.no_grad():
        model[2].bias.fill_(20.0)  # sigmoid(20) rounds to exactly 1.0 in float32
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with GradientMonitor(model, opt, every=1) as monitor:
        train(model, x, y, bce_by_hand, opt, 1, monitor)
    event = monitor.first_nonfinite
    assert (event.phase, event.where) == ("backward", "3")  # the model's last module
    assert "it comes from the loss" in event.message
    assert "3: 100% of its outputs are saturated" in monitor.findings()
    assert set(monitor.history[0].activations) == {"0", "1", "2", "3"}  # nn.LSTM's output


def test_deep_cnn_with_a_bad_initialization():
    # weights drawn with std 0.01, an old default, 17 times below He's sqrt(2 / 72)
    def make(depth=6, ch=8):
        layers = [nn.Conv2d(3, ch, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU()]
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, 4))

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 4, (8,), generator=g)
    found = {}
    for init in ("he", "std 0.01"):
        model = seeded(make)
        for m in model:
            if isinstance(m, nn.Conv2d):
                if init == "he":
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=g)
                else:
                    nn.init.normal_(m.weight, std=0.01, generator=g)
                nn.init.zeros_(m.bias)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with GradientMonitor(model, opt, every=1) as monitor:
            train(model, x, y, nn.functional.cross_entropy, opt, 1, monitor)
        found[init] = monitor.findings()
    assert found["he"] == []
    span, slow = found["std 0.01"]
    assert span.startswith("layer gradient norms span") and " at 0 to " in span
    assert float(span.split()[4]) > 5  # orders of magnitude between the first layer and the head
    assert slow.startswith("update ratio below 1e-05 for 0.weight, 2.weight, 4.weight")


# -- torch.compile, TensorBoard, plots ------------------------------------------------------------


def test_a_compiled_model_is_refused_with_a_clear_message_unless_only_parameters_are_watched():
    model = seeded(mlp)
    with pytest.raises(ValueError, match="torch.compile'd.*layers=False"):
        GradientMonitor(torch.compile(model))
    copy = seeded(mlp)
    copy.compile()  # compiled in place
    with pytest.raises(ValueError, match="torch.compile'd"):
        GradientMonitor(copy)
    GradientMonitor(torch.compile(model), layers=False)  # parameters only: accepted


def test_hooks_traced_by_torch_compile_stay_out_and_say_so(monkeypatch):
    model = seeded(mlp)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)  # as while tracing
    with GradientMonitor(model, every=1) as monitor:
        model(DATA[0]).sum().backward()
        with pytest.warns(UserWarning, match="ran under torch.compile"):
            record = monitor.step()
    assert record.activations == {} and record.grad_norm  # parameters still watched


def test_tensorboard_not_installed_is_skipped_cleanly_and_said(tmp_path):
    try:  # tensorboard is not in requirements.txt: the skip is the tested path
        import tensorboard  # noqa: F401

        pytest.skip("tensorboard is installed here")
    except ImportError:
        pass
    model = seeded(mlp)
    with pytest.warns(UserWarning, match="tensorboard is not installed, so no histograms"):
        monitor = GradientMonitor(model, every=1, tensorboard=tmp_path / "runs")
    assert "pip install tensorboard" in monitor.tensorboard_skipped
    with monitor:
        model(DATA[0]).sum().backward()
        assert monitor.step().layer_grad_norm  # everything else recorded
    assert not (tmp_path / "runs").exists()


def test_tensorboard_writer_receives_histograms_and_scalars():
    class Writer:  # the two methods of torch.utils.tensorboard.SummaryWriter the monitor uses
        def __init__(self):
            self.calls = []

        def add_histogram(self, tag, values, step):
            self.calls.append(("histogram", tag, step))

        def add_scalar(self, tag, value, step):
            self.calls.append(("scalar", tag, step))

    model, writer = seeded(mlp), Writer()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with GradientMonitor(model, opt, every=1, tensorboard=writer) as monitor:
        train(model, *DATA, nn.functional.mse_loss, opt, 1, monitor)
    tags = {tag for _, tag, _ in writer.calls}
    assert {"outputs/1", "gradients/0.weight", "gradient norm/0", "update ratio/0.weight"} <= tags


def test_plots_draw_the_profile_and_the_heat_map():
    import matplotlib

    matplotlib.use("Agg")
    model = seeded(mlp)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with GradientMonitor(model, opt, every=2) as monitor:
        train(model, *DATA, nn.functional.mse_loss, opt, 5, monitor)
    profile = monitor.plot_profile()
    labels = [t.get_text() for t in profile.axes[0].get_yticklabels()]
    assert labels == ["0", "2.0", "3"]
    heat = monitor.plot_heatmap("update_ratio")
    assert heat.axes[0].images[0].get_array().shape == (3, 3)  # 3 weights, 3 sampled steps
    import matplotlib.pyplot as plt

    plt.close("all")


def test_a_backward_pass_after_the_step_was_recorded_is_ignored():
    model = seeded(mlp)
    with GradientMonitor(model, every=2) as monitor:
        loss = nn.functional.mse_loss(model(DATA[0]), DATA[1])
        record = monitor.step(loss)  # called too early: before the backward pass
        loss.backward()  # the output hooks fire into a finished step: ignored
    assert record.grad_norm == {} and record.output_grad_norm == {}
