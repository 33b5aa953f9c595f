/**
 * Static checks of the Kubernetes manifests (deploy/kubernetes) against the process
 * catalogue (`SERVICES`) and the settings (`platform/env.ts`). No cluster or kubectl is
 * needed: ./kustomize.ts renders the base and the example overlay the way kustomize does
 * (the overlay with its committed `*.example` files in place of the user's copies), and the
 * resources are compared with what each process needs.
 *
 * Each test gathers every problem it finds and compares the list with [], so a failure
 * lists them all, each naming the rendering, the resource and what is wrong.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../../shared/config/index.ts';
import { platformEnvSchema } from '../../platform/env.ts';
import { SERVICES, type ServiceDescriptor } from '../../platform/services.ts';
import { SETTINGS } from '../../platform/settings.ts';
import {
  parseEnvFile,
  readKustomization,
  render,
  splitImage,
  unsupportedKeys,
  type JsonObject,
  type Rendered,
  type Resource,
} from './kustomize.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BASE = `${ROOT}deploy/kubernetes/base`;
const OVERLAY = `${ROOT}deploy/kubernetes/overlays/example`;

const RENDERS: Record<string, Rendered> = {
  base: render(BASE),
  'overlays/example': render(OVERLAY, { examples: true }),
};

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

// ---------------------------------------------------------------------------------------------
// The parts of the resources the tests read
// ---------------------------------------------------------------------------------------------

type Labels = Record<string, string>;
interface Probe {
  httpGet?: { path?: string; port?: number | string };
  periodSeconds?: number;
  failureThreshold?: number;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
  };
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { drop?: string[] };
  seccompProfile?: { type?: string };
}
interface Container {
  name: string;
  image?: string;
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: {
    preStop?: { exec?: { command?: string[] }; sleep?: { seconds?: number } };
  };
  resources?: {
    requests?: { cpu?: string | number; memory?: string };
    limits?: { cpu?: string | number; memory?: string };
  };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers?: Container[];
  terminationGracePeriodSeconds?: number;
  automountServiceAccountToken?: boolean;
  enableServiceLinks?: boolean;
  securityContext?: SecurityContext & { runAsGroup?: number };
  topologySpreadConstraints?: {
    topologyKey?: string;
    whenUnsatisfiable?: string;
    labelSelector?: { matchLabels?: Labels };
  }[];
  affinity?: {
    podAntiAffinity?: {
      preferredDuringSchedulingIgnoredDuringExecution?: {
        podAffinityTerm?: { topologyKey?: string; labelSelector?: { matchLabels?: Labels } };
      }[];
    };
  };
  volumes?: { name: string; emptyDir?: JsonObject }[];
}
interface Deployment {
  metadata: { name: string; labels?: Labels };
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Labels };
    template?: { metadata?: { labels?: Labels }; spec?: PodSpec };
  };
}
interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
}
interface KubeService {
  metadata: { name: string; labels?: Labels };
  spec?: { type?: string; selector?: Labels; ports?: ServicePort[] };
}
interface Autoscaler {
  apiVersion: string;
  metadata: { name: string; labels?: Labels };
  spec?: {
    scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string };
    minReplicas?: number;
    maxReplicas?: number;
    metrics?: { type?: string; resource?: { name?: string } }[];
  };
}
interface DisruptionBudget {
  apiVersion: string;
  metadata: { name: string; labels?: Labels };
  spec?: {
    selector?: { matchLabels?: Labels };
    minAvailable?: number | string;
    maxUnavailable?: number | string;
  };
}
interface Ingress {
  metadata: { name: string };
  spec?: {
    rules?: {
      http?: {
        paths?: {
          path?: string;
          backend?: { service?: { name?: string; port?: { name?: string; number?: number } } };
        }[];
      };
    }[];
  };
}

const ofKind = <T>(rendered: Rendered, kind: string): T[] =>
  rendered.resources.filter((r) => r.kind === kind) as unknown as T[];
const named = <T extends { metadata: { name: string } }>(list: T[], name: string) =>
  list.find((r) => r.metadata.name === name);

/** Whether a selector (a non-empty label map) selects pods with these labels. */
function selects(selector: Labels | undefined, labels: Labels | undefined): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([key, value]) => labels?.[key] === value);
}

function podLabels(deployment: Deployment): Labels {
  return deployment.spec?.template?.metadata?.labels ?? {};
}

function containerOf(deployment: Deployment, name: string): Container | undefined {
  return deployment.spec?.template?.spec?.containers?.find((c) => c.name === name);
}

