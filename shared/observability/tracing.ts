/**
 * OpenTelemetry tracing, off unless configured. `startTracing()` registers one tracer provider
 * per process (W3C trace context, AsyncLocalStorage context, a batching OTLP/HTTP exporter)
 * when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise it registers nothing, the helpers here
 * step aside at once and the @opentelemetry/api no-ops keep no context across async calls:
 * no span is recorded and no `traceparent` is ever sent on or stamped into an event.
 *
 * Spans are explicit (no auto-instrumentation: its loader hooks fight Node's type stripping):
 * a SERVER span per GraphQL HTTP request (`traceHttpRequests`, parented by the caller's
 * `traceparent`), the gateway's own spans (@apollo/gateway uses the global tracer), a CONSUMER
 * span per applied event (`consumeSpan`, parented by the envelope's `traceparent`). One trace
 * crosses processes by `traceparent`: the gateway puts it on each subgraph fetch, the outbox
 * stamps it into each envelope (and the Kafka header `traceparent`).
 *
 * In one process every service shares the provider, so every span names its service in
 * `eventgraph.service`; the resource's `service.name` names the process.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  createContextKey,
  trace,
} from '@opentelemetry/api';
import type {
  Attributes,
  Context,
  Link,
  Span,
  TextMapGetter,
  TextMapSetter,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { SpanExporter } from '@opentelemetry/sdk-trace-node';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_NAME,
} from '@opentelemetry/semantic-conventions';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from './logger.ts';

/** The span attribute naming the platform service (gateway, orders, …) that made the span. */
export const ATTR_EVENTGRAPH_SERVICE = 'eventgraph.service';

/** The name of the tracer every eventgraph span comes from. */
export const TRACER_NAME = 'eventgraph';

export interface TracingOptions {
  /** `service.name` of the process's resource (OTEL_SERVICE_NAME, else `eventgraph`). */
  serviceName: string;
  /** OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL; `/v1/traces` is appended. Unset: off. */
  endpoint?: string | undefined;
  logger: Logger;
  /** Instead of OTLP/HTTP, where spans go (tests: an in-memory exporter). Turns tracing on. */
  exporter?: SpanExporter;
}

