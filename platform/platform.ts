/**
 * Starts the platform's processes from a parsed environment: everything in one process
 * (development, embedded defaults) or the one service named by `SERVICE`. Services start
 * in dependency order and `stop()` stops them in reverse.
 */
import type { GatewayHandle } from '../gateway/server.ts';
import { startGateway } from '../gateway/server.ts';
import { createInProcessTransport } from '../shared/events/index.ts';
import type { EventTransport } from '../shared/events/index.ts';
import type { Logger } from '../shared/observability/index.ts';
import type { SubgraphHandle, SubgraphRuntimeConfig } from '../shared/server/index.ts';
import { startUsersSubgraph } from '../subgraphs/users/main.ts';
import type { PlatformEnv } from './env.ts';
import { SUBGRAPHS, serviceByName } from './services.ts';
import type { SubgraphName } from './services.ts';

export interface PlatformHandle {
  readonly gateway?: GatewayHandle;
  readonly subgraphs: ReadonlyMap<SubgraphName, SubgraphHandle>;
  stop(): Promise<void>;
}

export interface PlatformOptions {
  env: PlatformEnv;
  logger: Logger;
}

type SubgraphStarter = (options: {
  config: SubgraphRuntimeConfig;
  logger: Logger;
  transport?: EventTransport;
}) => Promise<SubgraphHandle>;

/** Subgraphs that exist, in start order (a consumer before the producers it listens to). */
const STARTERS: Partial<Record<SubgraphName, SubgraphStarter>> = {
  users: startUsersSubgraph,
};

export async function startPlatform(options: PlatformOptions): Promise<PlatformHandle> {
  const { env, logger } = options;
  const stoppers: { name: string; stop: () => Promise<void> }[] = [];
  const subgraphs = new Map<SubgraphName, SubgraphHandle>();
  let gateway: GatewayHandle | undefined;
  const stop = async () => {
    for (const { name, stop: stopOne } of stoppers.reverse()) {
      await stopOne().catch((error: unknown) => logger.error({ err: error, name }, 'stop failed'));
    }
  };

  const subgraphConfig = (name: SubgraphName, port: number): SubgraphRuntimeConfig => ({
    host: env.HOST,
    port,
    nodeEnv: env.NODE_ENV,
    dataDir: env.DATA_DIR,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    kafkaBrokers: env.KAFKA_BROKERS,
    kafkaTopicPrefix: env.KAFKA_TOPIC_PREFIX,
    kafkaSessionTimeoutMs: env.KAFKA_SESSION_TIMEOUT_MS,
    kafkaPartitions: env.KAFKA_TOPIC_PARTITIONS,
    kafkaCompression: env.KAFKA_COMPRESSION,
    cachePrefix: `${env.REDIS_KEY_PREFIX}${name}:`,
  });

  const runGateway = async (endpoints: { name: string; url: string }[]) => {
    const started = await startGateway({
      config: {
        host: env.HOST,
        port: env.PORT ?? 4000,
        nodeEnv: env.NODE_ENV,
        subgraphs: endpoints,
      },
      logger,
    });
    stoppers.push({ name: 'gateway', stop: () => started.stop() });
    return started;
  };

  try {
    if (env.SERVICE && env.SERVICE !== 'gateway') {
      const descriptor = serviceByName(env.SERVICE)!;
      const starter = STARTERS[env.SERVICE];
      if (!starter || !descriptor.implemented) {
        throw new Error(
          `SERVICE: the ${env.SERVICE} subgraph is not built yet (built: ${builtNames()})`,
        );
      }
      const handle = await starter({
        config: subgraphConfig(env.SERVICE, env.PORT ?? descriptor.port),
        logger,
      });
      subgraphs.set(env.SERVICE, handle);
      stoppers.push({ name: env.SERVICE, stop: () => handle.stop() });
    } else if (env.SERVICE === 'gateway') {
      gateway = await runGateway(
        builtSubgraphs().map((name) => ({
          name,
          url: env[`${name.toUpperCase()}_URL` as 'USERS_URL']!,
        })),
      );
    } else {
      // Everything in one process: one in-process transport shared by all, unless Kafka is set.
      let transport: EventTransport | undefined;
      if (!env.KAFKA_BROKERS) {
        const shared = createInProcessTransport({
          logger,
          defaultPartitions: env.KAFKA_TOPIC_PARTITIONS,
        });
        transport = shared;
        stoppers.push({ name: 'event transport', stop: () => shared.stop() });
      }
      for (const name of builtSubgraphs()) {
        const starter = STARTERS[name];
        if (!starter) throw new Error(`${name} is marked implemented but has no starter`);
        const handle = await starter({
          // Subgraphs are internal in one-process mode: loopback, free ports, reached via the gateway.
          config: { ...subgraphConfig(name, 0), host: '127.0.0.1' },
          logger,
          ...(transport ? { transport } : {}),
        });
        subgraphs.set(name, handle);
        stoppers.push({ name, stop: () => handle.stop() });
      }
      gateway = await runGateway(
        [...subgraphs.values()].map((s) => ({ name: s.name, url: `${s.url}/graphql` })),
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { ...(gateway ? { gateway } : {}), subgraphs, stop };
}

function builtSubgraphs(): SubgraphName[] {
  return SUBGRAPHS.filter((s) => s.implemented).map((s) => s.name as SubgraphName);
}

function builtNames(): string {
  return builtSubgraphs().join(', ');
}
