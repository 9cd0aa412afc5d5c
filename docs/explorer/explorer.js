// Gradient-flow explorer: a deep MLP at initialization, computed in the page.
// The network, the loss and every statistic are defined on the explorer's page
// (docs/explorer/index.md); tests/test_explorer.py checks them against PyTorch.
// No dependency, no request: float64 typed arrays, a seeded generator, SVG drawn here.
(function () {
  "use strict";

  // ---------------------------------------------------------------- options
  const ACTIVATIONS = ["sigmoid", "tanh", "relu", "leakyrelu", "gelu"];
  const INITS = ["gaussian", "xavier", "he", "orthogonal", "pytorch", "lsuv"];
  const NORMS = ["none", "batchnorm", "layernorm"];
  const WIDTHS = [8, 16, 32, 64, 128, 256];
  const DEFAULTS = {
    depth: 20, width: 64, act: "sigmoid", init: "pytorch", gain: 1, norm: "none",
    res: false, alpha: 1, seed: 0,
  };
  const GAIN = [0.01, 10000]; // Gaussian init: weight std = gain / sqrt(n_in)
  const ALPHA = [0.01, 2]; // residual branch scale
  const BATCH = 64;
  const EPS = 1e-5; // BatchNorm1d and LayerNorm's default
  const LEAK = 0.01; // nn.LeakyReLU's default slope
  const HUGE = 1e300; // above this a value counts as overflow
  const TANH_SATURATED = 0.99; // as chapter 11's gradient monitor
  const SIGMOID_SATURATED = 0.01;

  // ---------------------------------------------------------- random numbers
  // sfc32 (Chris Doty-Humphrey's small fast counter), seeded by splitmix32 from
  // (seed, stream): every layer has its own stream, so adding layers leaves the
  // layers below unchanged.
  function splitmix32(x) {
    x = (x + 0x9e3779b9) | 0;
    let t = x ^ (x >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  }

  function Rng(seed, stream) {
    let s = splitmix32(seed * 1000003 + stream * 7919 + 12345);
    let a = (s = splitmix32(s));
    let b = (s = splitmix32(s));
    let c = (s = splitmix32(s));
    let d = 1;
    const next = () => {
      let t = (a + b) | 0;
      d = (d + 1) | 0;
      t = (t + d) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (c << 21) | (c >>> 11);
      c = (c + t) | 0;
      return t >>> 0;
    };
    for (let i = 0; i < 12; i++) next();
    let spare = NaN;
    return {
      // uniform in [0, 1), 53 random bits
      uniform: () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992,
      // standard normal, Box-Muller
      normal() {
        if (spare === spare) {
          const v = spare;
          spare = NaN;
          return v;
        }
        const u = 1 - this.uniform(); // (0, 1]
        const r = Math.sqrt(-2 * Math.log(u));
        const t = 2 * Math.PI * this.uniform();
        spare = r * Math.sin(t);
        return r * Math.cos(t);
      },
    };
  }

  function normals(rng, count) {
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) out[i] = rng.normal();
    return out;
  }

  // ------------------------------------------------------------- activations
  // erf to double precision (JavaScript has none): a series of positive terms,
  // erf x = 2/sqrt(pi) e^(-x^2) sum_k (2x^2)^k x / (1 3 5 ... (2k+1)), for |x| < 2.5,
  // and erfc's continued fraction (Lentz's algorithm) beyond.
  const TWO_OVER_SQRT_PI = 1.1283791670955126;
  function erfc(x) {
    if (x < 0) return 2 - erfc(-x);
    if (x < 2.5) return 1 - erf(x);
    // erfc x = e^(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...))))
    const tiny = 1e-300;
    let f = x, C = x, D = 0;
    for (let k = 1; k < 200; k++) {
      const a = k / 2;
      D = x + a * D;
      D = D === 0 ? 1 / tiny : 1 / D;
      C = x + a / C;
      if (C === 0) C = tiny;
      const delta = C * D;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    return (Math.exp(-x * x) / f) * (TWO_OVER_SQRT_PI / 2);
  }
  function erf(x) {
    const ax = Math.abs(x);
    if (ax >= 2.5) return Math.sign(x) * (1 - erfc(ax));
    const t = x * x;
    let term = 1, sum = 1;
    for (let k = 1; k < 200; k++) {
      term *= (2 * t) / (2 * k + 1);
      sum += term;
      if (term < 1e-17 * sum) break;
    }
    return TWO_OVER_SQRT_PI * x * Math.exp(-t) * sum;
  }
  const SQRT_HALF = Math.SQRT1_2;
  const INV_SQRT_2PI = 0.3989422804014327;

  const gelu = (u) => 0.5 * u * (1 + erf(u * SQRT_HALF));
  const geluSlope = (u) => 0.5 * (1 + erf(u * SQRT_HALF)) + u * INV_SQRT_2PI * Math.exp(-0.5 * u * u);

  // next = activation(u), or h + alpha * activation(u) with skips; returns how many
  // outputs are saturated (sigmoid, tanh). One loop per activation, so that each
  // stays fast whichever ran before it.
  function activate(act, u, h, alpha, next) {
    const N = u.length;
    let saturated = 0;
    switch (act) {
      case "sigmoid":
        for (let k = 0; k < N; k++) {
          const a = 1 / (1 + Math.exp(-u[k]));
          if (Math.abs(a - 0.5) > 0.5 - SIGMOID_SATURATED) saturated++;
          next[k] = a;
        }
        break;
      case "tanh":
        for (let k = 0; k < N; k++) {
          const a = Math.tanh(u[k]);
          if (Math.abs(a) > TANH_SATURATED) saturated++;
          next[k] = a;
        }
        break;
      case "relu":
        for (let k = 0; k < N; k++) next[k] = u[k] > 0 ? u[k] : 0;
        break;
      case "leakyrelu":
        for (let k = 0; k < N; k++) next[k] = u[k] > 0 ? u[k] : LEAK * u[k];
        break;
      case "gelu":
        for (let k = 0; k < N; k++) next[k] = gelu(u[k]);
        break;
    }
    if (alpha) for (let k = 0; k < N; k++) next[k] = h[k] + alpha * next[k];
    return saturated;
  }

  // d = g * activation'(u), as autograd computes it (sigmoid and tanh from their output)
  function slope(act, u, g, d) {
    const N = u.length;
    switch (act) {
      case "sigmoid":
        for (let k = 0; k < N; k++) {
          const a = 1 / (1 + Math.exp(-u[k]));
          d[k] = g[k] * (a * (1 - a));
        }
        break;
      case "tanh":
        for (let k = 0; k < N; k++) {
          const a = Math.tanh(u[k]);
          d[k] = g[k] * (1 - a * a);
        }
        break;
      case "relu":
        for (let k = 0; k < N; k++) d[k] = u[k] > 0 ? g[k] : 0;
        break;
      case "leakyrelu":
        for (let k = 0; k < N; k++) d[k] = u[k] > 0 ? g[k] : g[k] * LEAK;
        break;
      case "gelu":
        for (let k = 0; k < N; k++) d[k] = g[k] * geluSlope(u[k]);
        break;
    }
  }

  // -------------------------------------------------------------- the weights
  // W^(l) = scale * base: base is drawn once per (kind, seed, width, layer) and
  // cached; the scale carries the gain, the init's variance, LSUV's correction.
  const cache = new Map();
  let cached = 0;
  const CACHE_LIMIT = 14e6; // numbers (112 MB): two kinds of base at the largest size

  function remember(key, make) {
    let value = cache.get(key);
    if (!value) {
      value = make();
      if (cached + value.length > CACHE_LIMIT) {
        cache.clear();
        cached = 0;
      }
      cache.set(key, value);
      cached += value.length;
    }
    return value;
  }

  function gaussianBase(seed, n, l) {
    return remember(`g${seed}:${n}:${l}`, () => normals(Rng(seed, 2 + l), n * n));
  }

  function uniformBase(seed, n, l) {
    // nn.Linear's default: weight and bias uniform in (-1/sqrt(n_in), 1/sqrt(n_in))
    return remember(`u${seed}:${n}:${l}`, () => {
      const rng = Rng(seed, 1000 + l);
      const w = new Float64Array(n * n + n);
      for (let i = 0; i < w.length; i++) w[i] = 2 * rng.uniform() - 1;
      return w;
    });
  }

  function orthogonalBase(seed, n, l) {
    // rows of the Gaussian base, orthonormalized (modified Gram-Schmidt):
    // a Haar-distributed orthogonal matrix, as nn.init.orthogonal_ draws
    return remember(`o${seed}:${n}:${l}`, () => {
      const q = normals(Rng(seed, 2 + l), n * n); // the Gaussian base's numbers
      for (let i = 0; i < n; i++) {
        const qi = q.subarray(i * n, i * n + n);
        for (let k = 0; k < i; k++) {
          const qk = q.subarray(k * n, k * n + n);
          let dot = 0;
          for (let j = 0; j < n; j++) dot += qi[j] * qk[j];
          for (let j = 0; j < n; j++) qi[j] -= dot * qk[j];
        }
        let norm = 0;
        for (let j = 0; j < n; j++) norm += qi[j] * qi[j];
        norm = 1 / Math.sqrt(norm);
        for (let j = 0; j < n; j++) qi[j] *= norm;
      }
      return q;
    });
  }

  // [base (n*n, row-major: W[i][j] = base[i*n + j]), scale, bias or null]
  function layerWeights(cfg, l) {
    const n = cfg.width;
    switch (cfg.init) {
      case "gaussian":
        return [gaussianBase(cfg.seed, n, l), cfg.gain / Math.sqrt(n), null];
      case "xavier": // xavier_normal_: std sqrt(2 / (n_in + n_out))
        return [gaussianBase(cfg.seed, n, l), Math.sqrt(2 / (n + n)), null];
      case "he": // kaiming_normal_, nonlinearity="relu": std sqrt(2 / n_in)
        return [gaussianBase(cfg.seed, n, l), Math.sqrt(2 / n), null];
      case "orthogonal":
      case "lsuv":
        return [orthogonalBase(cfg.seed, n, l), 1, null];
      case "pytorch": {
        const u = uniformBase(cfg.seed, n, l);
        return [u.subarray(0, n * n), 1 / Math.sqrt(n), u.subarray(n * n).map((v) => v / Math.sqrt(n))];
      }
    }
    throw new Error(`unknown init ${cfg.init}`);
  }

  // ------------------------------------------------------------ linear algebra
  // out[r][c] = s * sum_k X[r][k] Y[c][k]: X (R x K) times the transpose of Y
  // (C x K), two rows by four columns at a time (about 2 GFLOP/s in V8)
  function matmulT(X, Y, s, R, C, K, out) {
    const r2 = R - (R % 2), c4 = C - (C % 4);
    for (let r = 0; r < r2; r += 2) {
      const x0 = r * K, x1 = x0 + K;
      for (let c = 0; c < c4; c += 4) {
        const y0 = c * K, y1 = y0 + K, y2 = y1 + K, y3 = y2 + K;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        for (let k = 0; k < K; k++) {
          const p = X[x0 + k], q = X[x1 + k];
          const a = Y[y0 + k], b = Y[y1 + k], d = Y[y2 + k], e = Y[y3 + k];
          s0 += p * a; s1 += p * b; s2 += p * d; s3 += p * e;
          t0 += q * a; t1 += q * b; t2 += q * d; t3 += q * e;
        }
        const o0 = r * C + c, o1 = o0 + C;
        out[o0] = s * s0; out[o0 + 1] = s * s1; out[o0 + 2] = s * s2; out[o0 + 3] = s * s3;
        out[o1] = s * t0; out[o1 + 1] = s * t1; out[o1 + 2] = s * t2; out[o1 + 3] = s * t3;
      }
    }
    for (let r = 0; r < R; r++) // what the blocks left: an odd last row, the last columns
      for (let c = r < r2 ? c4 : 0; c < C; c++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += X[r * K + k] * Y[c * K + k];
        out[r * C + c] = s * acc;
      }
  }

  function transpose(A, rows, cols, out) {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = A[r * cols + c];
    return out;
  }

  // log10 of the Frobenius norm of dL/dW = D^T H (D = delta, H the layer's input,
  // both B x n), with D and H scaled by their largest entries so that no square
  // over- or underflows. Formed directly when n <= 2B; otherwise through the Gram
  // matrices, ||D^T H||^2 = sum_bc (D D^T)_bc (H H^T)_bc, which costs 2 B^2 n, not B n^2.
  function logNormDtH(D, H, B, n, work) {
    const dmax = maxAbs(D), hmax = maxAbs(H);
    if (dmax === 0 || hmax === 0) return -Infinity;
    if (!(dmax < Infinity && hmax < Infinity)) return Infinity;
    const { d, h, m } = work;
    let sum = 0;
    if (n <= 2 * B) {
      for (let b = 0; b < B; b++)
        for (let i = 0; i < n; i++) {
          d[i * B + b] = D[b * n + i] / dmax;
          h[i * B + b] = H[b * n + i] / hmax;
        }
      matmulT(d, h, 1, n, n, B, m);
      for (let k = 0; k < n * n; k++) sum += m[k] * m[k];
    } else {
      for (let k = 0; k < D.length; k++) {
        d[k] = D[k] / dmax;
        h[k] = H[k] / hmax;
      }
      matmulT(d, d, 1, B, B, n, m);
      const g = m.subarray(B * B);
      matmulT(h, h, 1, B, B, n, g);
      for (let k = 0; k < B * B; k++) sum += m[k] * g[k];
    }
    return sum > 0 ? Math.log10(dmax) + Math.log10(hmax) + 0.5 * Math.log10(sum) : -Infinity;
  }

  function maxAbs(A) {
    let m = 0;
    for (let k = 0; k < A.length; k++) {
      const v = Math.abs(A[k]);
      if (!(v <= m)) m = v; // NaN propagates
    }
    return m;
  }

  // log10 of the population standard deviation of all entries, scaled
  function logStd(A) {
    const m = maxAbs(A);
    if (m === 0) return -Infinity;
    let mean = 0;
    for (let k = 0; k < A.length; k++) mean += A[k] / m;
    mean /= A.length;
    let ss = 0;
    for (let k = 0; k < A.length; k++) {
      const d = A[k] / m - mean;
      ss += d * d;
    }
    return ss === 0 ? -Infinity : Math.log10(m) + 0.5 * Math.log10(ss / A.length);
  }

  // Normalize in place, over the batch for each unit (BatchNorm1d, training mode)
  // or over the units for each example (LayerNorm); gamma 1, beta 0, biased
  // variance. Returns the 1 / sqrt(v + eps) it used, one per group.
  function normalize(Z, B, n, kind, inv) {
    const batch = kind === "batchnorm";
    const groups = batch ? n : B, size = batch ? B : n;
    const stride = batch ? n : 1, step = batch ? 1 : n;
    for (let g = 0; g < groups; g++) {
      const o = g * step;
      let mean = 0;
      for (let k = 0; k < size; k++) mean += Z[o + k * stride];
      mean /= size;
      let v = 0;
      for (let k = 0; k < size; k++) {
        const d = Z[o + k * stride] - mean;
        v += d * d;
      }
      const r = 1 / Math.sqrt(v / size + EPS);
      inv[g] = r;
      for (let k = 0; k < size; k++) Z[o + k * stride] = (Z[o + k * stride] - mean) * r;
    }
  }

  // The normalization's backward pass: G <- r (G - mean(G) - u mean(G u)), in place
  function normalizeBackward(G, U, B, n, kind, inv) {
    const batch = kind === "batchnorm";
    const groups = batch ? n : B, size = batch ? B : n;
    const stride = batch ? n : 1, step = batch ? 1 : n;
    for (let g = 0; g < groups; g++) {
      const o = g * step;
      let mg = 0, mgu = 0;
      for (let k = 0; k < size; k++) {
        const p = o + k * stride;
        mg += G[p];
        mgu += G[p] * U[p];
      }
      mg /= size;
      mgu /= size;
      const r = inv[g];
      for (let k = 0; k < size; k++) {
        const p = o + k * stride;
        G[p] = r * (G[p] - mg - U[p] * mgu);
      }
    }
  }

  // ------------------------------------------------------------ the network
  // A generator: it yields after each layer so that the page can stay
  // responsive; run() drives it to the end. `given` (tests) replaces the drawn
  // input x, readout r, weights W and biases b with its own (flat arrays).
  function* steps(cfg, given) {
    const L = cfg.depth, n = cfg.width, B = given && given.x ? given.x.length / n : BATCH;
    const norm = cfg.norm !== "none" ? cfg.norm : null;
    const alpha = cfg.res ? cfg.alpha : 0;
    const x = given && given.x ? Float64Array.from(given.x) : normals(Rng(cfg.seed, 0), B * n);
    const H = [x]; // h_0 .. h_L (each B x n)
    const U = []; // input of the activation, per layer
    const invs = []; // the normalization's 1 / sqrt(v + eps)
    const weights = []; // [base, scale]
    const out = {
      depth: L, act: cfg.act, logStd: new Array(L).fill(NaN), logGrad: new Array(L).fill(NaN),
      logMax: new Array(L).fill(NaN),
      overflowForward: 0, overflowBackward: 0, saturatedByLayer: [], deadByLayer: [],
      saturated: null, dead: null, allDeadLayer: 0,
    };
    const counts = cfg.act === "sigmoid" || cfg.act === "tanh" ? "saturated" : "dead";
    for (let l = 0; l < L; l++) {
      let base, scale, bias;
      if (given && given.W) {
        [base, scale, bias] = [Float64Array.from(given.W[l]), 1, given.b ? given.b[l] : null];
      } else {
        [base, scale, bias] = layerWeights(cfg, l);
      }
      const h = H[l];
      const z = new Float64Array(B * n);
      matmulT(h, base, scale, B, n, n, z);
      if (cfg.init === "lsuv" && !(given && given.W)) {
        // LSUV: rescale W^(l) so that z^(l) has variance 1 over the batch; with
        // no bias z is linear in W, so one step is exact
        const c = Math.pow(10, -logStd(z));
        if (c === c && c !== Infinity) {
          scale *= c;
          for (let k = 0; k < z.length; k++) z[k] *= c;
        }
      }
      if (bias) for (let b = 0; b < B; b++) for (let i = 0; i < n; i++) z[b * n + i] += bias[i];
      weights.push([base, scale]);
      let inv = null;
      if (norm) {
        inv = new Float64Array(norm === "batchnorm" ? n : B);
        normalize(z, B, n, norm, inv);
      }
      invs.push(inv);
      U.push(z);
      const next = new Float64Array(B * n);
      const flagged = activate(cfg.act, z, h, alpha, next);
      if (counts === "saturated") {
        out.saturatedByLayer.push(flagged / next.length);
      } else {
        let dead = 0;
        for (let i = 0; i < n; i++) {
          let off = true;
          for (let b = 0; b < B && off; b++) off = z[b * n + i] <= 0;
          if (off) dead++;
        }
        out.deadByLayer.push(dead / n);
        if (dead === n && !out.allDeadLayer) out.allDeadLayer = l + 1;
      }
      H.push(next);
      const m = maxAbs(next);
      out.logMax[l] = Math.log10(m);
      if (!(m <= HUGE)) {
        out.overflowForward = l + 1;
        for (let k = l; k < L; k++) out.logStd[k] = Infinity;
        break;
      }
      out.logStd[l] = logStd(next);
      yield l + 1;
    }
    const mean = (a) => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : null);
    out.saturated = counts === "saturated" ? mean(out.saturatedByLayer) : null;
    out.dead = counts === "dead" ? mean(out.deadByLayer) : null;
    if (out.overflowForward) return finish(out);

    // backward: the loss is (1/B) sum_b r_b . h_L,b, so dL/dh_L = r / B
    const r = given && given.r ? Float64Array.from(given.r) : normals(Rng(cfg.seed, 1), B * n);
    let G = r.map((v) => v / B);
    const work = { d: new Float64Array(B * n), h: new Float64Array(B * n), m: new Float64Array(Math.max(n * n, 2 * B * B)) };
    const WT = new Float64Array(n * n);
    for (let l = L - 1; l >= 0; l--) {
      const u = U[l];
      const d = new Float64Array(B * n); // delta^(l), one row per example
      if (alpha) for (let k = 0; k < d.length; k++) d[k] = alpha * G[k];
      slope(cfg.act, u, alpha ? d : G, d);
      if (norm) normalizeBackward(d, u, B, n, norm, invs[l]);
      out.logGrad[l] = logNormDtH(d, H[l], B, n, work);
      if (!(out.logGrad[l] <= 300)) {
        out.overflowBackward = l + 1; // this layer's gradient, and all below
        for (let k = 0; k <= l; k++) out.logGrad[k] = Infinity;
        break;
      }
      if (l === 0) break; // dL/dx is not needed
      const [base, scale] = weights[l];
      transpose(base, n, n, WT);
      const prev = new Float64Array(B * n);
      matmulT(d, WT, scale, B, n, n, prev); // dL/dh^(l-1) = delta^(l) W^(l)
      if (alpha) for (let k = 0; k < prev.length; k++) prev[k] += G[k];
      G = prev;
      if (!(maxAbs(G) <= HUGE)) {
        out.overflowBackward = l; // dL/dh^(l-1) overflows: every layer below
        for (let k = 0; k < l; k++) out.logGrad[k] = Infinity;
        break;
      }
      yield L + (L - l);
    }
    return finish(out);
  }

  function finish(out) {
    const L = out.depth;
    out.logRatio = out.logGrad[0] - out.logGrad[L - 1];
    out.verdict = classify(out);
    return out;
  }

  function run(cfg, given) {
    const it = steps(normalizeConfig(cfg), given);
    for (;;) {
      const step = it.next();
      if (step.done) return step.value;
    }
  }

  // ------------------------------------------------------------- the verdict
  // One class per network, from the statistics only (the test feeds PyTorch's).
  function classify(s) {
    const L = s.depth;
    if (s.overflowForward || s.overflowBackward || s.logGrad.some((g) => g > 300)) return "overflow";
    if (s.logGrad.some((g) => g === -Infinity)) return "no-gradient";
    const r = s.logGrad[0] - s.logGrad[L - 1];
    if (r <= -2) return "vanishing";
    if (r >= 2) return "exploding";
    const top = s.logStd[L - 1];
    if (top <= -2) return "fading";
    if (top >= 2) return "growing";
    if (s.saturated !== null && s.saturated >= 0.5) return "saturated";
    if (s.dead !== null && s.dead >= 0.5) return "dead";
    return "healthy";
  }

  function normalizeConfig(c) {
    return Object.assign({}, DEFAULTS, c);
  }

  // ---------------------------------------------------------------- wording
  // Text with exponents written ^{...}: shown as superscripts (<sup>, or a raised <tspan> in the
  // plot), and as plain text where it is only read (the plot's description)
  const SUPERSCRIPT = /\^\{([^}]*)\}/;
  const plain = (text) => text.replace(/\^\{([^}]*)\}/g, "^$1");

  function setRich(node, text) {
    const parts = text.split(SUPERSCRIPT);
    node.replaceChildren(...parts.map((p, i) => {
      if (i % 2 === 0) return document.createTextNode(p);
      const sup = document.createElement("sup");
      sup.textContent = p;
      return sup;
    }));
  }

  // A number given by its log10, as text: 0.52, 37, 3.2 × 10^{−16}
  function fmt(lg, digits = 2) {
    if (lg === -Infinity) return "0";
    if (lg === Infinity) return "overflow (> 10^{300})";
    if (lg !== lg) return "—";
    let e = Math.floor(lg);
    let m = Math.pow(10, lg - e);
    if (Number(m.toPrecision(digits)) >= 10) {
      m /= 10;
      e += 1;
    }
    if (e >= -2 && e <= 3) return String(Number(Math.pow(10, lg).toPrecision(digits)));
    return `${m.toPrecision(digits)} × 10^{${String(e).replace("-", "−")}}`;
  }

  const pct = (f) => (f === null ? "—" : `${f > 0 && f < 0.005 ? "< 1" : Math.round(100 * f)}%`);

  const ACT_NAME = { sigmoid: "sigmoid", tanh: "tanh", relu: "ReLU", leakyrelu: "LeakyReLU", gelu: "GELU" };

  // One plain sentence per verdict class.
  function sentence(s) {
    const L = s.depth;
    const ratio = fmt(s.logGrad[0] - s.logGrad[L - 1]);
    const mean = (a) => a.reduce((t, v) => t + v, 0) / a.length;
    switch (s.verdict) {
      case "overflow": {
        if (s.overflowForward) {
          const f32 = s.logMax.findIndex((v) => v > Math.log10(3.4e38)) + 1;
          const also = f32 && f32 < s.overflowForward
            ? ` (in float32, whose largest number is 3.4 × 10^{38}, already at layer ${f32})` : "";
          return `Overflow: the activations pass 10^{300} at layer ${s.overflowForward}, at the edge of float64's range, so training would meet inf and NaN from its first step${also}.`;
        }
        return `Overflow: on its way back the gradient passes 10^{300} at layer ${s.overflowBackward || s.logGrad.findIndex((g) => g > 300) + 1}, so every layer below gets inf or NaN.`;
      }
      case "no-gradient": {
        const top = s.logGrad.lastIndexOf(-Infinity) + 1;
        const all = s.logGrad.slice(0, top).every((g) => g === -Infinity);
        const which = all ? (top === 1 ? "layer 1 gets" : `layers 1 to ${top} get`) : `layer ${top} gets`;
        const why = s.allDeadLayer
          ? `every unit of layer ${s.allDeadLayer} is dead (its input is ≤ 0 on every example)`
          : "the gradient underflows to 0 in float64";
        return `No gradient: ${which} exactly zero, because ${why}, so ${all && top > 1 ? "they" : "it"} cannot learn.`;
      }
      case "vanishing":
        return `Vanishing gradients: layer 1's weight gradient is ${ratio} times layer ${L}'s, so with one learning rate for all layers the first layers will barely move.`;
      case "exploding":
        return `Exploding gradients: layer 1's weight gradient is ${ratio} times layer ${L}'s, so a learning rate that suits the last layers throws the first ones far off.`;
      case "fading":
        return `The signal fades: the activations' std falls to ${fmt(s.logStd[L - 1])} by layer ${L}, and every layer's weight gradient is small with it (about ${fmt(mean(s.logGrad))}), though they are balanced across layers.`;
      case "growing":
        return `The signal grows: the activations' std reaches ${fmt(s.logStd[L - 1])} by layer ${L}, and every layer's weight gradient is large with it (about ${fmt(mean(s.logGrad))}), so a usual learning rate would overshoot at the first step.`;
      case "saturated":
        return `Most units are saturated (${pct(s.saturated)} of the ${ACT_NAME[s.act]} outputs): they pass almost no gradient back, though layer 1 still gets ${ratio} times layer ${L}'s gradient.`;
      case "dead":
        return `${pct(s.dead)} of the units are dead on this batch: they pass no gradient back, though what does get through reaches layer 1 at ${ratio} times layer ${L}'s size.`;
      default: {
        const lo = Math.min(...s.logStd), hi = Math.max(...s.logStd);
        return `Healthy at initialization: from layer ${L} down to layer 1 the weight gradient changes by a factor of ${ratio}, and the activations' std stays between ${fmt(lo)} and ${fmt(hi)}.`;
      }
    }
  }

  // ------------------------------------------------------------------- plot
  const SVGNS = "http://www.w3.org/2000/svg";
  // Text sizes in CSS pixels (the SVG is drawn at one unit per pixel): at least 9 on a
  // phone and 11 on a desktop, exponents included, as the site's figures
  let SUP_PX = 10;
  const clampLog = (v) => Math.max(-300, Math.min(300, v));

  // An SVG element; text may hold ^{...} exponents, raised and at least SUP_PX high
  function el(name, attrs, text) {
    const e = document.createElementNS(SVGNS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text === undefined) return e;
    text.split(SUPERSCRIPT).forEach((p, i) => {
      if (!p) return;
      const span = document.createElementNS(SVGNS, "tspan");
      if (i % 2) span.setAttribute("font-size", SUP_PX);
      if (i % 2 || i > 0) span.setAttribute("dy", i % 2 ? -5 : 5);
      span.textContent = p;
      e.appendChild(span);
    });
    return e;
  }

  // 1, or 10 with a raised exponent
  const powerLabel = (e, x, y) =>
    el("text", { x, y, "text-anchor": "end", class: "gfe-tick" }, e ? `10^{${String(e).replace("-", "−")}}` : "1");

  function niceStep(span, most) {
    for (const s of [1, 2, 5, 10, 20, 25, 50, 100]) if (span / s <= most) return s;
    return Math.ceil(span / most);
  }

  // One panel: values (log10, ±Infinity for overflow and zero, NaN for none)
  // against layer 1..L, on a log axis with bands for what cannot be drawn.
  function panel(svg, top, width, height, values, title, cls, note) {
    const L = values.length;
    const left = 48, right = 14, head = 22, foot = 6;
    const finite = values.filter((v) => Number.isFinite(v)).map(clampLog);
    const over = values.some((v) => v === Infinity), zero = values.some((v) => v === -Infinity);
    const band = 32; // a line of text, then the markers
    const y0 = top + head + (over ? band : 0), y1 = top + height - foot - (zero ? band : 0);
    let lo = finite.length ? Math.floor(Math.min(...finite)) : -1;
    let hi = finite.length ? Math.ceil(Math.max(...finite)) : 1;
    if (hi - lo < 2) {
      const mid = Math.round((hi + lo) / 2);
      lo = Math.min(lo, mid - 1);
      hi = Math.max(hi, mid + 1);
    }
    const step = niceStep(hi - lo, Math.max(2, Math.floor((y1 - y0) / 28)));
    lo = Math.floor(lo / step) * step;
    hi = Math.ceil(hi / step) * step;
    const x = (l) => left + (L === 1 ? (width - left - right) / 2 : ((l - 1) / (L - 1)) * (width - left - right));
    const y = (v) => y1 - ((v - lo) / (hi - lo)) * (y1 - y0);
    svg.appendChild(el("text", { x: left, y: top + 14, class: "gfe-title" }, title));
    for (let e = lo; e <= hi && finite.length; e += step) {
      svg.appendChild(el("line", { x1: left, x2: width - right, y1: y(e), y2: y(e), class: "gfe-grid" }));
      svg.appendChild(powerLabel(e, left - 5, y(e) + 4));
    }
    svg.appendChild(el("line", { x1: left, x2: left, y1: top + head, y2: top + height - foot, class: "gfe-axis" }));
    if (over) {
      svg.appendChild(el("rect", { x: left, y: top + head, width: width - left - right, height: band - 2, class: "gfe-band" }));
      svg.appendChild(el("text", { x: left + 4, y: top + head + 12, class: "gfe-bandlabel" }, "overflow (> 10^{300})"));
    }
    if (zero) {
      svg.appendChild(el("rect", { x: left, y: y1 + 2, width: width - left - right, height: band - 2, class: "gfe-band" }));
      svg.appendChild(el("text", { x: left + 4, y: y1 + 28, class: "gfe-bandlabel" }, "exactly 0"));
    }
    let path = "", pen = false;
    values.forEach((v, i) => {
      if (Number.isFinite(v)) {
        path += `${pen ? "L" : "M"}${x(i + 1).toFixed(1)},${y(clampLog(v)).toFixed(1)}`;
        pen = true;
      } else pen = false;
    });
    if (path) svg.appendChild(el("path", { d: path, class: `gfe-line ${cls}` }));
    const r = L > 60 ? 1.8 : 2.6;
    values.forEach((v, i) => {
      const cx = x(i + 1);
      if (Number.isFinite(v)) svg.appendChild(el("circle", { cx, cy: y(clampLog(v)), r, class: `gfe-dot ${cls}` }));
      else if (v === Infinity) svg.appendChild(el("path", { d: `M${cx - 4},${top + head + 27}l4,-8l4,8z`, class: `gfe-dot ${cls}` }));
      else if (v === -Infinity) svg.appendChild(el("path", { d: `M${cx - 4},${y1 + 5}l4,8l4,-8z`, class: `gfe-dot ${cls}` }));
    });
    if (note) svg.appendChild(el("text", { x: (left + width - right) / 2, y: (y0 + y1) / 2, "text-anchor": "middle", class: "gfe-note" }, note));
    return x;
  }

  function draw(holder, s) {
    const width = Math.max(280, Math.round(holder.clientWidth || 600));
    const h = width < 480 ? 190 : 210, gap = 8, axis = 40;
    const height = 2 * h + gap + axis;
    const phone = width < 480;
    SUP_PX = phone ? 10 : 11;
    const svg = el("svg", {
      width, height, viewBox: `0 0 ${width} ${height}`, role: "img", class: "gfe-svg",
      "aria-labelledby": "gfe-svg-title gfe-svg-desc", style: `--gfe-font: ${phone ? 12 : 13}px`,
    });
    svg.appendChild(el("title", { id: "gfe-svg-title" }, "Activation std and weight-gradient norm, layer by layer, on log scales"));
    svg.appendChild(el("desc", { id: "gfe-svg-desc" }));
    svg.lastChild.textContent = plain(describe(s));
    const L = s.depth;
    panel(svg, 0, width, h, s.logStd, "activation std, std(h^{(l)})", "gfe-std");
    const note = s.overflowForward ? `not computed: the forward pass overflowed at layer ${s.overflowForward}` : "";
    const x = panel(svg, h + gap, width, h, s.overflowForward ? s.logGrad.map(() => NaN) : s.logGrad, "weight-gradient norm, ‖∂L/∂W^{(l)}‖", "gfe-grad", note);
    const base = 2 * h + gap;
    svg.appendChild(el("line", { x1: x(1), x2: x(L), y1: base, y2: base, class: "gfe-axis" }));
    const step = niceStep(L, width < 480 ? 5 : 10);
    const ticks = L === 1 ? [1] : [1];
    for (let t = step; t <= L; t += step) if (t > 1) ticks.push(t);
    if (ticks[ticks.length - 1] !== L && L - ticks[ticks.length - 1] >= step / 2) ticks.push(L);
    for (const t of ticks) {
      svg.appendChild(el("line", { x1: x(t), x2: x(t), y1: base, y2: base + 4, class: "gfe-axis" }));
      svg.appendChild(el("text", { x: x(t), y: base + 17, "text-anchor": "middle", class: "gfe-tick" }, String(t)));
    }
    svg.appendChild(el("text", { x: (x(1) + x(L)) / 2, y: base + 34, "text-anchor": "middle", class: "gfe-tick" }, "layer l"));
    holder.replaceChildren(svg);
  }

  function describe(s) {
    const L = s.depth;
    const g = s.overflowForward ? "not computed" : `from ${fmt(s.logGrad[L - 1])} at layer ${L} to ${fmt(s.logGrad[0])} at layer 1`;
    return `Activation std from ${fmt(s.logStd[0])} at layer 1 to ${fmt(s.logStd[L - 1])} at layer ${L}; weight-gradient norm ${g}.`;
  }

  // ------------------------------------------------------------------- state
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

  // The configuration a query string describes; anything missing or invalid
  // takes its default.
  function parse(search) {
    const q = new URLSearchParams(search);
    const c = Object.assign({}, DEFAULTS);
    const num = (k) => (q.has(k) && q.get(k).trim() !== "" && Number.isFinite(Number(q.get(k))) ? Number(q.get(k)) : null);
    if (num("depth") !== null) c.depth = clamp(Math.round(num("depth")), 1, 100);
    if (num("width") !== null) c.width = WIDTHS.reduce((a, b) => (Math.abs(b - num("width")) < Math.abs(a - num("width")) ? b : a));
    const act = (q.get("act") || "").toLowerCase().replace(/[^a-z]/g, "");
    if (ACTIVATIONS.includes(act)) c.act = act;
    const init = (q.get("init") || "").toLowerCase().replace(/[^a-z]/g, "");
    if (INITS.includes(init)) c.init = init;
    const norm = (q.get("norm") || "").toLowerCase();
    c.norm = { bn: "batchnorm", batchnorm: "batchnorm", ln: "layernorm", layernorm: "layernorm" }[norm] || c.norm;
    if (num("gain") !== null && num("gain") > 0) c.gain = clamp(num("gain"), GAIN[0], GAIN[1]);
    if (q.has("res")) c.res = ["1", "true", "on", "yes"].includes(q.get("res").toLowerCase());
    if (num("alpha") !== null && num("alpha") > 0) c.alpha = clamp(num("alpha"), ALPHA[0], ALPHA[1]);
    if (num("seed") !== null) c.seed = clamp(Math.round(num("seed")), 0, 9999);
    return c;
  }

  function query(c) {
    const q = new URLSearchParams();
    q.set("act", c.act);
    q.set("init", c.init);
    if (c.init === "gaussian") q.set("gain", String(c.gain));
    q.set("depth", c.depth);
    q.set("width", c.width);
    q.set("norm", { none: "none", batchnorm: "bn", layernorm: "ln" }[c.norm]);
    q.set("res", c.res ? "1" : "0");
    if (c.res) q.set("alpha", String(c.alpha));
    if (c.seed) q.set("seed", c.seed);
    return `?${q}`;
  }

  const round3 = (v) => Number(v.toPrecision(3));

  // --------------------------------------------------------------- the page
  let current = null; // the explorer on the page now (instant navigation replaces it)

  function mount(root) {
    const $ = (id) => root.querySelector(`#gfe-${id}`);
    const ctl = {
      depth: $("depth"), depthN: $("depth-n"), width: $("width"), act: $("act"), init: $("init"),
      gain: $("gain"), gainN: $("gain-n"), norm: $("norm"), res: $("res"), alpha: $("alpha"),
      alphaN: $("alpha-n"), seed: $("seed"),
    };
    const view = {
      verdict: $("verdict"), ratio: $("ratio"), saturated: $("saturated"), dead: $("dead"),
      plot: $("plot"), rows: $("rows"), status: $("status"),
    };
    let job = 0, last = null;

    // The number boxes hold the values; each slider shows its box's value (gain and branch
    // scale on a log scale) and, when moved, writes it there to three digits.
    function set(c, source) {
      ctl.depthN.value = c.depth;
      ctl.width.value = c.width;
      ctl.act.value = c.act;
      ctl.init.value = c.init;
      ctl.gainN.value = c.gain;
      ctl.norm.value = c.norm;
      ctl.res.checked = c.res;
      ctl.alphaN.value = c.alpha;
      ctl.seed.value = c.seed;
      if (source !== ctl.depth) ctl.depth.value = c.depth; // not under the reader's finger
      if (source !== ctl.gain) ctl.gain.value = Math.log10(c.gain);
      if (source !== ctl.alpha) ctl.alpha.value = Math.log10(c.alpha);
      for (const e of [ctl.gain, ctl.gainN]) e.disabled = c.init !== "gaussian";
      for (const e of [ctl.alpha, ctl.alphaN]) e.disabled = !c.res;
    }

    // the configuration the controls show, after `source` changed
    function read(source) {
      if (source === ctl.depth) ctl.depthN.value = ctl.depth.value;
      if (source === ctl.gain) ctl.gainN.value = round3(Math.pow(10, Number(ctl.gain.value)));
      if (source === ctl.alpha) ctl.alphaN.value = round3(Math.pow(10, Number(ctl.alpha.value)));
      const c = parse(new URLSearchParams({
        depth: ctl.depthN.value, width: ctl.width.value, act: ctl.act.value, init: ctl.init.value,
        gain: ctl.gainN.value, norm: ctl.norm.value, res: ctl.res.checked ? "1" : "0",
        alpha: ctl.alphaN.value, seed: ctl.seed.value,
      }).toString());
      set(c, source); // what parse() clamped or replaced shows as it is used
      return c;
    }

    function compute(c, started) {
      const id = ++job;
      const it = steps(c);
      const total = 2 * c.depth;
      const slice = () => {
        if (id !== job || !root.isConnected) return;
        const end = performance.now() + 40;
        for (;;) {
          const step = it.next();
          if (step.done) {
            show(c, step.value, started);
            return;
          }
          if (performance.now() > end) {
            root.setAttribute("aria-busy", "true");
            view.status.textContent = `Computing… ${Math.round((100 * step.value) / total)}%`;
            setTimeout(slice, 0);
            return;
          }
        }
      };
      slice();
    }

    function show(c, s, started) {
      last = s;
      s.verdict = classify(s);
      root.dataset.verdict = s.verdict;
      setRich(view.verdict, sentence(s));
      const L = s.depth;
      setRich(view.ratio, s.overflowForward ? "— (overflow)" : fmt(s.logGrad[0] - s.logGrad[L - 1]));
      view.saturated.textContent = s.saturated === null ? "— (sigmoid and tanh only)" : pct(s.saturated);
      view.dead.textContent = s.dead === null ? "— (ReLU family and GELU only)" : pct(s.dead);
      view.saturated.classList.toggle("gfe-na", s.saturated === null);
      view.dead.classList.toggle("gfe-na", s.dead === null);
      draw(view.plot, s);
      const rows = [];
      for (let l = 0; l < L; l++) {
        const tr = document.createElement("tr");
        const frac = s.saturated === null ? s.deadByLayer[l] : s.saturatedByLayer[l];
        for (const text of [l + 1, fmt(s.logStd[l], 3), fmt(s.logGrad[l], 3), frac === undefined ? "—" : pct(frac)]) {
          const td = document.createElement("td");
          setRich(td, String(text));
          tr.appendChild(td);
        }
        rows.push(tr);
      }
      view.rows.replaceChildren(...rows);
      root.querySelector("#gfe-frac-head").textContent = s.saturated === null ? "dead units" : "saturated outputs";
      view.status.textContent = "";
      root.removeAttribute("aria-busy");
      const ms = performance.now() - started;
      root.dataset.ms = ms.toFixed(1);
      root.dispatchEvent(new CustomEvent("gfe:rendered", { detail: { ms, config: c } }));
    }

    function update(event) {
      const started = performance.now();
      const c = read(event && event.target);
      const url = query(c) + location.hash;
      if (location.search + location.hash !== url) history.replaceState(history.state, "", url);
      compute(c, started);
    }

    function apply(search, push) {
      const c = parse(search);
      set(c);
      const url = query(c) + location.hash;
      if (push) history.pushState(history.state, "", url);
      else history.replaceState(history.state, "", url);
      compute(c, performance.now());
    }

    root.addEventListener("input", (e) => {
      if (e.target.type === "range") update(e);
    });
    root.addEventListener("change", update);
    root.addEventListener("click", (e) => {
      const a = e.target.closest("a.gfe-preset");
      if (!a || e.metaKey || e.ctrlKey || e.shiftKey || e.button) return;
      e.preventDefault();
      e.stopPropagation(); // the theme's instant navigation would push it a second time
      apply(new URL(a.href).search, true);
    });
    const ro = typeof ResizeObserver === "function" && new ResizeObserver(() => {
      if (last && root.isConnected) draw(view.plot, last);
    });
    if (ro) ro.observe(view.plot);
    root.hidden = false; // shown already, unless the page's own line did not run
    apply(location.search, false);
    return { root, apply };
  }

  function start() {
    const root = document.getElementById("gradient-explorer");
    if (!root || root.dataset.ready) return;
    root.dataset.ready = "1";
    current = mount(root);
  }

  if (typeof document !== "undefined") {
    // Back and forward between two states of the explorer (the same page): this run of the
    // script replaces the listener of the run before it (instant navigation runs it again).
    const w = window;
    if (w.__gfePopstate) w.removeEventListener("popstate", w.__gfePopstate);
    w.__gfePopstate = () => {
      if (current && current.root.isConnected) current.apply(location.search, false);
    };
    w.addEventListener("popstate", w.__gfePopstate);
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }

  // The weights and bias layer l (from 0) starts with, before LSUV's rescaling (tests)
  function initialWeights(cfg, l) {
    const [base, scale, bias] = layerWeights(normalizeConfig(cfg), l);
    return { W: Array.from(base, (v) => v * scale), b: bias ? Array.from(bias) : null };
  }

  const api = { run, steps, initialWeights, classify, sentence, fmt, parse, query, erf, erfc, DEFAULTS, BATCH };
  (typeof window !== "undefined" ? window : globalThis).GradientExplorer = api;
  if (typeof module !== "undefined") module.exports = api;
})();
