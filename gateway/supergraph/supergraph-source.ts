/**
 * Where the gateway's supergraph comes from, as an @apollo/gateway supergraph manager:
 *
 * - `file` (the default): SUPERGRAPH_PATH, normally the checked-in
 *   `schema/supergraph.graphql` that `npm run schema:compose` writes. The file is watched —
 *   `fs.watch` on its directory, so an atomic rename-replacement is seen, plus a stat poll for
 *   file systems whose change events are unreliable — and a changed file is swapped in
 *   through the gateway's `update` hook. Requests in flight finish on the supergraph they
 *   started with. A new file that cannot be read, does not parse, is not a valid supergraph
 *   or routes to a subgraph this gateway has no endpoint for is logged and counted, and the
 *   previous supergraph keeps serving.
 * - `compose`: composed once at start from this installation's subgraph SDL (`npm run dev`).
 *
 * At start the same problems fail start-up with a message naming SUPERGRAPH_PATH. Every
 * load and reload logs a line and counts `supergraph_reloads_total{outcome}`.
 */
import { watch, watchFile, unwatchFile } from 'node:fs';
import type { FSWatcher, Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SupergraphManager, SupergraphSdlUpdateFunction } from '@apollo/gateway';
import { GraphQLError, Source, parse } from 'graphql';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from '../../shared/observability/index.ts';
import {
  acknowledgeEnforcedFeatures,
  composeSupergraph,
  subgraphsOfSupergraph,
} from './supergraph.ts';
import type { SubgraphEndpoint } from '../../schema/composition.ts';

export type SupergraphSourceConfig =
  | {
      kind: 'file';
      /** Absolute path of the supergraph file (SUPERGRAPH_PATH). */
      path: string;
    }
  | { kind: 'compose' };

export interface SupergraphSourceOptions {
  source: SupergraphSourceConfig;
  /** The subgraphs this gateway reaches, by name; a supergraph may route to no others. */
  subgraphs: readonly SubgraphEndpoint[];
  logger: Logger;
  /** Where `supergraph_reloads_total` is registered. */
  registry: Registry;
}

export interface SupergraphSource extends SupergraphManager {
  /** Names the source in errors: `SUPERGRAPH_PATH: /app/schema/supergraph.graphql`. */
  readonly label: string;
}

/** A supergraph that cannot be loaded at start; the message names its source. */
export class SupergraphSourceError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SupergraphSourceError';
  }
}

/** Change events come in bursts (truncate, write, rename): one reload after they settle. */
const SETTLE_MS = 100;
/** The file is also polled, for file systems whose change events are unreliable. */
const POLL_INTERVAL_MS = 500;

export function createSupergraphSource(options: SupergraphSourceOptions): SupergraphSource {
  const { source, subgraphs, logger } = options;
  const reloads = new Counter({
    name: 'supergraph_reloads_total',
    help: 'Supergraph loads and reloads by outcome (failure: the previous supergraph kept serving)',
    labelNames: ['outcome'] as const,
    registers: [options.registry],
  });
  const configured = subgraphs.map((s) => s.name);

  /** Parses a supergraph and checks it routes only to subgraphs this gateway can reach. */
  const prepare = (text: string, name: string): { sdl: string; subgraphs: string[] } => {
    let document;
    try {
      document = parse(new Source(text, name));
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      const at = error.locations?.[0];
      const where = at ? ` (line ${at.line}, column ${at.column})` : '';
      throw new Error(`${error.message}${where}`, { cause: error });
    }
    const routed = subgraphsOfSupergraph(document).map((s) => s.name);
    const unknown = routed.filter((name) => !configured.includes(name));
    if (unknown.length > 0) {
      throw new Error(
        `it routes to ${unknown.join(', ')}, which this gateway has no endpoint for (it has ${configured.join(', ') || 'none'})`,
      );
    }
    const idle = configured.filter((name) => !routed.includes(name));
    if (idle.length > 0) {
      logger.warn(
        { supergraph: name, subgraphs: idle },
        `the supergraph routes nothing to ${idle.join(', ')}: run npm run schema:compose?`,
      );
    }
    return { sdl: acknowledgeEnforcedFeatures(document), subgraphs: routed };
  };

  if (source.kind === 'compose') {
    const label =
      'SUPERGRAPH_SOURCE=compose: the supergraph composed from subgraphs/*/schema.graphql';
    return {
      label,
      async initialize() {
        let prepared;
        try {
          prepared = prepare(await composeSupergraph(subgraphs), label);
        } catch (error) {
          throw new SupergraphSourceError(
            `${label} could not be made: ${(error as Error).message}`,
            {
              cause: error,
            },
          );
        }
        reloads.inc({ outcome: 'success' });
        logger.info({ subgraphs: prepared.subgraphs }, 'supergraph composed from the subgraph SDL');
        return { supergraphSdl: prepared.sdl };
      },
    };
  }

  const file = source.path;
  const label = `SUPERGRAPH_PATH: ${file}`;
  return {
    label,
    async initialize({ update }) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw new SupergraphSourceError(
          `${label} cannot be read: ${(error as Error).message} (npm run schema:compose writes schema/supergraph.graphql)`,
          { cause: error },
        );
      }
      let prepared;
      try {
        prepared = prepare(text, file);
      } catch (error) {
        throw new SupergraphSourceError(
          `${label} is not a usable supergraph: ${(error as Error).message}`,
          { cause: error },
        );
      }
      reloads.inc({ outcome: 'success' });
      logger.info({ path: file, subgraphs: prepared.subgraphs }, 'supergraph loaded');
      const reloader = startReloading({ file, text, update, prepare, logger, reloads });
      return { supergraphSdl: prepared.sdl, cleanup: () => reloader.stop() };
    },
  };
}

