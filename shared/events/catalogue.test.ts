/**
 * The event catalogue and envelope, without servers: event types are versioned payload schemas;
 * `parse` picks the version an envelope's `dataschema` names (v1 without one), returns what the
 * schema produced, and rejects unknown types/versions and invalid payloads with an
 * InvalidEventError naming the event id; `parseEnvelope` accepts only CloudEvents 1.0 envelopes;
 * `isTransientError` tells infrastructure failures (retried without limit) from event failures;
 * a consumer refuses to start with handlers it could not call safely.
 */
import { z } from 'zod';
import type { EntityManager, MikroORM } from '../db/index.ts';
import { testLogger } from '../testing/index.ts';
import {
  InvalidEventError,
  createCatalogue,
  createEnvelope,
  createInProcessTransport,
  createOutbox,
  dataSchemaUri,
  defineEventType,
  dlqTopic,
  isTransientError,
  on,
  outboxChannel,
  parseEnvelope,
  startEventConsumer,
} from './index.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const IncrementedV1 = defineEventType('counter.incremented', 1, z.object({ by: z.number().int() }));
const IncrementedV2 = defineEventType(
  'counter.incremented',
  2,
  z.object({ by: z.number().int(), reason: z.string().default('unspecified') }),
);
const Reset = defineEventType('counter.reset', 1, z.object({}));

// Versions deliberately out of order: `latest` must not depend on it.
const catalogue = createCatalogue([IncrementedV2, Reset, IncrementedV1]);

const event = (fields: { type?: string; dataschema?: string; data: unknown }) => ({
  id: '0197f3c2-5a1b-7c3d-8e4f-0123456789ab',
  type: fields.type ?? 'counter.incremented',
  data: fields.data,
  ...(fields.dataschema ? { dataschema: fields.dataschema } : {}),
});

function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, none was thrown');
}

describe('defineEventType and createCatalogue', () => {
  it('defines a type as its name, payload version and schema', () => {
    expect(IncrementedV1).toEqual({
      type: 'counter.incremented',
      version: 1,
      schema: expect.any(Object),
    });
  });

  it('finds a definition by type and version, and nothing for one it does not hold', () => {
    expect(catalogue.find('counter.incremented', 1)).toBe(IncrementedV1);
    expect(catalogue.find('counter.incremented', 2)).toBe(IncrementedV2);
    expect(catalogue.find('counter.incremented', 3)).toBeUndefined();
    expect(catalogue.find('counter.decremented', 1)).toBeUndefined();
  });

  it('knows the latest version of each type, whatever the order of definition', () => {
    expect(catalogue.latest('counter.incremented')).toBe(IncrementedV2);
    expect(catalogue.latest('counter.reset')).toBe(Reset);
    expect(catalogue.latest('counter.decremented')).toBeUndefined();
    expect(createCatalogue([IncrementedV1, IncrementedV2]).latest('counter.incremented')).toBe(
      IncrementedV2,
    );
  });

  it('lists every definition it holds, each version of each type, in definition order', () => {
    expect(catalogue.definitions()).toEqual([IncrementedV2, Reset, IncrementedV1]);
  });

  it('finds the definition an envelope names by its dataschema, v1 without one', () => {
    const type = 'counter.incremented';
    expect(catalogue.definitionOf({ type, dataschema: dataSchemaUri(type, 2) })).toBe(
      IncrementedV2,
    );
    expect(catalogue.definitionOf({ type })).toBe(IncrementedV1);
    expect(catalogue.definitionOf({ type, dataschema: dataSchemaUri(type, 3) })).toBeUndefined();
  });

  it('names a payload version in the dataschema URN', () => {
    expect(dataSchemaUri('counter.incremented', 2)).toBe('urn:eventgraph:counter.incremented:v2');
  });
});

