/**
 * Reading what subgraphs declare about their events from a composed supergraph: lookups,
 * entity bindings, event-fed subscription fields with their arguments, versions and scopes;
 * renamed imports; and the declarations the gateway refuses to load, naming where they are.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { composeServices } from '@apollo/composition';
import { Kind, parse, print } from 'graphql';
import type { DocumentNode } from 'graphql';
import { z } from 'zod';
import { createCatalogue, defineEventType } from '../../shared/events/index.ts';
import { LIVE_SPEC_DEFINITIONS, LIVE_SPEC_URL, readLiveSchema } from './live-schema.ts';

const catalogue = createCatalogue([
  defineEventType('parcel.sent', 1, z.object({ parcelId: z.string() })),
  defineEventType('parcel.delivered', 1, z.object({ parcelId: z.string(), at: z.string() })),
  defineEventType('depot.emptied', 1, z.object({ parcels: z.array(z.object({ id: z.string() })) })),
]);

/** Composes a one-subgraph supergraph whose spec link imports `imports`. */
function supergraphOf(body: string, imports = '["@lookup", "@changedBy", "@liveEntity"]') {
  const names = ['@lookup', '@changedBy', '@liveEntity'].map((name) => {
    const renamed = new RegExp(`name: "${name}", as: "(@\\w+)"`).exec(imports);
    return renamed ? renamed[1]! : name;
  });
  const sdl = `
    extend schema
      @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@composeDirective"])
      @link(url: "${LIVE_SPEC_URL}", import: ${imports})
      ${names.map((name) => `@composeDirective(name: "${name}")`).join(' ')}
    ${LIVE_SPEC_DEFINITIONS.replace('@lookup', names[0]!)
      .replace('@changedBy', names[1]!)
      .replace('@liveEntity', names[2]!)}
    ${body}`;
  const result = composeServices([
    { name: 'parcels', url: 'http://parcels', typeDefs: parse(sdl) },
  ]);
  if (result.errors) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return {
    sdl: result.supergraphSdl,
    api: result.schema.toAPISchema().toGraphQLJSSchema(),
  };
}

const PARCELS = `
  type Query { parcel(id: ID!): Parcel @lookup }
  type Parcel @key(fields: "id")
    @changedBy(topic: "parcels.events", events: ["parcel.sent", "parcel.delivered"], key: "parcelId")
    @changedBy(topic: "depots.events", events: ["depot.emptied"], key: "parcels.id") {
    id: ID!
    status: String!
    updatedAt: String!
  }
  type Subscription {
    parcelMoved(parcelId: ID): Parcel!
      @liveEntity(argument: "parcelId", version: "updatedAt", everyRequiresScopes: [["ops"], ["admin"]])
      @changedBy(topic: "parcels.events", events: ["parcel.delivered"], key: "parcelId", set: ["status=DELIVERED"], version: "at", when: ["at=now"])
  }
`;

