import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

// scripts/test-deps.sh decides what `npm test` installs before the suite. Each case runs it with a
// PATH holding only fakes (redis-server, chromium, and an apt-get that records its calls and
// "installs" redis-server), so no case touches the real apt or needs anything installed.

const SCRIPT = path.resolve('scripts/test-deps.sh');
const BASH = (process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, 'bash')).find((p) => existsSync(p))!;
const root = process.getuid?.() === 0;

let dir = '';
afterEach(() => { if (dir) rmSync(dir, { recursive: true, force: true }); dir = ''; });

function machine(have: { redis?: boolean; chromium?: boolean; apt?: boolean }) {
  dir = mkdtempSync(path.join(os.tmpdir(), 'seatlab-deps-'));
  const bin = path.join(dir, 'bin');
  const log = path.join(dir, 'apt.log');
  const exe = (name: string, body: string) => writeFileSync(path.join(bin, name), body, { mode: 0o755 });
  mkdirSync(bin);
  if (have.redis) exe('redis-server', '#!/bin/sh\n');
  if (have.chromium) exe('chromium', '#!/bin/sh\n');
  if (have.apt) {
    exe('apt-get', `#!${process.execPath}
const fs = require('fs');
const args = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(log)}, (process.env.DEBIAN_FRONTEND ?? '-') + ' ' + args.join(' ') + '\\n');
if (args.includes('install') && args.includes('redis-server')) fs.writeFileSync(${JSON.stringify(path.join(bin, 'redis-server'))}, '#!/bin/sh\\n', { mode: 0o755 });
`);
  }
  const run = (env: Record<string, string> = {}) => {
    const r = spawnSync(BASH, [SCRIPT], { encoding: 'utf8', timeout: 10_000, env: { PATH: bin, CHROMIUM_PATH: path.join(bin, 'chromium'), ...env } });
    return { status: r.status, stderr: r.stderr, apt: existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [] };
  };
  return { run };
}

describe('scripts/test-deps.sh (run first by npm test)', () => {
  it('everything present: exits 0 at once, says nothing, never calls apt-get', () => {
    const r = machine({ redis: true, chromium: true, apt: true }).run();
    expect(r).toEqual({ status: 0, stderr: '', apt: [] });
  });

  it('missing and installing not allowed: exit 1 and one line naming the exact command', () => {
    const r = machine({ chromium: true, apt: true }).run({ SEATLAB_NO_INSTALL: '1' });
    expect(r.status).toBe(1);
    expect(r.apt).toEqual([]);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('redis-server is not on PATH');
    const sudo = root ? '' : 'sudo ';
    expect(lines[0]).toMatch(new RegExp(`run: ${sudo}apt-get update && ${sudo}apt-get install -y redis-server$`));
  });

  it(root ? 'missing, root with apt-get: updates, installs just what is missing, says so, exits 0'
    : 'missing, not root: exit 1 and the sudo command, apt-get untouched', () => {
    const r = machine({ chromium: true, apt: true }).run();
    if (root) {
      expect(r.apt).toEqual(['- update -qq', 'noninteractive install -y -qq -o DPkg::Lock::Timeout=300 redis-server']);
      expect(r.stderr).toMatch(/^test-deps: installing redis-server with apt-get: redis-server is not on PATH/);
      expect(r.status).toBe(0);
    } else {
      expect(r.apt).toEqual([]);
      expect(r.stderr).toContain('run: sudo apt-get update && sudo apt-get install -y redis-server');
      expect(r.status).toBe(1);
    }
  });

  it('no apt-get at all: exit 1 and one line naming what to install', () => {
    const r = machine({ chromium: true }).run();
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('install these with your package manager: redis-server');
  });

  it('a CHROMIUM_PATH that is not there is reported, not "fixed" by installing Debian\'s chromium', () => {
    const m = machine({ redis: true, apt: true });
    const r = m.run({ CHROMIUM_PATH: path.join(dir, 'nope') });
    expect(r.status).toBe(1);
    expect(r.apt).toEqual([]);
    expect(r.stderr).toContain(`CHROMIUM_PATH=${path.join(dir, 'nope')} is not an executable`);
  });
});
