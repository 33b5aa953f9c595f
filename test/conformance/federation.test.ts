/**
 * Federation conformance: our gateway (`startGateway`, with its authentication,
 * authorization, limits, coalescing and fetch dedup plugins) answers like a plain
 * @apollo/gateway on the same supergraph and subgraphs (./subgraphs.ts). Each operation of
 * ./operations.ts — entities and keys, @requires (also of and on fields with arguments),
 * @provides, interfaces, @interfaceObject, unions and abstract types across subgraphs,
 * @override, @shareable, @inaccessible, null propagation and subgraph errors (also several
 * entity fetches deep), variables (also inside entity fetches), Condition nodes of
 * @skip/@include, fragments, aliases, __typename, and mutations — goes to both, and must
 * get the same HTTP status, the same `data`, the same errors (path, message, code, except
 * as below) and the same fetches to the subgraphs (the same query plan; ours sends each
 * distinct representation of an entity fetch once, where plain sends one per entity, so
 * plain's fetches are compared with their repeated representations left out). For a mutation,
 * also in the same order: the subgraphs' mutation resolvers must run in the order the
 * operation lists its root fields, and each mutation fetch must be followed by its entity
 * fetches before the next mutation fetch starts. Every request starts from the fixture's
 * initial data.
 *
 * One difference is by design (shared/errors `formatError`, the "Errors" habit of STYLE.md)
 * and is spelled out, not hidden, in the last `describe`: an error whose code is not public
 * (any subgraph error without one of the public codes, a subgraph answering HTTP 500 or
 * not answering) reaches our clients masked as "Internal server error" with code
 * INTERNAL_SERVER_ERROR and the request id, where the plain gateway passes the subgraph's
 * message, code, extensions, its name (`serviceName`) and even the subgraph's URL and HTTP
 * body through; errors with a public code pass through without `serviceName`.
 *
 * What "identical results" means here (the gateway must give identical results and also
 * mask errors with a request id): everything but error bodies is equal, and each of our
 * error bodies is exactly plain's error passed through the masking
 * (`asOursReports`, a function of plain's error and our request id alone). So a client
 * moving from plain @apollo/gateway sees the same data, statuses, error paths and public
 * codes, and loses only internals it should never have been shown.
 *
 * The other difference by design: a request whose operation cannot be resolved (no
 * operationName for a document of several, or one it does not have) fails in plain's
 * executor as an internal error, HTTP 500; ours refuses it as the client's, HTTP 400.
 */
import { Kind, OperationTypeNode, parse } from 'graphql';
import type { OperationDefinitionNode } from 'graphql';
import { startConformanceGateways } from './gateways.ts';
import type { ConformanceGateways } from './gateways.ts';
import { OPERATIONS } from './operations.ts';
import type { ConformanceOperation } from './operations.ts';
import { startConformanceSubgraphs } from './subgraphs.ts';
import type { ConformanceSubgraphs, MutationCall, ReceivedFetch } from './subgraphs.ts';

/**
 * The codes our gateway shows as they are (a subset of shared/errors' public and
 * passthrough codes: those this suite produces). Any other error is masked.
 */
const PUBLIC_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'NOT_FOUND',
]);

interface FormattedError {
  message: string;
  path?: (string | number)[];
  locations?: unknown[];
  extensions?: Record<string, unknown>;
}

interface Answer {
  status: number;
  contentType: string | null;
  body: { data?: unknown; errors?: FormattedError[]; extensions?: Record<string, unknown> };
  /** Our gateway's `x-request-id`, which masked errors quote. */
  requestId: string | null;
  /** What the subgraphs received for this request, in a stable order. */
  fetches: ReceivedFetch[];
  /**
   * For a mutation, the fetches in phases: each phase opens with a mutation fetch, in the
   * order they arrived, and holds the fetches that arrived after it and before the next
   * one (in a stable order: fetches of one phase may run in parallel). Empty for a query.
   */
  phases: ReceivedFetch[][];
  /** The mutation resolvers that ran, in the order they ran. */
  mutations: readonly MutationCall[];
}

let subgraphs: ConformanceSubgraphs;
let gateways: ConformanceGateways;

beforeAll(async () => {
  subgraphs = await startConformanceSubgraphs();
  gateways = await startConformanceGateways(subgraphs);
});

afterAll(async () => {
  await gateways?.stop();
  await subgraphs?.stop();
});

/**
 * One request at a time, so the subgraphs' records belong to it; each starts from the
 * fixture's initial data (what an earlier mutation changed is undone).
 */
async function ask(url: string, operation: ConformanceOperation): Promise<Answer> {
  subgraphs.reset();
  subgraphs.takeFetches();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: operation.query,
      variables: operation.variables,
      operationName: operation.operationName,
    }),
  });
  const body = (await response.json()) as Answer['body'];
  const arrived = subgraphs.takeFetches();
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body,
    requestId: response.headers.get('x-request-id'),
    fetches: inStableOrder(arrived),
    phases: mutationPhases(arrived),
    mutations: subgraphs.mutations(),
  };
}

