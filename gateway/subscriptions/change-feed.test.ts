/**
 * The changes an event makes under one `@changedBy` binding: the entity ids its key path
 * names (through arrays), only for its topic and event types, only when a `when` value holds,
 * with the values it sets and the version it carries.
 */
import { changesOf, valuesAt } from './change-feed.ts';
import type { EventBinding } from './live-schema.ts';

const binding = (more: Partial<EventBinding> = {}): EventBinding => ({
  topic: 'parcels.events',
  events: new Set(['parcel.moved']),
  key: ['parcelId'],
  when: [],
  set: {},
  version: null,
  ...more,
});

describe('valuesAt', () => {
  const data = {
    a: 'x',
    n: 7,
    list: [{ id: 'p1' }, { id: 'p2' }, { other: 1 }],
    nested: { deep: ['u', 'v'] },
  };

  it.each([
    [['a'], ['x']],
    [['n'], ['7']],
    [
      ['list', 'id'],
      ['p1', 'p2'],
    ],
    [
      ['nested', 'deep'],
      ['u', 'v'],
    ],
    [['missing'], []],
    [['a', 'beyond'], []],
    [['list'], []],
  ])('reads %j as %j', (path, values) => {
    expect(valuesAt(data, path)).toEqual(values);
  });
});

describe('changesOf', () => {
  it('makes a change of the entity its key names, with what the binding sets and the version', () => {
    const bound = binding({ set: { status: 'MOVED' }, version: ['movedAt'] });
    const event = {
      type: 'parcel.moved',
      data: { parcelId: 'p1', movedAt: '2026-12-07T10:00:00.000Z' },
    };
    expect(changesOf(bound, 'parcels.events', event, 9)).toEqual([
      {
        id: 'p1',
        type: 'parcel.moved',
        set: { status: 'MOVED' },
        version: '2026-12-07T10:00:00.000Z',
        sequence: 9,
      },
    ]);
  });

  it('makes one change per distinct entity a key path through a list names', () => {
    const bound = binding({ key: ['items', 'parcelId'] });
    const event = {
      type: 'parcel.moved',
      data: { items: [{ parcelId: 'p1' }, { parcelId: 'p2' }, { parcelId: 'p1' }] },
    };
    expect(changesOf(bound, 'parcels.events', event, 1).map((change) => change.id)).toEqual([
      'p1',
      'p2',
    ]);
  });

  it('ignores another topic, another event type, and an event no `when` value holds for', () => {
    const event = { type: 'parcel.moved', data: { parcelId: 'p1', changed: ['label'] } };
    expect(changesOf(binding(), 'depots.events', event, 1)).toEqual([]);
    expect(changesOf(binding(), 'parcels.events', { ...event, type: 'parcel.lost' }, 1)).toEqual(
      [],
    );
    const pricey = binding({
      when: [
        { path: ['changed'], value: 'price' },
        { path: ['changed'], value: 'weight' },
      ],
    });
    expect(changesOf(pricey, 'parcels.events', event, 1)).toEqual([]);
    const weighed = { ...event, data: { ...event.data, changed: ['label', 'weight'] } };
    expect(changesOf(pricey, 'parcels.events', weighed, 1)).toHaveLength(1);
  });

  it('makes no change of an event whose key is missing', () => {
    expect(changesOf(binding(), 'parcels.events', { type: 'parcel.moved', data: {} }, 1)).toEqual(
      [],
    );
  });
});
