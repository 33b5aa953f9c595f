/**
 * Coalesces identical queries in flight: when a query arrives while the same one — same
 * document, operation name and variables, from the same caller (access-token claims and
 * client address) — is already executing, it waits for that execution and answers with its
 * result (frozen, one object shared by all of them) instead of planning and fetching
 * everything again. Only queries, only while the first is in flight (nothing is kept
 * afterwards, so no answer is older than its request), and each request still passes
 * authentication, validation and the authorization plugin on its own before it may share
 * (this hook runs after them).
 *
 * Read-your-writes: a query joins a running one only when no write of its caller has
 * finished since that one started (./write-epochs.ts), on this gateway or, with Redis, on
 * any; otherwise it runs and leads the ones that arrive after it. So a query never takes
 * the answer of one that started before a write of the same user finished.
 */
import type { ApolloServerPlugin, GraphQLResponse } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import { OperationTypeNode } from 'graphql';
import type { FormattedExecutionResult } from 'graphql';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { GatewayContext } from '../context.ts';
import { callerKeyOf, joinOrLead, writerOf } from './write-epochs.ts';
import type { WriteEpochs } from './write-epochs.ts';

export interface CoalescingPluginOptions {
  registry: Registry;
  /** Moved here by every mutation; shared with the subgraph data sources' fetch dedup. */
  epochs: WriteEpochs;
}

export function coalescingPlugin<TContext extends GatewayContext>(
  options: CoalescingPluginOptions,
): ApolloServerPlugin<TContext> {
  const { epochs } = options;
  /** Queries executing, with how many identical ones wait for each and when each started. */
  const inFlight = new Map<
    string,
    { result: Promise<Shared | null>; waiters: number; startedAt: number }
  >();
  const coalesced = new Counter({
    name: 'gateway_coalesced_operations_total',
    help: 'Queries answered with the result of an identical query in flight for the same caller',
    registers: [options.registry],
  });

  return {
    async requestDidStart() {
      let lead: {
        key: string;
        entry: { waiters: number };
        settle: (shared: Shared | null) => void;
      } | null = null;
      let writer: string | null = null;
      return {
        async didResolveOperation({ operation, contextValue }) {
          if (operation?.operation === OperationTypeNode.MUTATION) writer = writerOf(contextValue);
        },
        async responseForOperation({ queryHash, operation, operationName, request, contextValue }) {
          if (operation.operation !== OperationTypeNode.QUERY) return null;
          // The document by its SHA-256 (Apollo Server's, already made), not its whole text.
          const key = `${callerKeyOf(contextValue)}${JSON.stringify([
            queryHash,
            operationName ?? null,
            request.variables ?? null,
          ])}`;
          // Only while the lead is in flight: one that has answered has stopped counting (and
          // freezing for) its waiters. A request that does not join leads the ones after it
          // (an older lead still running finishes for its own waiters).
          let settle!: (shared: Shared | null) => void;
          const { work: running, joined } = await joinOrLead(
            epochs,
            writerOf(contextValue),
            inFlight,
            key,
            () => ({
              result: new Promise<Shared | null>((resolve) => {
                settle = resolve;
              }),
              waiters: 0,
              startedAt: performance.now(),
            }),
          );
          if (!joined) {
            lead = { key, entry: running, settle };
            return null;
          }
          running.waiters++;
          const shared = await running.result;
          // The lead ended without a single result (it failed): run this one on its own.
          if (!shared) return null;
          coalesced.inc();
          if (shared.result.errors) {
            contextValue.logger.info(
              { sharedWith: shared.requestId },
              'answered with the result of an identical query in flight; its errors are logged under sharedWith',
            );
          }
          const response: GraphQLResponse = {
            http: { status: shared.status, headers: new HeaderMap() },
            body: { kind: 'single', singleResult: answerOf(shared.result) },
          };
          return response;
        },
        async willSendResponse({ response, contextValue }) {
          // Before the answer leaves: a request the client sends after seeing it shares
          // nothing that started before the write.
          if (writer) await epochs.bump(writer);
          if (!lead) return;
          if (inFlight.get(lead.key) === lead.entry) inFlight.delete(lead.key);
          // Frozen before it is shared, when anyone waits: the waiters' data is this object
          // itself (copying a 100 KB answer per waiter cost a quarter of a coalesced
          // request's CPU), and a plugin that tried to change it would throw instead of
          // changing every answer. Nobody waiting: nothing to freeze (no work on the hot path).
          const result = response.body.kind === 'single' ? response.body.singleResult : null;
          lead.settle(
            result && {
              result: lead.entry.waiters > 0 ? deepFreeze(result) : result,
              status: response.http.status,
              requestId: contextValue.requestId,
            },
          );
          lead = null;
        },
      };
    },
  };
}

/** What the lead of identical queries hands its waiters. */
interface Shared {
  readonly result: FormattedExecutionResult;
  /** The lead's HTTP status (set from its errors' `extensions.http`, if any). */
  readonly status: number | undefined;
  /** The lead's request id: its log lines hold the cause of any error in `result`. */
  readonly requestId: string;
}

/**
 * A waiter's own answer: the shared (frozen) data, and errors of its own, since later
 * plugins of each request write into errors (the request id of a masked error, say).
 */
function answerOf(result: FormattedExecutionResult): FormattedExecutionResult {
  if (!result.errors) return result;
  return {
    ...result,
    errors: result.errors.map((error) => ({
      ...error,
      ...(error.extensions ? { extensions: { ...error.extensions } } : {}),
    })),
  };
}

/** Freezes a JSON-shaped value and everything in it; returns it. */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}

/**
 * Apollo Server's `stringifyResult`, written once per shared answer: the data of a coalesced
 * answer is one frozen object for the lead and all its waiters, so its JSON is made once and
 * kept beside it (until the object is collected) instead of once per waiter. Other answers
 * are written as Apollo writes them (`JSON.stringify` and a newline).
 */
export function stringifySharedOnce(): (result: FormattedExecutionResult) => string {
  const written = new WeakMap<object, string>();
  return (result) => {
    const { data } = result;
    const shared =
      result.errors === undefined && result.extensions === undefined && Object.isFrozen(data);
    if (!data || !shared) return `${JSON.stringify(result)}\n`;
    let json = written.get(data);
    if (json === undefined) {
      json = JSON.stringify(data);
      written.set(data, json);
    }
    return `{"data":${json}}\n`;
  };
}
