/**
 * A push-to-pull stream with a bounded queue: what one subscription sends its client.
 * Producers `push`; graphql-ws pulls as fast as the client's socket takes it. When more than
 * `maxQueued` values wait (a slow client), the stream drops them, ends with `overflow()`'s
 * value as its last item, and reports it — memory per subscription never grows past the bound.
 */
export interface BoundedStream<T> extends AsyncIterableIterator<T> {
  /** Queues a value; false when the stream has ended (or just overflowed). */
  push(value: T): boolean;
  /** Ends the stream after the values already queued (or at once, with `last` as the final one). */
  end(last?: T): void;
  /** Values waiting to be pulled. */
  readonly queued: number;
  readonly ended: boolean;
}

export interface BoundedStreamOptions<T> {
  /** Values that may wait for a slow client. @default 64 */
  maxQueued?: number;
  /** The final value sent instead of the dropped ones when the queue overflows. */
  overflow: () => T;
  /** Called once when the stream ends, however it ends (client gone, overflow, `end`). */
  onEnd?: (reason: 'returned' | 'overflow' | 'ended') => void;
}

export function createBoundedStream<T>(options: BoundedStreamOptions<T>): BoundedStream<T> {
  const maxQueued = options.maxQueued ?? 64;
  let queue: T[] = [];
  let ended = false;
  let finishing = false; // ended, but queued values are still to be pulled
  let waiting: ((result: IteratorResult<T>) => void) | null = null;

  const finish = (reason: 'returned' | 'overflow' | 'ended') => {
    if (ended) return;
    ended = true;
    options.onEnd?.(reason);
  };

  const deliver = () => {
    if (!waiting) return;
    const resolve = waiting;
    if (queue.length > 0) {
      waiting = null;
      resolve({ value: queue.shift()!, done: false });
    } else if (finishing) {
      waiting = null;
      resolve({ value: undefined, done: true });
    }
  };

  const stream: BoundedStream<T> = {
    push(value) {
      if (ended || finishing) return false;
      if (queue.length >= maxQueued) {
        queue = [options.overflow()];
        finishing = true;
        finish('overflow');
        deliver();
        return false;
      }
      queue.push(value);
      deliver();
      return true;
    },
    end(last) {
      if (ended || finishing) return;
      if (last !== undefined) queue = [last];
      finishing = true;
      finish('ended');
      deliver();
    },
    get queued() {
      return queue.length;
    },
    get ended() {
      return ended;
    },
    next() {
      if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false });
      if (finishing || ended) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    return() {
      queue = [];
      finishing = true;
      finish('returned');
      deliver();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return stream;
    },
  };
  return stream;
}
