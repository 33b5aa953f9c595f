// Kafka wire-protocol pieces for the test broker proxy (./index.ts): frame splitting, request
// header parsing, and the few response rewrites the proxy needs so that clients only ever see
// the proxy's addresses. Only non-flexible (pre-KIP-482) message versions are parsed; the proxy
// caps the versions it advertises in ApiVersions (API_VERSION_CAPS) so that clients never pick a
// version these functions cannot handle. Anything it cannot parse is passed through unchanged.

/** Kafka API keys used by the proxy. */
export const ApiKey = {
  Produce: 0,
  Metadata: 3,
  FindCoordinator: 10,
  ApiVersions: 18,
  CreateTopics: 19,
} as const;

/** Kafka error codes used by the proxy. */
export const ErrorCode = {
  NONE: 0,
  INVALID_TOPIC_EXCEPTION: 17,
  UNSUPPORTED_VERSION: 35,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  INVALID_REPLICATION_FACTOR: 38,
  INVALID_REQUEST: 42,
  UNKNOWN_SERVER_ERROR: -1,
} as const;

/**
 * Highest version the proxy lets clients use per API key (all non-flexible). CreateTopics is not
 * implemented by librdkafka's mock cluster; the proxy answers it itself and adds it to ApiVersions.
 */
export const API_VERSION_CAPS: ReadonlyMap<number, number> = new Map([
  [ApiKey.Produce, 8],
  [ApiKey.Metadata, 8],
  [ApiKey.FindCoordinator, 2],
  [ApiKey.ApiVersions, 2],
  [ApiKey.CreateTopics, 4],
]);

/** Largest frame the proxy accepts (bytes); anything bigger is treated as a corrupt stream. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

/** A proxy-side address a broker id is rewritten to. */
export interface Address {
  host: string;
  port: number;
}

// ---------------------------------------------------------------------------------------------
// Reading and writing primitives

export interface Reader {
  readonly buf: Buffer;
  off: number;
}

export function reader(buf: Buffer, off = 0): Reader {
  return { buf, off };
}

function need(r: Reader, n: number): void {
  if (r.off + n > r.buf.length) {
    throw new RangeError(`Kafka message truncated: need ${n} bytes at offset ${r.off}`);
  }
}

export function readInt8(r: Reader): number {
  need(r, 1);
  const v = r.buf.readInt8(r.off);
  r.off += 1;
  return v;
}

export function readInt16(r: Reader): number {
  need(r, 2);
  const v = r.buf.readInt16BE(r.off);
  r.off += 2;
  return v;
}

export function readInt32(r: Reader): number {
  need(r, 4);
  const v = r.buf.readInt32BE(r.off);
  r.off += 4;
  return v;
}

/** Reads a (nullable) int16-length string. */
export function readString(r: Reader): string | null {
  const len = readInt16(r);
  if (len < 0) return null;
  need(r, len);
  const v = r.buf.toString('utf8', r.off, r.off + len);
  r.off += len;
  return v;
}

/** Reads an int32-count array; a null array (-1) reads as empty. */
export function readArray<T>(r: Reader, item: (r: Reader) => T): T[] {
  const n = readInt32(r);
  if (n > r.buf.length) throw new RangeError(`Kafka array length ${n} is implausible`);
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(item(r));
  return out;
}

export function int8(v: number): Buffer {
  const b = Buffer.alloc(1);
  b.writeInt8(v);
  return b;
}

export function int16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
}

export function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
}

/** Encodes a (nullable) int16-length string. */
export function string(v: string | null): Buffer {
  if (v === null) return int16(-1);
  const s = Buffer.from(v, 'utf8');
  return Buffer.concat([int16(s.length), s]);
}

export function array<T>(items: readonly T[], item: (v: T) => Buffer): Buffer {
  return Buffer.concat([int32(items.length), ...items.map(item)]);
}

// ---------------------------------------------------------------------------------------------
// Framing

/**
 * Returns a push function that splits a byte stream into Kafka frames (int32 size prefix) and
 * calls `onFrame` with each frame's payload (without the prefix). Throws on a corrupt size.
 */
export function frameSplitter(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let off = 0;
    while (pending.length - off >= 4) {
      const size = pending.readInt32BE(off);
      if (size < 0 || size > MAX_FRAME_BYTES) {
        throw new RangeError(`Kafka frame size ${size} out of range`);
      }
      if (pending.length - off - 4 < size) break;
      onFrame(pending.subarray(off + 4, off + 4 + size));
      off += 4 + size;
    }
    pending = off === pending.length ? Buffer.alloc(0) : pending.subarray(off);
  };
}

