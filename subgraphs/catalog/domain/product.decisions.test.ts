/**
 * Catalog rules as pure given/when/then decisions: what a valid product is (every field's
 * limits, with names and descriptions counted in characters, not UTF-16 units or bytes), which
 * fields an update really changes, that only ADMINs change products, that an order's stock
 * is reserved all or nothing, with unknown or deleted products outranking shortages, and that
 * a batch of order events decides each as if applied alone after the ones before it.
 */
import type { Identity } from '../../../shared/auth/index.ts';
import {
  ForbiddenError,
  UnauthenticatedError,
  ValidationError,
} from '../../../shared/errors/index.ts';
import { testIdentity, thrownBy } from '../../../shared/testing/index.ts';
import {
  DESCRIPTION_MAX_LENGTH,
  INT_MAX,
  NAME_MAX_LENGTH,
  applyChanges,
  assertAdmin,
  decideReservation,
  decideStock,
  validProduct,
} from './product.decisions.ts';
import type {
  ProductFields,
  RequestedItem,
  Reservation,
  StockCommand,
  StockLevel,
} from './product.decisions.ts';

const ALICE = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';

// Product ids in ascending order: P1 < P2 < P3.
const P1 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a01';
const P2 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a02';
const P3 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a03';

const identity = (userId: string, role: Identity['role']): Identity => testIdentity(userId, role);

/** A product that passes every rule, with `overrides` applied. */
const fields = (overrides: Partial<ProductFields> = {}): ProductFields => ({
  name: 'Espresso cup',
  description: 'Porcelain, 90 ml.',
  priceCents: 1250,
  currency: 'EUR',
  stock: 7,
  ...overrides,
});

/** Expects `decide` to throw BAD_USER_INPUT naming `field`; returns the error. */
function expectValidationError(decide: () => unknown, field: string): ValidationError {
  const error = thrownBy(decide);
  expect(error).toBeInstanceOf(ValidationError);
  expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field });
  return error as ValidationError;
}

const CUP = '🍵'; // one character, two UTF-16 units, four UTF-8 bytes
const E_ACUTE = '\u00e9'; // one character, two UTF-8 bytes
const E_COMBINING = 'e\u0301'; // 'e' + combining acute: NFC composes it into one 'é'

