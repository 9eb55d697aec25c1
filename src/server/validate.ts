import { HttpError } from './errors.js';

// PostgreSQL text refuses NUL, and a lone surrogate has no UTF-8 form (the driver would store U+FFFD
// instead). Without the u flag the pattern walks UTF-16 code units, which is what finds a lone half.
const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// Validation collects every problem in the request, then fails once with all of them.
export class Checker {
  readonly problems: string[] = [];

  object(body: unknown): Record<string, unknown> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      this.problems.push('the body must be a JSON object');
      return {};
    }
    return body as Record<string, unknown>;
  }

  /** A positive integer within int4 (ids and seat numbers). Accepts numeric strings for path params. */
  positiveInt(value: unknown, field: string, opts: { fromString?: boolean; max?: number } = {}): number {
    const v = opts.fromString && typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    const max = opts.max ?? 2_147_483_647;
    if (value === undefined || value === null) this.problems.push(`${field} is required`);
    else if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
      this.problems.push(`${field} must be an integer from 1 to ${max} (got ${JSON.stringify(value)})`);
    } else return v;
    return 0;
  }

  text(value: unknown, field: string, max: number): string {
    if (value === undefined || value === null) this.problems.push(`${field} is required`);
    else if (typeof value !== 'string' || value.trim().length === 0) this.problems.push(`${field} must be a non-empty string`);
    else if (value.length > max) this.problems.push(`${field} must be at most ${max} characters`);
    else if (this.storable(value, field)) return value.trim();
    return '';
  }

  /** False (and a problem noted) for a string PostgreSQL text cannot hold as sent. */
  storable(value: string, field: string): boolean {
    if (!UNSTORABLE.test(value)) return true;
    this.problems.push(`${field} must not contain NUL characters or unpaired UTF-16 surrogates`);
    return false;
  }

  done(): void {
    if (this.problems.length > 0) throw new HttpError(400, 'VALIDATION_FAILED', this.problems.join('; '));
  }
}
