/**
 * One subscription's outgoing updates: delivered in order as the client pulls them, and
 * never more than the bound waiting for a slow client — which instead gets one final error
 * and the end of the stream.
 */
import { createBoundedStream } from './bounded-stream.ts';

const OVERFLOW = 'overflow';

async function drain(stream: AsyncIterator<string>): Promise<string[]> {
  const values: string[] = [];
  for (;;) {
    const next = await stream.next();
    if (next.done) return values;
    values.push(next.value);
  }
}

describe('a bounded stream', () => {
  it('delivers pushed values in order to a client that pulls', async () => {
    const stream = createBoundedStream<string>({ maxQueued: 3, overflow: () => OVERFLOW });
    const first = stream.next();
    stream.push('a');
    expect(await first).toEqual({ value: 'a', done: false });
    stream.push('b');
    stream.push('c');
    stream.end();
    expect(await drain(stream)).toEqual(['b', 'c']);
  });

  it('ends a slow client with the overflow value instead of queueing more than the bound', async () => {
    const ends: string[] = [];
    const stream = createBoundedStream<string>({
      maxQueued: 3,
      overflow: () => OVERFLOW,
      onEnd: (reason) => ends.push(reason),
    });
    // given a client that pulls nothing, when 1,000 updates arrive
    const accepted = Array.from({ length: 1000 }, (_, i) => stream.push(`u${i}`));
    // then 3 were queued, the 4th overflowed, and nothing after was kept
    expect(accepted.filter(Boolean)).toHaveLength(3);
    expect(stream.queued).toBe(1);
    expect(ends).toEqual(['overflow']);
    expect(await drain(stream)).toEqual([OVERFLOW]);
  });

  it('stops queueing and reports once when the client goes away', async () => {
    const ends: string[] = [];
    const stream = createBoundedStream<string>({
      overflow: () => OVERFLOW,
      onEnd: (reason) => ends.push(reason),
    });
    stream.push('a');
    const pending = createBoundedStream<string>({ overflow: () => OVERFLOW });
    const waiting = pending.next();
    await pending.return!();
    expect(await waiting).toEqual({ value: undefined, done: true });

    await stream.return!();
    await stream.return!();
    expect(stream.push('b')).toBe(false);
    expect(stream.queued).toBe(0);
    expect(ends).toEqual(['returned']);
    expect(await stream.next()).toEqual({ value: undefined, done: true });
  });

  it('ends with a last value when told to (e.g. an error), after nothing else', async () => {
    const stream = createBoundedStream<string>({ overflow: () => OVERFLOW });
    stream.push('a');
    stream.end('last');
    expect(stream.push('b')).toBe(false);
    expect(await drain(stream)).toEqual(['last']);
  });
});
