export { BANNER_KEY, createLogger, logBanner, requestIdFrom, REQUEST_ID_HEADER } from './logger.ts';
export type { LogFormat, Logger, LoggerOptions } from './logger.ts';
export { createMetrics } from './metrics.ts';
export type { ServiceMetrics } from './metrics.ts';
export {
  ATTR_EVENTGRAPH_SERVICE,
  TRACER_NAME,
  consumeBatchSpan,
  consumeSpan,
  contextFromTraceparent,
  currentTraceparent,
  injectTraceparent,
  nameServerSpan,
  startConsumeSpan,
  startTracing,
  traceHttpRequests,
  traceInProcessRequest,
} from './tracing.ts';
export type { ConsumedEventSpan, OpenConsumeSpan, Tracing, TracingOptions } from './tracing.ts';
