/** A first query anyone may run on this platform: products on sale (Sandbox and the banner show it). */
export const FIRST_QUERY = '{ products(first: 3) { edges { node { name priceCents currency } } } }';
