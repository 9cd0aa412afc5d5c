"""The gradient-flow explorer (docs/explorer/): its numbers against PyTorch's, and the page in a
real browser.

The explorer's own JavaScript runs in Chromium, driven by Playwright (`page.evaluate`): first on
a blank page, against networks built here from torch.nn modules and the torch.nn.init functions
in float64, then in the built site, loaded directly, through the theme's instant navigation and
from the files with no server. Skipped without a browser unless REQUIRE_BROWSER is set (see
test_browser.py).
"""

import math
import re
import statistics
from pathlib import Path

import explorer_speed  # tools/: how fast it answers is a time, which make bench checks
import pytest
import torch
from conftest import ROOT, assert_page_states, page
from test_browser import AXE, browser, navigate_instantly, served  # noqa: F401 (fixtures)
from torch import nn

pytestmark = pytest.mark.browser  # make test-browser (CI runs it), not make test

PAGE = page("explorer")
JS = ROOT / "docs" / "explorer" / "explorer.js"
F64 = torch.float64
BATCH = 64

# What "the same" means (the page states each of these)
EXACT_RTOL = 1e-10  # PyTorch's weights handed to the explorer: relative, every statistic
DRAWS = 6  # PyTorch draws per configuration
DECADES = 0.3  # the mean of the explorer's log10 values: within this plus SIGMAS standard
SIGMAS = 3  # errors of the mean of PyTorch's
SHARE_MARGIN = 0.05  # saturated and dead shares: the same, with this margin

# Configurations the explorer's own draws are checked on, each with its verdict
CONFIGS = [
    ({"act": "sigmoid", "init": "pytorch", "depth": 20, "width": 64}, "vanishing"),
    ({"act": "relu", "init": "xavier", "depth": 50, "width": 64}, "fading"),
    ({"act": "relu", "init": "he", "depth": 50, "width": 128}, "healthy"),
    ({"act": "tanh", "init": "orthogonal", "depth": 50, "width": 64}, "healthy"),
    ({"act": "tanh", "init": "gaussian", "gain": 3.0, "depth": 30, "width": 64}, "exploding"),
    ({"act": "leakyrelu", "init": "gaussian", "gain": 2.5, "depth": 30, "width": 64}, "growing"),
    ({"act": "gelu", "init": "lsuv", "depth": 50, "width": 64}, "healthy"),
    ({"act": "relu", "init": "he", "depth": 50, "width": 64, "norm": "batchnorm"}, "exploding"),
    ({"act": "gelu", "init": "he", "depth": 30, "width": 64, "norm": "layernorm"}, "healthy"),
    (
        {"act": "relu", "init": "he", "depth": 50, "width": 64, "res": True, "alpha": 1.0},
        "growing",
    ),
    (
        {"act": "sigmoid", "init": "xavier", "depth": 20, "width": 64, "norm": "batchnorm"}
        | {"res": True, "alpha": 0.5},
        "healthy",
    ),
    ({"act": "relu", "init": "gaussian", "gain": 1e4, "depth": 100, "width": 64}, "overflow"),
]
# PyTorch's weights handed to the explorer: every activation, normalization, skips, biases
EXACT = [
    {"act": "sigmoid", "init": "pytorch", "depth": 20, "width": 16},
    {"act": "tanh", "init": "xavier", "depth": 12, "width": 32, "norm": "batchnorm"},
    {"act": "relu", "init": "he", "depth": 12, "width": 16, "norm": "layernorm"},
    {"act": "leakyrelu", "init": "orthogonal", "depth": 12, "width": 16, "res": True, "alpha": 0.5},
    {"act": "gelu", "init": "lsuv", "depth": 12, "width": 12, "norm": "batchnorm", "res": True}
    | {"alpha": 0.3},
    {"act": "gelu", "init": "gaussian", "gain": 1.7, "depth": 12, "width": 16},
]
ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leakyrelu": lambda: nn.LeakyReLU(0.01),
    "gelu": nn.GELU,
}
HUGE = 1e300


