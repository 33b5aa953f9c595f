/**
 * kafkajs' request queue, patched: an idle queue sets no timer (unpatched, it set one for
 * about −Date.now() ms after every response: a TimeoutNegativeWarning and a 1 ms timer);
 * a queue with waiting requests or under broker throttling still checks again.
 */
import { PatchedRequestQueue } from './kafkajs-patch.ts';

type Queue = {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  scheduleCheckPendingRequests(): void;
  checkPendingRequests(): void;
};

function queue(state: { pending: number; throttledUntil: number }): Queue {
  const q = Object.create(PatchedRequestQueue.prototype) as Queue;
  q.pending = Array.from({ length: state.pending }, () => ({}));
  q.throttledUntil = state.throttledUntil;
  q.throttleCheckTimeoutId = null;
  q.checkPendingRequests = () => undefined;
  return q;
}

it('sets no timer for an idle queue that is not throttled', () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  const idle = queue({ pending: 0, throttledUntil: -1 });
  idle.scheduleCheckPendingRequests();
  expect(idle.throttleCheckTimeoutId).toBeNull();
  process.off('warning', onWarning);
  expect(warnings).toEqual([]);
});

it.each([
  ['the broker throttles the client', { pending: 0, throttledUntil: Date.now() + 50 }],
  ['requests wait', { pending: 2, throttledUntil: -1 }],
])('checks the queue again when %s', async (_when, state) => {
  const busy = queue(state);
  const checked = new Promise<void>((resolve) => {
    busy.checkPendingRequests = resolve;
  });
  busy.scheduleCheckPendingRequests();
  expect(busy.throttleCheckTimeoutId).not.toBeNull();
  await checked;
  expect(busy.throttleCheckTimeoutId).toBeNull();
});