describe('readLiveSchema', () => {
  it('reads the lookups, the entity bindings and the event-fed subscription fields', () => {
    const { sdl, api } = supergraphOf(PARCELS);
    const live = readLiveSchema(sdl, api, catalogue);
    expect(live.events).toEqual(
      new Map([
        ['parcels.events', new Set(['parcel.sent', 'parcel.delivered'])],
        ['depots.events', new Set(['depot.emptied'])],
      ]),
    );
    expect(live.entities).toEqual([
      {
        typename: 'Parcel',
        lookups: [{ field: 'parcel', idArgument: 'id' }],
        bindings: [
          {
            topic: 'parcels.events',
            events: new Set(['parcel.sent', 'parcel.delivered']),
            key: ['parcelId'],
            when: [],
            set: {},
            version: null,
          },
          {
            topic: 'depots.events',
            events: new Set(['depot.emptied']),
            key: ['parcels', 'id'],
            when: [],
            set: {},
            version: null,
          },
        ],
      },
    ]);
    expect(live.subscriptions.get('parcelMoved')).toEqual({
      field: 'parcelMoved',
      typename: 'Parcel',
      lookup: { field: 'parcel', idArgument: 'id' },
      argument: 'parcelId',
      version: 'updatedAt',
      everyRequiresScopes: [['ops'], ['admin']],
      bindings: [
        {
          topic: 'parcels.events',
          events: new Set(['parcel.delivered']),
          key: ['parcelId'],
          when: [{ path: ['at'], value: 'now' }],
          set: { status: 'DELIVERED' },
          version: ['at'],
        },
      ],
    });
  });

  it('follows the names an import gives the directives', () => {
    const renamed = PARCELS.replaceAll('@changedBy', '@feeds').replaceAll('@lookup', '@byId');
    const { sdl, api } = supergraphOf(
      renamed,
      '[{ name: "@lookup", as: "@byId" }, { name: "@changedBy", as: "@feeds" }, "@liveEntity"]',
    );
    const live = readLiveSchema(sdl, api, catalogue);
    expect(live.subscriptions.get('parcelMoved')?.lookup).toEqual({
      field: 'parcel',
      idArgument: 'id',
    });
    expect(live.entities.map((entity) => entity.typename)).toEqual(['Parcel']);
  });

  it('is empty for a supergraph that does not link the spec', () => {
    const result = composeServices([
      { name: 'plain', url: 'http://plain', typeDefs: parse('type Query { hello: String }') },
    ]);
    const live = readLiveSchema(
      result.supergraphSdl!,
      result.schema!.toAPISchema().toGraphQLJSSchema(),
      catalogue,
    );
    expect(live).toEqual({ subscriptions: new Map(), entities: [], events: new Map() });
  });

  it.each([
    [
      'an event type the catalogue does not hold',
      PARCELS.replace('"parcel.sent", ', '"parcel.lost", '),
      '@changedBy on Parcel names parcel.lost, which the event catalogue does not hold',
    ],
    [
      'a subscription whose type has no lookup',
      PARCELS.replace('@lookup', ''),
      'Subscription.parcelMoved returns Parcel, which needs exactly one @lookup Query field (found 0)',
    ],
    [
      'a lookup that does not take one ID!',
      PARCELS.replace('parcel(id: ID!)', 'parcel(id: String!)'),
      '@lookup Query.parcel must take exactly one argument, of type ID!',
    ],
    [
      'an argument the field does not have',
      PARCELS.replace('argument: "parcelId"', 'argument: "id"'),
      'Subscription.parcelMoved has no argument id',
    ],
    [
      'a set entry that is not field=value',
      PARCELS.replace('"status=DELIVERED"', '"DELIVERED"'),
      'set entry "DELIVERED" is not path=value',
    ],
  ])('refuses %s, naming where', (_name, body, message) => {
    const { sdl, api } = supergraphOf(body);
    expect(() => readLiveSchema(sdl, api, catalogue)).toThrow(message);
  });
});

describe('the spec as subgraphs define it', () => {
  const ROOT = fileURLToPath(new URL('../../', import.meta.url));
  const definitionsIn = (document: DocumentNode) =>
    document.definitions
      .filter((d) => d.kind === Kind.DIRECTIVE_DEFINITION)
      .filter((d) => ['lookup', 'changedBy', 'liveEntity'].includes(d.name.value))
      .map((d) => print(d))
      .sort();

  it('is defined exactly as LIVE_SPEC_DEFINITIONS by every subgraph that links it', () => {
    const linking = readdirSync(path.join(ROOT, 'subgraphs'))
      .map((name) => path.join('subgraphs', name, 'schema.graphql'))
      .filter((file) => readFileSync(path.join(ROOT, file), 'utf8').includes(LIVE_SPEC_URL));
    expect(linking.sort()).toEqual([
      'subgraphs/catalog/schema.graphql',
      'subgraphs/orders/schema.graphql',
    ]);
    for (const file of linking) {
      const document = parse(readFileSync(path.join(ROOT, file), 'utf8'));
      expect({ file, definitions: definitionsIn(document) }).toEqual({
        file,
        definitions: definitionsIn(parse(LIVE_SPEC_DEFINITIONS)),
      });
    }
  });
});
