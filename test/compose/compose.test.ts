/**
 * Static checks of the container setup against the process catalogue: docker-compose.yml,
 * the Dockerfile and .env.example. No Docker engine is needed: the files are parsed and
 * compared with `SERVICES`, so a service added to the catalogue without
 * its compose entry, port, env or health check fails here.
 *
 * Each test gathers every problem it finds and compares the list with [], so a failure
 * lists them all, each naming the service and what is wrong.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { SERVICES, type ServiceDescriptor } from '../../platform/services.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string): string => readFileSync(`${ROOT}${file}`, 'utf8');

/** The infrastructure services every process depends on, and where they listen. */
const INFRA = {
  postgres: { port: 5432 },
  kafka: { port: 9092 },
  redis: { port: 6379 },
} as const;
const IMAGE = 'eventgraph:local';

/**
 * The PostgreSQL major the tests run on: the one of Debian 12 that .ci/run uses, and the
 * image of the GitHub workflow's service. Compose ships the same, so what users run is
 * what is tested.
 */
const TESTED_POSTGRES_MAJOR = '15';

// ---------------------------------------------------------------------------------------------
// docker-compose.yml model
// ---------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface ComposeService {
  image?: string;
  build?: unknown;
  profiles?: string[];
  environment?: Record<string, Json> | string[];
  ports?: (string | number | { target?: number | string })[];
  expose?: (string | number)[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
}
interface ComposeFile {
  services?: Record<string, ComposeService>;
}

const composeText = read('docker-compose.yml');
// `merge: true` resolves the `<<: *anchor` merge keys the way docker compose does.
const compose = parse(composeText, { merge: true }) as ComposeFile;
const services: Record<string, ComposeService> = compose.services ?? {};

/** Variable references in one compose value: ${VAR}, ${VAR:-default}, ${VAR?err}, $VAR ($$ escapes). */
const VARIABLE_RE =
  /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Resolves a value as docker compose would with the given variables (default: none set). */
function interpolate(value: string, vars: Record<string, string> = {}): string {
  return value.replace(
    VARIABLE_RE,
    (match, name: string | undefined, op: string | undefined, arg: string = '', bare?: string) => {
      if (match === '$$') return '$';
      const variable = name ?? bare ?? '';
      const current = vars[variable];
      const set = current !== undefined;
      const nonEmpty = set && current !== '';
      switch (op) {
        case ':-':
          return nonEmpty ? current : interpolate(arg, vars);
        case '-':
          return set ? current : interpolate(arg, vars);
        case ':+':
          return nonEmpty ? interpolate(arg, vars) : '';
        case '+':
          return set ? interpolate(arg, vars) : '';
        default: // plain, or :? / ? (an error in compose when unset; empty here)
          return current ?? '';
      }
    },
  );
}

/** Every string anywhere in a parsed YAML value. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/** Names of the variables docker compose interpolates into the file, with their :- defaults. */
function composeVariables(): Map<string, string | undefined> {
  const found = new Map<string, string | undefined>();
  for (const text of strings(compose)) {
    for (const m of text.matchAll(VARIABLE_RE)) {
      const name = m[1] ?? m[4];
      if (!name) continue; // $$ escape
      const fallback = m[2] === ':-' || m[2] === '-' ? m[3] : undefined;
      if (!found.has(name) || found.get(name) === undefined) found.set(name, fallback);
    }
  }
  return found;
}

/** A service's environment as resolved strings (map or list form). */
function envOf(service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  const raw = service.environment;
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      const eq = entry.indexOf('=');
      if (eq > 0) env[entry.slice(0, eq)] = interpolate(entry.slice(eq + 1));
    }
  } else if (raw) {
    for (const [key, value] of Object.entries(raw)) {
      env[key] =
        value === null
          ? ''
          : interpolate(typeof value === 'object' ? JSON.stringify(value) : String(value));
    }
  }
  return env;
}

