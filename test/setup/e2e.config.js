// Jest configuration of the e2e tier alone (`npm run test:e2e`); jest.config.js says
// which test files each tier holds and runs them all.
import { runOf, tiers } from '../../jest.config.js';

export default runOf(tiers.e2e);
