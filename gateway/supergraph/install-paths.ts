/**
 * Where the gateway's files are, in a module of their own: the start-up settings read the
 * default supergraph path without loading composition.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory `subgraphs/` and `schema/` are read from: the project root when running
 * the TypeScript, `dist/` in the image (the build copies the files next to the code).
 */
export const INSTALL_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The checked-in supergraph the gateway serves by default (SUPERGRAPH_PATH). */
export const DEFAULT_SUPERGRAPH_PATH = path.join(INSTALL_ROOT, 'schema', 'supergraph.graphql');
