/**
 * Checks of the Kubernetes manifests (deploy/kubernetes) against the Kubernetes API schemas,
 * the process catalogue (`SERVICES`) and the settings (`platform/env.ts`). No cluster is
 * needed, but kubectl is: `kubectl kustomize` renders the base and the example overlay, the
 * overlay from a temporary copy of deploy/kubernetes in which secrets.env is the committed
 * secrets.env.example (never a user's secrets). kubernetes-models validates every rendered
 * object against the schema of its kind, and the tests compare the objects with what each
 * process needs.
 *
 * Each test gathers every problem it finds and compares the list with [], so a failure
 * lists them all, each naming the rendering, the object and what is wrong.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { IIngress, INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import type { IContainer, IPodSpec, IProbe, IService, IServicePort } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigError, loadConfig } from '../../shared/config/index.ts';
import { platformEnvSchema } from '../../platform/env.ts';
import { SERVICES, SUBGRAPHS, type ServiceDescriptor } from '../../platform/services.ts';
import { SETTINGS } from '../../platform/settings.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = `${ROOT}deploy/kubernetes`;
const OVERLAY = 'overlays/example';

// ---------------------------------------------------------------------------------------------
// Rendering and schema validation
// ---------------------------------------------------------------------------------------------

/** A rendered object: what every kind has; the tests cast to the kinds they read. */
interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string };
  data?: Record<string, string>;
}

/** Every object `kubectl kustomize <dir>` renders. Fails, never skips, without kubectl. */
function kustomize(dir: string): KubeObject[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  if (result.error) {
    throw new Error(
      `kubectl is needed to render deploy/kubernetes (kubectl kustomize) and could not be run: ${result.error.message}`,
    );
  }
  if (result.status !== 0) {
    throw new Error(`kubectl kustomize ${dir} failed:\n${result.stderr}`);
  }
  return parseAllDocuments(result.stdout).flatMap((doc) => {
    if (doc.errors.length > 0)
      throw new Error(`kubectl kustomize ${dir}: ${doc.errors[0]!.message}`);
    const object = doc.toJS() as KubeObject | null;
    return object ? [object] : [];
  });
}

/**
 * The base and the example overlay, rendered from a temporary copy of deploy/kubernetes (the
 * overlay refers to ../../base) in which every overlay's secrets.env is its committed
 * secrets.env.example, as a user makes it; a secrets.env in the checkout is not copied.
 */
function renderAll(): Record<string, KubeObject[]> {
  const copy = mkdtempSync(path.join(tmpdir(), 'eventgraph-kubernetes-'));
  try {
    cpSync(DEPLOY, copy, {
      recursive: true,
      filter: (source) => path.basename(source) !== 'secrets.env',
    });
    copyFileSync(`${copy}/${OVERLAY}/secrets.env.example`, `${copy}/${OVERLAY}/secrets.env`);
    return { base: kustomize(`${copy}/base`), [OVERLAY]: kustomize(`${copy}/${OVERLAY}`) };
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

const RENDERS = renderAll();

/**
 * The model of every kind the manifests may render: its `validate()` checks an object against
 * the Kubernetes OpenAPI schema of that apiVersion and kind (types, enums, required fields; a
 * field the schema does not define passes, so the tests below read the fields that matter).
 * A kind missing here fails the schema test; add its model from kubernetes-models.
 */
const MODELS: readonly {
  apiVersion: string;
  kind: string;
  new (data: never): { validate(): void };
}[] = [
  Namespace,
  ConfigMap,
  Secret,
  Service,
  Deployment,
  HorizontalPodAutoscaler,
  PodDisruptionBudget,
  NetworkPolicy,
  Ingress,
];

/**
 * kustomize folds a long base64 value of a Secret over several lines; the API server's base64
 * decoding skips line breaks, the schema's `byte` format does not, so they are taken out first.
 */
function withUnfoldedBase64(object: KubeObject): KubeObject {
  if (object.kind !== 'Secret' || !object.data) return object;
  const data = Object.entries(object.data).map(([key, value]) => [key, value.replace(/\s/g, '')]);
  return { ...object, data: Object.fromEntries(data) as Record<string, string> };
}

/** What the schema of its kind finds wrong with an object (the failing fields), or []. */
function schemaProblems(object: KubeObject): string[] {
  const label = `${object.apiVersion} ${object.kind} ${object.metadata?.name}`;
  const Model = MODELS.find((m) => m.apiVersion === object.apiVersion && m.kind === object.kind);
  if (!Model) return [`${label}: no schema for this apiVersion and kind`];
  try {
    new Model(withUnfoldedBase64(object) as never).validate();
    return [];
  } catch (error) {
    return [`${label}: ${(error as Error).message}`];
  }
}

// ---------------------------------------------------------------------------------------------
// What the manifests must give each process
// ---------------------------------------------------------------------------------------------

/** The defaults of every setting (nothing set, no SERVICE: the schema asks for nothing). */
const DEFAULTS = loadConfig(platformEnvSchema, {});

/**
 * Uids of the user names an image's USER may give. The official node images create `node`
 * with uid and gid 1000; the manifests must spell the uid out, because the kubelet cannot
 * check `runAsNonRoot` against a name.
 */
const IMAGE_USER_UIDS: Record<string, number> = { node: 1000 };

/**
 * What a process needs in a cluster beyond what `platformEnvSchema` requires (it cannot
 * require them: development runs without). Separate processes exchange events only through
 * Kafka, and the gateway's subscriptions read them there. Without DATABASE_URL a subgraph
 * opens embedded PostgreSQL under DATA_DIR, which the read-only root filesystem refuses.
 * Replicas of a subgraph share its cache (and its invalidations) only through Redis.
 */
const ALSO_REQUIRED: Record<ServiceDescriptor['kind'], readonly string[]> = {
  gateway: ['KAFKA_BROKERS'],
  subgraph: ['DATABASE_URL', 'REDIS_URL', 'KAFKA_BROKERS'],
};
/** Settings holding credentials: taken from a Secret, never a ConfigMap or a literal. */
const SECRET_SETTINGS = ['GATEWAY_TOKEN_SECRET', 'DATABASE_URL', 'REDIS_URL'];
/**
 * Stand-ins for Secret values when the settings are parsed: the committed values are
 * placeholders that start-up must refuse (checked below), the user's are not.
 */
const SECRET_STAND_INS: Record<string, string> = { GATEWAY_TOKEN_SECRET: 'x'.repeat(48) };
/** What every committed Secret value contains, so none can be mistaken for a real one. */
const PLACEHOLDER = 'replace-me';
/** A first migration may take a while: the startup probe must wait at least this long. */
const MIN_STARTUP_SECONDS = 120;
/** The Secret every process reads its credentials from. */
const SECRETS = 'eventgraph-secrets';

// ---------------------------------------------------------------------------------------------
// Reading the rendered objects
// ---------------------------------------------------------------------------------------------

type Labels = Record<string, string>;
type LabelSelector = NonNullable<NonNullable<INetworkPolicy['spec']>['podSelector']>;

const ofKind = <T>(rendered: KubeObject[], kind: string): T[] =>
  rendered.filter((r) => r.kind === kind) as unknown as T[];
const named = <T extends { metadata?: { name?: string } }>(list: T[], name: string) =>
  list.find((r) => r.metadata?.name === name);

/** Whether a selector (a non-empty label map) selects pods with these labels. */
function selects(selector: Labels | undefined, labels: Labels | undefined): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([key, value]) => labels?.[key] === value);
}