/** Prefixes a payload with its int32 size. */
export function frame(payload: Buffer): Buffer {
  return Buffer.concat([int32(payload.length), payload]);
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  /** Offset of the request body (valid for non-flexible versions, header v1). */
  bodyOffset: number;
}

export function parseRequestHeader(payload: Buffer): RequestHeader {
  const r = reader(payload);
  const apiKey = readInt16(r);
  const apiVersion = readInt16(r);
  const correlationId = readInt32(r);
  const clientId = readString(r);
  return { apiKey, apiVersion, correlationId, clientId, bodyOffset: r.off };
}

/** Whether a request gets a response; only Produce with acks=0 does not. */
export function expectsResponse(h: RequestHeader, payload: Buffer): boolean {
  if (h.apiKey !== ApiKey.Produce || h.apiVersion > 8) return true;
  try {
    const r = reader(payload, h.bodyOffset);
    if (h.apiVersion >= 3) readString(r); // transactional_id
    return readInt16(r) !== 0;
  } catch {
    return true;
  }
}

/** Encodes a request frame (size prefix included), header v1. */
export function encodeRequest(
  apiKey: number,
  apiVersion: number,
  correlationId: number,
  clientId: string,
  body: Buffer,
): Buffer {
  return frame(
    Buffer.concat([int16(apiKey), int16(apiVersion), int32(correlationId), string(clientId), body]),
  );
}

// ---------------------------------------------------------------------------------------------
// CreateTopics (v0-v4), answered by the proxy itself

export interface CreateTopicRequestTopic {
  name: string;
  /** -1 means "broker default". */
  numPartitions: number;
  /** -1 means "broker default". */
  replicationFactor: number;
  /** Manual assignment: partition index → replica broker ids. */
  assignments: { partition: number; brokerIds: number[] }[];
}

export interface CreateTopicsRequest {
  topics: CreateTopicRequestTopic[];
  timeoutMs: number;
  validateOnly: boolean;
}

export function parseCreateTopicsRequest(payload: Buffer, h: RequestHeader): CreateTopicsRequest {
  const r = reader(payload, h.bodyOffset);
  const topics = readArray(r, (t) => {
    const name = readString(t) ?? '';
    const numPartitions = readInt32(t);
    const replicationFactor = readInt16(t);
    const assignments = readArray(t, (a) => ({
      partition: readInt32(a),
      brokerIds: readArray(a, readInt32),
    }));
    readArray(t, (c) => [readString(c), readString(c)]); // configs: accepted, ignored
    return { name, numPartitions, replicationFactor, assignments };
  });
  const timeoutMs = readInt32(r);
  const validateOnly = h.apiVersion >= 1 ? readInt8(r) !== 0 : false;
  return { topics, timeoutMs, validateOnly };
}

export interface CreateTopicResult {
  name: string;
  errorCode: number;
  errorMessage: string | null;
}

