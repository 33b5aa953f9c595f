// Jest configuration of the topology tier alone (`npm run test:topology`); jest.config.js says
// which test files each tier holds and runs them all.
import { runOf, tiers } from '../../jest.config.js';

export default runOf(tiers.topology);