export interface Tracing {
  /** True when a provider was registered (spans are recorded and exported). */
  readonly enabled: boolean;
  /** Exports every ended span now. */
  flush(): Promise<void>;
  /** Exports what is pending, then unregisters the provider. */
  stop(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();

/** Whether this process registered a provider: otherwise the helpers step aside at once. */
let registered = false;

const headerGetter: TextMapGetter<Record<string, string | string[] | undefined>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

const headerSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

export function startTracing(options: TracingOptions): Tracing {
  const { logger } = options;
  if (!options.endpoint && !options.exporter) {
    return { enabled: false, flush: async () => undefined, stop: async () => undefined };
  }
  const exporter =
    options.exporter ??
    new OTLPTraceExporter({ url: new URL('v1/traces', withSlash(options.endpoint!)).href });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  // Global: @apollo/gateway's spans and the AsyncLocalStorage context manager need it.
  provider.register({ propagator });
  registered = true;
  logger.info(
    { serviceName: options.serviceName, endpoint: options.endpoint ?? '(custom exporter)' },
    'tracing on: spans exported over OTLP/HTTP',
  );
  return {
    enabled: true,
    flush: () => provider.forceFlush(),
    async stop() {
      await provider.shutdown().catch((error: unknown) => {
        logger.warn({ err: error }, 'tracing: could not export the last spans');
      });
      registered = false;
      trace.disable();
      context.disable();
    },
  };
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

function tracer() {
  return trace.getTracer(TRACER_NAME);
}

/** The W3C `traceparent` of the active span (or of `ctx`); undefined when nothing is traced. */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  if (!trace.getSpanContext(ctx)) return undefined;
  const carrier: Record<string, string> = {};
  propagator.inject(ctx, carrier, headerSetter);
  return carrier['traceparent'];
}

/** Adds the active context's `traceparent` to outgoing headers (nothing when untraced). */
export function injectTraceparent(headers: { set(name: string, value: string): void }): void {
  const traceparent = currentTraceparent();
  if (traceparent) headers.set('traceparent', traceparent);
}

/** The context a `traceparent` names (a remote parent); the root context when absent or bad. */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagator.extract(ROOT_CONTEXT, { traceparent }, headerGetter);
}

const SERVER_SPAN = createContextKey('eventgraph.server-span');

/** A request's SERVER span: the context to handle it in, and its end with the status. */
interface ServerSpan {
  readonly active: Context;
  end(status: number): void;
}

/** A SERVER span for a request to `route`, child of the caller's `traceparent` in `headers`. */
function startServerSpan(
  service: string,
  method: string,
  route: string,
  headers: Record<string, string | string[] | undefined>,
): ServerSpan {
  const parent = propagator.extract(ROOT_CONTEXT, headers, headerGetter);
  const span = tracer().startSpan(
    `${method} ${route}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        [ATTR_EVENTGRAPH_SERVICE]: service,
        [ATTR_HTTP_REQUEST_METHOD]: method,
        [ATTR_HTTP_ROUTE]: route,
      },
    },
    parent,
  );
  let ended = false;
  return {
    active: trace.setSpan(parent, span).setValue(SERVER_SPAN, span),
    end(status) {
      if (ended) return;
      ended = true;
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    },
  };
}

/**
 * Express middleware for a GraphQL route: a SERVER span per request, child of the caller's
 * `traceparent`, active for everything that handles the request (body parsing included: the
 * request and response emitters are bound to it). Ends when the response is sent or aborted.
 */
export function traceHttpRequests(service: string, route = '/graphql') {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!registered) {
      next();
      return;
    }
    const span = startServerSpan(service, req.method, route, req.headers);
    const end = () => span.end(res.statusCode);
    res.once('finish', end);
    res.once('close', end);
    context.bind(span.active, req);
    context.bind(span.active, res);
    context.with(span.active, next);
  };
}

/**
 * `traceHttpRequests` for a request handed over in the caller's own process (a POST to
 * `/graphql` that never crossed a socket): the same SERVER span, child of the `traceparent` in
 * `headers`, active while `handle` runs and ended with the status it answers.
 */
export async function traceInProcessRequest<TAnswer extends { status: number }>(
  service: string,
  headers: Record<string, string>,
  handle: () => Promise<TAnswer>,
): Promise<TAnswer> {
  if (!registered) return handle();
  const span = startServerSpan(service, 'POST', '/graphql', headers);
  let status = 500;
  try {
    const answer = await context.with(span.active, handle);
    status = answer.status;
    return answer;
  } finally {
    span.end(status);
  }
}

/**
 * Names the active request's server span after its GraphQL operation (the GraphQL semantic
 * conventions: `{type} {name}`) and records both as attributes. No-op outside a traced request.
 */
export function nameServerSpan(operationType: string, operationName: string | null | undefined) {
  const span = context.active().getValue(SERVER_SPAN) as Span | undefined;
  if (!span) return;
  span.setAttribute('graphql.operation.type', operationType);
  if (operationName) span.setAttribute('graphql.operation.name', operationName);
  span.updateName(operationName ? `${operationType} ${operationName}` : operationType);
}

/** What a consumer span says about the event it applies. */
export interface ConsumedEventSpan {
  service: string;
  /** `messaging.system`: `kafka`, or `in-process` for the embedded bus. */
  system: string;
  topic: string;
  group: string;
  eventId: string;
  eventType: string;
  subject: string;
  partition: number;
  offset: string;
  /** The envelope's `traceparent`: the span's parent. */
  traceparent: string | undefined;
}

/** The attributes of an event's `process <event type>` span. */
function consumeAttributes(event: ConsumedEventSpan): Attributes {
  return {
    [ATTR_EVENTGRAPH_SERVICE]: event.service,
    'messaging.system': event.system,
    'messaging.operation.type': 'process',
    'messaging.destination.name': event.topic,
    'messaging.consumer.group.name': event.group,
    'messaging.message.id': event.eventId,
    'messaging.destination.partition.id': String(event.partition),
    'messaging.kafka.offset': Number(event.offset),
    'messaging.kafka.message.key': event.subject,
    'cloudevents.event_id': event.eventId,
    'cloudevents.event_type': event.eventType,
    'cloudevents.event_subject': event.subject,
  };
}

/**
 * Runs `work` in a CONSUMER span `process <event type>` whose parent is the event's trace (so
 * whatever `work` publishes continues that trace). Records a failure and rethrows it.
 */
export function consumeSpan<T>(event: ConsumedEventSpan, work: () => Promise<T>): Promise<T> {
  // Off: nothing per event on the consumer's hot path (no parsing, no attributes).
  if (!registered) return work();
  const parent = contextFromTraceparent(event.traceparent);
  return runSpan(`process ${event.eventType}`, consumeAttributes(event), parent, [], work);
}

/** An event's consumer span opened by {@link startConsumeSpan}. */
export interface OpenConsumeSpan {
  /** The span's context as a `traceparent`, to publish the event's consequences under. */
  readonly traceparent: string | undefined;
  /** Ends the span, recording `error` when there is one. */
  end(error?: unknown): void;
}

const NO_CONSUME_SPAN: OpenConsumeSpan = { traceparent: undefined, end() {} };

/**
 * Opens the same span as {@link consumeSpan} without making it active: for work that handles
 * many events at once (a batch handler), where each event's consequences are published under
 * its own span's `traceparent`. Untraced: no span, and no `traceparent`.
 */
export function startConsumeSpan(event: ConsumedEventSpan): OpenConsumeSpan {
  if (!registered) return NO_CONSUME_SPAN;
  const parent = contextFromTraceparent(event.traceparent);
  const span = tracer().startSpan(
    `process ${event.eventType}`,
    { kind: SpanKind.CONSUMER, attributes: consumeAttributes(event) },
    parent,
  );
  return {
    traceparent: currentTraceparent(trace.setSpan(parent, span)),
    end(error) {
      if (error !== undefined) recordError(span, error);
      span.end();
    },
  };
}

function recordError(span: Span, error: unknown): void {
  span.recordException(error as Error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
}

/**
 * Runs `work` in one CONSUMER span for a batch of events, linked to each event's trace (a
 * batch has many parents; links are how OpenTelemetry says so).
 */
export function consumeBatchSpan<T>(
  batch: { service: string; system: string; group: string; traceparents: (string | undefined)[] },
  work: () => Promise<T>,
): Promise<T> {
  if (!registered) return work();
  const links: Link[] = [];
  for (const traceparent of batch.traceparents) {
    const spanContext = trace.getSpanContext(contextFromTraceparent(traceparent));
    if (spanContext) links.push({ context: spanContext });
  }
  return runSpan(
    'process batch',
    {
      [ATTR_EVENTGRAPH_SERVICE]: batch.service,
      'messaging.system': batch.system,
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': batch.group,
      'messaging.batch.message_count': batch.traceparents.length,
    },
    ROOT_CONTEXT,
    links,
    work,
  );
}

function runSpan<T>(
  name: string,
  attributes: Attributes,
  parent: Context,
  links: Link[],
  work: () => Promise<T>,
): Promise<T> {
  if (!registered) return work();
  const span = tracer().startSpan(name, { kind: SpanKind.CONSUMER, attributes, links }, parent);
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await work();
    } catch (error) {
      recordError(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}