/** Encodes a CreateTopics response payload (no size prefix) for v0-v4. */
export function encodeCreateTopicsResponse(
  correlationId: number,
  apiVersion: number,
  results: readonly CreateTopicResult[],
): Buffer {
  return Buffer.concat([
    int32(correlationId),
    apiVersion >= 2 ? int32(0) : Buffer.alloc(0), // throttle_time_ms
    array(results, (t) =>
      Buffer.concat([
        string(t.name),
        int16(t.errorCode),
        apiVersion >= 1 ? string(t.errorMessage) : Buffer.alloc(0),
      ]),
    ),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Response rewrites

/**
 * ApiVersions (v0-v2): caps versions per API_VERSION_CAPS and advertises CreateTopics. Returns
 * the payload unchanged for other versions or error responses.
 */
export function rewriteApiVersions(payload: Buffer, apiVersion: number): Buffer {
  if (apiVersion > 2) return payload;
  const r = reader(payload);
  const correlationId = readInt32(r);
  const errorCode = readInt16(r);
  if (errorCode !== ErrorCode.NONE) return payload;
  const apis = readArray(r, (a) => ({ key: readInt16(a), min: readInt16(a), max: readInt16(a) }));
  const rest = payload.subarray(r.off); // throttle_time_ms (v1+)
  if (!apis.some((a) => a.key === ApiKey.CreateTopics)) {
    apis.push({ key: ApiKey.CreateTopics, min: 0, max: 4 });
  }
  for (const a of apis) {
    const cap = API_VERSION_CAPS.get(a.key);
    if (cap !== undefined && a.max > cap) a.max = Math.max(cap, a.min);
  }
  return Buffer.concat([
    int32(correlationId),
    int16(errorCode),
    array(apis, (a) => Buffer.concat([int16(a.key), int16(a.min), int16(a.max)])),
    rest,
  ]);
}

export interface MetadataBroker {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface ParsedMetadataHead {
  brokers: MetadataBroker[];
  controllerId: number;
}

/** Parses the brokers and controller id of a Metadata response (v0-v8). */
export function parseMetadataHead(payload: Buffer, apiVersion: number): ParsedMetadataHead {
  return splitMetadata(payload, apiVersion).head;
}

function splitMetadata(payload: Buffer, v: number) {
  const r = reader(payload);
  readInt32(r); // correlation id
  if (v >= 3) readInt32(r); // throttle_time_ms
  const prefixEnd = r.off;
  const brokers = readArray(r, (b) => ({
    nodeId: readInt32(b),
    host: readString(b) ?? '',
    port: readInt32(b),
    rack: v >= 1 ? readString(b) : null,
  }));
  const clusterIdStart = r.off;
  if (v >= 2) readString(r); // cluster_id
  const clusterId = payload.subarray(clusterIdStart, r.off);
  const controllerId = v >= 1 ? readInt32(r) : -1;
  return {
    prefix: payload.subarray(0, prefixEnd),
    clusterId,
    rest: payload.subarray(r.off),
    head: { brokers, controllerId },
  };
}

/**
 * Metadata (v0-v8): broker host/port → the proxy's address for that broker id; a controller id
 * that is not a listed broker (the mock reports 0 or -1) → `fallbackControllerId`.
 */
export function rewriteMetadata(
  payload: Buffer,
  apiVersion: number,
  addresses: ReadonlyMap<number, Address>,
  fallbackControllerId: number,
): Buffer {
  if (apiVersion > 8) return payload;
  const { prefix, clusterId, rest, head } = splitMetadata(payload, apiVersion);
  const brokers = head.brokers.map((b) => ({ ...b, ...addresses.get(b.nodeId) }));
  const controllerId = brokers.some((b) => b.nodeId === head.controllerId)
    ? head.controllerId
    : fallbackControllerId;
  return Buffer.concat([
    prefix,
    array(brokers, (b) =>
      Buffer.concat([
        int32(b.nodeId),
        string(b.host),
        int32(b.port),
        apiVersion >= 1 ? string(b.rack) : Buffer.alloc(0),
      ]),
    ),
    clusterId,
    apiVersion >= 1 ? int32(controllerId) : Buffer.alloc(0),
    rest,
  ]);
}

/** FindCoordinator (v0-v2): coordinator host/port → the proxy's address for that broker id. */
export function rewriteFindCoordinator(
  payload: Buffer,
  apiVersion: number,
  addresses: ReadonlyMap<number, Address>,
): Buffer {
  if (apiVersion > 2) return payload;
  const r = reader(payload);
  readInt32(r); // correlation id
  if (apiVersion >= 1) readInt32(r); // throttle_time_ms
  readInt16(r); // error_code
  if (apiVersion >= 1) readString(r); // error_message
  const nodeIdAt = r.off;
  const nodeId = readInt32(r);
  readString(r);
  readInt32(r);
  const address = addresses.get(nodeId);
  if (address === undefined) return payload;
  return Buffer.concat([
    payload.subarray(0, nodeIdAt),
    int32(nodeId),
    string(address.host),
    int32(address.port),
    payload.subarray(r.off),
  ]);
}

/** Metadata v1 request body asking for all topics. */
export const METADATA_V1_ALL_TOPICS = int32(-1);

/** Parses the topic names of a Metadata v1 response (with their error codes). */
export function parseMetadataV1Topics(payload: Buffer): { name: string; errorCode: number }[] {
  const { rest } = splitMetadata(payload, 1);
  const r = reader(rest);
  return readArray(r, (t) => {
    const errorCode = readInt16(t);
    const name = readString(t) ?? '';
    readInt8(t); // is_internal
    readArray(t, (p) => {
      readInt16(p); // error_code
      readInt32(p); // partition_index
      readInt32(p); // leader_id
      readArray(p, readInt32); // replica_nodes
      readArray(p, readInt32); // isr_nodes
      return null;
    });
    return { name, errorCode };
  });
}
