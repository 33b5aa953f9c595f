/**
 * The gateway → subgraph identity token: what a subgraph reads from it, what it refuses, and
 * the work each end remembers — one signed token per (access token, client address) for half
 * its life, and a verified token's caller until the token expires, never after.
 */
import { createGatewayTokens } from './gateway-token.ts';
import type { AccessTokenClaims } from './access-token.ts';

const SECRET = 'gateway-token-test-secret-0123456789abcdef';
const START = new Date('2026-12-07T10:00:00.000Z').getTime();

function tokensAt(clock: { ms: number }, secret = SECRET) {
  return createGatewayTokens({ secret, now: () => new Date(clock.ms) });
}

const claims = (jti: string): AccessTokenClaims => ({
  sub: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a05',
  role: 'USER',
  scope: 'user',
  jti,
  sid: 'session-1',
  email: 'ada@example.com',
  name: 'Ada',
  created_at: START / 1000 - 3600,
  iat: START / 1000,
  exp: START / 1000 + 900,
});

describe('gateway tokens', () => {
  it('names the caller and the client address to the subgraph', async () => {
    const clock = { ms: START };
    const tokens = tokensAt(clock);
    const caller = await tokens.verify(
      await tokens.sign({ claims: claims('t1'), clientIp: '203.0.113.7' }),
    );
    expect(caller.clientIp).toBe('203.0.113.7');
    expect(caller.identity).toMatchObject({ userId: claims('t1').sub, tokenId: 't1' });
    const anonymous = await tokens.verify(await tokens.sign({ claims: null, clientIp: null }));
    expect(anonymous).toEqual({ identity: null, clientIp: null });
  });

  it('signs once per access token and address for half the lifetime', async () => {
    const clock = { ms: START };
    const tokens = tokensAt(clock);
    const first = await tokens.sign({ claims: claims('t1'), clientIp: '203.0.113.7' });
    clock.ms += 29_000;
    expect(await tokens.sign({ claims: claims('t1'), clientIp: '203.0.113.7' })).toBe(first);
    expect(await tokens.sign({ claims: claims('t2'), clientIp: '203.0.113.7' })).not.toBe(first);
    expect(await tokens.sign({ claims: claims('t1'), clientIp: '198.51.100.1' })).not.toBe(first);
    clock.ms += 1_000;
    expect(await tokens.sign({ claims: claims('t1'), clientIp: '203.0.113.7' })).not.toBe(first);
  });

  it('refuses a remembered token once it has expired, and a forged one always', async () => {
    const clock = { ms: START };
    const subgraph = tokensAt(clock);
    const token = await tokensAt({ ms: START }).sign({ claims: claims('t1'), clientIp: null });
    await expect(subgraph.verify(token)).resolves.toMatchObject({ clientIp: null });
    clock.ms += 64_000; // 60 s lifetime + 5 s tolerance: still accepted
    await expect(subgraph.verify(token)).resolves.toMatchObject({ clientIp: null });
    clock.ms += 1_000;
    await expect(subgraph.verify(token)).rejects.toThrow('Invalid gateway token');

    clock.ms = START;
    const forged = await tokensAt(clock, `${SECRET}-not-ours`).sign({
      claims: claims('t1'),
      clientIp: null,
    });
    await expect(subgraph.verify(forged)).rejects.toThrow('Invalid gateway token');
    await expect(subgraph.verify(undefined)).rejects.toThrow('only through the gateway');
  });
});
