"""The numbers that the summary page "Remedies compared" states, recomputed by its snippets or
quoted from the chapters that measured them."""

import functools
import inspect
import math

from conftest import (
    ROOT,
    assert_page_states,
    latex_sci,
    page,
    snippet_defaults,
    snippet_module,
)

CHAPTER = "remedies"
PAGE = page(CHAPTER)

defaults = functools.partial(snippet_defaults, CHAPTER)


def commas(n: int) -> str:
    """An integer as the page writes it in math: 16{,}384."""
    return f"{n:,}".replace(",", "{,}")


def percent(part: float, whole: float) -> str:
    """A share as the tables write it: one decimal below 10%, none above."""
    share = 100 * part / whole
    return f"{share:.1f}%" if 0 < share < 10 else f"{share:.0f}%"


def test_costs_are_exact_counts(run):
    r = run("costs")
    assert r["settings"] == dict(width=256, batch=64, depth=16)
    n, B = 256, 64
    rows = r["rows"]
    plain = rows["plain"]
    # the reference layer: nn.Linear(256, 256) + ReLU keeps its output
    assert plain["parameters"] == n * n + n == 65792
    assert plain["saved floats"] == B * n == 16384
    expected = {  # extra parameters, buffers, saved floats: by hand, from what each keeps
        "batch norm": (2 * n, 2 * n + 1, B * n + 2 * n),
        "layer norm": (2 * n, 0, B * n + 2 * B),
        "weight norm": (n, 0, n * n + n),
        "spectral norm": (0, 2 * n, n * n + 2 * n + 1),
        "residual": (0, 0, B * n),
        "highway": (n * n + n, 0, 3 * B * n),
    }
    for name, (params, buffers, saved) in expected.items():
        row = rows[name]
        assert (row["extra parameters"], row["extra buffers"], row["extra saved floats"]) == (
            params,
            buffers,
            saved,
        ), name
    assert rows["batch norm"]["buffer dtypes"] == ["torch.float32", "torch.int64"]
    # matrix products: the highway gate doubles them, the others add none
    for name in expected:
        factor = 2 if name == "highway" else 1
        assert rows[name]["step flops"] == factor * plain["step flops"], name
    assert plain["step flops"] == 47 * 2 * B * n * n == 394264576  # 16 + 16 + 15 products
    assert r["spectral norm mv calls"] == {"train": 3, "eval": 1}
    assert r["clipping"]["P"] == 16 * (n * n + n) == 1052672
    assert r["optimizer state per parameter"] == {"SGD": 0, "SGD, momentum": 1, "Adam": 2}
    assert r["LSTM parameters"] == 4 * r["RNN parameters"] == 4 * (2 * n * n + 2 * n)
    extra = {name: rows[name] for name in expected}
    assert_page_states(
        PAGE,
        "`nn.Linear(256, 256)` and a ReLU, in a stack of 16, at batch 64",
        f"${commas(plain['parameters'])}$ parameters, and ${commas(plain['saved floats'])}$ "
        "floats (its output)",
        f"add ${extra['batch norm']['extra parameters']}$ parameters each",
        f"${commas(extra['batch norm']['extra saved floats'])}$ and "
        f"${commas(extra['layer norm']['extra saved floats'])}$ more saved floats",
        f"${commas(extra['weight norm']['extra saved floats'])}$ and "
        f"${commas(extra['spectral norm']['extra saved floats'])}$ more saved floats",
        "four times the activations at batch 64, as much at batch 256",
        f"${r['spectral norm mv calls']['train']}$ matrix-vector products per forward pass in "
        f"training mode (two for the power iteration, one for the estimate of $s_{{\\max}}$), "
        f"${r['spectral norm mv calls']['eval']}$ in eval mode",
        f"adds no parameter, but ${commas(extra['residual']['extra saved floats'])}$ saved floats",
        f"${commas(extra['highway']['extra parameters'])}$ parameters more, and twice the "
        "matrix-product work",
        f"$P = {commas(r['clipping']['P'])}$ gradient entries twice",
        f"${commas(plain['step flops'])}$ floating-point operations in its $47$ matrix products",
        "Adam keeps $2$ floats of state per parameter, SGD with momentum $1$",
        f"has ${commas(r['LSTM parameters'])}$ parameters, four times an `nn.RNN(256, 256)`'s "
        f"${commas(r['RNN parameters'])}$",
        # the fold
        f"${extra['batch norm']['extra parameters']}$ parameters ($\\gamma$, $\\beta$), "
        f"${extra['batch norm']['extra buffers']}$ buffer entries",
        f"${extra['weight norm']['extra parameters']}$ parameters more (a length $g$ per row)",
        f"the weight $g\\,v/\\lVert v\\rVert$ (${commas(n * n)}$) and the row norms (${n}$)",
        f"${extra['spectral norm']['extra buffers']}$ buffer entries ($u$, $v$)",
        f"${commas(extra['highway']['extra saved floats'])}$ saved floats more",
        "a mean and an inverse standard deviation per example ($64$ each)",
    )
    # the table: percentages of the plain layer's parameters and saved floats
    p, s = plain["parameters"], plain["saved floats"]
    table = {
        "Batch norm": f"{percent(extra['batch norm']['extra parameters'], p)} params, "
        f"{percent(extra['batch norm']['extra saved floats'], s)} saved",
        "Layer norm": f"{percent(extra['layer norm']['extra parameters'], p)} params, "
        f"{percent(extra['layer norm']['extra saved floats'], s)} saved",
        "Weight norm": f"{percent(extra['weight norm']['extra parameters'], p)} params, "
        f"{percent(extra['weight norm']['extra saved floats'], s)} saved",
        "Spectral norm": f"{percent(extra['spectral norm']['extra saved floats'], s)} saved, "
        f"{r['spectral norm mv calls']['train']} matrix-vector products",
        "Residual connections": f"{percent(extra['residual']['extra saved floats'], s)} saved",
        "Highway skips": f"{percent(extra['highway']['extra parameters'], p)} params, "
        f"{percent(extra['highway']['extra saved floats'], s)} saved",
    }
    assert extra["spectral norm"]["extra parameters"] == 0
    assert extra["residual"]["extra parameters"] == 0
    assert_page_states(PAGE, *(f"| {name} | {cost} |" for name, cost in table.items()))
    assert_page_states(
        PAGE,
        "| Adam, RMSprop | Adam: 2 floats per parameter |",
        "| LSTM, GRU gating | LSTM: 4 times an RNN's parameters |",
    )