describe('validProduct', () => {
  it('returns a valid product field for field', () => {
    // given a product that breaks no rule, when validating, then exactly the same fields
    expect(validProduct(fields())).toEqual({
      name: 'Espresso cup',
      description: 'Porcelain, 90 ml.',
      priceCents: 1250,
      currency: 'EUR',
      stock: 7,
    });
  });

  it('trims the name and description, NFC-normalises them and upper-cases the currency', () => {
    const product = validProduct(
      fields({
        name: '  Cafe\u0301 au lait \t',
        description: '\n Served hot. \n',
        currency: ' eur ',
      }),
    );
    expect(product).toEqual({
      name: 'Café au lait',
      description: 'Served hot.',
      priceCents: 1250,
      currency: 'EUR',
      stock: 7,
    });
    expect(product.name).toBe('Caf\u00e9 au lait'); // composed, not 'e' + combining accent
  });

  it('does not change the input it was given', () => {
    const input = fields({ name: ' Mug ', currency: 'usd' });
    validProduct(input);
    expect(input).toEqual(fields({ name: ' Mug ', currency: 'usd' }));
  });

  describe('name', () => {
    it.each([
      ['200 ASCII characters', 'x'.repeat(200), 'x'.repeat(200)],
      ['200 two-byte characters', E_ACUTE.repeat(200), E_ACUTE.repeat(200)],
      ['200 emoji (400 UTF-16 units)', CUP.repeat(200), CUP.repeat(200)],
      [
        '200 characters written as 400 decomposed code points',
        E_COMBINING.repeat(200),
        E_ACUTE.repeat(200),
      ],
      ['200 characters inside surrounding spaces', `   ${'x'.repeat(200)}   `, 'x'.repeat(200)],
      ['one character', 'x', 'x'],
    ])('accepts %s', (_what, name, expected) => {
      expect(validProduct(fields({ name })).name).toBe(expected);
    });

    it('has NAME_MAX_LENGTH 200', () => {
      expect(NAME_MAX_LENGTH).toBe(200);
    });

    it.each([
      ['201 ASCII characters', 'x'.repeat(201)],
      ['201 two-byte characters', E_ACUTE.repeat(201)],
      ['201 emoji', CUP.repeat(201)],
      ['201 characters written as decomposed code points', E_COMBINING.repeat(201)],
    ])('refuses %s, naming `name`', (_what, name) => {
      const error = expectValidationError(() => validProduct(fields({ name })), 'name');
      expect(error.message).toBe('name must be at most 200 characters');
    });

    it.each([
      ['the empty string', ''],
      ['spaces', '   '],
      ['tabs and newlines', '\t\n\r\n'],
      ['a no-break space', '\u00a0'],
    ])('refuses %s as empty, naming `name`', (_what, name) => {
      const error = expectValidationError(() => validProduct(fields({ name })), 'name');
      expect(error.message).toBe('name must not be empty');
    });
  });

  describe('description', () => {
    it.each([
      ['the empty string', '', ''],
      ['only whitespace (trimmed to empty)', '  \n ', ''],
      ['5000 ASCII characters', 'd'.repeat(5000), 'd'.repeat(5000)],
      ['5000 emoji', CUP.repeat(5000), CUP.repeat(5000)],
      ['5000 characters inside surrounding spaces', ` ${'d'.repeat(5000)} `, 'd'.repeat(5000)],
    ])('accepts %s', (_what, description, expected) => {
      expect(validProduct(fields({ description })).description).toBe(expected);
    });

    it.each([
      ['5001 ASCII characters', 'd'.repeat(5001)],
      ['5001 emoji', CUP.repeat(5001)],
    ])('refuses %s, naming `description`', (_what, description) => {
      const error = expectValidationError(
        () => validProduct(fields({ description })),
        'description',
      );
      expect(error.message).toBe(
        `description must be at most ${DESCRIPTION_MAX_LENGTH} characters`,
      );
      expect(DESCRIPTION_MAX_LENGTH).toBe(5000);
    });
  });

  describe('priceCents', () => {
    it.each([[0], [1], [99], [INT_MAX]])('accepts %p', (priceCents) => {
      expect(validProduct(fields({ priceCents })).priceCents).toBe(priceCents);
    });

    it.each([
      ['a negative price', -1],
      ['a fraction of a cent', 2.5],
      ['one more than the largest GraphQL Int', INT_MAX + 1],
      ['NaN', Number.NaN],
      ['infinity', Number.POSITIVE_INFINITY],
    ])('refuses %s, naming `priceCents`', (_what, priceCents) => {
      const error = expectValidationError(() => validProduct(fields({ priceCents })), 'priceCents');
      expect(error.message).toBe('priceCents must be a whole number, 0 or more');
    });

    it('takes the largest GraphQL Int as 2^31 − 1', () => {
      expect(INT_MAX).toBe(2 ** 31 - 1);
    });
  });

  describe('currency', () => {
    it.each([
      ['EUR', 'EUR'],
      ['eur', 'EUR'],
      ['Usd', 'USD'],
      ['jPy', 'JPY'],
      ['  gbp\t', 'GBP'],
    ])('accepts %j as %j', (currency, expected) => {
      expect(validProduct(fields({ currency })).currency).toBe(expected);
    });

    it.each([
      ['an unknown three-letter code', 'ABC'],
      ['a four-letter word', 'EURO'],
      ['two letters', 'EU'],
      ['the empty string', ''],
      ['a digit', 'E1R'],
      ['a symbol', '€'],
      ['an ISO numeric code', '978'],
      ['a code with inner space', 'E UR'],
    ])('refuses %s, naming `currency`', (_what, currency) => {
      const error = expectValidationError(() => validProduct(fields({ currency })), 'currency');
      expect(error.message).toBe('currency must be an ISO 4217 code such as EUR');
    });
  });

  describe('stock', () => {
    it.each([[0], [1], [INT_MAX]])('accepts %p', (stock) => {
      expect(validProduct(fields({ stock })).stock).toBe(stock);
    });

    it.each([
      ['negative stock', -1],
      ['half a unit', 0.5],
      ['one more than the largest GraphQL Int', INT_MAX + 1],
      ['NaN', Number.NaN],
    ])('refuses %s, naming `stock`', (_what, stock) => {
      const error = expectValidationError(() => validProduct(fields({ stock })), 'stock');
      expect(error.message).toBe('stock must be a whole number, 0 or more');
    });
  });

  it.each([
    ['name before description', { name: '', description: 'd'.repeat(5001) }, 'name'],
    [
      'description before priceCents',
      { description: 'd'.repeat(5001), priceCents: -1 },
      'description',
    ],
    ['priceCents before currency', { priceCents: -1, currency: 'ABC' }, 'priceCents'],
    ['currency before stock', { currency: 'ABC', stock: -1 }, 'currency'],
  ])('names the first bad field when several are bad (%s)', (_what, overrides, field) => {
    expectValidationError(() => validProduct(fields(overrides)), field);
  });
});

