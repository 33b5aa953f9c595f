// Jest transform that removes TypeScript types with Node's own type stripper, the same one
// that runs the code under `npm start`: tests execute exactly what production executes,
// line numbers stay exact (types become whitespace), and no native compiler package is
// needed. Type checking is `npm run typecheck`'s job.
import { createHash } from 'node:crypto';
import { stripTypeScriptTypes } from 'node:module';

export default {
  process(sourceText, sourcePath) {
    return { code: stripTypeScriptTypes(sourceText, { mode: 'strip', sourceUrl: sourcePath }) };
  },
  getCacheKey(sourceText, sourcePath) {
    return createHash('sha256')
      .update(process.version)
      .update('\0')
      .update(sourcePath)
      .update('\0')
      .update(sourceText)
      .digest('hex');
  },
};
