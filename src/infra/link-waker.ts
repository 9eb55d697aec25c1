import { Worker } from 'node:worker_threads';

// A wake-up call precise below one millisecond that costs no CPU while waiting. Node's timers
// cannot sleep less than 1 ms, and polling the last stretch with setImmediate keeps a core busy
// whenever a link carries traffic. Here a worker thread sleeps in Atomics.wait — a futex with a
// sub-millisecond timeout, precise to tens of microseconds — and posts a message at the due time;
// the host's event loop sleeps in epoll until that message (or socket I/O) wakes it.

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const ctl = new Int32Array(workerData, 0, 2);   // [generation, stop]
const due = new Float64Array(workerData, 8, 1);  // absolute hrtime ms, Infinity = nothing due
const now = () => Number(process.hrtime.bigint()) / 1e6;
for (;;) {
  if (Atomics.load(ctl, 1) === 1) break;
  const gen = Atomics.load(ctl, 0);
  const d = due[0];
  const wait = d - now();
  if (d === Infinity) { Atomics.wait(ctl, 0, gen); continue; }
  if (wait > 0) { Atomics.wait(ctl, 0, gen, wait); continue; }
  // Due: clear it unless the host moved it meanwhile, then wake the host.
  if (Atomics.load(ctl, 0) === gen) due[0] = Infinity;
  parentPort.postMessage(0);
}
`;

export class Waker {
  private readonly shared = new SharedArrayBuffer(16);
  private readonly ctl = new Int32Array(this.shared, 0, 2);
  private readonly due = new Float64Array(this.shared, 8, 1);
  private readonly worker: Worker;

  constructor(onWake: () => void) {
    this.due[0] = Infinity;
    this.worker = new Worker(WORKER, { eval: true, workerData: this.shared });
    this.worker.on('message', onWake);
    // The waker must not keep the host alive, nor die silently.
    this.worker.unref();
  }

  /** Wakes the host `inMs` from now (replacing any earlier request). */
  at(inMs: number): void {
    this.due[0] = Number(process.hrtime.bigint()) / 1e6 + inMs;
    Atomics.add(this.ctl, 0, 1);
    Atomics.notify(this.ctl, 0);
  }

  stop(): Promise<number> {
    Atomics.store(this.ctl, 1, 1);
    Atomics.add(this.ctl, 0, 1);
    Atomics.notify(this.ctl, 0);
    return this.worker.terminate();
  }
}