describe('applyChanges', () => {
  const current = fields();

  it('changes nothing when no field is given', () => {
    // given no changes, when applying them, then the product is unchanged and nothing is reported
    expect(applyChanges(current, {})).toEqual({ next: current, changed: [] });
  });

  it('keeps every field that is null', () => {
    expect(
      applyChanges(current, {
        name: null,
        description: null,
        priceCents: null,
        currency: null,
        stock: null,
      }),
    ).toEqual({ next: current, changed: [] });
  });

  it('reports nothing when the values given equal the current ones (after normalising)', () => {
    // given the same values, spelled with spaces, lower case and a decomposed accent
    const product = fields({ name: 'Café' });
    const { next, changed } = applyChanges(product, {
      name: '  Cafe\u0301 ',
      description: ` ${product.description} `,
      priceCents: product.priceCents,
      currency: 'eur',
      stock: product.stock,
    });
    // then nothing changed
    expect(next).toEqual(product);
    expect(changed).toEqual([]);
  });

  it('applies one change and reports exactly that field', () => {
    expect(applyChanges(current, { priceCents: 990 })).toEqual({
      next: { ...current, priceCents: 990 },
      changed: ['priceCents'],
    });
  });

  it('reports every changed field, in field order, and no unchanged one', () => {
    // given new stock and name, a priceCents equal to the current one and a null currency
    const { next, changed } = applyChanges(current, {
      stock: 3,
      priceCents: current.priceCents,
      name: 'Espresso cup, white',
      currency: null,
    });
    // then exactly name and stock changed
    expect(changed).toEqual(['name', 'stock']);
    expect(next).toEqual({ ...current, name: 'Espresso cup, white', stock: 3 });
  });

  it('reports all five fields when all of them change', () => {
    const { next, changed } = applyChanges(current, {
      name: 'Teapot',
      description: 'Cast iron.',
      priceCents: 4500,
      currency: 'usd',
      stock: 2,
    });
    expect(next).toEqual({
      name: 'Teapot',
      description: 'Cast iron.',
      priceCents: 4500,
      currency: 'USD',
      stock: 2,
    });
    expect(changed).toEqual(['name', 'description', 'priceCents', 'currency', 'stock']);
  });

  it.each([
    ['a price of 0', { priceCents: 0 }, { priceCents: 0 }, ['priceCents']],
    ['a stock of 0', { stock: 0 }, { stock: 0 }, ['stock']],
    ['an empty description', { description: '' }, { description: '' }, ['description']],
  ])('treats %s as a change, not as "keep"', (_what, changes, expected, changed) => {
    expect(applyChanges(current, changes)).toEqual({
      next: { ...current, ...expected },
      changed,
    });
  });

  it('reports the normalised value, not the value as given', () => {
    expect(applyChanges(current, { name: '  Mug  ', currency: 'gbp' })).toEqual({
      next: { ...current, name: 'Mug', currency: 'GBP' },
      changed: ['name', 'currency'],
    });
  });

  it.each([
    ['an empty name (empty is not "keep")', { name: '' }, 'name'],
    ['a whitespace name', { name: '   ' }, 'name'],
    ['a 201-character name', { name: 'x'.repeat(201) }, 'name'],
    ['a 5001-character description', { description: 'd'.repeat(5001) }, 'description'],
    ['a negative price', { priceCents: -1 }, 'priceCents'],
    ['an unknown currency', { currency: 'ABC' }, 'currency'],
    ['fractional stock', { stock: 2.5 }, 'stock'],
  ])('refuses %s, naming the field', (_what, changes, field) => {
    expectValidationError(() => applyChanges(current, changes), field);
  });
});