function podLabels(deployment: IDeployment): Labels {
  return deployment.spec?.template.metadata?.labels ?? {};
}

function containerOf(deployment: IDeployment, name: string): IContainer | undefined {
  return deployment.spec?.template.spec?.containers.find((c) => c.name === name);
}

/** A container port given by number or by name, as a number. */
function portNumber(container: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  if (port !== undefined && /^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** The container port a Service port reaches (targetPort: a number, a name, or its port). */
function targetOf(container: IContainer, port: IServicePort): number | undefined {
  return portNumber(container, port.targetPort ?? port.port);
}

/** `registry/name:tag` → name and tag (a digest counts as no tag). */
function splitImage(image: string): { name: string; tag?: string } {
  const at = image.indexOf('@');
  const withoutDigest = at >= 0 ? image.slice(0, at) : image;
  const colon = withoutDigest.lastIndexOf(':');
  if (colon > withoutDigest.lastIndexOf('/')) {
    return { name: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) };
  }
  return { name: withoutDigest };
}

/**
 * The ConfigMap or Secret a generator of this name made: kustomize appends a hash of the
 * content to the name (and rewrites every reference to it).
 */
function generated(
  rendered: KubeObject[],
  kind: 'ConfigMap' | 'Secret',
  name: string,
): KubeObject | undefined {
  const pattern = new RegExp(`^${name}-[a-z0-9]{10}$`);
  return rendered.find((r) => r.kind === kind && pattern.test(r.metadata?.name ?? ''));
}

/** A ConfigMap's data, or a Secret's decoded from base64, as the kubelet passes it on. */
function dataOf(object: KubeObject): Record<string, string> {
  const data = object.data ?? {};
  if (object.kind !== 'Secret') return data;
  return Object.fromEntries(
    Object.entries(data).map(([key, value]) => [key, Buffer.from(value, 'base64').toString()]),
  );
}

interface Provided {
  value: string;
  source: 'literal' | 'configMap' | 'secret';
}

/** A container's environment as the kubelet builds it: envFrom first, `env` over it. */
function environmentOf(
  rendered: KubeObject[],
  container: IContainer,
  label: string,
): { env: Map<string, Provided>; problems: string[] } {
  const env = new Map<string, Provided>();
  const problems: string[] = [];
  const dataNamed = (kind: 'ConfigMap' | 'Secret', name: string | undefined) => {
    const object = rendered.find((r) => r.kind === kind && r.metadata?.name === name);
    if (!object) problems.push(`${label}: refers to ${kind} ${name}, which is not rendered`);
    return object ? dataOf(object) : {};
  };
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) {
      for (const [key, value] of Object.entries(dataNamed('ConfigMap', from.configMapRef.name))) {
        env.set(key, { value, source: 'configMap' });
      }
    }
    if (from.secretRef) {
      for (const [key, value] of Object.entries(dataNamed('Secret', from.secretRef.name))) {
        env.set(key, { value, source: 'secret' });
      }
    }
  }
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef ?? variable.valueFrom?.configMapKeyRef;
    if (!ref) {
      env.set(variable.name, { value: variable.value ?? '', source: 'literal' });
      continue;
    }
    const kind = variable.valueFrom?.secretKeyRef ? 'Secret' : 'ConfigMap';
    const data = dataNamed(kind, ref.name);
    if (!(ref.key in data)) {
      problems.push(`${label}: ${variable.name} refers to key ${ref.key} missing from ${ref.name}`);
    }
    env.set(variable.name, {
      value: data[ref.key] ?? '',
      source: kind === 'Secret' ? 'secret' : 'configMap',
    });
  }
  return { env, problems };
}