/** A container port given by number or by name, as a number. */
function portNumber(container: Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  if (port !== undefined && /^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** The container port a Service port reaches (targetPort: a number, a name, or its port). */
function targetOf(container: Container, port: ServicePort): number | undefined {
  return portNumber(container, port.targetPort ?? port.port);
}

interface Provided {
  value: string;
  source: 'literal' | 'configMap' | 'secret';
}

/** A container's environment as the kubelet builds it: envFrom first, `env` over it. */
function environmentOf(
  rendered: Rendered,
  container: Container,
  label: string,
): { env: Map<string, Provided>; problems: string[] } {
  const env = new Map<string, Provided>();
  const problems: string[] = [];
  const dataOf = (kind: 'ConfigMap' | 'Secret', name: string) => {
    const resource = rendered.resources.find((r) => r.kind === kind && r.metadata.name === name);
    if (!resource) problems.push(`${label}: refers to ${kind} ${name}, which is not rendered`);
    return (resource?.data ?? {}) as Record<string, string>;
  };
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) {
      for (const [key, value] of Object.entries(dataOf('ConfigMap', from.configMapRef.name))) {
        env.set(key, { value, source: 'configMap' });
      }
    }
    if (from.secretRef) {
      for (const [key, value] of Object.entries(dataOf('Secret', from.secretRef.name))) {
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
    const data = dataOf(kind, ref.name);
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
function preStopSeconds(container: Container): number | undefined {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep?.seconds !== undefined) return preStop.sleep.seconds;
  const command = preStop?.exec?.command ?? [];
  if (command.length === 2 && /(^|\/)sleep$/.test(command[0] ?? '') && /^\d+$/.test(command[1]!)) {
    return Number(command[1]);
  }
  return undefined;
}

/** A memory quantity (`256Mi`, `1G`, bytes) in bytes. */
function bytes(quantity: string | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity ?? '');
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
  container: Container,
  probe: Probe | undefined,
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

function gatewayOperatorPort(rendered: Rendered, container: Container): number {
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
function serviceLinkVariables(service: KubeService): string[] {
  const prefix = service.metadata.name.toUpperCase().replace(/-/g, '_');
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
// Tests
// ---------------------------------------------------------------------------------------------

describe('deploy/kubernetes', () => {
  test('the kustomizations use only what the test renders', () => {
    const problems = [...unsupportedKeys(BASE), ...unsupportedKeys(OVERLAY)];
    expect(problems.map((problem) => problem.replace(ROOT, ''))).toEqual([]);
  });

  describe.each(Object.keys(RENDERS))('%s', (renderName) => {
    const rendered = RENDERS[renderName]!;
    const deployments = ofKind<Deployment>(rendered, 'Deployment');
    const services = ofKind<KubeService>(rendered, 'Service');
    const autoscalers = ofKind<Autoscaler>(rendered, 'HorizontalPodAutoscaler');
    const budgets = ofKind<DisruptionBudget>(rendered, 'PodDisruptionBudget');

    test('has a Deployment for each service of the catalogue and no other', () => {
      const names = deployments.map((d) => d.metadata.name);
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
        deployments.flatMap((d) => (d.spec?.template?.spec?.containers ?? []).map((c) => c.image)),
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
              `${renderName}: Service ${service.metadata.name} would set ${variable} in pods with service links`,
          ),
      );
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
        const pod = () => deployment().spec?.template?.spec ?? {};

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
            ['Deployment', deployment().metadata.labels],
            ['pod template', podLabels(deployment())],
          ] as const) {
            for (const [key, value] of Object.entries(expected)) {
              if (labels?.[key] !== value) {
                problems.push(`${label}: ${where} label ${key}=${value} expected`);
              }
            }
          }
          if (!selects(deployment().spec?.selector?.matchLabels, podLabels(deployment()))) {
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
          for (const other of deployments.filter((d) => d.metadata.name !== name)) {
            if (selects(service.spec?.selector, podLabels(other))) {
              problems.push(`${label}: Service ${name} also selects ${other.metadata.name} pods`);
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
          const hpa = autoscalers.find((a) => a.spec?.scaleTargetRef?.name === name);
          if (!hpa) {
            problems.push(`${label}: no HorizontalPodAutoscaler targets it`);
          } else {
            const ref = hpa.spec?.scaleTargetRef;
            if (hpa.apiVersion !== 'autoscaling/v2') {
              problems.push(`${label}: autoscaling/v2 expected, got ${hpa.apiVersion}`);
            }
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
          } else {
            if (pdb.apiVersion !== 'policy/v1') {
              problems.push(`${label}: policy/v1 expected, got ${pdb.apiVersion}`);
            }
            if (pdb.spec?.maxUnavailable !== 1 && pdb.spec?.minAvailable !== 1) {
              problems.push(`${label}: PodDisruptionBudget maxUnavailable 1 or minAvailable 1`);
            }
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
                p.podAffinityTerm?.topologyKey === 'kubernetes.io/hostname' &&
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
      for (const subgraph of SERVICES.filter((s) => s.kind === 'subgraph')) {
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
  });

  describe('committed Secret values are placeholders', () => {
    const sources: [string, Record<string, string>][] = [
      ['base/secrets.placeholder.env', parseEnvFile(`${BASE}/secrets.placeholder.env`)],
      ['overlays/example/secrets.env.example', parseEnvFile(`${OVERLAY}/secrets.env.example`)],
    ];

    test.each(sources)('%s', (file, values) => {
      const problems: string[] = [];
      for (const [key, value] of Object.entries(values)) {
        if (!value.includes(PLACEHOLDER)) {
          problems.push(`${file}: ${key} should be a placeholder containing "${PLACEHOLDER}"`);
        }
        if (
          /^[a-z][a-z0-9+.-]*:\/\//i.test(value) &&
          !new URL(value).hostname.endsWith('.invalid')
        ) {
          problems.push(`${file}: ${key} should point at a .invalid host, got ${value}`);
        }
      }
      // Forgetting to replace it must stop start-up, not run with a published secret.
      const secret = values.GATEWAY_TOKEN_SECRET;
      if (secret === undefined) {
        problems.push(`${file}: GATEWAY_TOKEN_SECRET missing`);
      } else if (platformEnvSchema.shape.GATEWAY_TOKEN_SECRET.safeParse(secret).success) {
        problems.push(`${file}: its GATEWAY_TOKEN_SECRET would be accepted at start-up`);
      }
      for (const key of SECRET_SETTINGS) {
        if (!(key in values)) problems.push(`${file}: ${key} missing`);
      }
      expect(problems).toEqual([]);
    });
  });

  describe('overlays/example', () => {
    const rendered = RENDERS['overlays/example']!;
    const kustomization = readKustomization(OVERLAY);

    test('reads the secrets from secrets.env, which the user copies from secrets.env.example', () => {
      const problems: string[] = [];
      const generator = kustomization.secretGenerator?.find((g) => g.name === 'eventgraph-secrets');
      if (generator?.behavior !== 'replace' || generator.envs?.join() !== 'secrets.env') {
        problems.push(
          'overlays/example: secretGenerator eventgraph-secrets should replace the base Secret from secrets.env',
        );
      }
      if (!rendered.substituted.includes(`${OVERLAY}/secrets.env.example`)) {
        problems.push('overlays/example: secrets.env.example was not read in place of secrets.env');
      }
      expect(problems).toEqual([]);
    });

    test('puts everything in its namespace and runs an image from a registry', () => {
      const namespace = kustomization.namespace;
      const problems: string[] = [];
      if (!namespace) problems.push('overlays/example: no namespace');
      if (
        !rendered.resources.some((r) => r.kind === 'Namespace' && r.metadata.name === namespace)
      ) {
        problems.push(`overlays/example: no Namespace ${namespace} resource`);
      }
      for (const resource of rendered.resources.filter((r: Resource) => r.kind !== 'Namespace')) {
        if (resource.metadata.namespace !== namespace) {
          problems.push(
            `overlays/example: ${resource.kind} ${resource.metadata.name} not in ${namespace}`,
          );
        }
      }
      for (const deployment of ofKind<Deployment>(rendered, 'Deployment')) {
        for (const container of deployment.spec?.template?.spec?.containers ?? []) {
          if (!splitImage(container.image ?? '').name.includes('/')) {
            problems.push(
              `overlays/example: ${deployment.metadata.name} image ${container.image} has no registry`,
            );
          }
        }
      }
      expect(problems).toEqual([]);
    });

    test("routes the Ingress to the gateway's public port only", () => {
      const ingresses = ofKind<Ingress>(rendered, 'Ingress');
      const gateway = named(ofKind<Deployment>(rendered, 'Deployment'), 'gateway');
      const container = gateway && containerOf(gateway, 'gateway');
      const service = named(ofKind<KubeService>(rendered, 'Service'), 'gateway');
      const publicPort = SERVICES.find((s) => s.kind === 'gateway')!.port;
      const problems: string[] = [];
      if (ingresses.length === 0) problems.push('overlays/example: no Ingress');
      const paths = ingresses
        .flatMap((i) => i.spec?.rules ?? [])
        .flatMap((r) => r.http?.paths ?? []);
      if (!paths.some((p) => p.path === '/graphql')) {
        problems.push('overlays/example: the Ingress should route /graphql');
      }
      for (const entry of paths) {
        const backend = entry.backend?.service;
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
            `overlays/example: Ingress path ${entry.path} should reach the gateway's port ${publicPort}, got ${JSON.stringify(backend)}`,
          );
        }
      }
      expect(problems).toEqual([]);
    });
  });
});