describe('assertAdmin', () => {
  it('refuses an anonymous caller as unauthenticated', () => {
    const error = thrownBy(() => assertAdmin(null));
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect(error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'You must be signed in' });
  });

  it('refuses a USER as forbidden', () => {
    const error = thrownBy(() => assertAdmin(identity(ALICE, 'USER')));
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(error).toMatchObject({ code: 'FORBIDDEN', message: 'You are not allowed to do this' });
  });

  it('refuses a USER even with scopes', () => {
    const scoped = { ...identity(ALICE, 'USER'), scopes: ['catalog:write'] };
    expect(thrownBy(() => assertAdmin(scoped))).toBeInstanceOf(ForbiddenError);
  });

  it('lets an ADMIN through', () => {
    expect(thrownBy(() => assertAdmin(identity(ALICE, 'ADMIN')))).toBeUndefined();
  });
});

describe('decideReservation (all or nothing)', () => {
  const item = (productId: string, quantity: number): RequestedItem => ({ productId, quantity });
  const level = (productId: string, stock: number, onSale = true): StockLevel => ({
    productId,
    stock,
    onSale,
  });

  it('reserves every line, in product id order, with the stock left after it', () => {
    // given items out of id order and enough stock for each
    const decision = decideReservation(
      [item(P3, 1), item(P1, 2), item(P2, 5)],
      [level(P2, 10), level(P3, 1), level(P1, 9)],
    );
    // then each is reserved, sorted by id (the order rows are locked in)
    expect(decision).toEqual({
      kind: 'reserve',
      lines: [
        { productId: P1, quantity: 2, stockAfter: 7 },
        { productId: P2, quantity: 5, stockAfter: 5 },
        { productId: P3, quantity: 1, stockAfter: 0 },
      ],
    });
  });

  it('reserves an order that takes exactly all the stock, leaving 0', () => {
    expect(decideReservation([item(P1, 4)], [level(P1, 4)])).toEqual({
      kind: 'reserve',
      lines: [{ productId: P1, quantity: 4, stockAfter: 0 }],
    });
  });

  it('adds up repeated products before checking and reserving', () => {
    // given P1 asked for twice (2 + 3) and exactly 5 in stock, then one line of 5
    expect(
      decideReservation([item(P1, 2), item(P2, 1), item(P1, 3)], [level(P1, 5), level(P2, 1)]),
    ).toEqual({
      kind: 'reserve',
      lines: [
        { productId: P1, quantity: 5, stockAfter: 0 },
        { productId: P2, quantity: 1, stockAfter: 0 },
      ],
    });
  });

  it('rejects repeated products whose sum exceeds the stock though each line alone fits', () => {
    expect(decideReservation([item(P1, 2), item(P1, 3)], [level(P1, 4)])).toEqual({
      kind: 'reject',
      reason: 'OUT_OF_STOCK',
      message: `not enough stock: ${P1} (5 requested, 4 available)`,
      items: [{ productId: P1, requested: 5, available: 4 }],
    });
  });

  it('rejects the whole order when one item is short, naming only the short line', () => {
    // given P1 and P3 in stock but P2 one short
    const decision = decideReservation(
      [item(P1, 1), item(P2, 3), item(P3, 1)],
      [level(P1, 10), level(P2, 2), level(P3, 10)],
    );
    // then nothing is reserved and only P2 is named, with what was asked and what is there
    expect(decision).toEqual({
      kind: 'reject',
      reason: 'OUT_OF_STOCK',
      message: `not enough stock: ${P2} (3 requested, 2 available)`,
      items: [{ productId: P2, requested: 3, available: 2 }],
    });
  });

  it('names every short line, in product id order', () => {
    expect(
      decideReservation(
        [item(P3, 2), item(P2, 1), item(P1, 1)],
        [level(P1, 5), level(P2, 0), level(P3, 1)],
      ),
    ).toEqual({
      kind: 'reject',
      reason: 'OUT_OF_STOCK',
      message: `not enough stock: ${P2} (1 requested, 0 available), ${P3} (2 requested, 1 available)`,
      items: [
        { productId: P2, requested: 1, available: 0 },
        { productId: P3, requested: 2, available: 1 },
      ],
    });
  });

  it('rejects a product with no stock row as UNKNOWN_PRODUCT, with availability null', () => {
    expect(decideReservation([item(P1, 1), item(P2, 2)], [level(P1, 5)])).toEqual({
      kind: 'reject',
      reason: 'UNKNOWN_PRODUCT',
      message: `not on sale: ${P2}`,
      items: [{ productId: P2, requested: 2, available: null }],
    });
  });

  it('rejects a deleted product (off sale) as UNKNOWN_PRODUCT even with stock to spare', () => {
    expect(decideReservation([item(P1, 1)], [level(P1, 100, false)])).toEqual({
      kind: 'reject',
      reason: 'UNKNOWN_PRODUCT',
      message: `not on sale: ${P1}`,
      items: [{ productId: P1, requested: 1, available: null }],
    });
  });

  it('gives an unknown product precedence over a shortage, naming only the unknown ones', () => {
    // given P1 short, P2 deleted and P3 unknown
    const decision = decideReservation(
      [item(P1, 9), item(P3, 1), item(P2, 1), item(P3, 2)],
      [level(P1, 1), level(P2, 50, false)],
    );
    // then the reason is UNKNOWN_PRODUCT and the short P1 is not listed
    expect(decision).toEqual({
      kind: 'reject',
      reason: 'UNKNOWN_PRODUCT',
      message: `not on sale: ${P2}, ${P3}`,
      items: [
        { productId: P2, requested: 1, available: null },
        { productId: P3, requested: 3, available: null },
      ],
    });
  });

  it('ignores stock levels of products that were not ordered', () => {
    expect(
      decideReservation([item(P2, 1)], [level(P1, 0, false), level(P2, 1), level(P3, 0)]),
    ).toEqual({
      kind: 'reserve',
      lines: [{ productId: P2, quantity: 1, stockAfter: 0 }],
    });
  });
});