/** The container ports a service publishes (`ports`, short or long form) or exposes. */
function containerPorts(service: ComposeService): number[] {
  const result: number[] = [];
  for (const entry of service.ports ?? []) {
    if (typeof entry === 'object') {
      if (entry.target !== undefined) result.push(Number(entry.target));
      continue;
    }
    const spec = interpolate(String(entry)).replace(/\/(tcp|udp)$/, '');
    const target = spec.split(':').at(-1) ?? '';
    result.push(Number(target));
  }
  for (const entry of service.expose ?? []) result.push(Number(String(entry).split('/')[0]));
  return result;
}

function dependsOn(service: ComposeService): Record<string, string | undefined> {
  const raw = service.depends_on;
  if (Array.isArray(raw)) return Object.fromEntries(raw.map((name) => [name, undefined]));
  return Object.fromEntries(
    Object.entries(raw ?? {}).map(([name, spec]) => [name, spec?.condition]),
  );
}

/** Problems with a service's health check; `probe` must appear in the command if given. */
function healthcheckProblems(label: string, service: ComposeService, probe?: RegExp): string[] {
  const hc = service.healthcheck;
  if (!hc || hc.disable === true) return [`${label}: no healthcheck`];
  const test = Array.isArray(hc.test) ? hc.test.join(' ') : (hc.test ?? '');
  if (test === '' || /^NONE\b/.test(test)) return [`${label}: healthcheck has no test command`];
  if (probe && !probe.test(test)) {
    return [`${label}: healthcheck should match ${probe}, got ${JSON.stringify(test)}`];
  }
  return [];
}

