// Jest configuration of the integration tier alone (`npm run test:integration`); jest.config.js says
// which test files each tier holds and runs them all.
import { runOf, tiers } from '../../jest.config.js';

export default runOf(tiers.integration);