describe('decideStock (a batch of order events, in order)', () => {
  const O1 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4b01';
  const O2 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4b02';
  const O3 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4b03';
  const place = (orderId: string, ...items: [string, number][]): StockCommand => ({
    kind: 'place',
    orderId,
    items: items.map(([productId, quantity]) => ({ productId, quantity })),
  });
  const cancel = (orderId: string): StockCommand => ({ kind: 'cancel', orderId });
  const levels = (...stock: [string, number][]): StockLevel[] =>
    stock.map(([productId, units]) => ({ productId, stock: units, onSale: true }));
  const none = new Map<string, Reservation>();

  it('decides each placed order against the stock the orders before it left', () => {
    // given 5 of P1 and three orders of 2, 2 and 2
    const { outcomes, deltas, reservations } = decideStock(
      [place(O1, [P1, 2]), place(O2, [P1, 2]), place(O3, [P1, 2])],
      levels([P1, 5]),
      none,
    );
    // then the first two are reserved (5 → 3 → 1) and the third is short of one
    expect(outcomes).toEqual([
      { kind: 'reserved', orderId: O1, lines: [{ productId: P1, quantity: 2, stockAfter: 3 }] },
      { kind: 'reserved', orderId: O2, lines: [{ productId: P1, quantity: 2, stockAfter: 1 }] },
      {
        kind: 'rejected',
        orderId: O3,
        reason: 'OUT_OF_STOCK',
        message: `not enough stock: ${P1} (2 requested, 1 available)`,
        items: [{ productId: P1, requested: 2, available: 1 }],
      },
    ]);
    expect(deltas).toEqual(new Map([[P1, -4]]));
    expect(reservations.get(O3)).toEqual({
      status: 'REJECTED',
      items: [{ productId: P1, quantity: 2 }],
      reason: 'OUT_OF_STOCK',
    });
  });

  it('gives a cancelled order its stock back for the orders after it, once', () => {
    // given 2 of P1: O1 takes both, is cancelled (twice), then O2 asks for 2
    const { outcomes, deltas, reservations } = decideStock(
      [place(O1, [P1, 2]), cancel(O1), cancel(O1), place(O2, [P1, 2])],
      levels([P1, 2]),
      none,
    );
    expect(outcomes.map((outcome) => outcome.kind)).toEqual([
      'reserved',
      'released',
      'unchanged',
      'reserved',
    ]);
    expect(outcomes[1]).toEqual({
      kind: 'released',
      orderId: O1,
      lines: [{ productId: P1, quantity: 2, stockAfter: 2 }],
    });
    expect(deltas).toEqual(new Map([[P1, -2]]));
    expect(reservations.get(O1)).toEqual({
      status: 'RELEASED',
      items: [{ productId: P1, quantity: 2 }],
      reason: null,
    });
  });

  it('leaves no delta for a product whose changes cancel out', () => {
    const { deltas } = decideStock([place(O1, [P1, 1]), cancel(O1)], levels([P1, 1]), none);
    expect(deltas.size).toBe(0);
  });

  it('releases what an earlier batch reserved, and nothing for an order not RESERVED', () => {
    const before = new Map<string, Reservation>([
      [O1, { status: 'RESERVED', items: [{ productId: P2, quantity: 3 }] }],
      [O2, { status: 'REJECTED', items: [{ productId: P2, quantity: 9 }] }],
    ]);
    const { outcomes, deltas, reservations } = decideStock(
      [cancel(O2), cancel(O1), place(O1, [P2, 1])],
      levels([P2, 4]),
      before,
    );
    expect(outcomes).toEqual([
      { kind: 'unchanged', orderId: O2, status: 'REJECTED' },
      { kind: 'released', orderId: O1, lines: [{ productId: P2, quantity: 3, stockAfter: 7 }] },
      { kind: 'unchanged', orderId: O1, status: 'RELEASED' },
    ]);
    expect(deltas).toEqual(new Map([[P2, 3]]));
    expect([...reservations.keys()]).toEqual([O1]);
  });

  it('leaves a tombstone for an order cancelled before it was placed, so it reserves nothing', () => {
    const { outcomes, deltas, reservations } = decideStock(
      [cancel(O1), place(O1, [P1, 1])],
      levels([P1, 5]),
      none,
    );
    expect(outcomes).toEqual([
      { kind: 'tombstone', orderId: O1 },
      { kind: 'unchanged', orderId: O1, status: 'CANCELLED' },
    ]);
    expect(deltas.size).toBe(0);
    expect(reservations.get(O1)).toEqual({
      status: 'CANCELLED',
      items: [],
      reason: 'cancelled before it was decided',
    });
  });

  it('does not decide an order twice when it was decided before the batch', () => {
    const before = new Map<string, Reservation>([
      [O1, { status: 'RESERVED', items: [{ productId: P1, quantity: 1 }] }],
    ]);
    const { outcomes, deltas, reservations } = decideStock(
      [place(O1, [P1, 1])],
      levels([P1, 5]),
      before,
    );
    expect(outcomes).toEqual([{ kind: 'unchanged', orderId: O1, status: 'RESERVED' }]);
    expect(deltas.size).toBe(0);
    expect(reservations.size).toBe(0);
  });
});