function urlProblems(
  label: string,
  variable: string,
  value: string | undefined,
  expect: { protocols: string[]; host: string; port: number; path?: string },
): string[] {
  if (value === undefined || value === '') return [`${label}: ${variable} is not set`];
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return [`${label}: ${variable} is not a URL: ${JSON.stringify(value)}`];
  }
  const problems: string[] = [];
  if (!expect.protocols.includes(url.protocol)) {
    problems.push(
      `${label}: ${variable} should use ${expect.protocols.join(' or ')}, got ${url.protocol}`,
    );
  }
  if (url.hostname !== expect.host) {
    problems.push(
      `${label}: ${variable} should point at host "${expect.host}", got "${url.hostname}"`,
    );
  }
  const port = url.port === '' ? undefined : Number(url.port);
  if (port !== expect.port) {
    problems.push(`${label}: ${variable} should use port ${expect.port}, got ${port ?? '(none)'}`);
  }
  if (expect.path !== undefined && url.pathname !== expect.path) {
    problems.push(`${label}: ${variable} should have path ${expect.path}, got ${url.pathname}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------------------------

describe('docker-compose.yml', () => {
  test('defines every service of the catalogue', () => {
    const missing = SERVICES.filter((s) => !(s.name in services)).map(
      (s) => `service ${s.name}: missing from docker-compose.yml`,
    );
    expect(missing).toEqual([]);
  });

  describe.each(SERVICES.map((s) => [s.name, s] as [string, ServiceDescriptor]))(
    'service %s',
    (name, descriptor) => {
      const label = `service ${name}`;
      const service = (): ComposeService => {
        const found = services[name];
        if (!found) throw new Error(`${label}: missing from docker-compose.yml`);
        return found;
      };

      test('runs the shared image as its own process on its catalogue port', () => {
        const svc = service();
        const env = envOf(svc);
        const problems: string[] = [];
        if (svc.image !== IMAGE) {
          problems.push(`${label}: image ${IMAGE} expected, got ${JSON.stringify(svc.image)}`);
        }
        if (env.SERVICE !== name) {
          problems.push(`${label}: SERVICE ${name} expected, got ${JSON.stringify(env.SERVICE)}`);
        }
        if (env.PORT !== String(descriptor.port)) {
          problems.push(
            `${label}: PORT ${descriptor.port} expected, got ${JSON.stringify(env.PORT)}`,
          );
        }
        const ports = containerPorts(svc);
        if (!ports.includes(descriptor.port)) {
          problems.push(
            `${label}: container port ${descriptor.port} should be in ports or expose, got [${ports.join(', ')}]`,
          );
        }
        if (env.HOST !== '0.0.0.0') {
          problems.push(
            `${label}: HOST 0.0.0.0 expected (reachable from other containers), got ${JSON.stringify(env.HOST)}`,
          );
        }
        if (env.NODE_ENV !== 'production') {
          problems.push(
            `${label}: NODE_ENV production expected, got ${JSON.stringify(env.NODE_ENV)}`,
          );
        }
        expect(problems).toEqual([]);
      });

      test('reaches PostgreSQL, Redis and Kafka through their compose services', () => {
        const env = envOf(service());
        const problems = [
          ...urlProblems(label, 'DATABASE_URL', env.DATABASE_URL, {
            protocols: ['postgres:', 'postgresql:'],
            host: 'postgres',
            port: INFRA.postgres.port,
          }),
          ...urlProblems(label, 'REDIS_URL', env.REDIS_URL, {
            protocols: ['redis:'],
            host: 'redis',
            port: INFRA.redis.port,
          }),
        ];
        if (env.DATABASE_URL) {
          const db = new URL(env.DATABASE_URL).pathname.slice(1);
          if (db !== 'eventgraph')
            problems.push(`${label}: DATABASE_URL should use database eventgraph, got "${db}"`);
        }
        const brokers = (env.KAFKA_BROKERS ?? '').split(',').filter((b) => b !== '');
        if (brokers.length === 0) problems.push(`${label}: KAFKA_BROKERS is not set`);
        for (const broker of brokers) {
          if (broker !== `kafka:${INFRA.kafka.port}`) {
            problems.push(
              `${label}: KAFKA_BROKERS entry kafka:${INFRA.kafka.port} expected, got "${broker}"`,
            );
          }
        }
        expect(problems).toEqual([]);
      });

      test('has a health check on /ready or /health', () => {
        expect(healthcheckProblems(label, service(), /\/(ready|health)\b/)).toEqual([]);
      });

      test('starts after PostgreSQL, Kafka and Redis are healthy', () => {
        const deps = dependsOn(service());
        const problems = Object.keys(INFRA)
          .filter((infra) => deps[infra] !== 'service_healthy')
          .map(
            (infra) =>
              `${label}: depends_on ${infra} with condition service_healthy expected, got ${
                infra in deps ? JSON.stringify(deps[infra] ?? '(no condition)') : '(none)'
              }`,
          );
        expect(problems).toEqual([]);
      });

      test('starts with a plain `docker compose up` (no profile)', () => {
        const profiles = service().profiles ?? [];
        expect(
          profiles.length === 0 ? [] : [`${label}: in profiles [${profiles.join(', ')}]`],
        ).toEqual([]);
      });
    },
  );

  test('the gateway reaches each subgraph at its compose service and catalogue port', () => {
    const gateway = services.gateway;
    expect(gateway ? [] : ['service gateway: missing']).toEqual([]);
    const env = envOf(gateway ?? {});
    const problems = SERVICES.filter((s) => s.kind === 'subgraph').flatMap((s) =>
      urlProblems(
        'service gateway',
        `${s.name.toUpperCase()}_URL`,
        env[`${s.name.toUpperCase()}_URL`],
        {
          protocols: ['http:'],
          host: s.name,
          port: s.port,
          path: '/graphql',
        },
      ),
    );
    expect(problems).toEqual([]);
  });

  test('the GitHub workflow tests on the PostgreSQL major that compose ships', () => {
    const workflow = parse(read('.github/workflows/ci.yml')) as {
      jobs?: Record<string, { services?: Record<string, { image?: string }> }>;
    };
    const images = Object.values(workflow.jobs ?? {}).flatMap((job) =>
      Object.values(job.services ?? {}).flatMap((svc) => svc.image ?? []),
    );
    const postgres = images.filter((image) => /^(?:library\/)?postgres:/.test(image));
    expect(postgres).toEqual([`postgres:${TESTED_POSTGRES_MAJOR}`]);
  });

  test('the gateway waits for every subgraph to be healthy', () => {
    const deps = dependsOn(services.gateway ?? {});
    const problems = SERVICES.filter(
      (s) => s.kind === 'subgraph' && deps[s.name] !== 'service_healthy',
    ).map((s) => `service gateway: depends_on ${s.name} with condition service_healthy expected`);
    expect(problems).toEqual([]);
  });

  test('builds the image once and every process reuses it', () => {
    const builders = Object.entries(services).filter(([, svc]) => svc.build !== undefined);
    const problems: string[] = [];
    if (builders.length !== 1) {
      problems.push(
        `exactly one service should have build:, got [${builders.map(([n]) => n).join(', ')}]`,
      );
    }
    for (const [name, svc] of builders) {
      if (svc.image !== IMAGE)
        problems.push(
          `service ${name}: builds, so image should be ${IMAGE}, got ${JSON.stringify(svc.image)}`,
        );
    }
    expect(problems).toEqual([]);
  });

  test('PostgreSQL, Kafka and Redis are defined with real health checks', () => {
    const problems: string[] = [];
    const probes: Record<keyof typeof INFRA, RegExp> = {
      postgres: /pg_isready/,
      kafka: /kafka-(topics|broker-api-versions|cluster)\.sh.*--bootstrap-server/,
      redis: /redis-cli.*ping/i,
    };
    for (const infra of Object.keys(INFRA) as (keyof typeof INFRA)[]) {
      const svc = services[infra];
      if (!svc) {
        problems.push(`service ${infra}: missing from docker-compose.yml`);
        continue;
      }
      problems.push(...healthcheckProblems(`service ${infra}`, svc, probes[infra]));
    }
    const pgImage = services.postgres?.image ?? '';
    const pgMajor = /^(?:docker\.io\/)?(?:library\/)?postgres:(\d+)/.exec(pgImage)?.[1];
    if (pgMajor !== TESTED_POSTGRES_MAJOR)
      problems.push(
        `service postgres: image postgres:${TESTED_POSTGRES_MAJOR} expected (the major the tests run on), got ${JSON.stringify(pgImage)}`,
      );
    const kafkaImage = services.kafka?.image ?? '';
    if (!/^(?:docker\.io\/)?apache\/kafka(?:-native)?:/.test(kafkaImage)) {
      problems.push(
        `service kafka: an apache/kafka image expected, got ${JSON.stringify(kafkaImage)}`,
      );
    }
    const kafkaEnv = envOf(services.kafka ?? {});
    if (
      !/broker/.test(kafkaEnv.KAFKA_PROCESS_ROLES ?? '') ||
      !/controller/.test(kafkaEnv.KAFKA_PROCESS_ROLES ?? '')
    ) {
      problems.push(
        `service kafka: KRaft single node expected (KAFKA_PROCESS_ROLES broker,controller), got ${JSON.stringify(kafkaEnv.KAFKA_PROCESS_ROLES)}`,
      );
    }
    if (
      !(kafkaEnv.KAFKA_ADVERTISED_LISTENERS ?? '')
        .split(',')
        .some((l) => l.endsWith(`//kafka:${INFRA.kafka.port}`))
    ) {
      problems.push(
        `service kafka: KAFKA_ADVERTISED_LISTENERS should advertise kafka:${INFRA.kafka.port} to other containers, got ${JSON.stringify(kafkaEnv.KAFKA_ADVERTISED_LISTENERS)}`,
      );
    }
    if (!/^(?:docker\.io\/)?(?:library\/)?redis:7/.test(services.redis?.image ?? '')) {
      problems.push(
        `service redis: image redis:7 expected, got ${JSON.stringify(services.redis?.image)}`,
      );
    }
    expect(problems).toEqual([]);
  });

  test('runs the Kafka release that the tests and benchmarks run (test/kafka/pom.xml)', () => {
    const pomVersion = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(
      read('test/kafka/pom.xml'),
    )?.[1];
    const imageTag = /^(?:docker\.io\/)?apache\/kafka(?:-native)?:(.+)$/.exec(
      services.kafka?.image ?? '',
    )?.[1];
    expect(pomVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(imageTag).toBe(pomVersion);
  });
});

