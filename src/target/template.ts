import { createHash, createHmac } from 'node:crypto';
import type { JwtSpec } from './profile.js';

// "{{name}}" placeholders. A string that is exactly one placeholder becomes the variable itself
// (so "{{seatNo}}" in a JSON body stays a number); inside a longer string it is interpolated.
// Names may be dotted ("jwt.queue"). An unknown name is an error that names it, never "".

export type Vars = Record<string, unknown>;
const ONE = /^\{\{\s*([\w.]+)\s*\}\}$/;
const ANY = /\{\{\s*([\w.]+)\s*\}\}/g;

function lookup(vars: Vars, name: string, where: string): unknown {
  if (!(name in vars)) throw new Error(`${where}: unknown variable {{${name}}} (known: ${Object.keys(vars).sort().join(', ')})`);
  return vars[name];
}

export function render(value: unknown, vars: Vars, where: string): unknown {
  if (typeof value === 'string') {
    const one = ONE.exec(value);
    if (one) return lookup(vars, one[1]!, where);
    return value.replace(ANY, (_, n: string) => String(lookup(vars, n, where)));
  }
  if (Array.isArray(value)) return value.map((v) => render(v, vars, where));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, vars, where)]));
  return value;
}

/** SQL with {{name}} → ? and the values as bindings: values never become SQL text. */
export function sqlTemplate(sql: string, vars: Vars, where: string): { sql: string; bindings: unknown[] } {
  const bindings: unknown[] = [];
  const text = sql.replace(ANY, (_, n: string) => {
    bindings.push(lookup(vars, n, where));
    return '?';
  });
  return { sql: text, bindings };
}

/** The value at a dotted path of a JSON answer ("data.reservation.id"). */
export function pick(json: unknown, path: string): unknown {
  let v: unknown = json;
  for (const k of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/**
 * A target's id as the number the history and the checker use: an integer stays itself, anything
 * else (a uuid) becomes a stable 48-bit hash of its text, the same on both sides of the check.
 */
export function idNumber(v: unknown): number {
  const s = String(v);
  if (/^\d+$/.test(s) && Number.isSafeInteger(Number(s))) return Number(s);
  return parseInt(createHash('sha1').update(s).digest('hex').slice(0, 12), 16);
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** An HS256 JSON Web Token, claims rendered with the user's variables. */
export function mintJwt(spec: JwtSpec, vars: Vars, where: string): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iat: now, ...(spec.expiresInSec ? { exp: now + spec.expiresInSec } : {}), ...(render(spec.claims, vars, where) as object) };
  const head = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
  return `${head}.${b64url(createHmac('sha256', String(render(spec.secret, vars, where))).update(head).digest())}`;
}
