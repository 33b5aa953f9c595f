/**
 * `schema:compose` and `schema:check` as developers and CI run them: the real command line
 * in a child process, inside a git repository holding a copy of this project's subgraph SDL,
 * `schema/` and client operations (committed as the base), with one fixture change per
 * failure kind. Each failure exits 1 and names its cause; an acknowledged breaking change
 * passes.
 */
import { execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SUBGRAPHS } from '../subgraphs.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'schema/pipeline/cli.ts');
const USERS_SDL = 'subgraphs/users/schema.graphql';
const AUTH_SDL = 'subgraphs/auth/schema.graphql';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Project {
  readonly dir: string;
  edit(file: string, change: (text: string) => string): Promise<void>;
  write(file: string, text: string): Promise<void>;
  remove(file: string): Promise<void>;
  /** Runs git in the project; its trimmed output. */
  git(...args: string[]): Promise<string>;
  /** Runs the CLI in the project, as `npm run schema:<command>` would. */
  cli(args: string[], env?: Record<string, string>): Promise<Run>;
}

const git = promisify(execFile);
const projects: string[] = [];

/** A git repository with the project's schema sources committed on main. */
async function project(): Promise<Project> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'eventgraph-schema-'));
  projects.push(dir);
  const copied = [
    ...SUBGRAPHS.map((s) => `subgraphs/${s.name}/schema.graphql`),
    'schema/operations',
    ...SUBGRAPHS.map((s) => `schema/${s.name}.graphql`),
    'schema/supergraph.graphql',
    'schema/api.graphql',
  ];
  for (const file of copied) {
    await cp(path.join(ROOT, file), path.join(dir, file), { recursive: true });
  }
  // The project's own acknowledgements name changes this base already holds; a fixture starts
  // with none, as a repository does once its acknowledged changes have landed.
  await writeFile(path.join(dir, 'schema/breaking-changes.acknowledged.json'), '[]\n');
  const inRepo = async (...args: string[]) => {
    const identity = ['-c', 'user.name=test', '-c', 'user.email=test@example.com'];
    const { stdout } = await git('git', [...identity, '-c', 'commit.gpgsign=false', ...args], {
      cwd: dir,
    });
    return stdout.trim();
  };
  await inRepo('init', '-q', '-b', 'main');
  await inRepo('add', '.');
  await inRepo('commit', '-q', '-m', 'base');
  await inRepo('checkout', '-q', '-b', 'change');
  return {
    dir,
    git: inRepo,
    async edit(file, change) {
      const target = path.join(dir, file);
      const before = await readFile(target, 'utf8');
      const after = change(before);
      if (after === before) throw new Error(`fixture change did not change ${file}`);
      await writeFile(target, after);
    },
    write: (file, text) => writeFile(path.join(dir, file), text),
    remove: (file) => rm(path.join(dir, file)),
    cli: (args, env = {}) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [CLI, ...args], {
          cwd: dir,
          env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      }),
  };
}

afterAll(async () => {
  await Promise.all(projects.map((dir) => rm(dir, { recursive: true, force: true })));
});

interface JsonIssue {
  severity: string;
  kind: string;
  code: string;
  coordinate?: string;
  file?: string;
  line?: number;
  message: string;
}

function issuesOf(run: Run): JsonIssue[] {
  return (JSON.parse(run.stdout) as { issues: JsonIssue[] }).issues;
}

/** Removes `deleteUser` from the users subgraph's Mutation type. */
const withoutDeleteUser = (sdl: string) =>
  sdl.replace(/\n[^\n]*\n\s*deleteUser\(id: ID!\): Boolean! @authenticated/, '');

