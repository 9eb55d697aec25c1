import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildRegistry, strategies } from '../strategies/index.js';
import { none } from '../strategies/none.js';
import { signUserToken, verifyUserToken } from '../src/core/tokens.js';
import { createRng } from '../src/core/rng.js';
import { pickSeats } from '../scenarios/flash-sale.js';
import { parseRunOptions } from '../src/cli/options.js';

describe('strategy registry', () => {
  it('rejects a duplicate name', () => {
    expect(() => buildRegistry([none, none])).toThrow('duplicate strategy name "none"');
  });

  it('rejects a name that is not kebab-case', () => {
    expect(() => buildRegistry([{ ...none, name: 'NoLock' }])).toThrow('not kebab-case');
  });

  it("every strategy's name equals its file name, and every strategy file is registered", async () => {
    const files = (await readdir('strategies')).filter((f) => f.endsWith('.ts') && f !== 'index.ts');
    expect(files.map((f) => f.replace(/\.ts$/, '')).sort()).toEqual([...strategies.keys()].sort());
  });
});

describe('tokens', () => {
  it('round-trips and refuses tampering, other secrets and expiry', () => {
    const t = signUserToken('s', 42);
    expect(verifyUserToken('s', t)).toBe(42);
    expect(verifyUserToken('other', t)).toBeNull();
    expect(verifyUserToken('s', t.replace('.42.', '.43.'))).toBeNull();
    expect(verifyUserToken('s', signUserToken('s', 42, -1))).toBeNull();
    expect(verifyUserToken('s', 'v1.42')).toBeNull();
  });
});

describe('flash-sale seat picks', () => {
  it('are deterministic for a seed and differ across seeds', () => {
    const a = Array.from({ length: 100 }, ((r) => () => pickSeats(r, 1000, 3))(createRng(7)));
    const b = Array.from({ length: 100 }, ((r) => () => pickSeats(r, 1000, 3))(createRng(7)));
    const c = Array.from({ length: 100 }, ((r) => () => pickSeats(r, 1000, 3))(createRng(8)));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('are distinct within a user, within range, and skewed toward the front rows', () => {
    const rng = createRng(1);
    let front = 0;
    let back = 0;
    for (let i = 0; i < 5000; i++) {
      const seats = pickSeats(rng, 1000, 3);
      expect(new Set(seats).size).toBe(3);
      for (const s of seats) {
        expect(s).toBeGreaterThanOrEqual(1);
        expect(s).toBeLessThanOrEqual(1000);
        if (s <= 100) front++;
        if (s > 900) back++;
      }
    }
    expect(front).toBeGreaterThan(3 * back);
  });

  it('never asks for more distinct seats than exist', () => {
    expect(pickSeats(createRng(3), 2, 3).sort()).toEqual([1, 2]);
  });
});

describe('run options', () => {
  it('fills scenario defaults and routes strategy options to the strategies that declare them', () => {
    const { options, problems } = parseRunOptions({ strategy: 'none,optimistic', scenario: 'flash-sale', strategyOpt: ['raceWindowMs=5', 'maxRetries=7'] });
    expect(problems).toEqual([]);
    expect(options!.params).toEqual({ users: 10_000, seats: 1_000, connections: 64, seed: 42 });
    expect(options!.strategyOptions.get('none')).toEqual({ raceWindowMs: '5' });
    expect(options!.strategyOptions.get('optimistic')).toMatchObject({ maxRetries: '7' });
    expect(options!.holdTtlMs).toBe(300_000);
  });

  it('parses durations and refuses bad option values', () => {
    expect(parseRunOptions({ strategy: 'all', scenario: 'hot-seat', holdTtl: '2s' }).options!.holdTtlMs).toBe(2000);
    const { problems } = parseRunOptions({ strategy: 'optimistic', scenario: 'hot-seat', strategyOpt: ['maxRetries=-1', 'oops'] });
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringContaining('maxRetries must be an integer from 0 to 100'),
      expect.stringContaining('--strategy-opt must look like key=value'),
    ]));
  });

  it('--max-load-time and --http-ceiling: defaults, durations, off, and what is refused', () => {
    const opts = (extra: Record<string, string>) => parseRunOptions({ strategy: 'pessimistic', scenario: 'flash-sale', ...extra });
    expect(opts({}).options).toMatchObject({ maxLoadMs: 600_000, httpCeilingMs: 3000 });
    expect(opts({ maxLoadTime: '2h', httpCeiling: '10s' }).options).toMatchObject({ maxLoadMs: 7_200_000, httpCeilingMs: 10_000 });
    expect(opts({ httpCeiling: 'off' }).options!.httpCeilingMs).toBe(0);
    expect(opts({ maxLoadTime: 'soon' }).problems).toEqual(['--max-load-time must be a positive duration such as 500ms, 2s or 5m (got "soon")']);
    for (const bad of ['0', '500ms', '1500ms', 'no']) {
      expect(opts({ httpCeiling: bad }).problems).toEqual([`--http-ceiling must be whole seconds such as 3s or 10s, or off to skip it (got "${bad}")`]);
    }
  });
});
