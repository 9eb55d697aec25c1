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
