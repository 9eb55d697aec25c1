// Small-sample statistics for repeated runs: a run is expensive, so N is 3–10, and intervals use
// Student's t rather than the normal approximation.

export interface Spread {
  n: number;
  median: number;
  min: number;
  max: number;
  mean: number;
  /** 95% confidence interval of the mean (Student's t); [x, x] for a single run. */
  ci95: [number, number];
}

// Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom.
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export function tQuantile975(df: number): number {
  if (df < 1) return NaN;
  return df <= 30 ? T975[df - 1]! : 1.96;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

export function spread(xs: number[]): Spread {
  const n = xs.length;
  if (n === 0) throw new Error('spread of no values');
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  let half = 0;
  if (n > 1) {
    const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
    half = tQuantile975(n - 1) * (sd / Math.sqrt(n));
  }
  // Rates and latencies cannot be negative: a wide small-sample interval is cut at 0.
  const lo = xs.every((x) => x >= 0) ? Math.max(0, mean - half) : mean - half;
  return { n, median: round(median(xs)), min: round(Math.min(...xs)), max: round(Math.max(...xs)), mean: round(mean), ci95: [round(lo), round(mean + half)] };
}

/** True when two intervals share at least one point. */
export function overlaps(a: [number, number], b: [number, number]): boolean {
  return a[0] <= b[1] && b[0] <= a[1];
}

// Student's t CDF through the regularized incomplete beta function (Numerical Recipes' continued
// fraction with Lentz's method, Lanczos log-gamma). Welch's degrees of freedom are fractional, so the
// quantile table above will not do; ~50 lines here cost less than a statistics dependency.

const LANCZOS = [76.18009172947146, -86.50532032941678, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];

function logGamma(x: number): number {
  let y = x;
  const tmp = x + 5.5 - (x + 0.5) * Math.log(x + 5.5);
  let ser = 1.000000000190015;
  for (const c of LANCZOS) ser += c / ++y;
  return -tmp + Math.log((2.5066282746310007 * ser) / x);
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const TINY = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    for (const aa of [(m * (b - m) * x) / ((a + m2 - 1) * (a + m2)), (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1))]) {
      d = 1 + aa * d;
      if (Math.abs(d) < TINY) d = TINY;
      c = 1 + aa / c;
      if (Math.abs(c) < TINY) c = TINY;
      d = 1 / d;
      h *= d * c;
    }
    if (Math.abs(d * c - 1) < 1e-12) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The continued fraction converges fast only on this side of the mean; use the symmetry otherwise.
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(x, a, b)) / a : 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** P(T ≤ t) for Student's t with df degrees of freedom (df may be fractional, as Welch's is). */
export function studentTCdf(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

export interface WelchTest {
  /** (mean of a − mean of b) / its standard error. */
  t: number;
  /** Welch–Satterthwaite degrees of freedom. */
  df: number;
  /** One-sided p-value for "the mean of a is greater than the mean of b". */
  pGreater: number;
}

/**
 * Welch's t-test (unequal variances) of mean(a) > mean(b); needs at least 2 values on each side.
 * Two sets of identical runs have no noise to weigh against: a difference is then certain (p 0 or 1)
 * and no difference is no evidence (p 0.5).
 */
export function welch(a: number[], b: number[]): WelchTest {
  if (a.length < 2 || b.length < 2) throw new Error('Welch test needs at least 2 values per side');
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const variance = (xs: number[], m: number) => xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1);
  const [ma, mb] = [mean(a), mean(b)];
  const [va, vb] = [variance(a, ma) / a.length, variance(b, mb) / b.length];
  const se2 = va + vb;
  if (se2 === 0) return { t: ma === mb ? 0 : (ma > mb ? Infinity : -Infinity), df: a.length + b.length - 2, pGreater: ma === mb ? 0.5 : ma > mb ? 0 : 1 };
  const t = (ma - mb) / Math.sqrt(se2);
  const df = (se2 * se2) / ((va * va) / (a.length - 1) + (vb * vb) / (b.length - 1));
  return { t, df, pGreater: 1 - studentTCdf(t, df) };
}