def spreads(r, name, variant):
    return [max(norms) / min(norms) for norms in r[name][variant]]


def test_recipes_against_naive_twins(run):
    r = run("recipes")
    assert r["seeds"] == [0, 1, 2]
    # the depths the page states
    assert defaults("recipes", "mlp")["depth"] == 20
    assert defaults("recipes", "naive_mlp")["depth"] == 20
    assert defaults("recipes", "cnn")["blocks"] == 10
    assert defaults("recipes", "naive_cnn")["depth"] == 21  # a stem and 20 more
    assert defaults("recipes", "lstm")["forget_bias"] == 3.0
    assert defaults("recipes", "transformer")["depth"] == 12
    assert len(r["MLP"]["naive"][0]) == len(r["MLP"]["recipe"][0]) == 20
    assert len(r["CNN"]["naive"][0]) == len(r["CNN"]["recipe"][0]) == 21  # convolutions
    assert len(r["RNN"]["naive"][0]) == len(r["RNN"]["recipe"][0]) == 100  # time steps
    assert len(r["Transformer"]["naive"][0]) == 12
    # the bounds, in every seed
    assert min(spreads(r, "MLP", "naive")) > 1e16
    assert max(spreads(r, "MLP", "recipe")) < 5
    assert min(spreads(r, "MLP", "batch norm, no skips")) > 30
    assert min(spreads(r, "CNN", "naive")) > 1e8
    assert max(spreads(r, "CNN", "recipe")) < 5
    assert 1e19 < min(spreads(r, "RNN", "naive")) and max(spreads(r, "RNN", "naive")) < 1e27
    assert max(spreads(r, "RNN", "recipe")) < 20
    assert max(spreads(r, "Transformer", "naive")) < 3
    assert max(spreads(r, "Transformer", "recipe")) < 1.5
    # the tanh RNN: largest at the last time step, smallest at the first
    for norms in r["RNN"]["naive"]:
        assert max(norms) == norms[-1] and min(norms) == norms[0]
    # Post-LN's last layer against the recipe's, seed by seed
    last = [a[-1] / b[-1] for a, b in zip(r["Transformer"]["naive"], r["Transformer"]["recipe"])]
    assert 2.5 < min(last) and max(last) < 3
    # the recipes' training steps ran and left finite weights
    for name in ("MLP", "CNN", "RNN", "Transformer"):
        training = r[name]["training"]
        assert training["finite"] and len(training["loss, norm"]) == 3
        assert all(math.isfinite(x) for step in training["loss, norm"] for x in step)
    assert_page_states(
        PAGE,
        "- **MLP**: more than $10^{16}$ for the sigmoid twin, less than 5 for the recipe (more "
        "than 30 with batch norm before each ReLU).",
        "- **CNN**: more than $10^{8}$ for the plain stack, less than 5 with the residual blocks.",
        "- **RNN**: between $10^{19}$ and $10^{27}$ for the tanh RNN, from the last time step "
        "to the first; less than 20 for the LSTM.",
        "- **Transformer**: neither vanishes: less than 3 for Post-LN, less than 1.5 for the "
        "recipe.",
        "Post-LN's last layer gets between 2.5 and 3 times the recipe's gradient",
        "here it spreads the layers' gradient norms by more than 30",
        "in float64, on random data, in three seeds",
        # the figure's caption and alt text
        "Recipes: all within a factor of 20 of 1",
        "20 sigmoid layers with PyTorch's default init; 21 plain convolutions",
        "a tanh `nn.RNN` over 100 time steps; a 12-layer Post-LN encoder",
    )


