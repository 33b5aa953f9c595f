/**
 * Subscribers as a browser runs them: a graphql-ws client through the gateways' front that
 * reconnects after its connection drops (graphql-ws then subscribes again), keeping what each
 * subscription received and on which connection (1 for the first, 2 after a reconnect, …).
 */
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface Received<TData> {
  readonly data: TData;
  /** The client's connection it came on, from 1. */
  readonly connection: number;
  /** When it arrived (ms since epoch). */
  readonly at: number;
}

export interface Subscriber {
  /** Connections opened so far (1 until a reconnect). */
  readonly connections: number;
  /** Connections that closed under it. */
  readonly closes: number;
  /** Subscribes; what arrives is appended to the returned list. */
  follow<TData>(query: string, variables: Record<string, unknown>): Received<TData>[];
  /** Errors the subscriptions ended with. */
  readonly errors: unknown[];
  dispose(): Promise<void>;
}

/** Connects (resolves once connected) to `url` (`http://…`; GraphQL at `/graphql`). */
export async function subscriber(url: string): Promise<Subscriber> {
  let connections = 0;
  let closes = 0;
  const errors: unknown[] = [];
  let connected!: () => void;
  const first = new Promise<void>((resolve) => (connected = resolve));
  const client: Client = createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 50,
    shouldRetry: () => true,
    retryWait: () => new Promise((resolve) => setTimeout(resolve, 200)),
    onNonLazyError: (error) => void errors.push(error),
    on: {
      connected: () => {
        connections++;
        connected();
      },
      closed: () => {
        if (connections > 0) closes++;
      },
    },
  });
  await first;
  return {
    get connections() {
      return connections;
    },
    get closes() {
      return closes;
    },
    errors,
    follow<TData>(query: string, variables: Record<string, unknown>) {
      const received: Received<TData>[] = [];
      client.subscribe<TData>(
        { query, variables },
        {
          next: (value) => {
            if (value.errors) errors.push(...value.errors);
            if (value.data)
              received.push({ data: value.data, connection: connections, at: Date.now() });
          },
          error: (error) => void errors.push(error),
          complete: () => undefined,
        },
      );
      return received;
    },
    dispose: async () => {
      await client.dispose();
    },
  };
}
