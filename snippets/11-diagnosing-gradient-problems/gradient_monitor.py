"""A gradient-health monitor for any torch.nn.Module: one file, torch only.

Every ``every`` steps it records, per layer: the gradient norm of each parameter
and of each module's output, each module's output mean and std, the fraction of
saturated tanh and sigmoid units and of dead ReLUs, the update-to-data ratio of
each weight, and the first non-finite value (NaN or Inf) with the module that
produced it. Steps it does not sample cost nothing: its hooks are installed for
the sampled steps only. Leaving the ``with`` block removes every hook it added,
and it keeps no reference to the model.

    from gradient_monitor import GradientMonitor

    with GradientMonitor(model, optimizer, every=10) as monitor:
        for x, y in batches:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            monitor.step(loss)  # once per training step, after the update
    print(monitor.summary())  # the last sampled step, layer by layer
    monitor.plot_profile().savefig("profile.svg")  # needs matplotlib

Definitions (the constants below):
- saturated: a tanh output with |a| > 0.99, a sigmoid output outside
  [0.01, 0.99]: there the slope is below 0.02 (tanh) or 0.0099 (sigmoid), a
  fiftieth and a twenty-fifth of its largest value;
- dead: a ReLU unit whose output is 0 for every example of the batch (and
  every position); a unit is a feature (the last dimension) or, for 4-D and 5-D
  outputs, a channel (dimension 1);
- update-to-data ratio: ||theta_after - theta_before|| / ||theta_before|| for
  each weight (a parameter of two or more dimensions: biases and norm scales,
  zero or constant at the start, would give meaningless ratios), measured
  around optimizer.step() whatever the optimizer. For a weight of mean about 0
  it is the std(update) / std(weight) of Karpathy's makemore (part 3), whose
  reference of about 1e-3 it keeps; with plain SGD it is lr * ||g|| / ||theta||.

What module hooks cannot see: activation statistics need the activation to be a
module (nn.ReLU, nn.Tanh, nn.Sigmoid), not torch.relu called inside a forward(),
nor the gates inside nn.LSTM's kernel. Forward passes run with autograd off
(evaluation under torch.no_grad) are not recorded. Gradients are watched with
tensor hooks on module outputs rather than register_full_backward_hook, which
raises when a later in-place operation (nn.ReLU(inplace=True)) modifies the
output. A torch.compile'd model is refused unless layers=False (see below).
Under torch.amp.GradScaler the gradients the hooks see are scaled: divide the
norms by scaler.get_scale(), and expect an Inf now and then, which the scaler
handles by skipping the step.

From the chapter "Diagnosing gradient problems" of the site Vanishing and
Exploding Gradients. Tested with PyTorch 2.13.
"""

from __future__ import annotations

import math
import warnings
import weakref
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn

TANH_SATURATED = 0.99  # |tanh| above this: slope 1 - a^2 < 0.02
SIGMOID_SATURATED = 0.01  # sigmoid below this or above 0.99: slope < 0.0099
UPDATE_RATIO_REFERENCE = 1e-3  # ||update|| / ||parameter||: makemore's rule
# What findings() reports: a layer with at least half its units dead or
# saturated, layer gradient norms that span more than three orders of magnitude,
# and update ratios a hundred times off the reference either way.
DEAD_ALARM = SATURATED_ALARM = 0.5
GRADIENT_SPAN_ALARM = 1e3
UPDATE_RATIO_BAND = (UPDATE_RATIO_REFERENCE / 100, UPDATE_RATIO_REFERENCE * 100)
ROOT = "(root)"  # the name of the model itself in the records


@dataclass
class NonFinite:
    """The first NaN or Inf of a sampled step, and where it came from."""

    step: int
    phase: str  # "forward", "backward", "update" or "loss"
    where: str  # the module or parameter it names ("" for the loss)
    message: str

    def __str__(self):
        return f"step {self.step}, {self.phase}: {self.message}"