// ---------------------------------------------------------------------------------------------
// .env.example
// ---------------------------------------------------------------------------------------------

describe('.env.example', () => {
  const lines = read('.env.example').split(/\r?\n/);
  const ASSIGNMENT = /^\s*(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/;
  /** Variable -> value, for lines `NAME=value` and commented-out `# NAME=value`. */
  const documented = new Map<string, { value: string; commented: boolean; line: number }>();
  lines.forEach((text, index) => {
    const m = ASSIGNMENT.exec(text);
    if (m?.[2] && !documented.has(m[2])) {
      documented.set(m[2], {
        value: m[3]?.trim() ?? '',
        commented: m[1] !== undefined,
        line: index + 1,
      });
    }
  });

  test('lists every variable docker-compose.yml interpolates or sets for a process', () => {
    const wanted = new Set<string>(composeVariables().keys());
    for (const s of SERVICES) {
      for (const key of Object.keys(envOf(services[s.name] ?? {}))) wanted.add(key);
    }
    const missing = [...wanted]
      .filter((name) => !documented.has(name))
      .sort()
      .map((name) => `.env.example: ${name} (used in docker-compose.yml) is missing`);
    expect(missing).toEqual([]);
  });

  test('documents each variable with a comment', () => {
    const problems: string[] = [];
    for (const [name, { line }] of documented) {
      // Walk up the block (to the previous blank line) looking for a prose comment line.
      let explained = false;
      for (let i = line - 2; i >= 0; i--) {
        const text = lines[i]?.trim() ?? '';
        if (text === '') break;
        if (text.startsWith('#') && !ASSIGNMENT.test(text)) {
          explained = true;
          break;
        }
      }
      if (!explained) problems.push(`.env.example:${line}: ${name} has no comment above it`);
    }
    expect(problems).toEqual([]);
  });

  test("its values match docker-compose.yml's defaults", () => {
    const problems: string[] = [];
    for (const [name, fallback] of composeVariables()) {
      const entry = documented.get(name);
      if (!entry || entry.commented || fallback === undefined) continue;
      if (entry.value !== fallback) {
        problems.push(
          `.env.example: ${name}=${entry.value} but docker-compose.yml defaults it to "${fallback}"`,
        );
      }
    }
    expect(problems).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  base: string;
  name?: string;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions (continuations joined, comments dropped). */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (pending !== '' && line.startsWith('#')) continue; // comment inside a continuation
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  if (pending !== '') logical.push(pending);

  const stages: Stage[] = [];
  for (const line of logical) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword.toUpperCase() === 'FROM') {
      const parts = args.split(/\s+/).filter((p) => !p.startsWith('--'));
      const asIndex = parts.findIndex((p) => p.toUpperCase() === 'AS');
      stages.push({
        base: parts[0] ?? '',
        name: asIndex >= 0 ? parts[asIndex + 1] : undefined,
        instructions: [],
      });
    } else {
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

/** The final stage's chain of stages, from its external base image up to itself. */
function finalChain(stages: Stage[]): Stage[] {
  const chain: Stage[] = [];
  let current = stages.at(-1);
  while (current) {
    chain.unshift(current);
    const base = current.base;
    current = stages.find(
      (s) => s.name !== undefined && s.name.toLowerCase() === base.toLowerCase(),
    );
    if (current && chain.includes(current)) break;
  }
  return chain;
}

/** ENV instruction arguments as pairs (`K=V K2="V 2"` or legacy `K V`). */
function envPairs(args: string): [string, string][] {
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) {
    const [key = '', ...value] = args.split(/\s+/);
    return [[key, value.join(' ')]];
  }
  return [...args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g)].map(
    (m) => [m[1] ?? '', (m[2] ?? '').replace(/^(["'])(.*)\1$/, '$2')],
  );
}

describe('Dockerfile', () => {
  const stages = parseDockerfile(read('Dockerfile'));
  const chain = finalChain(stages);
  const instructions = chain.flatMap((s) => s.instructions);
  const last = (keyword: string) => instructions.filter((i) => i.keyword === keyword).at(-1);

  test('is multi-stage and its final stage is based on node:24-slim', () => {
    const problems: string[] = [];
    if (stages.length < 2)
      problems.push(`Dockerfile: multi-stage build expected, got ${stages.length} stage(s)`);
    const base = chain[0]?.base ?? '(none)';
    if (
      !/^(?:docker\.io\/)?(?:library\/)?node:24(?:\.\d+)*-slim(?:@sha256:[0-9a-f]+)?$/.test(base)
    ) {
      problems.push(`Dockerfile: final stage should be based on node:24-slim, got ${base}`);
    }
    expect(problems).toEqual([]);
  });

  test('runs as a non-root user with NODE_ENV=production and HOST=0.0.0.0', () => {
    const problems: string[] = [];
    const user = last('USER')?.args.split(':')[0];
    if (user === undefined || user === 'root' || user === '0') {
      problems.push(
        `Dockerfile: final stage should set a non-root USER, got ${user ?? '(none: root)'}`,
      );
    }
    const env = Object.fromEntries(
      instructions.filter((i) => i.keyword === 'ENV').flatMap((i) => envPairs(i.args)),
    );
    if (env.NODE_ENV !== 'production')
      problems.push(
        `Dockerfile: ENV NODE_ENV=production expected, got ${JSON.stringify(env.NODE_ENV)}`,
      );
    if (env.HOST !== '0.0.0.0')
      problems.push(`Dockerfile: ENV HOST=0.0.0.0 expected, got ${JSON.stringify(env.HOST)}`);
    expect(problems).toEqual([]);
  });

  test('has a HEALTHCHECK, exposes every service port and starts dist/platform/start.js', () => {
    const problems: string[] = [];
    const healthcheck = last('HEALTHCHECK');
    if (!healthcheck || /^NONE$/i.test(healthcheck.args.trim())) {
      problems.push('Dockerfile: final stage has no HEALTHCHECK');
    } else if (!/\/health|\/ready/.test(healthcheck.args)) {
      problems.push(
        `Dockerfile: HEALTHCHECK should probe /health or /ready, got ${healthcheck.args}`,
      );
    }
    const exposed = instructions
      .filter((i) => i.keyword === 'EXPOSE')
      .flatMap((i) => i.args.split(/\s+/))
      .map((p) => Number(p.split('/')[0]));
    for (const s of SERVICES) {
      if (!exposed.includes(s.port))
        problems.push(`Dockerfile: EXPOSE ${s.port} (${s.name}) missing`);
    }
    const cmd = last('CMD')?.args ?? '';
    let argv: unknown;
    try {
      argv = JSON.parse(cmd);
    } catch {
      argv = cmd;
    }
    if (JSON.stringify(argv) !== JSON.stringify(['node', 'dist/platform/start.js'])) {
      problems.push(
        `Dockerfile: CMD ["node","dist/platform/start.js"] expected, got ${cmd || '(none)'}`,
      );
    }
    expect(problems).toEqual([]);
  });
});
