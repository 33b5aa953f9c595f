/**
 * One fix to kafkajs 2.2.4 (its last release), applied on import: the Kafka transport, the
 * test Kafka launcher and the benchmarks import it before they use kafkajs.
 *
 * `RequestQueue.scheduleCheckPendingRequests` runs after every broker response and, with
 * nothing pending and no throttling, sets a timer for `throttledUntil − now` = `−1 − now`:
 * Node prints a TimeoutNegativeWarning at each start and runs that timer (as 1 ms) after
 * every response, for nothing. Patched: a check is scheduled only when a request waits or
 * the broker throttles the client; otherwise as before.
 */
import { createRequire } from 'node:module';

interface RequestQueue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/** kafkajs' own interval for re-checking a queue that waits on in-flight requests. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

const require = createRequire(import.meta.url);
const RequestQueueClass = require('kafkajs/src/network/requestQueue/index.js') as {
  prototype: RequestQueue;
};

RequestQueueClass.prototype.scheduleCheckPendingRequests = function (this: RequestQueue) {
  if (this.throttleCheckTimeoutId) return;
  const throttledForMs = this.throttledUntil - Date.now();
  if (this.pending.length === 0 && throttledForMs <= 0) return;
  this.throttleCheckTimeoutId = setTimeout(
    () => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    },
    throttledForMs > 0 ? throttledForMs : CHECK_PENDING_REQUESTS_INTERVAL_MS,
  );
};

/** The patched class, for its test. */
export const PatchedRequestQueue = RequestQueueClass;