describe('catalogue.parse', () => {
  it('validates against the version the dataschema names, returning what that schema produced', () => {
    expect(
      catalogue.parse(
        event({ dataschema: dataSchemaUri('counter.incremented', 2), data: { by: 2 } }),
      ),
    ).toEqual({ by: 2, reason: 'unspecified' });
    expect(
      catalogue.parse(
        event({
          dataschema: dataSchemaUri('counter.incremented', 1),
          data: { by: 2, reason: 'ignored by v1', extra: true },
        }),
      ),
    ).toEqual({ by: 2 });
  });

  it('reads an envelope without dataschema as version 1', () => {
    expect(catalogue.parse(event({ data: { by: 5, reason: 'v1 strips this' } }))).toEqual({
      by: 5,
    });
  });

  it('rejects an unknown type with InvalidEventError naming the event id (not retriable)', () => {
    const error = thrown(() =>
      catalogue.parse(event({ type: 'counter.decremented', data: { by: 1 } })),
    );

    expect(error).toBeInstanceOf(InvalidEventError);
    expect(error).toMatchObject({
      name: 'InvalidEventError',
      eventId: '0197f3c2-5a1b-7c3d-8e4f-0123456789ab',
      retriable: false,
      message:
        'event 0197f3c2-5a1b-7c3d-8e4f-0123456789ab: unknown event type counter.decremented v1',
    });
  });

  it('rejects a version the catalogue does not hold, naming the version', () => {
    const error = thrown(() =>
      catalogue.parse(
        event({ dataschema: dataSchemaUri('counter.incremented', 3), data: { by: 1 } }),
      ),
    );

    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as Error).message).toBe(
      'event 0197f3c2-5a1b-7c3d-8e4f-0123456789ab: unknown event type counter.incremented v3',
    );
  });

  it('rejects an invalid payload, naming the event id, the version and each failing field', () => {
    const error = thrown(() =>
      catalogue.parse(
        event({
          dataschema: dataSchemaUri('counter.incremented', 2),
          data: { by: 1.5, reason: 7 },
        }),
      ),
    );

    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as InvalidEventError).eventId).toBe('0197f3c2-5a1b-7c3d-8e4f-0123456789ab');
    expect((error as Error).message).toMatch(
      /^event 0197f3c2-5a1b-7c3d-8e4f-0123456789ab: counter\.incremented v2 payload is invalid: by: .+; reason: .+$/,
    );
  });

  it('names the payload itself when the data is not an object at all', () => {
    const error = thrown(() => catalogue.parse(event({ data: 'seven' })));

    expect((error as Error).message).toMatch(/payload is invalid: data: /);
  });
});

describe('InvalidEventError', () => {
  it('is just the reason when the event id is unknown', () => {
    const error = new InvalidEventError(undefined, 'message is not JSON');

    expect(error.message).toBe('message is not JSON');
    expect(error.eventId).toBeUndefined();
    expect(error.retriable).toBe(false);
    expect(error).toBeInstanceOf(Error);
  });
});