@dataclass
class StepRecord:
    """What the monitor measured in one sampled step.

    Module names are those of model.named_modules() (ROOT for the model itself),
    with "#2", "#3" for a module's second and later calls in the step; parameter
    names are those of model.named_parameters().
    """

    step: int
    loss: float | None = None
    # output statistics of every layer call, in forward order: mean, std, and
    # "saturated" (tanh, sigmoid) or "dead" (ReLU) as fractions
    activations: dict[str, dict[str, float]] = field(default_factory=dict)
    # gradient norms: at each layer call's output, of each parameter, and of
    # each module's own parameters together
    output_grad_norm: dict[str, float] = field(default_factory=dict)
    grad_norm: dict[str, float] = field(default_factory=dict)
    layer_grad_norm: dict[str, float] = field(default_factory=dict)
    update_ratio: dict[str, float] = field(default_factory=dict)  # per weight
    no_grad: list[str] = field(default_factory=list)  # trainable, no gradient
    not_called: list[str] = field(default_factory=list)  # skipped by forward
    nonfinite: NonFinite | None = None

    def layers(self) -> list[str]:
        """The modules that own parameters, in forward order."""
        return list(self.layer_grad_norm)

    def rows(self) -> list[str]:
        """Every layer call and every module owning parameters, in forward
        order; a module the forward pass skipped follows its nearest ancestor."""
        rows = list(self.activations)
        for name in self.layer_grad_norm:
            if name not in rows:
                rows.insert(_after_ancestor(rows, name), name)
        return rows