/** Seconds the preStop hook sleeps (`exec: sleep N` or the `sleep` action), else undefined. */
function preStopSeconds(container: IContainer): number | undefined {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep?.seconds !== undefined) return preStop.sleep.seconds;
  const command = preStop?.exec?.command ?? [];
  if (command.length === 2 && /(^|\/)sleep$/.test(command[0] ?? '') && /^\d+$/.test(command[1]!)) {
    return Number(command[1]);
  }
  return undefined;
}

/** A memory quantity (`256Mi`, `1G`, bytes) in bytes. */
function bytes(quantity: string | number | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(quantity ?? ''));
  if (!m) return undefined;
  const units: Record<string, number> = {
    '': 1,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Number(m[1]) * units[m[2] ?? '']!;
}

/** The problems of a startup, readiness or liveness probe (HTTP GET of `path` on `port`). */
function probeProblems(
  label: string,
  which: string,
  container: IContainer,
  probe: IProbe | undefined,
  expect: { path: string; port: number },
): string[] {
  if (!probe) return [`${label}: no ${which}`];
  if (!probe.httpGet) return [`${label}: ${which} should be an httpGet of ${expect.path}`];
  const problems: string[] = [];
  if (probe.httpGet.path !== expect.path) {
    problems.push(`${label}: ${which} path ${expect.path} expected, got ${probe.httpGet.path}`);
  }
  const port = portNumber(container, probe.httpGet.port);
  if (port !== expect.port) {
    problems.push(
      `${label}: ${which} on port ${expect.port} expected, got ${String(probe.httpGet.port)} (${port ?? 'no such port'})`,
    );
  }
  return problems;
}

function gatewayOperatorPort(rendered: KubeObject[], container: IContainer): number {
  const { env } = environmentOf(rendered, container, 'gateway');
  const set = env.get('GATEWAY_OPERATOR_PORT')?.value;
  // Production's default when unset (platform/platform.ts).
  return set ? Number(set) : 9090;
}

/** The uid of the final stage's USER in the Dockerfile. */
function imageUid(): number | undefined {
  const users = readFileSync(`${ROOT}Dockerfile`, 'utf8')
    .split(/\r?\n/)
    .map((line) => /^\s*USER\s+([^\s:]+)/i.exec(line)?.[1])
    .filter((user): user is string => user !== undefined);
  const user = users.at(-1);
  if (user === undefined) return 0;
  return /^\d+$/.test(user) ? Number(user) : IMAGE_USER_UIDS[user];
}

/** The environment variables the kubelet would make for a Service (service links). */
function serviceLinkVariables(service: IService): string[] {
  const prefix = (service.metadata?.name ?? '').toUpperCase().replace(/-/g, '_');
  return [
    `${prefix}_SERVICE_HOST`,
    `${prefix}_SERVICE_PORT`,
    `${prefix}_PORT`,
    ...(service.spec?.ports ?? []).flatMap((p) => [
      `${prefix}_SERVICE_PORT_${(p.name ?? '').toUpperCase().replace(/-/g, '_')}`,
      `${prefix}_PORT_${p.port}_TCP`,
      `${prefix}_PORT_${p.port}_TCP_PROTO`,
      `${prefix}_PORT_${p.port}_TCP_PORT`,
      `${prefix}_PORT_${p.port}_TCP_ADDR`,
    ]),
  ];
}

// ---------------------------------------------------------------------------------------------
// NetworkPolicies
// ---------------------------------------------------------------------------------------------

type NetworkPolicyPeer = NonNullable<NetworkPolicyRule['from']>[number];
type NetworkPolicyRule = NonNullable<NonNullable<INetworkPolicy['spec']>['ingress']>[number];
type NetworkPolicyPort = NonNullable<NetworkPolicyRule['ports']>[number];

/**
 * Whether a NetworkPolicy's label selector selects these labels (an empty one selects every
 * pod); undefined when it uses matchExpressions, which these tests do not read.
 */
function selectorSelects(selector: LabelSelector, labels: Labels): boolean | undefined {
  if (selector.matchExpressions?.length) return undefined;
  return Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
}

/** A peer of an ingress rule in words: `anywhere`, `pods of any namespace`, `pods of <name>`. */
function describePeer(peer: NetworkPolicyPeer, deployments: IDeployment[]): string {
  const only = (key: keyof NetworkPolicyPeer) =>
    Object.keys(peer).length === 1 && peer[key] !== undefined;
  if (only('namespaceSelector') && Object.keys(peer.namespaceSelector!).length === 0) {
    return 'pods of any namespace';
  }
  if (only('podSelector')) {
    const selected = deployments.filter((d) => selectorSelects(peer.podSelector!, podLabels(d)));
    if (selected.length > 0) return `pods of ${selected.map((d) => d.metadata?.name).join(', ')}`;
  }
  return JSON.stringify(peer);
}

