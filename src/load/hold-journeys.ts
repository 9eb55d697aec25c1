import type { AttemptRequest, Journey, JourneyList } from './plan.js';

// A plan of numbered-seat holds (the flash sale) kept as columns: each user's token, id and the
// seats it will try, in arrival order. A journey is made when the driver reaches it and dropped
// when it ends; as objects, a million users' journeys and their attempts would be ~4 million of
// them held for the whole run.

export class HoldJourneys implements JourneyList {
  private readonly tokens: string[] = [];
  private readonly userIds: Float64Array;
  /** Every user's seats, one user after another: user i's are seats[starts[i]] up to seats[starts[i + 1]]. */
  private readonly seats: Int32Array;
  private readonly starts: Uint32Array;
  private count = 0;

  /** Room for `users` journeys of at most `maxAttempts` seats each, all on schedule `scheduleId`. */
  constructor(private readonly scheduleId: number, users: number, maxAttempts: number) {
    this.userIds = new Float64Array(users);
    this.seats = new Int32Array(users * maxAttempts);
    this.starts = new Uint32Array(users + 1);
  }

  get length(): number {
    return this.count;
  }

  /** The next user to arrive: its token, its id and the seats it tries, in order. */
  add(token: string, userId: number, seats: readonly number[]): void {
    const i = this.count++;
    if (i >= this.userIds.length) throw new Error(`HoldJourneys: room for ${this.userIds.length} journeys, not more`);
    this.tokens.push(token);
    this.userIds[i] = userId;
    this.seats.set(seats, this.starts[i]!);
    this.starts[i + 1] = this.starts[i]! + seats.length;
  }

  at(index: number): Journey | undefined {
    if (index < 0 || index >= this.count) return undefined;
    const attempts: AttemptRequest[] = [];
    for (let k = this.starts[index]!; k < this.starts[index + 1]!; k++) {
      const seatNo = this.seats[k]!;
      attempts.push({ method: 'POST', path: '/api/reservations', body: JSON.stringify({ scheduleId: this.scheduleId, seatNo }), meta: { op: 'hold', scheduleId: this.scheduleId, seatNo } });
    }
    return { token: this.tokens[index]!, userId: this.userIds[index]!, attempts };
  }

  map<U>(fn: (j: Journey, index: number) => U): U[] {
    return Array.from({ length: this.count }, (_, i) => fn(this.at(i)!, i));
  }
}
