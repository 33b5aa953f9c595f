/**
 * Which domain events are changes a subscriber hears about: every order event (with its
 * owner), price or stock changes of a product, and the products a stock event names; and
 * which change a product's state for the response cache: every product and stock event.
 */
import { changesOf } from './change-feed.ts';

const ORDER = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a01';
const USER = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a02';
const P1 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a03';
const P2 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a04';

describe('changesOf', () => {
  it.each([
    ['order.placed', 'PENDING'],
    ['order.confirmed', 'CONFIRMED'],
    ['order.rejected', 'REJECTED'],
    ['order.cancelled', 'CANCELLED'],
  ])('makes %s a change of the order to %s, with its owner', (type, status) => {
    expect(changesOf(type, { orderId: ORDER, userId: USER })).toEqual([
      { kind: 'order', id: ORDER, userId: USER, type, status },
    ]);
  });

  it('makes a product update a change for subscribers only when the price or the stock changed', () => {
    const subscribed = (data: unknown) =>
      changesOf('product.updated', data).filter((change) => change.kind === 'product');
    expect(subscribed({ productId: P1, changed: ['priceCents'] })).toEqual([
      { kind: 'product', id: P1, type: 'product.updated' },
    ]);
    expect(subscribed({ productId: P1, changed: ['stock', 'name'] })).toHaveLength(1);
    expect(subscribed({ productId: P1, changed: ['name', 'description'] })).toEqual([]);
  });

  it.each([['product.created'], ['product.updated'], ['product.deleted']])(
    'makes %s a change of the product state, whatever changed',
    (type) => {
      expect(
        changesOf(type, { productId: P1, changed: ['description'] }).filter(
          (change) => change.kind === 'product-state',
        ),
      ).toEqual([{ kind: 'product-state', id: P1, type }]);
    },
  );

  it.each([['stock.reserved'], ['stock.released']])(
    'makes %s a change of every product it names',
    (type) => {
      expect(
        changesOf(type, {
          orderId: ORDER,
          items: [
            { productId: P1, quantity: 1, stockAfter: 0 },
            { productId: P2, quantity: 2, stockAfter: 5 },
          ],
        }),
      ).toEqual([
        { kind: 'product', id: P1, type },
        { kind: 'product-state', id: P1, type },
        { kind: 'product', id: P2, type },
        { kind: 'product-state', id: P2, type },
      ]);
    },
  );

  it.each([
    ['user.registered', { userId: USER }],
    ['stock.rejected', { orderId: ORDER, items: [] }],
    ['order.placed', { orderId: ORDER }],
  ])(
    'ignores %s (nothing a subscriber follows changed, or the payload lacks the owner)',
    (type, data) => {
      expect(changesOf(type, data)).toEqual([]);
    },
  );
});
