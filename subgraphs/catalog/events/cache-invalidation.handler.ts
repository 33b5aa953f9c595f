/**
 * The catalog's own product and stock events → drop the cached products they changed. The
 * change already dropped them after commit; this second pass (group `catalog.cache`) covers
 * a crash in between and a reader that cached the old row while the change was committing.
 * Idempotent: deleting a missing key is a no-op.
 */
import type { EventHandler } from '../../../shared/events/index.ts';
import type {
  productDeletedV1,
  productUpdatedV1,
  stockReleasedV1,
  stockReservedV1,
} from '../../../schema/events/index.ts';
import type { ProductService } from '../domain/product.service.ts';

/** The events that change a cached product: one product, or the items of an order. */
type ProductChange =
  | typeof productUpdatedV1
  | typeof productDeletedV1
  | typeof stockReservedV1
  | typeof stockReleasedV1;

export function createCacheInvalidationHandler(
  products: ProductService,
): EventHandler<ProductChange> {
  return async ({ data }) => {
    const ids = 'items' in data ? data.items.map((item) => item.productId) : [data.productId];
    await products.invalidate(...ids);
  };
}
