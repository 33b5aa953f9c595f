// Jest configuration of the unit tier alone (`npm run test:unit`); jest.config.js says
// which test files each tier holds and runs them all.
import { runOf, tiers } from '../../jest.config.js';

export default runOf(tiers.unit);
