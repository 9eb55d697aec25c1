import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { createGzip, type Gzip } from 'node:zlib';

// The history file while the load runs: text goes through gzip (when the name ends in .gz) to the
// file as the history log flushes it, so a run never holds its history as text. The file is
// created on the first write: a run that records nothing leaves none.

export class HistoryFileWriter {
  private out?: Gzip | WriteStream;
  private file?: WriteStream;
  private failed?: Error;
  private closed = false;

  constructor(readonly path: string) {}

  /** Whether anything was written (the file exists). */
  get written(): boolean {
    return this.out !== undefined;
  }

  write(text: string): void {
    if (this.failed || this.closed) return;
    if (!this.out) this.open();
    // No waiting for 'drain': gzip outruns the load by far (a 3,000 op/s sale is ~0.6 MB/s of text),
    // and the load loop must not wait on the disk.
    this.out!.write(text);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.out) {
      this.out.end();
      await finished(this.file!).catch((err: Error) => { this.failed ??= err; });
    }
    if (this.failed) throw new Error(`could not write the history to ${this.path}: ${this.failed.message}`, { cause: this.failed });
  }

  private open(): void {
    mkdirSync(path.dirname(this.path), { recursive: true });
    this.file = createWriteStream(this.path);
    const fail = (err: Error) => { this.failed ??= err; };
    this.file.on('error', fail);
    if (this.path.endsWith('.gz')) {
      const gz = createGzip();
      gz.on('error', fail);
      gz.pipe(this.file);
      this.out = gz;
    } else {
      this.out = this.file;
    }
  }
}