describe('createEnvelope', () => {
  it('builds a CloudEvents 1.0 envelope: subject is the aggregate, id a UUID v7', () => {
    const envelope = createEnvelope(
      'counters',
      { type: 'counter.incremented', subject: 'visits', data: { by: 1 } },
      dataSchemaUri('counter.incremented', 1),
    );

    expect(envelope).toEqual({
      specversion: '1.0',
      id: expect.stringMatching(UUID_V7),
      source: 'counters',
      type: 'counter.incremented',
      subject: 'visits',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      datacontenttype: 'application/json',
      dataschema: 'urn:eventgraph:counter.incremented:v1',
      data: { by: 1 },
    });
  });

  it('gives time-ordered ids, even within one millisecond', () => {
    const ids = Array.from(
      { length: 200 },
      () =>
        createEnvelope('counters', { type: 't', subject: 's', data: null }, undefined, {
          now: () => new Date(0),
        }).id,
    );

    expect(new Set(ids).size).toBe(200);
    expect([...ids].sort()).toEqual(ids);
  });

  it('takes time and id from its dependencies, and carries traceparent only when given', () => {
    const deps = { now: () => new Date('2026-01-02T03:04:05.678Z'), newId: () => 'fixed-id' };
    const traced = createEnvelope(
      'counters',
      {
        type: 'counter.reset',
        subject: 'visits',
        data: {},
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      },
      undefined,
      deps,
    );
    const untraced = createEnvelope(
      'counters',
      { type: 'counter.reset', subject: 'visits', data: {}, traceparent: undefined },
      undefined,
      deps,
    );

    expect(traced).toMatchObject({
      id: 'fixed-id',
      time: '2026-01-02T03:04:05.678Z',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
    expect(Object.keys(untraced)).not.toContain('traceparent');
    expect(Object.keys(untraced)).not.toContain('dataschema');
  });
});

describe('parseEnvelope', () => {
  const valid = createEnvelope(
    'counters',
    { type: 'counter.incremented', subject: 'visits', data: { by: 1 } },
    dataSchemaUri('counter.incremented', 1),
  );
  const withField = (field: string, value: unknown) => JSON.stringify({ ...valid, [field]: value });

  it('returns the envelope a producer serialized', () => {
    expect(parseEnvelope(JSON.stringify(valid))).toEqual(valid);
  });

  it.each([['{"id":'], [''], ['not json']])('rejects %j as not JSON, with no event id', (text) => {
    const error = thrown(() => parseEnvelope(text));

    expect(error).toBeInstanceOf(InvalidEventError);
    expect(error).toMatchObject({ message: 'message is not JSON', eventId: undefined });
  });

  it.each([['null'], ['42'], ['"a string"'], ['[]']])(
    'rejects JSON that is not an object (%s), naming the first missing field',
    (text) => {
      const error = thrown(() => parseEnvelope(text));

      expect(error).toBeInstanceOf(InvalidEventError);
      expect((error as Error).message).toBe('envelope field "id" must be a non-empty string');
    },
  );

  it.each(['source', 'type', 'subject', 'time'])(
    'rejects an envelope whose %s is missing, empty or not a string, naming the field and the event id',
    (field) => {
      for (const value of [undefined, '', 7]) {
        const error = thrown(() => parseEnvelope(withField(field, value)));

        expect(error).toBeInstanceOf(InvalidEventError);
        expect(error).toMatchObject({
          eventId: valid.id,
          message: `event ${valid.id}: envelope field "${field}" must be a non-empty string`,
        });
      }
    },
  );

  it('rejects an envelope whose id is missing or not a string, without an event id', () => {
    for (const value of [undefined, '', 42]) {
      const error = thrown(() => parseEnvelope(withField('id', value)));

      expect(error).toBeInstanceOf(InvalidEventError);
      expect((error as Error).message).toBe('envelope field "id" must be a non-empty string');
    }
  });

  it('rejects any specversion but 1.0', () => {
    for (const value of [undefined, '0.3', 1]) {
      const error = thrown(() => parseEnvelope(withField('specversion', value)));

      expect(error).toBeInstanceOf(InvalidEventError);
      expect((error as Error).message).toBe(`event ${valid.id}: specversion must be 1.0`);
    }
  });
});

describe('isTransientError', () => {
  const pgError = (code: string) =>
    Object.assign(new Error(`postgres says ${code}`), { code, severity: 'ERROR' });

  it.each([
    ['40001', 'serialization_failure'],
    ['40P01', 'deadlock_detected'],
    ['55P03', 'lock_not_available'],
    ['57P01', 'admin_shutdown'],
    ['53300', 'too_many_connections'],
    ['08006', 'connection_failure'],
    ['08001', 'sqlclient_unable_to_establish_sqlconnection'],
  ])('is true for PostgreSQL %s (%s)', (code) => {
    expect(isTransientError(pgError(code))).toBe(true);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'])(
    'is true for a socket %s, also deep in the cause chain',
    (code) => {
      const socket = Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code });

      expect(isTransientError(socket)).toBe(true);
      expect(
        isTransientError(
          new Error('query failed', { cause: new Error('driver failed', { cause: socket }) }),
        ),
      ).toBe(true);
    },
  );

  it.each([
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'timeout exceeded when trying to connect',
    'Client has encountered a connection error and is not queryable: connection ended',
  ])('is true for the pg driver’s "%s"', (message) => {
    expect(isTransientError(new Error(message))).toBe(true);
  });

  it('is false for a plain Error, an event error or a constraint violation', () => {
    expect(isTransientError(new Error('counter cannot decrease'))).toBe(false);
    expect(isTransientError(new InvalidEventError('id', 'payload is invalid'))).toBe(false);
    expect(isTransientError(pgError('23505'))).toBe(false); // unique_violation
    expect(isTransientError(pgError('22P02'))).toBe(false); // invalid_text_representation
    expect(
      isTransientError(new Error('handler failed', { cause: new TypeError('x is undefined') })),
    ).toBe(false);
  });

  it('is false for things that are not errors, and ends on a cyclic cause chain', () => {
    expect(isTransientError(undefined)).toBe(false);
    expect(isTransientError(null)).toBe(false);
    expect(isTransientError('ECONNREFUSED')).toBe(false);
    const cyclic: Error & { cause?: unknown } = new Error('a');
    cyclic.cause = new Error('b', { cause: cyclic });
    expect(isTransientError(cyclic)).toBe(false);
  });
});

describe('topic and channel names', () => {
  it('dead-letters <topic> to <topic>.dlq and signals the outbox on a per-schema channel', () => {
    expect(dlqTopic('users.events')).toBe('users.events.dlq');
    expect(outboxChannel('users')).toBe('eventgraph_outbox_users');
  });
});

describe('the outbox refuses text a consumer’s database would refuse or alter', () => {
  const Named = defineEventType('user.named', 1, z.object({ name: z.string() }));
  const outbox = createOutbox({
    schema: 'svc',
    source: 'svc',
    catalogue: createCatalogue([Named]),
  });
  // Validation runs before the outbox writes anything, so no database is involved: the
  // EntityManager only has to say it is in a transaction.
  const inTransaction = {
    isInTransaction: () => true,
    getTransactionContext: () => ({}),
  } as unknown as EntityManager;

  it.each([
    ['a NUL', 'Eve\u0000', 'data.name contains a NUL character (U+0000)'],
    ['a lone surrogate', 'Eve \ud800', 'data.name contains a lone UTF-16 surrogate'],
  ])('with %s: InvalidEventError naming the field', async (_what, name, message) => {
    const error = await outbox
      .publish(inTransaction, Named, [{ subject: 'u1', data: { name } }])
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as Error).message).toContain(message);
  });
});

describe('a consumer refuses, before it subscribes, handlers it could not call safely', () => {
  const logger = testLogger();
  const start = (options: Pick<Parameters<typeof startEventConsumer>[0], 'handlers'>) =>
    startEventConsumer({
      group: 'counters.tally',
      topics: ['counters.events'],
      ...options,
      // Refused before either is used.
      orm: {} as MikroORM,
      schema: 'counters',
      catalogue,
      transport: createInProcessTransport({ logger }),
      logger,
    });
  const noop = async () => undefined;

  it('two handlers for one event type and version', async () => {
    await expect(start({ handlers: [on(Reset, noop), on(Reset, noop)] })).rejects.toThrow(
      'consumer counters.tally: two handlers for counter.reset v1',
    );
  });

  it('a handler for a definition that is not the catalogue’s own', async () => {
    const lookalike = defineEventType('counter.reset', 1, z.object({}));

    await expect(start({ handlers: [on(lookalike, noop)] })).rejects.toThrow(
      'consumer counters.tally: counter.reset v1 is not in its catalogue',
    );
  });
});
