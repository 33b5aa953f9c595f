export { createLogger, requestIdFrom, REQUEST_ID_HEADER } from './logger.ts';
export type { Logger, LoggerOptions } from './logger.ts';
export { createMetrics } from './metrics.ts';
export type { ServiceMetrics } from './metrics.ts';
