import type { RedisClient } from '../core/ports.js';
import { EVENTS_STREAM } from './relay.js';

export const DEAD_LETTER_STREAM = 'seatlab:events:dead';

export interface StreamEvent { streamId: string; outboxId: number; type: string; aggregateId: number; payload: unknown }

export interface ConsumerOptions {
  group: string;
  consumer: string;
  /** Retries after the first failed attempt before the event goes to the dead-letter stream. */
  retries?: number;
  retryDelayMs?: number;
  blockMs?: number;
}

function parse(id: string, fields: string[]): StreamEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return { streamId: id, outboxId: Number(f.outboxId), type: f.type!, aggregateId: Number(f.aggregateId), payload: JSON.parse(f.payload ?? 'null') };
}

/**
 * An example consumer-group consumer: reads new events, runs the handler, acknowledges on success.
 * A failing event is retried (default 3 times); then it is copied to the dead-letter stream with
 * the last error and acknowledged, so one poisoned event does not stop the others.
 */
export class EventConsumer {
  readonly counters = { handled: 0, retried: 0, deadLettered: 0 };
  private running = false;

  constructor(private readonly redis: RedisClient, private readonly handler: (e: StreamEvent) => Promise<void>, private readonly o: ConsumerOptions) {}

  async ensureGroup(): Promise<void> {
    try {
      // ioredis does not apply its keyPrefix to XGROUP's key (it does for XREADGROUP/XACK): add it here.
      const prefix = this.redis.options.keyPrefix ?? '';
      await this.redis.xgroup('CREATE', `${prefix}${EVENTS_STREAM}`, this.o.group, '0', 'MKSTREAM');
    } catch (e) {
      if (!String((e as Error).message).includes('BUSYGROUP')) throw e;
    }
  }

  /** Reads and handles one batch; returns how many events it saw. */
  async pollOnce(count = 100): Promise<number> {
    const res = (await this.redis.xreadgroup('GROUP', this.o.group, this.o.consumer, 'COUNT', count, 'BLOCK', this.o.blockMs ?? 100,
      'STREAMS', EVENTS_STREAM, '>')) as [string, [string, string[]][]][] | null;
    const entries = res?.[0]?.[1] ?? [];
    for (const [id, fields] of entries) await this.handle(parse(id, fields));
    return entries.length;
  }

  private async handle(e: StreamEvent): Promise<void> {
    const retries = this.o.retries ?? 3;
    let lastError: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        this.counters.retried++;
        await new Promise((r) => setTimeout(r, this.o.retryDelayMs ?? 50));
      }
      try {
        await this.handler(e);
        this.counters.handled++;
        await this.redis.xack(EVENTS_STREAM, this.o.group, e.streamId);
        return;
      } catch (err) {
        lastError = err;
      }
    }
    this.counters.deadLettered++;
    await this.redis.xadd(DEAD_LETTER_STREAM, '*', 'streamId', e.streamId, 'outboxId', String(e.outboxId), 'type', e.type,
      'aggregateId', String(e.aggregateId), 'payload', JSON.stringify(e.payload), 'error', String((lastError as Error)?.message ?? lastError), 'attempts', String(retries + 1));
    await this.redis.xack(EVENTS_STREAM, this.o.group, e.streamId);
  }

  async run(): Promise<void> {
    this.running = true;
    await this.ensureGroup();
    while (this.running) await this.pollOnce();
  }

  stop(): void {
    this.running = false;
  }
}