def initialize(linear: nn.Linear, cfg: dict, g: torch.Generator):
    w, b = linear.weight, linear.bias
    with torch.no_grad():
        if cfg["init"] == "pytorch":  # what nn.Linear.reset_parameters does, with a generator
            nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
            bound = 1 / math.sqrt(w.shape[1])
            nn.init.uniform_(b, -bound, bound, generator=g)
            return
        nn.init.zeros_(b)
        if cfg["init"] == "gaussian":
            nn.init.normal_(w, 0.0, cfg["gain"] / math.sqrt(w.shape[1]), generator=g)
        elif cfg["init"] == "xavier":
            nn.init.xavier_normal_(w, generator=g)
        elif cfg["init"] == "he":
            nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g)
        else:  # orthogonal, and LSUV's start
            nn.init.orthogonal_(w, generator=g)


def log10(x: float) -> float:
    return -math.inf if x == 0 else math.log10(x) if math.isfinite(x) else math.inf


def pytorch_network(cfg: dict, seed: int, export: bool = False) -> dict:
    """The explorer's network and statistics, from torch.nn modules and autograd."""
    L, n, act = cfg["depth"], cfg["width"], cfg["act"]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, n, generator=g, dtype=F64)
    r = torch.randn(BATCH, n, generator=g, dtype=F64)
    norm = cfg.get("norm", "none")
    alpha = cfg.get("alpha", 1.0) if cfg.get("res") else None
    s = {"depth": L, "act": act, "logStd": [math.inf] * L, "logGrad": [math.nan] * L}
    s |= {"overflowForward": 0, "overflowBackward": 0, "allDeadLayer": 0}
    h, linears, inputs, share = x, [], [], []
    for l in range(L):
        linear = nn.Linear(n, n, dtype=F64)
        initialize(linear, cfg, g)
        if cfg["init"] == "lsuv":  # unit variance of z^(l) on the batch, layer by layer
            with torch.no_grad():
                linear.weight /= linear(h).std(unbiased=False)
        normalize = {
            "none": nn.Identity(),
            "batchnorm": nn.BatchNorm1d(n, dtype=F64),  # training mode
            "layernorm": nn.LayerNorm(n, dtype=F64),
        }[norm]
        u = normalize(linear(h))
        a = ACTIVATIONS[act]()(u)
        if act == "tanh":
            share.append((a.abs() > 0.99).double().mean().item())
        elif act == "sigmoid":
            share.append(((a - 0.5).abs() > 0.5 - 0.01).double().mean().item())
        else:
            dead = (u <= 0).all(dim=0)
            share.append(dead.double().mean().item())
            if dead.all() and not s["allDeadLayer"]:
                s["allDeadLayer"] = l + 1
        h = a if alpha is None else h + alpha * a
        linears.append(linear)
        inputs.append(h)
        top = h.detach().abs().max().item()
        s.setdefault("logMax", []).append(log10(top))
        if not top <= HUGE:
            s["overflowForward"] = l + 1
            break
        scaled = h.detach() / top  # h.std() squares the values: it overflows above 1e154
        s["logStd"][l] = log10(top) + log10(scaled.std(unbiased=False).item()) if top else -math.inf
    saturating = act in ("sigmoid", "tanh")
    s["saturated"] = statistics.fmean(share) if saturating else None
    s["dead"] = None if saturating else statistics.fmean(share)
    s["shareByLayer"] = share
    if not s["overflowForward"]:
        ((h * r).sum() / BATCH).backward()
        s["logGrad"] = [log10(m.weight.grad.norm().item()) for m in linears]
    if export:
        s["given"] = {
            "x": x.flatten().tolist(),
            "r": r.flatten().tolist(),
            "W": [m.weight.detach().flatten().tolist() for m in linears],
            "b": [m.bias.detach().tolist() for m in linears],
        }
    return s


