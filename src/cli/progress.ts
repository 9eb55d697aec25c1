/**
 * Progress on stderr: on a terminal one live line rewritten in place per strategy run; otherwise
 * (CI logs, pipes) a plain line every few seconds so logs stay readable.
 */
export class Progress {
  private live = false;
  private lastPlain = -Infinity;

  constructor(private readonly write: (s: string) => void, private readonly tty: boolean, private readonly plainEveryMs = 5000) {}

  update(label: string, p: { elapsedMs: number; requests: number; ok: number; errors: number }): void {
    const rps = p.elapsedMs > 0 ? Math.round((p.requests / p.elapsedMs) * 1000) : 0;
    const line = `${label} ${(p.elapsedMs / 1000).toFixed(0)} s · ${rps} req/s · ${p.requests} requests · ${p.ok} ok · ${p.errors} errors`;
    if (this.tty) {
      this.write(`\r\x1b[2K${line}`);
      this.live = true;
    } else if (p.elapsedMs - this.lastPlain >= this.plainEveryMs || this.lastPlain > p.elapsedMs) {
      this.lastPlain = p.elapsedMs;
      this.write(`${line}\n`);
    }
  }

  /** Ends the live line before a normal message is printed. */
  done(): void {
    if (this.live) this.write('\n');
    this.live = false;
    this.lastPlain = -Infinity;
  }
}
