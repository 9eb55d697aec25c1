import { describe, expect, it } from 'vitest';
import { Progress } from '../src/cli/progress.js';

describe('progress', () => {
  it('rewrites one live line on a terminal and ends it with a newline', () => {
    let out = '';
    const p = new Progress((s) => (out += s), true);
    p.update('[a]', { elapsedMs: 1000, requests: 100, ok: 5, errors: 0 });
    p.update('[a]', { elapsedMs: 2000, requests: 300, ok: 9, errors: 1 });
    p.done();
    expect(out.split('\r\x1b[2K')).toHaveLength(3);
    expect(out.endsWith('[a] 2 s · 150 req/s · 300 requests · 9 ok · 1 errors\n')).toBe(true);
  });

  it('prints plain lines at most every few seconds elsewhere', () => {
    let out = '';
    const p = new Progress((s) => (out += s), false, 5000);
    for (let t = 1000; t <= 11_000; t += 1000) p.update('[b]', { elapsedMs: t, requests: t, ok: 0, errors: 0 });
    expect(out.trim().split('\n').map((l) => l.split(' ')[1])).toEqual(['1', '6', '11']);
    expect(out).not.toContain('\r');
  });
});
