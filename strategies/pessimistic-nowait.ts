import type { SeatLockStrategy } from '../src/core/ports.js';
import { createPessimistic } from './pessimistic.js';

// The fail-fast variant of `pessimistic`: a seat whose row is locked is a 409 at once.
export const pessimisticNowait = {
  name: 'pessimistic-nowait',
  description: 'SELECT … FOR UPDATE NOWAIT; a locked seat is refused at once',
  safe: true,
  requires: { redis: false },
  options: [],
  create: (deps) => createPessimistic(deps, 'nowait'),
} satisfies SeatLockStrategy;
