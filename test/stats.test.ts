import { describe, expect, it } from 'vitest';
import { median, overlaps, spread, tQuantile975 } from '../src/report/stats.js';

describe('statistics', () => {
  it('median of odd and even samples', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('spread of known inputs: mean ± t(0.975, n-1)·s/√n', () => {
    // n = 4, mean 10, sample sd = sqrt(((−3)²+(−1)²+1²+3²)/3) = sqrt(20/3) ≈ 2.58199; t(3) = 3.182
    const s = spread([7, 9, 11, 13]);
    expect(s).toMatchObject({ n: 4, median: 10, min: 7, max: 13, mean: 10 });
    const half = 3.182 * Math.sqrt(20 / 3) / 2;
    expect(s.ci95[0]).toBeCloseTo(10 - half, 2);
    expect(s.ci95[1]).toBeCloseTo(10 + half, 2);
  });

  it('an interval of non-negative figures is cut at 0', () => {
    expect(spread([1, 100]).ci95[0]).toBe(0);
    expect(spread([-1, 100]).ci95[0]).toBeLessThan(0);
  });

  it('a single run has a degenerate interval, identical runs a zero-width one', () => {
    expect(spread([5]).ci95).toEqual([5, 5]);
    expect(spread([2, 2, 2]).ci95).toEqual([2, 2]);
  });

  it('t quantiles and interval overlap', () => {
    expect(tQuantile975(1)).toBe(12.706);
    expect(tQuantile975(2)).toBe(4.303);
    expect(tQuantile975(100)).toBe(1.96);
    expect(overlaps([1, 2], [2, 3])).toBe(true);
    expect(overlaps([1, 2], [2.1, 3])).toBe(false);
  });
});
