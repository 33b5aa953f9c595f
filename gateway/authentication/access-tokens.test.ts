/**
 * The access-token verifier remembers tokens it verified, so that a client's next request
 * skips the signature check (a speed-up, measured by bench:platform). What a client sees
 * must not change: a remembered token is refused past its expiry like any other, revocation
 * is checked on every request, and only the exact bytes are remembered.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { UnauthenticatedError } from '../../shared/errors/index.ts';
import { testLogger } from '../../shared/testing/index.ts';
import { createAccessTokenVerifier } from './access-tokens.ts';
import type { AccessTokenVerifier } from './access-tokens.ts';

const ISSUER = 'https://auth.test';
const AUDIENCE = 'eventgraph';
const KID = 'key-1';
const NOW_S = 1_800_000_000;
const TTL_S = 900;

let privateKey: CryptoKey;
let jwks: JWK[];
let server: http.Server;
let jwksUrl: URL;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  jwks = [{ ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'ES256', use: 'sig' }];
  server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: jwks }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUrl = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`);
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function sign(claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({
    role: 'USER',
    scope: 'user',
    sid: 'session-1',
    email: 'ada@example.com',
    name: 'Ada',
    created_at: NOW_S - 86_400,
    jti: `jti-${Math.random()}`,
    ...claims,
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: KID })
    .setSubject('0194a3c0-0000-7000-8000-00000000ada0')
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(NOW_S)
    .setExpirationTime(NOW_S + TTL_S)
    .sign(privateKey);
}

/** A verifier whose clock and revocations the test sets. */
function verifier(
  clock: { nowS: number },
  revoked: { tokenIds: Set<string> },
): AccessTokenVerifier {
  return createAccessTokenVerifier({
    jwksUrl,
    issuer: ISSUER,
    audience: AUDIENCE,
    maxAgeSeconds: TTL_S,
    clockToleranceSeconds: 5,
    now: () => new Date(clock.nowS * 1000),
    logger: testLogger(),
    revocations: {
      isRevoked: async ({ tokenId }) => revoked.tokenIds.has(tokenId),
      isSessionRevoked: async () => false,
    },
  });
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (error: unknown) => (error instanceof UnauthenticatedError ? error.message : String(error)),
  );

it("gives each request its own copy of a token's claims, the same every time", async () => {
  const verify = verifier({ nowS: NOW_S + 1 }, { tokenIds: new Set() });
  const token = await sign();

  const first = await verify.verify(`Bearer ${token}`);
  const second = await verify.verify(`Bearer ${token}`);

  expect(second).toEqual(first);
  expect(second).not.toBe(first);
});

it('refuses a remembered token once it expires, as an unremembered one', async () => {
  const clock = { nowS: NOW_S + 1 };
  const verify = verifier(clock, { tokenIds: new Set() });
  const token = await sign();
  expect(await refusal(verify.verify(`Bearer ${token}`))).toBe('accepted');

  clock.nowS = NOW_S + TTL_S + 4; // within the 5 s tolerance
  expect(await refusal(verify.verify(`Bearer ${token}`))).toBe('accepted');
  clock.nowS = NOW_S + TTL_S + 5;
  expect(await refusal(verify.verify(`Bearer ${token}`))).toBe('Invalid or expired access token');
});

it('checks revocation on every request, remembered token or not', async () => {
  const revoked = { tokenIds: new Set<string>() };
  const verify = verifier({ nowS: NOW_S + 1 }, revoked);
  const token = await sign({ jti: 'to-be-revoked' });
  expect(await refusal(verify.verify(`Bearer ${token}`))).toBe('accepted');

  revoked.tokenIds.add('to-be-revoked');

  expect(await refusal(verify.verify(`Bearer ${token}`))).toBe(
    'This access token has been revoked',
  );
});

it('remembers the exact token only: a tampered copy of a remembered one is refused', async () => {
  const verify = verifier({ nowS: NOW_S + 1 }, { tokenIds: new Set() });
  const token = await sign();
  expect(await refusal(verify.verify(`Bearer ${token}`))).toBe('accepted');
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as object;
  const admin = Buffer.from(JSON.stringify({ ...claims, role: 'ADMIN' })).toString('base64url');

  expect(await refusal(verify.verify(`Bearer ${header}.${admin}.${signature}`))).toBe(
    'Invalid or expired access token',
  );
});
