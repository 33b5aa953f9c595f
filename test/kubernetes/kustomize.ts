/**
 * A small kustomize for the tests: renders a kustomization directory into its resources
 * without kubectl, for test/kubernetes/kubernetes.test.ts. It knows the features
 * deploy/kubernetes uses and refuses any other, so a manifest that starts using one fails the
 * test instead of being checked wrongly:
 *
 * - `resources`: files (one or more YAML documents) and directories (kustomizations);
 * - `configMapGenerator` / `secretGenerator`: `envs` files and `literals`, with `behavior`
 *   create, merge or replace. Kustomize appends a content hash to a generated name and
 *   rewrites every reference to it; both sides keep the plain name here, which is the same
 *   check. Secret values are kept as plain strings (kustomize base64-encodes them), in
 *   `data` like a ConfigMap's;
 * - `images`: `name` with `newName` and/or `newTag`;
 * - `namespace`: set on every resource but Namespaces;
 * - `patches`: `path` of a strategic-merge patch without lists, matched by kind and name.
 *   Without lists, strategic merge is a plain deep merge of mappings (a list would be merged
 *   by its patch strategy, which this does not know, so a list is refused).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface Rendered {
  resources: Resource[];
  /** Files read in place of a missing one (`secrets.env` → `secrets.env.example`). */
  substituted: string[];
}

interface Generator {
  name: string;
  behavior?: 'create' | 'merge' | 'replace';
  envs?: string[];
  literals?: string[];
}
interface ImageEntry {
  name: string;
  newName?: string;
  newTag?: string;
}
interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  configMapGenerator?: Generator[];
  secretGenerator?: Generator[];
  images?: ImageEntry[];
  patches?: { path?: string; [key: string]: unknown }[];
}

/** The keys this renderer applies; any other in a kustomization.yaml is an error. */
export const SUPPORTED_KEYS: readonly string[] = [
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'configMapGenerator',
  'secretGenerator',
  'images',
  'patches',
];

/** Keys of a kustomization.yaml this renderer would ignore, by file. */
export function unsupportedKeys(dir: string): string[] {
  const kustomization = readKustomization(dir);
  const problems = Object.keys(kustomization)
    .filter((key) => !SUPPORTED_KEYS.includes(key))
    .map((key) => `${path.join(dir, 'kustomization.yaml')}: ${key} is not rendered by the test`);
  for (const patch of kustomization.patches ?? []) {
    const extra = Object.keys(patch).filter((key) => key !== 'path');
    if (extra.length > 0 || patch.path === undefined) {
      problems.push(
        `${path.join(dir, 'kustomization.yaml')}: patches entries must be { path } only, got ${JSON.stringify(patch)}`,
      );
    }
  }
  for (const entry of kustomization.resources ?? []) {
    const target = path.join(dir, entry);
    if (existsSync(target) && statSync(target).isDirectory()) {
      problems.push(...unsupportedKeys(target));
    }
  }
  return problems;
}

export function readKustomization(dir: string): Kustomization {
  const file = path.join(dir, 'kustomization.yaml');
  return parseDocuments(file)[0] as Kustomization;
}

/** Every YAML document of a file, as plain data. */
export function parseDocuments(file: string): JsonObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      return doc.toJS() as JsonObject | null;
    })
    .filter((doc): doc is JsonObject => doc !== null);
}

/**
 * An env file as kustomize reads it: `KEY=value` lines; blank lines and lines starting with
 * `#` are skipped; the value is everything after the first `=`, as it is.
 */
export function parseEnvFile(file: string): Record<string, string> {
  const result: Record<string, string> = {};
  readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const eq = line.indexOf('=');
      if (eq <= 0) throw new Error(`${file}:${index + 1}: expected KEY=value, got ${raw}`);
      result[line.slice(0, eq)] = line.slice(eq + 1);
    });
  return result;
}

export interface RenderOptions {
  /**
   * Read a file's committed example (`secrets.env.example`) in place of the file the user
   * makes from it (`secrets.env`), whether or not that exists: the tests check what is
   * committed, never a user's secrets.
   */
  examples?: boolean;
}