@pytest.fixture(scope="module")
def js(browser):  # noqa: F811
    """A blank page with the explorer's script: its compute functions, no page around them."""
    tab = browser.new_page()
    tab.goto("about:blank")
    tab.add_script_tag(path=str(JS))
    yield tab
    tab.close()


def explorer(js, cfg: dict, given: dict | None = None) -> dict:
    return js.evaluate(
        """([cfg, given]) => {
            const s = GradientExplorer.run(cfg, given || undefined);
            const share = s.saturated === null ? s.deadByLayer : s.saturatedByLayer;
            return Object.assign(s, {shareByLayer: share});
        }""",
        [cfg, given],
    )


def verdict(js, stats: dict) -> str:
    return js.evaluate("s => GradientExplorer.classify(s)", stats)


@pytest.mark.parametrize("cfg", EXACT, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_same_weights_give_the_same_numbers(cfg, js):
    torch_stats = pytorch_network(cfg, seed=0, export=True)
    ours = explorer(js, cfg, torch_stats["given"])
    tolerance = EXACT_RTOL / math.log(10)  # a relative error, in log10
    for key in ("logStd", "logGrad"):
        for l, (a, b) in enumerate(zip(ours[key], torch_stats[key]), 1):
            assert abs(a - b) <= tolerance, f"{key} at layer {l}: {a} vs PyTorch's {b}"
    n = cfg["width"]  # the shares count outputs or units: equal, up to one at a threshold
    for l, (a, b) in enumerate(zip(ours["shareByLayer"], torch_stats["shareByLayer"]), 1):
        assert abs(a - b) <= 1.5 / (n * BATCH if ours["dead"] is None else n), f"layer {l}"


def agree(ours: list[float], theirs: list[float], margin: float, what: str):
    """The mean of the explorer's draws is within margin plus SIGMAS standard errors of the
    mean of PyTorch's (the standard error of the difference of the two means)."""
    gap = abs(statistics.fmean(ours) - statistics.fmean(theirs))
    error = math.sqrt((statistics.variance(ours) + statistics.variance(theirs)) / DRAWS)
    assert gap <= margin + SIGMAS * error, (
        f"{what}: means {gap:.3f} apart, standard error {error:.3f}"
    )


@pytest.mark.parametrize(
    ("cfg", "expected"),
    CONFIGS,
    ids=["-".join(str(v) for v in c.values()) for c, _ in CONFIGS],
)
def test_own_draws_match_pytorch_within_the_stated_tolerance(cfg, expected, js):
    theirs = [pytorch_network(cfg, seed) for seed in range(DRAWS)]
    ours = [explorer(js, cfg | {"seed": seed}) for seed in range(DRAWS)]
    assert [s["verdict"] for s in ours] == [expected] * DRAWS  # the first: what a link shows
    assert [verdict(js, s) for s in theirs] == [expected] * DRAWS
    L = cfg["depth"]
    if expected == "overflow":  # at the same layer, give or take one
        agree([s["overflowForward"] for s in ours], [s["overflowForward"] for s in theirs], 1, "")
    finite = min(s["overflowForward"] or L + 1 for s in ours + theirs) - 1  # layers before
    for key in ("logStd", "logGrad") if expected != "overflow" else ("logStd",):
        for l in range(finite):
            agree([s[key][l] for s in ours], [s[key][l] for s in theirs], DECADES, f"{key} {l + 1}")
    for key in ("saturated", "dead"):
        if ours[0][key] is not None:
            agree([s[key] for s in ours], [s[key] for s in theirs], SHARE_MARGIN, key)
    if expected != "overflow":
        ratio = [s["logGrad"][0] - s["logGrad"][L - 1] for s in ours]
        agree(ratio, [s["logGrad"][0] - s["logGrad"][L - 1] for s in theirs], DECADES, "ratio")


INIT_RTOL = 0.03  # the weights' standard deviation, against torch.nn.init's


@pytest.mark.parametrize("init", ["gaussian", "xavier", "he", "orthogonal", "pytorch"])
def test_initializations_draw_what_torch_nn_init_draws(init, js):
    n, layers = 64, 4
    cfg = {"init": init, "gain": 1.7, "width": n}
    ours = [
        js.evaluate("([c, l]) => GradientExplorer.initialWeights(c, l)", [cfg, l])
        for l in range(layers)
    ]
    W = torch.tensor([w["W"] for w in ours], dtype=F64).reshape(layers, n, n)
    g = torch.Generator().manual_seed(0)
    theirs = []
    for _ in range(layers):
        linear = nn.Linear(n, n, dtype=F64)
        initialize(linear, cfg, g)
        theirs.append(linear.weight.detach())
    ratio = W.std().item() / torch.stack(theirs).std().item()
    assert abs(ratio - 1) < INIT_RTOL, ratio
    assert abs(W.mean().item()) < 3 * W.std().item() / n  # about 0: 3 standard errors
    if init == "orthogonal":
        eye = torch.eye(n, dtype=F64)
        assert all(torch.allclose(w @ w.T, eye, atol=1e-12, rtol=0) for w in W)
    if init == "pytorch":  # uniform in (-1/sqrt(n), 1/sqrt(n)), the bias too
        b = torch.tensor([w["b"] for w in ours], dtype=F64)
        assert W.abs().max() < n**-0.5 and b.abs().max() < n**-0.5
        assert abs(b.std().item() / (3 * n) ** -0.5 - 1) < 0.2
    else:
        assert all(w["b"] is None for w in ours)  # zero biases


NUMBER_WORDS = {3: "three", 6: "six", 10: "ten", 12: "twelve"}


def test_the_page_states_the_tolerances_and_what_they_were_checked_on():
    acts = {c["act"] for c, _ in CONFIGS}
    inits = {c["init"] for c, _ in CONFIGS}
    norms = {c.get("norm", "none") for c, _ in CONFIGS}
    assert len(acts) == 5 and len(inits) == 6 and len(norms) == 3
    assert {c.get("res", False) for c, _ in CONFIGS} == {False, True}
    assert max(c["depth"] for c, v in CONFIGS if v != "overflow") == 50
    assert {c.get("norm", "none") for c in EXACT} == norms
    assert {c["act"] for c in EXACT} == acts
    assert_page_states(
        PAGE,
        "within a relative $10^{-10}$",
        f"{NUMBER_WORDS[len(CONFIGS)]} configurations",
        "up to 50 layers, and the overflow at 100",
        f"mean over {NUMBER_WORDS[DRAWS]} of its draws",
        f"lies within **{DECADES} decades** (a factor of 2) plus {NUMBER_WORDS[SIGMAS]}",
        "standard errors",
        f"of the mean over {NUMBER_WORDS[DRAWS]} PyTorch draws",
        f"with {SHARE_MARGIN * 100:.0f} percentage points",
        f"within {explorer_speed.UPDATE_MS} ms of a change (the median of "
        f"{NUMBER_WORDS[len(explorer_speed.CHANGES)]} changes",
        "each\n  made once before",
    )
    assert_page_states(PAGE, f"`torch.nn.init` gives them, within {INIT_RTOL:.0%}")
    assert EXACT_RTOL == 1e-10 and round(10**DECADES) == 2


def test_why_it_computes_in_the_page():
    """The counts the page gives: settings of the controls, work per pass, the script's size."""
    html = PAGE  # the controls are HTML in the page's Markdown

    def steps(name):
        attrs = dict(
            re.findall(r'(\w+)="([^"]*)"', re.search(rf'<input[^>]*id="{name}"[^>]*>', html)[0])
        )
        return round((float(attrs["max"]) - float(attrs["min"])) / float(attrs["step"])) + 1

    def options(name):
        select = re.search(rf'<select id="{name}">(.*?)</select>', html, re.S)[1]
        return select.count("<option")

    settings = (
        steps("gfe-depth")
        * options("gfe-width")
        * options("gfe-act")
        * (options("gfe-init") - 1 + steps("gfe-gain"))
        * options("gfe-norm")
        * (1 + steps("gfe-alpha"))
    )
    assert f"{settings:.1e}" == "1.3e+09"
    assert steps("gfe-seed") == 10_000

    def work(n, L, B=BATCH):  # forward, backward to layer 2, and ||dL/dW|| for each layer
        norm = B * n * n if n <= 2 * B else 2 * B * B * n  # directly, or from Gram matrices
        return B * n * n * L + B * n * n * (L - 1) + norm * L

    assert f"{work(64, 20):.0e}" == "2e+07"
    assert round(work(256, 100) / work(64, 20), -1) == 70
    assert round(JS.stat().st_size / 1024, -1) == 40
    assert_page_states(
        PAGE,
        "about $1.3 \\times 10^{9}$ settings",
        "10,000 random draws",
        "is about $2 \\times 10^{7}$ multiply-adds",
        "is about 70 times more",
        "about 40 KB",
    )


def test_every_preset_shows_the_verdict_the_page_gives_it(js):
    presets = re.findall(r'<a class="gfe-preset" data-verdict="([a-z-]+)" href="([^"]+)"', PAGE)
    assert len(presets) >= 8
    for expected, href in presets:
        search = href.replace("&amp;", "&")
        got = js.evaluate("q => GradientExplorer.run(GradientExplorer.parse(q)).verdict", search)
        assert got == expected, f"{search}: {got}, the page says {expected}"


# ---------------------------------------------------------------------------- the page


def open_explorer(browser, url, width=1280, scheme="light"):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    tab = context.new_page()
    errors = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("console", lambda m: m.type == "error" and errors.append(f"{m.text} {m.location}"))
    tab.goto(url)
    tab.wait_for_selector("#gfe-plot svg")
    return context, tab, errors


def state(tab) -> dict:
    return tab.evaluate(
        """() => ({
            verdict: document.getElementById("gradient-explorer").dataset.verdict,
            text: document.getElementById("gfe-verdict").textContent,
            act: document.getElementById("gfe-act").value,
            depth: document.getElementById("gfe-depth").value,
            search: location.search,
            svg: document.querySelector("#gfe-plot svg").outerHTML,
            plotText: document.querySelector("#gfe-plot svg").textContent,
        })"""
    )


def test_direct_load_from_a_server_and_from_the_files(browser, served, site):  # noqa: F811
    query = "?act=relu&init=xavier&depth=50"
    for url in (served + "explorer/" + query, (site / "explorer/index.html").as_uri() + query):
        context, tab, errors = open_explorer(browser, url)
        if url.startswith("file:"):  # the KaTeX font preloads, refused there (first_paint.py)
            errors = [e for e in errors if "/assets/katex/fonts/KaTeX_" not in e]
        s = state(tab)
        assert (s["verdict"], s["act"], s["depth"]) == ("fading", "relu", "50"), url
        assert s["text"].startswith("The signal fades")
        assert "NaN" not in s["svg"] and not errors, (url, errors)
        context.close()


def test_it_takes_its_place_before_its_script_runs_and_hides_without_scripts(browser, served):  # noqa: F811
    """Shown from the first paint (appearing later, it would push the page down: a layout
    shift); with scripts off, the page says the explorer needs them, and hides its controls."""
    for scripts in (True, False):
        context = browser.new_context(java_script_enabled=scripts)
        tab = context.new_page()
        tab.route("**/explorer.js", lambda route: route.abort())  # as before it has run
        tab.goto(served + "explorer/")
        assert tab.locator("#gradient-explorer").is_visible() == scripts
        assert tab.locator("noscript p").is_visible() != scripts  # the text engine skips noscript
        context.close()


def test_instant_navigation_starts_it_and_keeps_its_state(browser, served):  # noqa: F811
    """The theme's instant navigation replaces the page's content and runs its scripts again."""
    context, tab, errors = open_explorer(browser, served + "explorer/?act=tanh&depth=7")

    navigate_instantly(context, served)
    tab.goto(served + "01-why-gradients-vanish-or-explode/")
    tab.evaluate("window.notReloaded = true")
    # a link to a preset, as a chapter has, followed through the theme's instant navigation
    tab.evaluate(
        """() => {
            const a = document.createElement("a");
            a.href = "../explorer/?act=relu&init=he&depth=50&norm=bn";
            a.id = "to-explorer";
            a.textContent = "explorer";
            document.querySelector("article").prepend(a);
        }"""
    )
    tab.click("#to-explorer")
    tab.wait_for_selector("#gfe-plot svg")
    assert tab.evaluate("window.notReloaded") is True, "a full reload, not instant navigation"
    s = state(tab)
    assert (s["verdict"], s["act"], s["depth"]) == ("exploding", "relu", "50")
    # a preset on the page: the address changes, and the back button restores the state before
    tab.click("a.gfe-preset[href*='xavier']")
    tab.wait_for_function("document.getElementById('gfe-verdict').textContent.includes('fades')")
    assert "init=xavier" in tab.evaluate("location.search")
    tab.go_back()
    tab.wait_for_function("document.getElementById('gfe-act').value === 'relu'")
    tab.wait_for_function("location.search.includes('norm=bn')")
    assert state(tab)["verdict"] == "exploding"
    # away and back through the navigation: started again, once
    tab.locator("article a[href$='01-why-gradients-vanish-or-explode/']").first.click()
    tab.wait_for_selector("#gradient-explorer", state="detached")
    tab.go_back()
    tab.wait_for_selector("#gfe-plot svg")
    assert tab.evaluate("window.notReloaded") is True
    assert tab.locator("#gfe-plot svg").count() == 1
    assert state(tab)["verdict"] == "exploding"
    # and its back button still works on the page started the second time
    tab.click("a.gfe-preset[href*='alpha=1']")
    tab.wait_for_function("document.getElementById('gfe-verdict').textContent.includes('grows')")
    tab.go_back()
    tab.wait_for_function("location.search.includes('norm=bn')")
    tab.wait_for_function("document.getElementById('gfe-norm').value === 'batchnorm'")
    assert state(tab)["verdict"] == "exploding"
    assert not errors, errors
    context.close()


def test_controls_are_labelled_keyboard_reachable_and_write_the_address(browser, served):  # noqa: F811
    context, tab, errors = open_explorer(browser, served + "explorer/")
    controls = tab.evaluate(
        """() => [...document.querySelectorAll("#gradient-explorer :is(input, select)")].map(
            c => [c.id, c.labels.length, [...c.labels].map(l => l.textContent.trim()).join()])"""
    )
    assert len(controls) == 12
    assert all(n >= 1 and text for _, n, text in controls), controls
    assert tab.locator("#gradient-explorer fieldset legend").count() == 3
    # Tab reaches every enabled control, each with a visible focus outline
    tab.focus("#gfe-depth-n")
    reached, outlines = set(), []
    for _ in range(12):
        info = tab.evaluate(
            """() => { const e = document.activeElement, s = getComputedStyle(e);
                return [e.id, s.outlineStyle, parseFloat(s.outlineWidth)]; }"""
        )
        reached.add(info[0])
        outlines.append(info)
        tab.keyboard.press("Tab")
    enabled = {i for i, *_ in controls} - {"gfe-gain", "gfe-gain-n", "gfe-alpha", "gfe-alpha-n"}
    assert enabled <= reached, enabled - reached
    assert all(style != "none" and width >= 2 for i, style, width in outlines if i in enabled)
    # the keyboard changes the network, and the address follows
    tab.focus("#gfe-act")
    tab.select_option("#gfe-act", "relu")
    tab.focus("#gfe-depth")
    for _ in range(5):
        tab.keyboard.press("ArrowRight")
    tab.wait_for_function("location.search.includes('depth=25')")
    tab.check("#gfe-res")
    assert not tab.locator("#gfe-alpha").is_disabled()
    # a typed gain is used and kept as typed; one out of range is brought into it
    tab.select_option("#gfe-init", "gaussian")
    tab.fill("#gfe-gain-n", "1.414")
    tab.keyboard.press("Tab")
    tab.wait_for_function("location.search.includes('gain=1.414')")
    tab.fill("#gfe-gain-n", "1e6")
    tab.keyboard.press("Tab")
    tab.wait_for_function("location.search.includes('gain=10000')")
    assert tab.input_value("#gfe-gain-n") == "10000"
    search = tab.evaluate("location.search")
    assert "act=relu" in search and "res=1" in search
    shown = state(tab)["text"]
    tab.reload()
    tab.wait_for_selector("#gfe-plot svg")
    assert state(tab)["text"] == shown and tab.is_checked("#gfe-res")
    assert not errors, errors
    context.close()


def test_extremes_show_overflow_and_zero_never_nan(browser, served):  # noqa: F811
    context, tab, errors = open_explorer(
        browser, served + "explorer/?act=relu&init=gaussian&gain=10000&depth=100"
    )
    s = state(tab)
    assert s["verdict"] == "overflow" and "overflow (> 10300)" in s["plotText"]
    assert "not computed: the forward pass overflowed" in s["plotText"]
    assert "NaN" not in s["svg"] and "Infinity" not in s["svg"]
    # the same page, its controls set as a reader would
    configure = """c => new Promise(shown => {
        const root = document.getElementById("gradient-explorer");
        const set = (id, v) => { document.getElementById("gfe-" + id).value = v; };
        root.addEventListener("gfe:rendered", () => shown(), {once: true});
        set("depth", c.depth); set("depth-n", c.depth); set("act", c.act);
        set("init", c.init); set("gain", Math.log10(c.gain)); set("gain-n", c.gain);
        set("norm", c.norm || "none"); set("alpha-n", c.alpha || 1);
        document.getElementById("gfe-res").checked = !!c.res;
        document.getElementById("gfe-act").dispatchEvent(new Event("change", {bubbles: true}));
    })"""
    gaussian = {"init": "gaussian", "depth": 100}
    for cfg, expected in [
        ({"act": "sigmoid", "gain": 1e4} | gaussian, "no-gradient"),
        ({"act": "relu", "gain": 0.01} | gaussian, "fading"),
        (
            {"act": "tanh", "gain": 1e4, "norm": "batchnorm", "res": True, "alpha": 2} | gaussian,
            None,
        ),
    ]:
        tab.evaluate(configure, cfg)
        s = state(tab)
        assert expected is None or s["verdict"] == expected, (cfg, s["text"])
        assert "NaN" not in s["svg"] and "Infinity" not in s["svg"], cfg
        assert ("exactly 0" in s["plotText"]) == (expected == "no-gradient"), cfg
    # the largest network takes longer: computed in slices, the page says so and keeps answering
    tab.evaluate(
        """() => {
            document.getElementById("gfe-depth").value = "100";
            const width = document.getElementById("gfe-width");
            width.value = "256";
            width.dispatchEvent(new Event("change", {bubbles: true}));
        }"""
    )
    tab.wait_for_function("document.getElementById('gfe-status').textContent.includes('Computing')")
    assert tab.evaluate("document.getElementById('gradient-explorer').getAttribute('aria-busy')")
    assert tab.evaluate("1 + 1") == 2  # the page answers while it computes
    tab.wait_for_function("!document.getElementById('gradient-explorer').hasAttribute('aria-busy')")
    assert tab.evaluate("document.getElementById('gfe-rows').children.length") == 100
    assert not errors, errors
    context.close()


def relative_luminance(rgb):
    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b):
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


