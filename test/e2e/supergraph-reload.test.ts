/**
 * The gateway follows its supergraph file (SUPERGRAPH_PATH) while clients keep querying: a
 * changed file is served within 5 s without one failed request, and a corrupt file is
 * logged and ignored while the previous supergraph keeps serving. On real servers, with the
 * client operations of `schema/operations/`.
 */
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readSubgraphSdls } from '../../schema/composition.ts';
import {
  SUPERGRAPH_FILE,
  composeSchema,
  composedSubgraphs,
} from '../../schema/pipeline/compose.ts';
import { captureLogs, waitFor } from '../../shared/testing/index.ts';
import type { GraphQLResponse } from '../../shared/testing/index.ts';
import { codes, startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const operation = (name: string) =>
  readFile(path.join(ROOT, 'schema/operations', `${name}.graphql`), 'utf8');

let fixture: TestPlatform;
let directory: string;
let supergraphPath: string;
const logs = captureLogs();

/** The checked-in supergraph without `Query.user` (as if the users subgraph had not added it yet). */
async function supergraphWithoutUserQuery(): Promise<string> {
  const sdls = await readSubgraphSdls(composedSubgraphs(), ROOT);
  const users = sdls.find((s) => s.name === 'users')!;
  const edited = users.sdl.replace(/\n[^\n]*\n\s*user\(id: ID!\): User @authenticated/, '');
  expect(edited).not.toBe(users.sdl);
  const composition = composeSchema(sdls.map((s) => (s === users ? { ...s, sdl: edited } : s)));
  if (!composition.ok) throw new Error('the reduced supergraph does not compose');
  return composition.files.get(SUPERGRAPH_FILE)!;
}

/** Replaces the file as `npm run schema:compose` does: a new file renamed over the old. */
async function replaceAtomically(file: string, content: string): Promise<void> {
  await writeFile(`${file}.next`, content);
  await rename(`${file}.next`, file);
}

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'eventgraph-supergraph-'));
  supergraphPath = path.join(directory, 'supergraph.graphql');
  await writeFile(supergraphPath, await supergraphWithoutUserQuery());
  fixture = await startTestPlatform(logs.logger, { SUPERGRAPH_PATH: supergraphPath });
});

afterAll(async () => {
  await fixture?.stop();
  await rm(directory, { recursive: true, force: true });
});

describe('a changed supergraph file', () => {
  it('is served within 5 s under load with zero failed requests; a corrupt one is ignored', async () => {
    const registered = await fixture.gql<{
      register: { accessToken: string; user: { id: string } };
    }>(await operation('auth/register'), {
      input: { email: 'reload@example.com', password: 'correct horse battery staple', name: 'Re' },
    });
    expect(registered.body.errors).toBeUndefined();
    const { accessToken, user } = registered.body.data!.register;
    const [me, userById] = [await operation('users/me'), await operation('users/user-by-id')];
    const askUser = () => fixture.gql(userById, { id: user.id }, accessToken);
    expect(codes(await askUser())).toEqual(['GRAPHQL_VALIDATION_FAILED']);

    // A steady load: 10 clients asking for themselves, through the gateway to users.
    const failures: unknown[] = [];
    let requests = 0;
    let loading = true;
    const client = async () => {
      while (loading) {
        let response: GraphQLResponse<{ me: { id: string } }>;
        try {
          response = await fixture.gql(me, undefined, accessToken);
        } catch (error) {
          failures.push(String(error));
          continue;
        }
        requests += 1;
        if (
          response.status !== 200 ||
          response.body.errors ||
          response.body.data?.me.id !== user.id
        ) {
          failures.push({ status: response.status, body: response.body });
        }
      }
    };
    const clients = Array.from({ length: 10 }, client);
    try {
      await waitFor(() => requests >= 50, { what: 'the load to get going' });

      const replacedAt = Date.now();
      await replaceAtomically(
        supergraphPath,
        await readFile(path.join(ROOT, SUPERGRAPH_FILE), 'utf8'),
      );
      const served = await waitFor(
        async () => {
          const response = await askUser();
          return response.body.errors ? undefined : response;
        },
        { timeoutMs: 5000, intervalMs: 25, what: 'Query.user to be served' },
      );
      expect(Date.now() - replacedAt).toBeLessThan(5000);
      expect(served.body.data).toEqual({ user: expect.objectContaining({ id: user.id }) });
      expect(logs.lines).toContainEqual(
        expect.objectContaining({ msg: 'supergraph reloaded', path: supergraphPath }),
      );
      const reloadedAt = requests;
      await waitFor(() => requests >= reloadedAt + 50, { what: 'load on the new supergraph' });

      // A corrupt file (cut off mid-way): logged, counted once, and the last good one keeps
      // serving. It replaces the good one whole, so no empty file is ever seen in between.
      const good = await readFile(supergraphPath, 'utf8');
      await replaceAtomically(supergraphPath, good.slice(0, good.length / 2));
      const refused = await waitFor(
        () =>
          logs.lines.find((line) =>
            String(line['msg']).startsWith(
              'supergraph reload failed, still serving the previous supergraph: Syntax Error',
            ),
          ),
        { timeoutMs: 5000, what: 'the corrupt file to be refused' },
      );
      expect(refused).toMatchObject({ level: 50, path: supergraphPath });
      const before = requests;
      await waitFor(() => requests >= before + 50, { what: 'more load on the corrupt file' });
      expect((await askUser()).body).toEqual(served.body);
      const metrics = await (await fetch(`${fixture.gatewayUrl}/metrics`)).text();
      expect(metrics).toMatch(
        /^supergraph_reloads_total\{outcome="failure",service="gateway"\} 1$/m,
      );
      expect(metrics).toMatch(
        /^supergraph_reloads_total\{outcome="success",service="gateway"\} 2$/m,
      );
    } finally {
      loading = false;
      await Promise.all(clients);
    }
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(100);
  });
});