interface ReloadingOptions {
  file: string;
  /** The text being served. */
  text: string;
  update: SupergraphSdlUpdateFunction;
  prepare: (text: string, name: string) => { sdl: string; subgraphs: string[] };
  logger: Logger;
  reloads: Counter<'outcome'>;
}

/** Watches the file and hands each new, valid text to `update`, one reload at a time. */
function startReloading(options: ReloadingOptions): { stop(): Promise<void> } {
  const { file, update, prepare, logger, reloads } = options;
  let serving = options.text;
  /** The last text or read error refused, so a broken file is reported once, not per poll. */
  let refused: string | undefined;
  /**
   * A text or read error seen once and not yet refused: a file written in place is briefly
   * empty or half-written, so a problem counts only when a second read, after the writes
   * settle, finds the same.
   */
  let suspect: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let reloading = Promise.resolve();

  const refuse = (problem: string, error: unknown) => {
    if (problem === refused) return;
    if (problem !== suspect) {
      suspect = problem;
      schedule();
      return;
    }
    suspect = undefined;
    refused = problem;
    reloads.inc({ outcome: 'failure' });
    logger.error(
      { err: error, path: file },
      `supergraph reload failed, still serving the previous supergraph: ${(error as Error).message}`,
    );
  };

  const reload = async () => {
    if (stopped) return;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      refuse(`read: ${(error as Error).message}`, error);
      return;
    }
    if (stopped) return;
    if (text === serving) {
      // Back to what is served: a broken text seen again is news again.
      refused = undefined;
      suspect = undefined;
      return;
    }
    if (text === refused) return;
    const startedAt = performance.now();
    try {
      const prepared = prepare(text, file);
      update(prepared.sdl);
      serving = text;
      refused = undefined;
      suspect = undefined;
      reloads.inc({ outcome: 'success' });
      logger.info(
        {
          path: file,
          subgraphs: prepared.subgraphs,
          durationMs: Math.round(performance.now() - startedAt),
        },
        'supergraph reloaded',
      );
    } catch (error) {
      refuse(text, error);
    }
  };

  const schedule = () => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      reloading = reloading.then(reload);
    }, SETTLE_MS);
  };

  // The directory, not the file: an atomic replacement renames a new file over the old one.
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(path.dirname(file), { persistent: false }, (_event, changed) => {
      if (changed === null || changed === path.basename(file)) schedule();
    });
    watcher.on('error', (error) => {
      logger.warn({ err: error, path: file }, 'supergraph file watch failed; polling only');
      watcher?.close();
    });
  } catch (error) {
    logger.warn({ err: error, path: file }, 'cannot watch the supergraph file; polling only');
  }
  const polled = (current: Stats, previous: Stats) => {
    if (
      current.mtimeMs !== previous.mtimeMs ||
      current.ino !== previous.ino ||
      current.size !== previous.size
    ) {
      schedule();
    }
  };
  watchFile(file, { interval: POLL_INTERVAL_MS, persistent: false }, polled);
  // A change between the first read and the watch starting is caught by one check now (it
  // runs after the gateway has applied the first text).
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      watcher?.close();
      unwatchFile(file, polled);
      await reloading;
    },
  };
}