class GradientMonitor:
    """Per-layer gradient health, sampled every ``every`` training steps.

    model: any nn.Module. optimizer: optional; with it the monitor measures the
    update-to-data ratios (hooks around optimizer.step()). layers=False watches
    the parameters only (gradient norms, update ratios, non-finite gradients):
    the mode that works on a torch.compile'd model. tensorboard: a log folder or
    a SummaryWriter, for histograms of outputs and gradients; skipped, with a
    warning, when the tensorboard package is not installed.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        every: int = 10,
        layers: bool = True,
        tensorboard=None,
    ):
        if not isinstance(model, nn.Module):
            kind = type(model).__name__
            raise TypeError(f"GradientMonitor needs an nn.Module, not {kind}")
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"every must be a positive integer, not {every!r}")
        if layers and _is_compiled(model):
            raise ValueError(COMPILED)
        self._model = weakref.ref(model)
        self._optimizer = None if optimizer is None else weakref.ref(optimizer)
        self.every = every
        self.layers = layers
        self.history: list[StepRecord] = []
        self.first_nonfinite: NonFinite | None = None
        self.tensorboard_skipped: str | None = None
        self._writer = self._open_writer(tensorboard)
        self._step = 0
        self._attached = False
        self._handles: list = []  # the hooks of the sampled step in progress
        self._sample: _Sample | None = None

    # -- lifecycle ------------------------------------------------------------

    def __enter__(self):
        self.attach()
        return self

    def __exit__(self, *exc):
        self.detach()

    def attach(self):
        """Start monitoring; the current step is sampled if its index says so.
        The model's modules and parameters are listed here (weakly): attach
        again after adding some."""
        model = self._get_model()
        self._modules = [  # (name, module, whether it is a layer)
            (
                name or ROOT,
                weakref.ref(m),
                _owns_parameters(m) or not m._modules,
            )
            for name, m in model.named_modules()
        ]
        self._owners = [n for n, m, _ in self._modules if _owns_parameters(m())]
        self._params = [
            (n, weakref.ref(p)) for n, p in model.named_parameters()
        ]
        self._attached = True
        if self._step % self.every == 0:
            self._arm()

    def detach(self):
        """Remove every hook this monitor added."""
        self._disarm()
        self._attached = False

    def sample_next(self):
        """Sample the step in progress whatever ``every`` says: to replay a bad
        batch with the hooks on."""
        if not self._attached:
            raise RuntimeError("GradientMonitor is not attached")
        self._arm()

    def step(self, loss=None) -> StepRecord | None:
        """Call once per training step, after optimizer.step(). Returns the
        record of a sampled step. A loss, if given, is checked on every step."""
        record = None
        if self._sample is not None:
            record = self._finish(self._sample, loss)
            self._disarm()
        elif loss is not None and not math.isfinite(loss := _float(loss)):
            message = (
                f"the loss is {loss}; this step was not sampled: call "
                "monitor.sample_next() and run the same batch again to locate it"
            )
            self._nonfinite(NonFinite(self._step, "loss", "", message))
        self._step += 1
        if self._attached and self._step % self.every == 0:
            self._arm()
        return record

    @property
    def frozen(self) -> list[str]:
        """Parameters that do not require a gradient: not monitored."""
        named = self._get_model().named_parameters()
        return [n for n, p in named if not p.requires_grad]

    # -- hooks ----------------------------------------------------------------

    def _get_model(self) -> nn.Module:
        model = self._model()
        if model is None:
            raise RuntimeError("GradientMonitor: the model no longer exists")
        return model

    # --8<-- [start:arm]
    def _arm(self):  # before a sampled step: hooks on, removed after it
        if self._sample is not None:
            return
        self._get_model()
        sample = self._sample = _Sample(self._step)
        sample.owners = self._owners
        add = self._handles.append
        for name, ref, layer in self._modules if self.layers else ():
            if (module := ref()) is not None:  # forward: check every output
                hook = partial(self._forward_hook, name, layer)
                add(module.register_forward_hook(hook, with_kwargs=True))
        for name, ref in self._params:  # backward: each parameter's gradient
            p = ref()
            if p is not None and p.requires_grad:
                sample.params.append((name, p))
                if p.dim() >= 2:
                    sample.weights.add(name)
                hook = partial(self._param_hook, name)
                add(p.register_post_accumulate_grad_hook(hook))
        optimizer = self._optimizer() if self._optimizer else None
        if optimizer is not None:
            add(optimizer.register_step_pre_hook(self._before_update))
            add(optimizer.register_step_post_hook(self._after_update))

    # --8<-- [end:arm]

    def _disarm(self):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._sample = None

    def _forward_hook(self, name, layer, module, args, kwargs, output):
        sample = self._sample
        if torch.compiler.is_compiling():  # traced by torch.compile: stay out
            sample.compiled_seen = True
            return
        if not torch.is_grad_enabled():
            return  # an evaluation pass, not a training step
        sample.forward_seen = True
        count = sample.calls[name] = sample.calls.get(name, 0) + 1
        call = name if count == 1 else f"{name}#{count}"
        tensors = _tensors(output)
        if not tensors:
            return
        record = sample.record
        # --8<-- [start:forward]
        sums = [t.detach().sum() for t in tensors]  # NaN or Inf if one entry is
        if record.nonfinite is None and not all(map(math.isfinite, sums)):
            self._explain_forward(name, module, args, kwargs, tensors)
        if not layer:  # a container: only what its own forward() computed
            return
        x = tensors[0].detach()
        record.activations[call] = _statistics(module, x, sums[0])
        if self._writer is not None:
            self._writer.add_histogram(f"outputs/{call}", x, sample.step)
        for i, t in enumerate(tensors):  # the gradient arriving at the output
            if t.requires_grad:
                t.register_hook(partial(self._grad_hook, sample, call, i))
        # --8<-- [end:forward]

    def _explain_forward(self, name, module, args, kwargs, tensors):
        bad = [t for t in tensors if not _finite(t)]
        if not bad:
            return  # finite values whose float32 sum overflowed
        label = f"{name} ({type(module).__name__})"
        params = [n for n, p in module.named_parameters() if not _finite(p)]
        inputs = _tensors(args) + _tensors(kwargs)
        if params:
            message = (
                f"{label} has non-finite parameters ({', '.join(params)}): an "
                "earlier update made them so; sample every step, or watch the "
                "update ratios, to see which"
            )
        elif not all(map(_finite, inputs)):
            message = (
                f"the input of {label} is already non-finite, and no module "
                "before it produced a non-finite output: it comes from the data "
                "or from an operation outside any module"
            )
        else:
            largest = max(
                (t.detach().abs().max().item() for t in inputs), default=0
            )
            message = (
                f"{label} produced the first non-finite output ({_kind(bad[0])}) "
                f"from finite inputs (largest magnitude {largest:.3g}) and "
                "parameters"
            )
        step = self._sample.step
        self._sample.record.nonfinite = NonFinite(
            step, "forward", name, message
        )

    def _grad_hook(self, sample, call, index, grad):
        if sample is not self._sample:
            return  # a backward pass after its step was recorded
        norm = torch.linalg.vector_norm(grad.detach()).item()
        if index == 0:
            sample.record.output_grad_norm.setdefault(call, norm)
        if math.isfinite(norm) or _finite(grad):
            sample.last_finite = call
        elif sample.record.nonfinite is None:
            if sample.last_finite is None:
                where = (
                    ", and no module output received a gradient before it: "
                    "it comes from the loss, or from an operation after the "
                    "last module (every module's output was finite)"
                )
            else:
                where = (
                    f"; the last one before it, at the output of "
                    f"{sample.last_finite}, was finite: the operations between "
                    f"{call} and {sample.last_finite} produced it"
                )
            message = (
                f"the gradient arriving at the output of {call} is the first "
                f"non-finite one ({_kind(grad)}){where}"
            )
            event = NonFinite(sample.step, "backward", call, message)
            sample.record.nonfinite = event

    def _param_hook(self, name, p):
        sample = self._sample
        if sample is None:
            return
        norm = torch.linalg.vector_norm(p.grad.detach()).item()
        sample.record.grad_norm[name] = norm  # the last call: the full gradient
        if sample.record.nonfinite is None and not (
            math.isfinite(norm) or _finite(p.grad)
        ):
            module = name.rpartition(".")[0] or ROOT
            message = (
                f"the gradient of {name} is the first non-finite one "
                f"({_kind(p.grad)}), and every gradient before it was finite: "
                f"{module}'s own backward produced it (for a weight: its input "
                "times the gradient at its output overflowed)"
            )
            event = NonFinite(sample.step, "backward", name, message)
            sample.record.nonfinite = event
        if self._writer is not None:
            self._writer.add_histogram(f"gradients/{name}", p.grad, sample.step)

    def _before_update(self, optimizer, args, kwargs):
        self._sample.before = [
            p.detach().clone() for _, p in self._sample.params
        ]

    def _after_update(self, optimizer, args, kwargs):
        sample = self._sample
        if not sample.before:
            return
        names = [n for n, _ in sample.params]
        old, new = sample.before, [p.detach() for _, p in sample.params]
        # all parameters at once, as clip_grad_norm_ does it
        steps = torch.stack(torch._foreach_norm(torch._foreach_sub(new, old)))
        sizes = torch.stack(torch._foreach_norm(old))
        rows = zip(names, steps.tolist(), sizes.tolist())
        for n, step, size in rows:
            if size > 0 and n in sample.weights:
                sample.record.update_ratio[n] = step / size
            if not math.isfinite(step) and sample.record.nonfinite is None:
                message = (
                    f"the optimizer step made {n} non-finite from finite "
                    "gradients: the update overflowed"
                )
                event = NonFinite(sample.step, "update", n, message)
                sample.record.nonfinite = event
        sample.before = []

    # -- the record of a sampled step -----------------------------------------

    def _finish(self, sample, loss) -> StepRecord:
        record = sample.record
        if loss is not None:
            record.loss = _float(loss)
        if self.layers and not sample.forward_seen:
            why = (
                "the model ran under torch.compile, which leaves the hooks out: "
                "attach to the uncompiled model, or pass layers=False"
                if sample.compiled_seen
                else "was the model called with autograd on? A torch.compile'd "
                "copy of it leaves the hooks out"
            )
            warnings.warn(
                f"GradientMonitor: no forward hook ran in step {sample.step}: {why}",
                stacklevel=3,
            )
        trainable = [n for n, _ in sample.params]
        record.no_grad = [n for n in trainable if n not in record.grad_norm]
        order = _layer_order(sample.owners, list(sample.calls))
        squares = {}  # per module, the sum of its parameters' squared norms
        for n, v in record.grad_norm.items():
            module = n.rpartition(".")[0] or ROOT
            squares[module] = squares.get(module, 0.0) + v * v
        for module in order:
            if module in squares:
                record.layer_grad_norm[module] = math.sqrt(squares[module])
        if self.layers:
            record.not_called = [m for m in order if m not in sample.calls]
        if record.nonfinite is None and not _isfinite(record.loss):
            message = (
                f"the loss is {record.loss} although every module output and "
                "every gradient was finite"
            )
            record.nonfinite = NonFinite(record.step, "loss", "", message)
        if record.nonfinite is not None:
            self._nonfinite(record.nonfinite)
        if self._writer is not None:
            for name, v in record.layer_grad_norm.items():
                self._writer.add_scalar(f"gradient norm/{name}", v, record.step)
            for name, v in record.update_ratio.items():
                self._writer.add_scalar(f"update ratio/{name}", v, record.step)
        self.history.append(record)
        return record

    def _nonfinite(self, event: NonFinite):
        if self.first_nonfinite is None:
            self.first_nonfinite = event

    # -- reports --------------------------------------------------------------

    def summary(self, record: StepRecord | None = None) -> str:
        """A text table of one sampled step (default: the last), by layer."""
        record = record or self._last()
        loss = "" if record.loss is None else f", loss {record.loss:.4g}"
        lines = [f"step {record.step}{loss}"]
        rows = record.rows()
        width = max(map(len, ["layer", *rows]))
        lines.append(
            f"{'layer':{width}s} {'grad norm':>9s} {'update':>8s}  output"
        )
        for name in rows:
            grad = record.layer_grad_norm.get(name)
            ratios = [
                v
                for p, v in record.update_ratio.items()
                if (p.rpartition(".")[0] or ROOT) == name
            ]
            ratio = max(ratios) if ratios else None
            stats = record.activations.get(name, {})
            cols = ", ".join(f"{k} {v:.3g}" for k, v in stats.items())
            lines.append(
                f"{name:{width}s} {_fmt(grad):>9s} {_fmt(ratio):>8s}  {cols}"
            )
        if record.not_called:
            skipped = ", ".join(record.not_called)
            lines.append(f"not called by the forward pass: {skipped}")
        if record.no_grad:
            lines.append(f"no gradient: {', '.join(record.no_grad)}")
        if record.nonfinite:
            lines.append(f"first non-finite value: {record.nonfinite}")
        return "\n".join(lines)

    def findings(self, record: StepRecord | None = None) -> list[str]:
        """What looks wrong in one sampled step (default: the last), each with
        the layers it names; the thresholds are the module's constants."""
        record = record or self._last()
        found = [str(record.nonfinite)] if record.nonfinite else []
        for call, stats in record.activations.items():
            if stats.get("dead", 0) >= DEAD_ALARM:
                found.append(
                    f"{call}: {stats['dead']:.0%} of its ReLUs are dead"
                )
            if stats.get("saturated", 0) >= SATURATED_ALARM:
                share = f"{stats['saturated']:.0%}"
                found.append(f"{call}: {share} of its outputs are saturated")
        norms = record.layer_grad_norm
        zero = [n for n, v in norms.items() if v == 0]
        if zero:
            found.append(
                f"no gradient reaches {', '.join(zero)} (norm exactly 0)"
            )
        positive = {n: v for n, v in norms.items() if 0 < v < math.inf}
        if len(positive) >= 2:
            low = min(positive, key=positive.get)
            high = max(positive, key=positive.get)
            span = positive[high] / positive[low]
            if span > GRADIENT_SPAN_ALARM:
                found.append(
                    f"layer gradient norms span {math.log10(span):.1f} orders of "
                    f"magnitude, from {positive[low]:.2g} at {low} to "
                    f"{positive[high]:.2g} at {high}"
                )
        low, high = UPDATE_RATIO_BAND
        slow = [n for n, v in record.update_ratio.items() if v < low]
        fast = [n for n, v in record.update_ratio.items() if v > high]
        if fast:
            largest = max(record.update_ratio[n] for n in fast)
            found.append(
                f"update ratio above {high:g} (up to {largest:.2g}) for "
                f"{', '.join(fast)}: the learning rate is too high for them"
            )
        if slow:
            moved = max(record.update_ratio[n] for n in slow) > 0
            found.append(
                f"update ratio below {low:g} for {', '.join(slow)}: they "
                + ("barely move" if moved else "do not move at all")
            )
        return found

    def _last(self) -> StepRecord:
        if not self.history:
            raise RuntimeError("GradientMonitor: no step sampled yet")
        return self.history[-1]

    def plot_profile(self, record: StepRecord | None = None, ax=None):
        """Per-layer gradient norms of one sampled step (default: the last),
        first layer at the top. Imports matplotlib. Returns the figure."""
        import matplotlib.pyplot as plt

        record = record or self._last()
        names = record.layers()
        values = [record.layer_grad_norm[n] for n in names]
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1.2))
        ax.barh(range(len(names)), [v if v > 0 else math.nan for v in values])
        ax.set_xscale("log")
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        ax.set_xlabel("gradient norm (log scale)")
        for y, v in enumerate(values):
            if not v > 0:  # no bar on a log scale: say why
                where = ("axes fraction", "data")
                ax.annotate(f" {v:g}", (0, y), xycoords=where, va="center")
        ax.figure.tight_layout()
        return ax.figure

    def plot_heatmap(self, quantity: str = "layer_grad_norm", ax=None):
        """log10 of a per-layer quantity over the sampled steps, one row per
        layer: "layer_grad_norm", "output_grad_norm" or "update_ratio".
        Zero and non-finite values are grey. Imports matplotlib."""
        import matplotlib.pyplot as plt

        if not self.history:
            raise RuntimeError("GradientMonitor: no step sampled yet")
        rows = list(
            dict.fromkeys(k for r in self.history for k in getattr(r, quantity))
        )
        grid = torch.full((len(rows), len(self.history)), math.nan)
        for j, r in enumerate(self.history):
            for i, name in enumerate(rows):
                v = getattr(r, quantity).get(name, math.nan)
                if 0 < v < math.inf:
                    grid[i, j] = math.log10(v)
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.3 * len(rows) + 1.5))
        cmap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")
        image = ax.imshow(grid.numpy(), aspect="auto", cmap=cmap)
        steps = [r.step for r in self.history]
        ticks = range(0, len(steps), max(1, len(steps) // 6))
        ax.set_xticks(ticks, [steps[t] for t in ticks])
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel("step")
        label = f"log10 {quantity.replace('_', ' ')}"
        ax.figure.colorbar(image, ax=ax, label=label)
        ax.figure.tight_layout()
        return ax.figure

    # -- TensorBoard ----------------------------------------------------------

    def _open_writer(self, tensorboard):
        if tensorboard is None:
            return None
        if hasattr(tensorboard, "add_histogram"):
            return (
                tensorboard  # a SummaryWriter, or anything that acts like one
            )
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.tensorboard_skipped = (
                "GradientMonitor: tensorboard is not installed, so no histograms "
                "are written (pip install tensorboard); everything else is "
                "recorded"
            )
            warnings.warn(self.tensorboard_skipped, stacklevel=3)
            return None
        return SummaryWriter(str(tensorboard))


COMPILED = (
    "GradientMonitor: this model is torch.compile'd. Hooks added to its layers "
    "after compilation do not run in the compiled graph (PyTorch does not "
    "recompile for them), so per-layer outputs and the origin of a NaN cannot "
    "be observed. Attach the monitor to the uncompiled model and compile once "
    "it trains, or pass layers=False to watch only the parameters (gradient "
    "norms, update ratios, non-finite gradients), which works on compiled "
    "models."
)


class _Sample:
    """The state of one sampled step while its hooks run."""

    def __init__(self, step: int):
        self.step = step
        self.record = StepRecord(step)
        self.calls: dict[str, int] = {}  # module name -> calls, in call order
        self.last_finite: str | None = None  # last finite output gradient
        self.owners: list[str] = []  # modules owning parameters
        self.params: list[tuple[str, nn.Parameter]] = []  # the trainable ones
        self.weights: set[str] = set()  # those with an update ratio
        self.before: list[torch.Tensor] = []  # their values before the update
        self.forward_seen = self.compiled_seen = False


def _statistics(module: nn.Module, x, total) -> dict[str, float]:
    """Mean, std, and the saturated or dead fraction of a layer's output x
    (total: its sum). Sums and norms: fast on CPU, unlike std_mean."""
    n = max(x.numel(), 1)
    mean = total.item() / n
    square = torch.linalg.vector_norm(x).item() ** 2 / n
    variance = square - mean * mean
    if not variance > 1e-3 * square:  # cancellation: subtract the mean first
        variance = torch.linalg.vector_norm(x - mean).item() ** 2 / n
    stats = {"mean": mean, "std": math.sqrt(variance)}
    if isinstance(module, nn.Tanh):
        stats["saturated"] = (x.abs() > TANH_SATURATED).sum().item() / n
    elif isinstance(module, nn.Sigmoid):
        outside = (x - 0.5).abs() > 0.5 - SIGMOID_SATURATED
        stats["saturated"] = outside.sum().item() / n
    elif isinstance(module, (nn.ReLU, nn.ReLU6)) and x.dim() >= 2:
        unit = 1 if x.dim() >= 4 else x.dim() - 1  # a channel, or a feature
        others = [d for d in range(x.dim()) if d != unit]
        total = x.sum(dim=others)  # ReLU outputs are >= 0: 0 only if all are
        stats["dead"] = (total == 0).sum().item() / total.numel()
    return stats


def _layer_order(owners: list[str], called: list[str]) -> list[str]:
    """The modules owning parameters (owners, in definition order), in the order
    the forward pass first called them; one that was not called comes right
    after its nearest called ancestor (nn.MultiheadAttention reads out_proj's
    weights without calling it)."""
    first = {name: i for i, name in enumerate(called)}
    order = []
    for position, name in enumerate(owners):
        key, parent = first.get(name), name
        while key is None and parent != ROOT:
            parent = parent.rpartition(".")[0] or ROOT
            key = first.get(parent)
        order.append((len(first) if key is None else key, position, name))
    return [name for *_, name in sorted(order)]


def _after_ancestor(rows: list[str], name: str) -> int:
    parent = name
    while parent != ROOT:
        parent = parent.rpartition(".")[0] or ROOT
        if parent in rows:
            return rows.index(parent) + 1
    return len(rows)


def _tensors(value) -> list[torch.Tensor]:
    """The floating-point tensors in a module's output (tuples, lists, dicts)."""
    if isinstance(value, torch.Tensor):
        return [value] if value.is_floating_point() else []
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _owns_parameters(module: nn.Module) -> bool:
    return any(p is not None for p in module._parameters.values())


def _is_compiled(model: nn.Module) -> bool:
    if type(model).__name__ == "OptimizedModule" and hasattr(
        model, "_orig_mod"
    ):
        return True  # torch.compile(model)
    return any(getattr(m, "_compiled_call_impl", None) for m in model.modules())


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t.detach()).all())


def _isfinite(v: float | None) -> bool:
    return v is None or math.isfinite(v)


def _kind(t: torch.Tensor) -> str:
    t = t.detach()
    kinds = [
        k for k, bad in (("NaN", t.isnan()), ("Inf", t.isinf())) if bad.any()
    ]
    return " and ".join(kinds)


def _float(loss) -> float:
    return float(loss.detach()) if torch.is_tensor(loss) else float(loss)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.2e}"