/** A fetch with each distinct representation once, in the order of first appearance. */
function distinctRepresentations(fetch: ReceivedFetch): ReceivedFetch {
  const representations = fetch.variables['representations'];
  if (!Array.isArray(representations)) return fetch;
  const seen = new Set<string>();
  const distinct = representations.filter((representation) => {
    const key = JSON.stringify(representation);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { ...fetch, variables: { ...fetch.variables, representations: distinct } };
}

function inStableOrder(fetches: ReceivedFetch[]): ReceivedFetch[] {
  return [...fetches].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

/** `Answer.phases` of the fetches, in the order they arrived. */
function mutationPhases(arrived: ReceivedFetch[]): ReceivedFetch[][] {
  const phases: ReceivedFetch[][] = [];
  for (const fetch of arrived) {
    if (fetch.query.trimStart().startsWith('mutation')) phases.push([fetch]);
    else phases.at(-1)?.push(fetch);
  }
  return phases.map(([opening, ...rest]) => [opening!, ...inStableOrder(rest)]);
}

/**
 * The response keys of a mutation's root fields, in the order the operation lists them
 * (null for a query, or a document that does not parse).
 */
function mutationRootKeys({ query, operationName }: ConformanceOperation): string[] | null {
  let document;
  try {
    document = parse(query);
  } catch {
    return null;
  }
  const operation = document.definitions.find(
    (d): d is OperationDefinitionNode =>
      d.kind === Kind.OPERATION_DEFINITION &&
      (operationName === undefined || d.name?.value === operationName),
  );
  if (operation?.operation !== OperationTypeNode.MUTATION) return null;
  return operation.selectionSet.selections.flatMap((selection) =>
    selection.kind === Kind.FIELD && selection.name.value !== '__typename'
      ? [selection.alias?.value ?? selection.name.value]
      : [],
  );
}

/** What our gateway reports for an error the plain gateway reports as `error`. */
function asOursReports(error: FormattedError, requestId: string | null): FormattedError {
  const code = error.extensions?.['code'];
  if (typeof code === 'string' && PUBLIC_CODES.has(code)) {
    const { serviceName: _serviceName, ...extensions } = error.extensions ?? {};
    return { ...error, extensions };
  }
  return {
    message: 'Internal server error',
    ...(error.path ? { path: error.path } : {}),
    extensions: { code: 'INTERNAL_SERVER_ERROR', requestId },
  };
}

async function askBoth(operation: ConformanceOperation) {
  const plain = await ask(gateways.plain, operation);
  const ours = await ask(gateways.ours, operation);
  return { plain, ours };
}

describe('federation conformance: our gateway answers as plain @apollo/gateway', () => {
  it.each(OPERATIONS.map((operation) => [operation.name, operation] as const))(
    '%s',
    async (_name, operation) => {
      const { plain, ours } = await askBoth(operation);

      expect(plain.body.errors !== undefined).toBe(operation.expect === 'errors');
      expect(ours.status).toBe(plain.status);
      expect(ours.contentType).toBe(plain.contentType);
      expect(ours.fetches).toEqual(inStableOrder(plain.fetches.map(distinctRepresentations)));
      // Mutations: the same calls, one after another, each followed by its entity fetches
      // before the next starts, in the same order, and that is the operation's order.
      expect(ours.phases).toEqual(
        plain.phases.map((phase) =>
          phase.map((fetch, i) => (i === 0 ? fetch : distinctRepresentations(fetch))),
        ),
      );
      expect(ours.mutations).toEqual(plain.mutations);
      const rootKeys = mutationRootKeys(operation);
      if (rootKeys) expect(plain.mutations.map((m) => m.responseKey)).toEqual(rootKeys);
      expect(Object.keys(ours.body).sort()).toEqual(Object.keys(plain.body).sort());
      expect(ours.body.data).toEqual(plain.body.data);
      // The same bytes, too: keys in the same order.
      expect(JSON.stringify(ours.body.data)).toBe(JSON.stringify(plain.body.data));
      expect(ours.body.extensions).toEqual(plain.body.extensions);
      expect(ours.body.errors?.map((e) => e.path)).toEqual(plain.body.errors?.map((e) => e.path));
      expect(ours.body.errors).toEqual(
        plain.body.errors?.map((error) => asOursReports(error, ours.requestId)),
      );
    },
  );

  it('entities: the references of one entity fetch go to the subgraph in one batch', async () => {
    const { plain, ours } = await askBoth({
      name: 'batch',
      expect: 'data',
      query: '{ topProducts { upc reviews { id } } }',
    });
    for (const { fetches } of [plain, ours]) {
      const entityFetches = fetches.filter((f) => f.subgraph === 'reviews');
      expect(entityFetches).toHaveLength(1);
      expect(entityFetches[0]!.variables['representations']).toEqual(
        ['1', '2', '3', '4'].map((upc) => ({ __typename: 'Product', upc })),
      );
    }
  });
});

describe('what differs from plain @apollo/gateway, by design: errors are masked', () => {
  it('a subgraph error with a code of its own: plain passes it through, ours masks it', async () => {
    const { plain, ours } = await askBoth({
      name: 'recall',
      expect: 'errors',
      query: '{ product(upc: "2") { upc recall } }',
    });
    expect(ours.body.data).toEqual(plain.body.data);
    expect(plain.body.errors).toEqual([
      {
        message: 'Couch recalled',
        path: ['product', 'recall'],
        extensions: {
          code: 'PRODUCT_RECALLED',
          batch: 7,
          details: { severity: 'high' },
          serviceName: 'products',
        },
      },
    ]);
    expect(ours.requestId).toEqual(expect.any(String));
    expect(ours.body.errors).toEqual([
      {
        message: 'Internal server error',
        path: ['product', 'recall'],
        extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: ours.requestId },
      },
    ]);
  });

  it('a subgraph error with a public code: both pass it, only plain names the subgraph', async () => {
    const { plain, ours } = await askBoth({
      name: 'warehouse',
      expect: 'errors',
      query: '{ product(upc: "1") { warehouse } }',
    });
    const error = { message: 'Warehouse not found', path: ['product', 'warehouse'] };
    expect(plain.body.errors).toEqual([
      { ...error, extensions: { code: 'NOT_FOUND', serviceName: 'inventory' } },
    ]);
    expect(ours.body.errors).toEqual([{ ...error, extensions: { code: 'NOT_FOUND' } }]);
  });

  it('a subgraph that answers HTTP 500 or is down: plain shows its URL and answer, ours does not', async () => {
    const legacy = subgraphs.services.find((s) => s.name === 'legacy')!.url;
    const ghost = new URL(subgraphs.services.find((s) => s.name === 'ghost')!.url);
    const { plain, ours } = await askBoth({
      name: 'broken',
      expect: 'errors',
      query: '{ legacyStatus ghost }',
    });
    expect(ours.body.data).toEqual({ legacyStatus: null, ghost: null });
    expect(plain.body.data).toEqual(ours.body.data);
    expect(plain.body.errors).toEqual(
      expect.arrayContaining([
        {
          message: '500: Internal Server Error',
          extensions: {
            code: 'INTERNAL_SERVER_ERROR',
            response: {
              url: legacy,
              status: 500,
              statusText: 'Internal Server Error',
              body: { errors: [{ message: 'legacy database is down' }] },
            },
          },
        },
        {
          message: `request to ${ghost.href} failed, reason: connect ECONNREFUSED ${ghost.host}`,
          extensions: { code: 'INTERNAL_SERVER_ERROR' },
        },
      ]),
    );
    const masked = {
      message: 'Internal server error',
      extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: ours.requestId },
    };
    expect(ours.body.errors).toEqual([masked, masked]);
  });
});

describe('what differs from plain @apollo/gateway, by design: unresolvable operations are refused', () => {
  // Apollo Server lets them through to the executor, where plain's fails with HTTP 500; our
  // gateway refuses them first (its operation resolution plugin), as the client's error.
  const document = `
    query Look { product(upc: "4") { reviews { id } } }
    mutation Add { added: addReview(upc: "4", body: "Bright enough", rating: 4) { id } }
  `;
  it.each([
    [
      'several operations and no operationName',
      undefined,
      'Must provide operation name if query contains multiple operations.',
      'Must provide operation name if query contains multiple operations',
    ],
    [
      'an operationName the document does not have',
      'Remove',
      'Unknown operation named "Remove".',
      'Unknown operation named "Remove"',
    ],
  ])('%s: plain answers 500, ours 400', async (_name, operationName, plainSays, oursSays) => {
    const { plain, ours } = await askBoth({
      name: 'unresolvable',
      expect: 'errors',
      query: document,
      ...(operationName !== undefined ? { operationName } : {}),
    });
    expect(plain.status).toBe(500);
    expect(plain.body.errors).toEqual([
      expect.objectContaining({
        message: plainSays,
        extensions: expect.objectContaining({ code: 'INVALID_GRAPHQL' }),
      }),
    ]);
    expect(ours.status).toBe(400);
    expect(ours.body).toEqual({
      errors: [{ message: oursSays, extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } }],
    });
    // Neither ran anything.
    expect([plain.fetches, ours.fetches, plain.mutations, ours.mutations]).toEqual([
      [],
      [],
      [],
      [],
    ]);
  });
});

describe('which executor answered', () => {
  it("the gateway's own executor answered every operation but introspection", async () => {
    const metrics = await (await fetch(new URL('/metrics', gateways.ours))).text();
    const executions: Record<string, number> = {};
    for (const [, labels, count] of metrics.matchAll(
      /^gateway_operation_executions_total\{([^}]*)\} (\d+)$/gm,
    )) {
      const executor = /executor="([^"]+)"/.exec(labels!)?.[1];
      const reason = /reason="([^"]+)"/.exec(labels!)?.[1];
      executions[`${executor}:${reason}`] = Number(count);
    }
    const introspecting = OPERATIONS.filter((o) => /__schema|__type\(/.test(o.query)).length;
    const { 'own:none': own, ...apollo } = executions;
    // Every operation that passed validation was executed, once; only introspection by Apollo's.
    expect(apollo).toEqual({ 'apollo:introspection': introspecting });
    expect(own).toBeGreaterThan(OPERATIONS.length / 2);
  });
});
