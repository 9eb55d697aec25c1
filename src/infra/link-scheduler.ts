import { performance } from 'node:perf_hooks';

// A delay line precise below one millisecond. Node's setTimeout cannot sleep less than 1 ms and
// fires by the loop's cached millisecond clock (so up to ~1 ms early or late in real time); a
// 0.5 ms round trip needs 0.25 ms each way. So a timer covers the coarse part of a wait and the
// last SPIN_MS are polled with setImmediate, which still lets socket I/O run between polls. The
// polling happens only while something is due soon: an idle link arms nothing and burns no CPU.
// Every due time is checked against performance.now() (monotonic, sub-µs), never the loop clock.
// The price: while traffic keeps something due within SPIN_MS (steady load at a few ms of latency)
// the host polls without pause and uses up to one core, which the lab sees on the host's PID.

/** Below this much remaining wait we poll instead of sleeping: a timer could overshoot it. */
const SPIN_MS = 1.5;

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
  private timerDue = Infinity;
  private polling = false;

  /** Queues a chunk on a lane, due at `due` (performance.now() ms) or after the lane's last item. */
  push(lane: Lane, chunk: Buffer | null, due: number): void {
    const at = lane.push(chunk, due);
    this.active.add(lane);
    this.arm(at);
  }

  private arm(due: number): void {
    if (this.polling) return; // the running poll sees every lane on its next pass
    const wait = due - performance.now();
    if (wait <= SPIN_MS) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.timerDue = Infinity;
      this.polling = true;
      setImmediate(this.tick);
      return;
    }
    if (this.timer && this.timerDue <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    // Wake with about SPIN_MS to spare; tick() re-arms if the timer fired early.
    this.timer = setTimeout(this.tick, Math.max(1, Math.floor(wait - SPIN_MS)));
  }

  private readonly tick = (): void => {
    this.polling = false;
    this.timer = null;
    this.timerDue = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const lane of this.active) {
      const due = lane.flush(now);
      if (due === Infinity) this.active.delete(lane);
      else if (due < next) next = due;
    }
    if (next !== Infinity) this.arm(next);
  };
}