export function render(dir: string, options: RenderOptions = {}): Rendered {
  const kustomization = readKustomization(dir);
  const substituted: string[] = [];
  const resources: Resource[] = [];
  const localFile = (name: string): string => {
    const file = path.join(dir, name);
    if (options.examples && existsSync(`${file}.example`)) {
      substituted.push(`${file}.example`);
      return `${file}.example`;
    }
    return file;
  };

  for (const entry of kustomization.resources ?? []) {
    const target = path.join(dir, entry);
    if (statSync(target).isDirectory()) {
      const inner = render(target, options);
      resources.push(...inner.resources);
      substituted.push(...inner.substituted);
    } else {
      resources.push(...(parseDocuments(target) as Resource[]));
    }
  }

  const generate = (kind: 'ConfigMap' | 'Secret', generators: Generator[]) => {
    for (const generator of generators) {
      const data: Record<string, string> = {};
      for (const envs of generator.envs ?? []) Object.assign(data, parseEnvFile(localFile(envs)));
      for (const literal of generator.literals ?? []) {
        const eq = literal.indexOf('=');
        data[literal.slice(0, eq)] = literal.slice(eq + 1);
      }
      const existing = resources.find((r) => r.kind === kind && r.metadata.name === generator.name);
      const behavior = generator.behavior ?? 'create';
      if (behavior === 'create') {
        if (existing) throw new Error(`${dir}: ${kind} ${generator.name} already exists`);
        resources.push({
          apiVersion: 'v1',
          kind,
          metadata: { name: generator.name },
          data,
        });
      } else {
        if (!existing) throw new Error(`${dir}: no ${kind} ${generator.name} to ${behavior}`);
        existing.data =
          behavior === 'merge' ? { ...(existing.data as Record<string, string>), ...data } : data;
      }
    }
  };
  generate('ConfigMap', kustomization.configMapGenerator ?? []);
  generate('Secret', kustomization.secretGenerator ?? []);

  for (const patch of kustomization.patches ?? []) {
    if (patch.path === undefined) throw new Error(`${dir}: only patches with a path are rendered`);
    for (const document of parseDocuments(path.join(dir, patch.path))) {
      const name = (document.metadata as { name?: string } | undefined)?.name;
      const target = resources.find((r) => r.kind === document.kind && r.metadata.name === name);
      if (!target)
        throw new Error(`${dir}/${patch.path}: no ${JSON.stringify(document.kind)} ${name}`);
      deepMerge(target as unknown as JsonObject, document, `${dir}/${patch.path}`);
    }
  }

  for (const image of kustomization.images ?? []) {
    for (const container of containersOf(resources)) {
      if (typeof container.image !== 'string') continue;
      const { name, tag } = splitImage(container.image);
      if (name !== image.name) continue;
      container.image = `${image.newName ?? name}${image.newTag ? `:${image.newTag}` : tag ? `:${tag}` : ''}`;
    }
  }

  if (kustomization.namespace) {
    for (const resource of resources) {
      if (resource.kind !== 'Namespace') resource.metadata.namespace = kustomization.namespace;
    }
  }
  return { resources, substituted };
}

/** `registry/name:tag` → name and tag (a digest counts as no tag). */
export function splitImage(image: string): { name: string; tag?: string } {
  const at = image.indexOf('@');
  const withoutDigest = at >= 0 ? image.slice(0, at) : image;
  const colon = withoutDigest.lastIndexOf(':');
  if (colon > withoutDigest.lastIndexOf('/')) {
    return { name: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) };
  }
  return { name: withoutDigest };
}

/** The containers of every Deployment's pod template. */
function containersOf(resources: Resource[]): JsonObject[] {
  return resources
    .filter((r) => r.kind === 'Deployment')
    .flatMap((r) => {
      const spec = (r.spec as JsonObject | undefined)?.template as JsonObject | undefined;
      const pod = spec?.spec as JsonObject | undefined;
      return [
        ...((pod?.containers as JsonObject[] | undefined) ?? []),
        ...((pod?.initContainers as JsonObject[] | undefined) ?? []),
      ];
    });
}

function deepMerge(target: JsonObject, patch: JsonObject, where: string): void {
  for (const [key, value] of Object.entries(patch)) {
    if (Array.isArray(value)) {
      throw new Error(`${where}: ${key} is a list; this renderer merges mappings only`);
    }
    const current = target[key];
    if (
      value !== null &&
      typeof value === 'object' &&
      current !== null &&
      typeof current === 'object' &&
      !Array.isArray(current)
    ) {
      deepMerge(current, value, where);
    } else {
      target[key] = value;
    }
  }
}