def test_the_recipes_settings_are_the_ones_the_page_gives():
    m = snippet_module(CHAPTER, "recipes")
    assert m.MAX_NORM == {"MLP": 1.0, "CNN": math.inf, "RNN": 1.0, "Transformer": 1.0}
    assert m.PRECISION["RNN"] is None
    assert all(m.PRECISION[k] is m.BF16 for k in ("MLP", "CNN", "Transformer"))
    source = inspect.getsource(m.optimizer_and_schedule)
    assert "SGD" in source and "AdamW" in source and "CosineAnnealingLR" in source
    assert_page_states(
        PAGE,
        "for the CNN `math.inf`, which only measures",
        "The RNN stays in float32",
        "Linear warmup, then cosine",
    )


def test_numbers_quoted_from_the_chapters_are_the_chapters_own():
    """Numbers this page quotes from a chapter: the chapter states them too (and its own test
    checks them against its snippet)."""
    quoted = {
        "04-normalization": [
            "$9.24 \\times 10^{3}$",
            "$2.81 \\times 10^{-13}$",
        ],
        "06-gradient-clipping": ["between $0.6$ and $0.75$"],
        "07-optimizers-and-precision": ["$2.6 \\times 10^{4}$ to $1.1 \\times 10^{5}$"],
        "08-recurrent-networks": ["$3.37 \\times 10^{-23}$", "$285$", "assert ratio < 1e-3"],
        "02-activation-functions-and-saturation": ["a leak of $0.01$ revived none of the layer"],
        "03-weight-initialization": ["a sixth of He's"],
    }
    for folder, claims in quoted.items():
        assert_page_states(page(folder), *claims)
    assert_page_states(
        PAGE,
        "$9.24 \\times 10^{3}$ towards the input",
        "$2.81 \\times 10^{-13}$",
        "a loss stuck between $0.6$ and $0.75$",
        "$2.6 \\times 10^{4}$ to $1.1 \\times 10^{5}$ times smaller",
        "$3.37 \\times 10^{-23}$",
        "gradient reaches $285$",
        "falls by more than three orders of magnitude",
        "a 0.01 leak revived none",
        "a sixth of He's variance",
    )
    assert latex_sci(9240, 3) == "9.24 \\times 10^{3}"


def test_quotations_are_the_posts_words():
    """Each Chinese quotation on the page appears in the site's own record of the posts."""
    sources = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    chapters = "".join(
        (ROOT / "docs" / f / "index.md").read_text(encoding="utf-8")
        for f in (
            "04-normalization",
            "06-gradient-clipping",
            "07-optimizers-and-precision",
            "08-recurrent-networks",
            "09-attention-and-transformers",
            "03-weight-initialization",
        )
    )
    record = sources + chapters
    for quote in (
        "LSTM门控单元(解决RNN梯度消失)",
        "可以有效缓解梯度爆炸问题",
        "保持梯度范数，适合RNN",
        "可以有效地避免梯度消失或爆炸现象的发生",
        "防止梯度消失",
        "避免梯度爆炸导致的不稳定",
        "训练发散/NaN → 可能是梯度爆炸，尝试梯度裁剪",
        "仅影响初期训练",
    ):
        assert quote in PAGE, quote
        assert quote in record, quote