/** A port of an ingress rule as the container's port number, or in words when it is not one. */
function describePort(container: IContainer, port: NetworkPolicyPort): string {
  if (port.endPort !== undefined) return `ports ${port.port}-${port.endPort}`;
  if ((port.protocol ?? 'TCP') !== 'TCP') return `${port.protocol} ${port.port}`;
  return String(portNumber(container, port.port) ?? `${port.port} (no such port)`);
}

/**
 * Who may connect to a Deployment's pods, as sorted `<port> from <peer>` lines: the ingress
 * rules of every NetworkPolicy that selects the pods, which add up. A pod no policy selects
 * takes every connection.
 */
function ingressGrants(
  policies: INetworkPolicy[],
  deployments: IDeployment[],
  deployment: IDeployment,
  container: IContainer,
): string[] {
  const isolating = policies.filter(
    (p) =>
      (p.spec?.policyTypes ?? ['Ingress']).includes('Ingress') &&
      selectorSelects(p.spec?.podSelector ?? {}, podLabels(deployment)) !== false,
  );
  if (isolating.length === 0) return ['every port from anywhere (no NetworkPolicy selects it)'];
  const grants = new Set<string>();
  for (const rule of isolating.flatMap((p) => p.spec?.ingress ?? [])) {
    const ports = rule.ports?.length
      ? rule.ports.map((port) => describePort(container, port))
      : ['every port'];
    const peers = rule.from?.length
      ? rule.from.map((peer) => describePeer(peer, deployments))
      : ['anywhere'];
    for (const port of ports) for (const peer of peers) grants.add(`${port} from ${peer}`);
  }
  return [...grants].sort();
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('deploy/kubernetes', () => {
  describe.each(Object.keys(RENDERS))('%s', (renderName) => {
    const rendered = RENDERS[renderName]!;
    const deployments = ofKind<IDeployment>(rendered, 'Deployment');
    const services = ofKind<IService>(rendered, 'Service');
    const autoscalers = ofKind<IHorizontalPodAutoscaler>(rendered, 'HorizontalPodAutoscaler');
    const budgets = ofKind<IPodDisruptionBudget>(rendered, 'PodDisruptionBudget');
    const policies = ofKind<INetworkPolicy>(rendered, 'NetworkPolicy');

    test('every object is valid by the Kubernetes API schema of its kind', () => {
      const problems = rendered.flatMap((object) =>
        schemaProblems(object).map((problem) => `${renderName}: ${problem}`),
      );
      expect(rendered.length).toBeGreaterThan(0);
      expect(problems).toEqual([]);
    });

    test('has a Deployment for each service of the catalogue and no other', () => {
      const names = deployments.map((d) => d.metadata?.name);
      const problems = [
        ...SERVICES.filter((s) => !names.includes(s.name)).map(
          (s) => `${renderName}: no Deployment ${s.name}`,
        ),
        ...names
          .filter((name) => !SERVICES.some((s) => s.name === name))
          .map((name) => `${renderName}: Deployment ${name} is not in platform/services.ts`),
      ];
      expect(problems).toEqual([]);
    });

    test('every Deployment runs the same image', () => {
      const images = new Set(
        deployments.flatMap((d) => (d.spec?.template.spec?.containers ?? []).map((c) => c.image)),
      );
      const problems: string[] = [];
      if (images.size !== 1)
        problems.push(`${renderName}: one image expected, got ${[...images].join(', ')}`);
      for (const image of images) {
        if (!/(^|\/)eventgraph$/.test(splitImage(image ?? '').name)) {
          problems.push(`${renderName}: image eventgraph expected, got ${image}`);
        }
        if (!splitImage(image ?? '').tag) problems.push(`${renderName}: ${image} has no tag`);
      }
      expect(problems).toEqual([]);
    });

    test('no Service sets a service-link variable that is a setting', () => {
      const settings = new Set(Object.keys(SETTINGS));
      const problems = services.flatMap((service) =>
        serviceLinkVariables(service)
          .filter((variable) => settings.has(variable))
          .map(
            (variable) =>
              `${renderName}: Service ${service.metadata?.name} would set ${variable} in pods with service links`,
          ),
      );
      expect(problems).toEqual([]);
    });

    test('its Secret holds placeholders that start-up refuses', () => {
      const secret = generated(rendered, 'Secret', SECRETS);
      const values = secret ? dataOf(secret) : {};
      const problems: string[] = [];
      if (!secret) problems.push(`${renderName}: no Secret ${SECRETS}`);
      for (const [key, value] of Object.entries(values)) {
        if (!value.includes(PLACEHOLDER)) {
          problems.push(
            `${renderName}: ${key} should be a placeholder containing "${PLACEHOLDER}"`,
          );
        }
        if (
          /^[a-z][a-z0-9+.-]*:\/\//i.test(value) &&
          !new URL(value).hostname.endsWith('.invalid')
        ) {
          problems.push(`${renderName}: ${key} should point at a .invalid host, got ${value}`);
        }
      }
      // Forgetting to replace it must stop start-up, not run with a published secret.
      const token = values.GATEWAY_TOKEN_SECRET;
      if (
        token !== undefined &&
        platformEnvSchema.shape.GATEWAY_TOKEN_SECRET.safeParse(token).success
      ) {
        problems.push(`${renderName}: its GATEWAY_TOKEN_SECRET would be accepted at start-up`);
      }
      for (const key of SECRET_SETTINGS) {
        if (!(key in values)) problems.push(`${renderName}: ${SECRETS} has no ${key}`);
      }
      expect(problems).toEqual([]);
    });

    describe.each(SERVICES.map((s) => [s.name, s] as [string, ServiceDescriptor]))(
      'service %s',
      (name, descriptor) => {
        const label = `${renderName}: ${name}`;
        const deployment = () => {
          const found = named(deployments, name);
          if (!found) throw new Error(`${label}: no Deployment`);
          return found;
        };
        const container = () => {
          const found = containerOf(deployment(), name);
          if (!found) throw new Error(`${label}: no container named ${name}`);
          return found;
        };
        const pod = (): Partial<IPodSpec> => deployment().spec?.template.spec ?? {};

        test('runs its process on its catalogue port, labelled', () => {
          const c = container();
          const { env, problems } = environmentOf(rendered, c, label);
          const literal = (variable: string) =>
            env.get(variable)?.source === 'literal' ? env.get(variable)?.value : undefined;
          if (literal('SERVICE') !== name) {
            problems.push(`${label}: env SERVICE=${name} expected, got ${literal('SERVICE')}`);
          }
          if (literal('NODE_ENV') !== 'production') {
            problems.push(`${label}: env NODE_ENV=production expected`);
          }
          if (literal('PORT') !== String(descriptor.port)) {
            problems.push(`${label}: env PORT=${descriptor.port} expected`);
          }
          if (literal('HOST') !== '0.0.0.0') problems.push(`${label}: env HOST=0.0.0.0 expected`);
          if (!c.ports?.some((p) => p.containerPort === descriptor.port)) {
            problems.push(`${label}: containerPort ${descriptor.port} expected`);
          }
          const expected: Labels = {
            'app.kubernetes.io/name': name,
            'app.kubernetes.io/part-of': 'eventgraph',
            'app.kubernetes.io/component': descriptor.kind,
          };
          for (const [where, labels] of [
            ['Deployment', deployment().metadata?.labels],
            ['pod template', podLabels(deployment())],
          ] as const) {
            for (const [key, value] of Object.entries(expected)) {
              if (labels?.[key] !== value) {
                problems.push(`${label}: ${where} label ${key}=${value} expected`);
              }
            }
          }
          if (!selects(deployment().spec?.selector.matchLabels, podLabels(deployment()))) {
            problems.push(`${label}: the Deployment's selector does not select its pods`);
          }
          expect(problems).toEqual([]);
        });

        test('has a ClusterIP Service of its name on its catalogue port', () => {
          const service = named(services, name);
          if (!service) {
            expect([`${label}: no Service ${name}`]).toEqual([]);
            return;
          }
          const problems: string[] = [];
          if ((service.spec?.type ?? 'ClusterIP') !== 'ClusterIP') {
            problems.push(`${label}: Service type ClusterIP expected, got ${service.spec?.type}`);
          }
          const port = service.spec?.ports?.find((p) => p.port === descriptor.port);
          if (!port) {
            problems.push(`${label}: Service port ${descriptor.port} expected`);
          } else if (targetOf(container(), port) !== descriptor.port) {
            problems.push(
              `${label}: Service port ${descriptor.port} should reach container port ${descriptor.port}, got ${String(port.targetPort)}`,
            );
          }
          if (!selects(service.spec?.selector, podLabels(deployment()))) {
            problems.push(`${label}: Service ${name} does not select the ${name} pods`);
          }
          for (const other of deployments.filter((d) => d.metadata?.name !== name)) {
            if (selects(service.spec?.selector, podLabels(other))) {
              problems.push(`${label}: Service ${name} also selects ${other.metadata?.name} pods`);
            }
          }
          expect(problems).toEqual([]);
        });

        test('is probed: startup and liveness on /health, readiness on /ready', () => {
          const c = container();
          const readinessPort =
            descriptor.kind === 'gateway' ? gatewayOperatorPort(rendered, c) : descriptor.port;
          const problems = [
            ...probeProblems(label, 'startupProbe', c, c.startupProbe, {
              path: '/health',
              port: descriptor.port,
            }),
            ...probeProblems(label, 'livenessProbe', c, c.livenessProbe, {
              path: '/health',
              port: descriptor.port,
            }),
            ...probeProblems(label, 'readinessProbe', c, c.readinessProbe, {
              path: '/ready',
              port: readinessPort,
            }),
          ];
          const startup = c.startupProbe;
          // Kubernetes' defaults: every 10 s, 3 failures.
          const seconds = (startup?.periodSeconds ?? 10) * (startup?.failureThreshold ?? 3);
          if (startup && seconds < MIN_STARTUP_SECONDS) {
            problems.push(
              `${label}: startupProbe gives up after ${seconds} s; at least ${MIN_STARTUP_SECONDS} s expected for a first migration`,
            );
          }
          expect(problems).toEqual([]);
        });

        test('is given longer to stop than its preStop sleep and SHUTDOWN_TIMEOUT_MS', () => {
          const c = container();
          const { env, problems } = environmentOf(rendered, c, label);
          const sleep = preStopSeconds(c);
          if (sleep === undefined || sleep < 1) {
            problems.push(`${label}: a preStop sleep expected (endpoints drain before SIGTERM)`);
          }
          const grace = pod().terminationGracePeriodSeconds ?? 30; // Kubernetes' default
          const configured = Number(env.get('SHUTDOWN_TIMEOUT_MS')?.value ?? NaN);
          for (const [what, ms] of [
            ['SHUTDOWN_TIMEOUT_MS default', DEFAULTS.SHUTDOWN_TIMEOUT_MS],
            ['SHUTDOWN_TIMEOUT_MS set', Number.isNaN(configured) ? undefined : configured],
          ] as const) {
            if (ms === undefined) continue;
            const needed = (sleep ?? 0) + ms / 1000;
            if (grace <= needed) {
              problems.push(
                `${label}: terminationGracePeriodSeconds ${grace} should exceed preStop ${sleep ?? 0} s + ${what} ${ms} ms`,
              );
            }
          }
          expect(problems).toEqual([]);
        });

        test('requests CPU and memory and limits memory', () => {
          const resources = container().resources;
          const problems: string[] = [];
          if (resources?.requests?.cpu === undefined) problems.push(`${label}: no CPU request`);
          const request = bytes(resources?.requests?.memory);
          const limit = bytes(resources?.limits?.memory);
          if (request === undefined) problems.push(`${label}: no memory request`);
          if (limit === undefined) problems.push(`${label}: no memory limit`);
          if (request !== undefined && limit !== undefined && limit < request) {
            problems.push(`${label}: memory limit below its request`);
          }
          expect(problems).toEqual([]);
        });

        test('runs unprivileged: non-root, read-only root, no capabilities, RuntimeDefault', () => {
          const c = container();
          const podContext = pod().securityContext ?? {};
          const context = { ...podContext, ...c.securityContext };
          const problems: string[] = [];
          if (context.runAsNonRoot !== true) problems.push(`${label}: runAsNonRoot expected`);
          const uid = imageUid();
          if (context.runAsUser === undefined || context.runAsUser === 0) {
            problems.push(`${label}: a numeric non-root runAsUser expected`);
          } else if (context.runAsUser !== uid) {
            problems.push(
              `${label}: runAsUser ${context.runAsUser} should be the image's user (${uid})`,
            );
          }
          if (c.securityContext?.allowPrivilegeEscalation !== false) {
            problems.push(`${label}: allowPrivilegeEscalation false expected`);
          }
          if (c.securityContext?.readOnlyRootFilesystem !== true) {
            problems.push(`${label}: readOnlyRootFilesystem true expected`);
          }
          if (!c.securityContext?.capabilities?.drop?.includes('ALL')) {
            problems.push(`${label}: capabilities drop ALL expected`);
          }
          if (context.seccompProfile?.type !== 'RuntimeDefault') {
            problems.push(`${label}: seccompProfile RuntimeDefault expected`);
          }
          const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
          if (!tmp || !pod().volumes?.some((v) => v.name === tmp.name && v.emptyDir)) {
            problems.push(`${label}: an emptyDir at /tmp expected (the root is read-only)`);
          }
          if (pod().automountServiceAccountToken !== false) {
            problems.push(`${label}: automountServiceAccountToken false expected`);
          }
          if (pod().enableServiceLinks !== false) {
            problems.push(`${label}: enableServiceLinks false expected (see gateway.yaml)`);
          }
          expect(problems).toEqual([]);
        });

        test('has an autoscaler and a disruption budget, and spreads across nodes', () => {
          const problems: string[] = [];
          if (deployment().spec?.replicas !== undefined) {
            problems.push(`${label}: no Deployment replicas expected (the autoscaler owns them)`);
          }
          const hpa = autoscalers.find((a) => a.spec?.scaleTargetRef.name === name);
          if (!hpa) {
            problems.push(`${label}: no HorizontalPodAutoscaler targets it`);
          } else {
            const ref = hpa.spec?.scaleTargetRef;
            if (ref?.kind !== 'Deployment' || ref.apiVersion !== 'apps/v1') {
              problems.push(`${label}: the autoscaler should target an apps/v1 Deployment`);
            }
            const min = hpa.spec?.minReplicas ?? 1;
            if (min < 2) problems.push(`${label}: minReplicas of at least 2 expected, got ${min}`);
            if ((hpa.spec?.maxReplicas ?? 0) < min) {
              problems.push(`${label}: maxReplicas below minReplicas`);
            }
            if (!hpa.spec?.metrics?.some((m) => m.resource?.name === 'cpu')) {
              problems.push(`${label}: the autoscaler should scale on CPU`);
            }
          }
          const pdb = budgets.find((b) =>
            selects(b.spec?.selector?.matchLabels, podLabels(deployment())),
          );
          if (!pdb) {
            problems.push(`${label}: no PodDisruptionBudget selects its pods`);
          } else if (pdb.spec?.maxUnavailable !== 1 && pdb.spec?.minAvailable !== 1) {
            problems.push(`${label}: PodDisruptionBudget maxUnavailable 1 or minAvailable 1`);
          }
          const spread = pod().topologySpreadConstraints?.some(
            (t) =>
              t.topologyKey === 'kubernetes.io/hostname' &&
              t.whenUnsatisfiable === 'ScheduleAnyway' &&
              selects(t.labelSelector?.matchLabels, podLabels(deployment())),
          );
          const antiAffinity =
            pod().affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.some(
              (p) =>
                p.podAffinityTerm.topologyKey === 'kubernetes.io/hostname' &&
                selects(p.podAffinityTerm.labelSelector?.matchLabels, podLabels(deployment())),
            );
          if (!spread && !antiAffinity) {
            problems.push(
              `${label}: a soft spread across nodes expected (topologySpreadConstraints on kubernetes.io/hostname with ScheduleAnyway, or preferred pod anti-affinity)`,
            );
          }
          expect(problems).toEqual([]);
        });

        test('is given every setting production needs, credentials from a Secret', () => {
          const { env, problems } = environmentOf(rendered, container(), label);
          const values: Record<string, string> = {};
          for (const [key, provided] of env) {
            values[key] =
              provided.source === 'secret'
                ? (SECRET_STAND_INS[key] ?? provided.value)
                : provided.value;
          }
          try {
            loadConfig(platformEnvSchema, values);
          } catch (error) {
            if (!(error instanceof ConfigError)) throw error;
            problems.push(...error.problems.map((problem) => `${label}: ${problem}`));
          }
          for (const variable of ALSO_REQUIRED[descriptor.kind]) {
            if (!env.get(variable)?.value) problems.push(`${label}: ${variable} is not set`);
          }
          for (const variable of SECRET_SETTINGS) {
            const provided = env.get(variable);
            if (provided && provided.source !== 'secret') {
              problems.push(
                `${label}: ${variable} should come from a Secret, not a ${provided.source}`,
              );
            }
          }
          if (descriptor.kind === 'gateway' && env.has('DATABASE_URL')) {
            problems.push(`${label}: the gateway uses no database and should not get DATABASE_URL`);
          }
          expect(problems).toEqual([]);
        });
      },
    );

    test("the gateway's subgraph URLs are the subgraphs' Services", () => {
      const gateway = named(deployments, 'gateway');
      const container = gateway && containerOf(gateway, 'gateway');
      if (!container) {
        expect([`${renderName}: no gateway container`]).toEqual([]);
        return;
      }
      const { env, problems } = environmentOf(rendered, container, `${renderName}: gateway`);
      for (const subgraph of SUBGRAPHS) {
        const variable = `${subgraph.name.toUpperCase()}_URL`;
        const value = env.get(variable)?.value;
        let url: URL;
        try {
          url = new URL(value ?? '');
        } catch {
          problems.push(`${renderName}: gateway ${variable} is not a URL: ${value}`);
          continue;
        }
        const service = named(services, url.hostname);
        const target = named(deployments, subgraph.name);
        const targetContainer = target && containerOf(target, subgraph.name);
        const port = service?.spec?.ports?.find((p) => p.port === Number(url.port || 80));
        if (
          !service ||
          !target ||
          !targetContainer ||
          !selects(service.spec?.selector, podLabels(target))
        ) {
          problems.push(
            `${renderName}: gateway ${variable} host ${url.hostname} is not a Service of the ${subgraph.name} pods`,
          );
        } else if (!port || targetOf(targetContainer, port) !== subgraph.port) {
          problems.push(
            `${renderName}: gateway ${variable} port ${url.port} does not reach ${subgraph.name}'s port ${subgraph.port}`,
          );
        }
        if (url.protocol !== 'http:' || url.pathname !== '/graphql') {
          problems.push(
            `${renderName}: gateway ${variable} should be http://…/graphql, got ${value}`,
          );
        }
      }
      expect(problems).toEqual([]);
    });

    test("the gateway's operator port is not on its public Service", () => {
      const gateway = named(deployments, 'gateway');
      const container = gateway && containerOf(gateway, 'gateway');
      const service = named(services, 'gateway');
      if (!container || !service) {
        expect([`${renderName}: no gateway container or Service`]).toEqual([]);
        return;
      }
      const operator = gatewayOperatorPort(rendered, container);
      const problems: string[] = [];
      if (!container.ports?.some((p) => p.containerPort === operator)) {
        problems.push(`${renderName}: gateway containerPort ${operator} (operator) expected`);
      }
      for (const port of service.spec?.ports ?? []) {
        if (targetOf(container, port) === operator) {
          problems.push(
            `${renderName}: Service gateway port ${port.port} exposes the operator port ${operator}`,
          );
        }
      }
      expect(problems).toEqual([]);
    });

    describe('NetworkPolicies', () => {
      const grantsOf = (name: string) => {
        const deployment = named(deployments, name);
        const container = deployment && containerOf(deployment, name);
        if (!container) throw new Error(`${renderName}: no ${name} Deployment or container`);
        return ingressGrants(policies, deployments, deployment, container);
      };

      test('restrict ingress only: egress stays open to PostgreSQL, Kafka, Redis and DNS', () => {
        const types = policies.map((p) => [p.metadata?.name, p.spec?.policyTypes]);
        expect(types.length).toBeGreaterThan(0);
        expect(types).toEqual(types.map(([name]) => [name, ['Ingress']]));
      });

      test.each(SUBGRAPHS.map((s) => [s.name, s.port] as const))(
        'subgraph %s takes connections from the gateway only, on its HTTP port %d',
        (name, port) => {
          expect(grantsOf(name)).toEqual([`${port} from pods of gateway`]);
        },
      );

      test('the gateway takes its public port from anywhere, its operator port from pods', () => {
        const gateway = named(deployments, 'gateway');
        const container = gateway && containerOf(gateway, 'gateway');
        if (!container) throw new Error(`${renderName}: no gateway container`);
        const publicPort = SERVICES.find((s) => s.kind === 'gateway')!.port;
        const operator = gatewayOperatorPort(rendered, container);
        expect(grantsOf('gateway')).toEqual(
          [`${publicPort} from anywhere`, `${operator} from pods of any namespace`].sort(),
        );
      });
    });
  });

  test('schema validation names the field a broken object gets wrong', () => {
    const gateway = named(ofKind<IDeployment>(RENDERS.base!, 'Deployment'), 'gateway')!;
    const broken = structuredClone(gateway);
    broken.spec!.replicas = 'two' as unknown as number;
    broken.spec!.template.spec!.containers[0]!.ports![0]!.containerPort =
      'http' as unknown as number;
    const problems = schemaProblems(broken);
    expect(schemaProblems(gateway)).toEqual([]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^apps\/v1 Deployment gateway: /);
    expect(problems[0]).toContain('spec/replicas must be integer');
    expect(problems[0]).toContain(
      'spec/template/spec/containers/0/ports/0/containerPort must be integer',
    );
    const widget = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } };
    expect(schemaProblems(widget)).toEqual([
      'example.com/v1 Widget w: no schema for this apiVersion and kind',
    ]);
  });

  describe(OVERLAY, () => {
    const rendered = RENDERS[OVERLAY]!;
    const kustomization = parse(
      readFileSync(`${DEPLOY}/${OVERLAY}/kustomization.yaml`, 'utf8'),
    ) as {
      namespace?: string;
      secretGenerator?: { name: string; behavior?: string; envs?: string[] }[];
    };

    test('makes the Secret from secrets.env, which the user copies from secrets.env.example', () => {
      const generator = kustomization.secretGenerator?.find((g) => g.name === SECRETS);
      expect({ behavior: generator?.behavior, envs: generator?.envs }).toEqual({
        behavior: 'replace',
        envs: ['secrets.env'],
      });
    });

    test('puts everything in its namespace and runs an image from a registry', () => {
      const namespace = kustomization.namespace;
      const problems: string[] = [];
      if (!namespace) problems.push(`${OVERLAY}: no namespace`);
      if (!rendered.some((r) => r.kind === 'Namespace' && r.metadata?.name === namespace)) {
        problems.push(`${OVERLAY}: no Namespace ${namespace} object`);
      }
      for (const object of rendered.filter((r) => r.kind !== 'Namespace')) {
        if (object.metadata?.namespace !== namespace) {
          problems.push(`${OVERLAY}: ${object.kind} ${object.metadata?.name} not in ${namespace}`);
        }
      }
      for (const deployment of ofKind<IDeployment>(rendered, 'Deployment')) {
        for (const container of deployment.spec?.template.spec?.containers ?? []) {
          if (!splitImage(container.image ?? '').name.includes('/')) {
            problems.push(
              `${OVERLAY}: ${deployment.metadata?.name} image ${container.image} has no registry`,
            );
          }
        }
      }
      expect(problems).toEqual([]);
    });

    test("routes the Ingress to the gateway's public port only", () => {
      const ingresses = ofKind<IIngress>(rendered, 'Ingress');
      const gateway = named(ofKind<IDeployment>(rendered, 'Deployment'), 'gateway');
      const container = gateway && containerOf(gateway, 'gateway');
      const service = named(ofKind<IService>(rendered, 'Service'), 'gateway');
      const publicPort = SERVICES.find((s) => s.kind === 'gateway')!.port;
      const problems: string[] = [];
      if (ingresses.length === 0) problems.push(`${OVERLAY}: no Ingress`);
      const paths = ingresses
        .flatMap((i) => i.spec?.rules ?? [])
        .flatMap((r) => r.http?.paths ?? []);
      if (!paths.some((p) => p.path === '/graphql')) {
        problems.push(`${OVERLAY}: the Ingress should route /graphql`);
      }
      for (const entry of paths) {
        const backend = entry.backend.service;
        const port = service?.spec?.ports?.find(
          (p) => p.name === backend?.port?.name || p.port === backend?.port?.number,
        );
        if (
          backend?.name !== 'gateway' ||
          !container ||
          !port ||
          targetOf(container, port) !== publicPort
        ) {
          problems.push(
            `${OVERLAY}: Ingress path ${entry.path} should reach the gateway's port ${publicPort}, got ${JSON.stringify(backend)}`,
          );
        }
      }
      expect(problems).toEqual([]);
    });
  });
});