describe('schema:check', () => {
  it('passes on the project as checked in, against the fork point from main by default', async () => {
    const repo = await project();
    const run = await repo.cli(['check']);
    expect(run.stdout).toContain('breaking changes against merge-base of HEAD and main');
    expect(run.stdout).toMatch(/schema:check passed: 0 errors, \d+ warnings?, 0 notices\n$/);
    expect(run.code).toBe(0);
  });

  it('fails on a removed field, naming the breaking change, where it was, and the operations it breaks', async () => {
    const repo = await project();
    await repo.edit(USERS_SDL, withoutDeleteUser);
    expect((await repo.cli(['compose'])).code).toBe(0);

    const run = await repo.cli(['check', '--base', 'main']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /error: \[breaking-change FIELD_REMOVED\] Mutation\.deleteUser\n {2}at subgraphs\/users\/schema\.graphql:\d+:\d+\n {2}Mutation\.deleteUser was removed\. Clients using it break \(against main/,
    );
    expect(run.stdout).toContain(
      '{ "code": "FIELD_REMOVED", "coordinate": "Mutation.deleteUser", "reason": "<why clients can live with it>" }',
    );
    expect(run.stdout).toContain(
      'schema/operations/users/delete-user.graphql: Cannot query field "deleteUser" on type "Mutation".',
    );
    expect(run.stdout).toMatch(/schema:check failed: 2 errors/);
  });

  it('passes a breaking change acknowledged with a reason', async () => {
    const repo = await project();
    await repo.edit(USERS_SDL, withoutDeleteUser);
    await repo.remove('schema/operations/users/delete-user.graphql');
    await repo.write(
      'schema/breaking-changes.acknowledged.json',
      JSON.stringify([
        {
          code: 'FIELD_REMOVED',
          coordinate: 'Mutation.deleteUser',
          reason: 'accounts are deleted by support now; no client calls it',
        },
      ]),
    );
    expect((await repo.cli(['compose'])).code).toBe(0);

    const run = await repo.cli(['check', '--base', 'main']);
    expect(run.stdout).toContain(
      'Mutation.deleteUser was removed. Acknowledged: accounts are deleted by support now; no client calls it',
    );
    expect(run.stdout).toMatch(/schema:check passed: 0 errors/);
    expect(run.code).toBe(0);
  });

  it('fails on an acknowledgement without a reason, naming the entry', async () => {
    const repo = await project();
    await repo.edit(USERS_SDL, withoutDeleteUser);
    await repo.remove('schema/operations/users/delete-user.graphql');
    await repo.write(
      'schema/breaking-changes.acknowledged.json',
      JSON.stringify([{ code: 'FIELD_REMOVED', coordinate: 'Mutation.deleteUser' }]),
    );
    await repo.cli(['compose']);

    const run = await repo.cli(['check', '--base', 'main', '--format', 'json']);
    expect(run.code).toBe(1);
    expect(issuesOf(run)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          severity: 'error',
          code: 'ACKNOWLEDGEMENT_INVALID',
          message: expect.stringContaining(
            'entry 1 (FIELD_REMOVED Mutation.deleteUser): reason: expected a reason',
          ),
        }),
        expect.objectContaining({
          severity: 'error',
          code: 'FIELD_REMOVED',
          coordinate: 'Mutation.deleteUser',
        }),
      ]),
    );
  });

  it('fails on a composition conflict (one field, two types, not shareable), naming the codes and both subgraphs', async () => {
    const repo = await project();
    await repo.edit(AUTH_SDL, (sdl) => `${sdl}\ntype Query {\n  version: Int\n}\n`);
    await repo.edit(USERS_SDL, (sdl) =>
      sdl.replace('type Query {', 'type Query {\n  version: String'),
    );

    const compose = await repo.cli(['compose']);
    expect(compose.code).toBe(1);
    expect(compose.stderr).toMatch(
      /error: \[FIELD_TYPE_MISMATCH\] Type of field "Query\.version" is incompatible across subgraphs: it has type "Int" in subgraph "auth" but type "String" in subgraph "users" \(subgraphs\/auth\/schema\.graphql:\d+:\d+, subgraphs\/users\/schema\.graphql:\d+:\d+\)/,
    );
    expect(compose.stderr).toContain('schema/ left as it was');

    const run = await repo.cli(['check', '--format', 'json']);
    expect(run.code).toBe(1);
    expect(issuesOf(run).filter((i) => i.severity === 'error')).toEqual([
      expect.objectContaining({ kind: 'composition', code: 'FIELD_TYPE_MISMATCH', file: AUTH_SDL }),
      expect.objectContaining({
        kind: 'composition',
        code: 'INVALID_FIELD_SHARING',
        message: expect.stringContaining('Non-shareable field "Query.version"'),
      }),
    ]);
  });

  it('fails on drift between the subgraph SDL and the checked-in schema/, showing the difference', async () => {
    const repo = await project();
    await repo.edit(USERS_SDL, (sdl) =>
      sdl.replace(
        'createdAt: DateTime! @shareable\n',
        'createdAt: DateTime! @shareable\n  nickname: String\n',
      ),
    );

    const run = await repo.cli(['check']);
    expect(run.code).toBe(1);
    for (const file of [
      'schema/users.graphql',
      'schema/supergraph.graphql',
      'schema/api.graphql',
    ]) {
      expect(run.stdout).toContain(`error: [drift SCHEMA_DRIFT]\n  at ${file}:`);
      expect(run.stdout).toContain(
        `${file} differs from what the subgraphs compose to (run \`npm run schema:compose\` and commit schema/)`,
      );
    }
    expect(run.stdout).toContain('+   nickname: String');

    expect((await repo.cli(['compose'])).code).toBe(0);
    expect((await repo.cli(['check'])).code).toBe(0);
  });

  it('fails on a client operation that no longer validates, naming the file, line and error', async () => {
    const repo = await project();
    await repo.edit('schema/operations/users/me.graphql', (text) =>
      text.replace('    createdAt\n', '    createdAt\n    nickname\n'),
    );

    const run = await repo.cli(['check']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      'error: [operation GRAPHQL_VALIDATION_FAILED]\n  at schema/operations/users/me.graphql:9:5\n  schema/operations/users/me.graphql: Cannot query field "nickname" on type "User". Did you mean "name"?',
    );

    const inActions = await repo.cli(['check'], { GITHUB_ACTIONS: 'true' });
    expect(inActions.stdout).toContain(
      '::error file=schema/operations/users/me.graphql,line=9,col=5,title=schema%3Acheck operation GRAPHQL_VALIDATION_FAILED::schema/operations/users/me.graphql: Cannot query field "nickname" on type "User". Did you mean "name"?\n',
    );
  });

  it('warns about a dangerous change and still passes', async () => {
    const repo = await project();
    await repo.edit(USERS_SDL, (sdl) =>
      sdl.replace(
        'users(first: Int, after: String, search: String)',
        'users(first: Int, after: String, search: String, role: Role)',
      ),
    );
    await repo.cli(['compose']);

    const run = await repo.cli(['check', '--format', 'json']);
    expect(issuesOf(run)).toEqual([
      expect.objectContaining({
        severity: 'warning',
        kind: 'dangerous-change',
        code: 'OPTIONAL_ARG_ADDED',
        coordinate: 'Query.users(role:)',
        file: USERS_SDL,
      }),
    ]);
    expect(run.code).toBe(0);
  });

  it('fails when the requested base does not exist, and skips breaking changes with a notice when the base has no schema', async () => {
    const repo = await project();
    const missing = await repo.cli(['check', '--base', 'no-such-branch']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('--base no-such-branch: no such git revision');

    // A base from before the pipeline: a commit without schema/api.graphql.
    const emptyTree = await repo.git('hash-object', '-t', 'tree', '/dev/null');
    const before = await repo.git('commit-tree', emptyTree, '-m', 'before the schema pipeline');
    const run = await repo.cli(['check', '--base', before]);
    expect(run.stdout).toContain(`has no schema/api.graphql: nothing to compare against`);
    expect(run.code).toBe(0);
  });
});