COLOURS = """() => {
    const rgb = (c) => { const x = document.createElement("canvas").getContext("2d");
        x.fillStyle = "#000"; x.fillStyle = c; x.fillRect(0, 0, 1, 1);
        const d = x.getImageData(0, 0, 1, 1).data;
        return [d[0], d[1], d[2], d[3]]; };
    const css = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
    return {
        background: rgb(getComputedStyle(document.body).backgroundColor),
        std: rgb(css("#gfe-plot .gfe-line.gfe-std", "stroke")),
        grad: rgb(css("#gfe-plot .gfe-line.gfe-grad", "stroke")),
        text: rgb(css("#gfe-plot text", "fill")),
        smallest: Math.min(...[...document.querySelectorAll("#gfe-plot text, #gfe-plot tspan")]
            .map(t => parseFloat(getComputedStyle(t).fontSize)
                * document.querySelector("#gfe-plot svg").getScreenCTM().a)),
    };
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_plot_colours_contrast_and_text_is_readable(scheme, browser, served):  # noqa: F811
    context, tab, errors = open_explorer(browser, served + "explorer/", 1280, scheme)
    for width in (1280, 390):  # the plot is redrawn at the new width
        if width != 1280:
            tab.set_viewport_size({"width": width, "height": 900})
            tab.wait_for_function(
                f"document.querySelector('#gfe-plot svg').getAttribute('width') < {width}"
            )
        c = tab.evaluate(COLOURS)
        assert c["background"][3] == 255
        for name in ("std", "grad", "text"):  # composited over the background if translucent
            alpha = c[name][3] / 255
            colour = [alpha * x + (1 - alpha) * y for x, y in zip(c[name], c["background"])]
            assert contrast(colour, c["background"]) >= 4.5, (name, colour, c["background"])
        assert c["smallest"] >= (9 if width == 390 else 11), (width, c["smallest"])
    assert not errors, errors
    context.close()


@pytest.mark.a11y  # with test_browser.py's audit of every page, by `make test-a11y`
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1280])
def test_passes_axe_showing_the_most_it_can(scheme, width, browser, served):  # noqa: F811
    """axe-core's WCAG 2 A and AA rules on the explorer with overflow bands, a note in the plot
    and the table of numbers open (test_browser.py audits its first state, with every page)."""
    url = served + "explorer/?act=relu&init=gaussian&gain=10000&depth=100"
    context, tab, errors = open_explorer(browser, url, width, scheme)
    tab.eval_on_selector("details.gfe-numbers", "d => d.open = true")
    # a fold's wide blocks are made focusable once it has opened (scrollable-regions.js)
    tab.wait_for_function(
        """[...document.querySelectorAll("details.gfe-numbers .md-typeset__scrollwrap")]
            .every(e => e.scrollWidth <= e.clientWidth + 1 || e.tabIndex === 0)"""
    )
    tab.add_script_tag(path=str(AXE))
    violations = tab.evaluate(
        """async () => (await axe.run(document, {runOnly: ["wcag2a", "wcag2aa"]}))
            .violations.map(v => `${v.id}: ${v.nodes.map(n => n.target).join(", ")}`)"""
    )
    assert not violations, violations
    assert not errors, errors
    context.close()


def test_loads_nothing_from_another_host(browser, served):  # noqa: F811
    context = browser.new_context()
    off_site = []
    context.on("request", lambda r: r.url.startswith(served) or off_site.append(r.url))
    tab = context.new_page()
    tab.goto(served + "explorer/", wait_until="networkidle")
    tab.wait_for_selector("#gfe-plot svg")
    context.close()
    assert not off_site, off_site


def test_only_the_explorer_page_loads_its_script(site):
    script = re.compile(r'<script[^>]*src="[^"]*explorer\.js"')
    pages = [p for p in site.rglob("*.html") if script.search(p.read_text(encoding="utf-8"))]
    assert pages == [site / "explorer" / "index.html"]
    assert Path(site / "explorer" / "explorer.js").read_bytes() == JS.read_bytes()
