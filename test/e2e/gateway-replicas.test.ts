/**
 * Two gateway replicas over the same subgraphs and Redis, as behind a load balancer: a
 * user's write answered by one gateway is seen by the user's next query on the other, even
 * while an identical query of the user's, started there before the write, is still in
 * flight (coalescing and fetch dedup must not hand the new query that older answer).
 *
 * The second gateway reaches the users subgraph through a front (test/topology/front.ts)
 * that can hold one answer back: that keeps the older query in flight, on a known answer,
 * for as long as the test needs.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { PlatformHandle } from '../../platform/platform.ts';
import { SUBGRAPHS } from '../../platform/services.ts';
import { captureLogs, postGraphQL, waitFor } from '../../shared/testing/index.ts';
import { startFront } from '../topology/front.ts';
import type { Front } from '../topology/front.ts';
import { startLoneGateway, startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const operation = (name: string) =>
  readFile(path.join(ROOT, 'schema/operations', `${name}.graphql`), 'utf8');

const logs = captureLogs();
let fixture: TestPlatform;
let usersFront: Front;
let second: PlatformHandle;

beforeAll(async () => {
  fixture = await startTestPlatform(logs.logger);
  const url = (name: string) => `${fixture.platform.subgraphs.get(name as never)!.url}/graphql`;
  usersFront = await startFront('users');
  usersFront.enter('users', fixture.platform.subgraphs.get('users')!.port);
  second = await startLoneGateway({
    REDIS_KEY_PREFIX: fixture.redis.prefix,
    // The held fetch must not time out (and be retried) while the test holds it.
    GATEWAY_SUBGRAPH_TIMEOUT_MS: '120000',
    ...Object.fromEntries(
      SUBGRAPHS.map((s) => [
        `${s.name.toUpperCase()}_URL`,
        s.name === 'users' ? `${usersFront.url}/graphql` : url(s.name),
      ]),
    ),
  });
});

afterAll(async () => {
  await usersFront?.close();
  await second?.stop();
  await fixture?.stop();
});

describe('gateway replicas', () => {
  it("show a user's write made through one gateway to the user's next query on the other, while an older identical query is in flight there", async () => {
    const token = await fixture.register('replicas@example.com', 'Before');
    const me = await operation('users/me');
    const askSecond = () =>
      postGraphQL<{ me: { name: string } }>(`${second.gateway!.url}/graphql`, me, undefined, {
        authorization: `Bearer ${token}`,
      });
    // Users learns of the account from auth's user.registered: until then `me` is null.
    const known = await waitFor(async () => (await askSecond()).body.data?.me ?? undefined, {
      what: 'users to have the registered account',
    });
    expect(known.name).toBe('Before');

    // An older `me` on the second gateway, held in flight with the name before the write.
    const hold = usersFront.holdNextAnswer();
    const older = askSecond();
    await hold.held;

    // The write, answered by the first gateway.
    const updated = await fixture.data<{ updateProfile: { name: string } }>(
      await operation('users/update-profile'),
      { input: { name: 'After' } },
      token,
    );
    expect(updated.updateProfile.name).toBe('After');

    // The user's next query, on the second gateway, while the older one is still held: it
    // must reach the subgraph on its own instead of waiting for the older answer.
    const fetches = () => usersFront.stats().get('users')!.requests;
    const fetchesBefore = fetches();
    const newer = askSecond();
    await waitFor(() => fetches() > fetchesBefore, {
      what: 'the newer query to fetch on its own, not wait for the older one held in flight',
    });
    const newerAnswer = await newer;
    expect(newerAnswer.body.errors).toBeUndefined();
    expect(newerAnswer.body.data?.me.name).toBe('After');

    hold.release();
    expect((await older).body.data?.me.name).toBe('Before');
    const metrics = await (await fetch(`${second.gateway!.url}/metrics`)).text();
    expect(metrics).toMatch(/^gateway_coalesced_operations_total\{service="gateway"\} 0$/m);
  });
});
