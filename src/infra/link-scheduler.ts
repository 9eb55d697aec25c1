import { performance } from 'node:perf_hooks';
import { Waker } from './link-waker.js';

// A delay line precise below one millisecond. Node's setTimeout cannot sleep less than 1 ms and
// fires by the loop's cached millisecond clock; a 0.5 ms round trip needs 0.25 ms each way. So
// waits shorter than a few milliseconds are timed by a worker thread that sleeps in a futex
// (link-waker.ts) and wakes the event loop at the due time: precise to tens of microseconds, and no
// CPU burnt while waiting (polling the last stretch kept a core busy whenever a link had traffic).
// Longer waits use a plain timer, then the waker for the rest. Every due time is checked against
// performance.now() (monotonic, sub-µs), never the loop clock. An idle link arms nothing.

/** Below this much remaining wait the waker times it: a timer could overshoot it. */
const FINE_MS = 2;
/** The wake-up's own lateness (futex timer slack, the message to the event loop), learnt as it goes: 30 µs to 0.5 ms. */
const LAG_MIN_MS = 0.03;
const LAG_MAX_MS = 0.5;

interface Item {
  due: number;
  /** null marks the end of the stream (a FIN), delivered in order after the data before it. */
  chunk: Buffer | null;
}

/** One direction of one connection: a FIFO whose due times never decrease, so order is kept. */
export class Lane {
  private items: Item[] = [];
  private head = 0;
  private lastDue = 0;
  /** Bytes waiting in the line, so the proxy can pause a source that outruns it. */
  queuedBytes = 0;
  /** A frozen lane keeps what it holds and delivers nothing (a blackhole); it is never thawed. */
  frozen = false;

  constructor(private readonly deliver: (chunk: Buffer | null) => void) {}

  get empty(): boolean {
    return this.head === this.items.length;
  }

  /** Queues a chunk for `due` (performance.now() ms) or, to keep order, right after the one before it. */
  push(chunk: Buffer | null, due: number): number {
    const at = Math.max(due, this.lastDue);
    this.lastDue = at;
    this.items.push({ due: at, chunk });
    if (chunk) this.queuedBytes += chunk.length;
    return at;
  }

  /** Delivers every item due by `now`; returns the next due time, or Infinity when nothing is left to deliver. */
  flush(now: number): number {
    if (this.frozen) return Infinity;
    while (this.head < this.items.length) {
      const item = this.items[this.head]!;
      if (item.due > now) return item.due;
      this.items[this.head++] = undefined as unknown as Item;
      if (item.chunk) this.queuedBytes -= item.chunk.length;
      this.deliver(item.chunk);
      if (this.frozen) return Infinity;
    }
    // Drop delivered slots in one go rather than shifting per item.
    this.items = [];
    this.head = 0;
    return Infinity;
  }
}

/** Wakes lanes when their head is due. One per process, shared by every link and connection. */
export class DelayScheduler {
  private readonly active = new Set<Lane>();
  private timer: NodeJS.Timeout | null = null;
  private armedDue = Infinity;
  private readonly waker = new Waker(() => this.woken());
  /** How late a wake-up arrives, on average; waits are shortened by it and items due within it are delivered. */
  private lagMs = 0.1;
  private wakeAt = Infinity;

  /** Queues a chunk on a lane, due at `due` (performance.now() ms) or after the lane's last item. */
  push(lane: Lane, chunk: Buffer | null, due: number): void {
    const at = lane.push(chunk, due);
    this.active.add(lane);
    this.arm(at);
  }

  close(): Promise<number> {
    if (this.timer) clearTimeout(this.timer);
    return this.waker.stop();
  }

  private arm(due: number): void {
    if (due >= this.armedDue) return; // an earlier wake-up is already on its way
    this.armedDue = due;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const wait = due - performance.now();
    if (wait <= FINE_MS) {
      const inMs = Math.max(0, wait - this.lagMs);
      this.wakeAt = performance.now() + inMs;
      this.waker.at(inMs);
      return;
    }
    // A coarse timer first, with time to spare; tick() hands the rest to the waker.
    this.timer = setTimeout(() => { this.timer = null; this.tick(); }, Math.floor(wait - FINE_MS));
  }

  private woken(): void {
    const late = performance.now() - this.wakeAt;
    if (Number.isFinite(late) && late >= 0) this.lagMs = Math.min(LAG_MAX_MS, Math.max(LAG_MIN_MS, 0.9 * this.lagMs + 0.1 * late));
    this.wakeAt = Infinity;
    this.tick();
  }

  private tick(): void {
    this.armedDue = Infinity;
    // What falls due before the next wake-up could arrive goes now: waiting would only make it later.
    const now = performance.now() + this.lagMs;
    let next = Infinity;
    for (const lane of this.active) {
      const due = lane.flush(now);
      if (due === Infinity) this.active.delete(lane);
      else if (due < next) next = due;
    }
    if (next !== Infinity) this.arm(next);
  }
}
