import v8 from 'node:v8';

// How far V8 lets the lab's heap grow past what is live before a full collection. Left to itself
// it picks a factor of up to 4 when collections look cheap: a million-user sale keeps ~450 MB live
// (plans, history columns) and the lab's resident size climbed to 1.6 GB in the store ceiling, all
// of it garbage awaiting collection (a forced collection brought it back to 615 MB). Doubling the
// live heap at most keeps the peak near twice what is live; the cost is more frequent full
// collections, each of a heap that is mostly live.

/** The growing factor, as V8's percent over 1 (100: the heap may double before the next full collection). */
const HEAP_GROWING_PERCENT = 100;

export function boundHeapGrowth(): void {
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
