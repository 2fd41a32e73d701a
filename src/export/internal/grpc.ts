/**
 * The OTLP/gRPC transport: unary `Export` calls of
 * `opentelemetry.proto.collector.{trace,metrics,logs}.v1.*Service` over HTTP/2, through Deno's `node:http2`
 * client — cleartext with prior knowledge for `http://` targets, TLS with ALPN `h2` for `https://`.
 *
 * - **One connection per endpoint**, shared by the signals sent there, opened on first use and opened again
 *   after it fails, is closed by the peer (GOAWAY) or stalls: a call that reaches its deadline while the
 *   whole connection showed no sign of life destroys it, so a half-open or frozen connection is not reused.
 *   The connection keeps the process alive only while a call is in flight.
 * - **Framing** per gRPC's PROTOCOL-HTTP2: a length-prefixed message (the compressed flag set when the
 *   channel gzipped the body, with `grpc-encoding: gzip`), `te: trailers`, `grpc-timeout` from the
 *   exporter's per-request timeout, the user's headers as custom metadata.
 * - **Answers** are read from the trailers (or a Trailers-Only response): `grpc-status`, the
 *   percent-encoded `grpc-message`, and `grpc-status-details-bin` (a `google.rpc.Status` whose
 *   `google.rpc.RetryInfo` detail gives the retry delay). A non-gRPC answer (a proxy's HTTP 503) is
 *   mapped as gRPC's http-grpc-status-mapping says; a lost connection or a refused stream is
 *   `UNAVAILABLE`. The response message (its `partial_success`) is read up to 4 MiB, gzip included.
 * - **Classification** per the OTLP specification: `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`,
 *   `OUT_OF_RANGE`, `UNAVAILABLE`, `DATA_LOSS`, and `RESOURCE_EXHAUSTED` with a `RetryInfo`, are retried
 *   (by the channel, with its backoff, waiting at least `retry_delay`); any other status drops the batch
 *   with a reason naming it (`rejected_unauthenticated`…).
 *
 * @internal
 */
import * as http2 from "node:http2"
import type { OtlpSignal } from "../Exporter.ts"
import {
  concat,
  describeError,
  type Outcome,
  parsePartialSuccess,
  readAtMost,
  type Transport,
} from "./channel.ts"
import { forEachField } from "./protobuf.ts"
import type { DropReason } from "./stats.ts"

// ---------------------------------------------------------------------------------------------------------
// Status codes
// ---------------------------------------------------------------------------------------------------------

/** gRPC status code names, by code. */
export const grpcStatusNames: ReadonlyArray<string> = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
]

/** Codes used by name below. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const

/** Retried whatever the details say (the OTLP specification's table). */
const retryableCodes: ReadonlySet<number> = new Set([1, 4, 10, 11, 14, 15])

/** The name of a status code; codes outside the known range are `UNKNOWN`, as gRPC treats them. */
export const statusName = (code: number): string => grpcStatusNames[code] ?? "UNKNOWN"

/** The gRPC code of a non-gRPC HTTP answer (gRPC's doc/http-grpc-status-mapping.md). */
export const codeOfHttpStatus = (status: number): number =>
  status === 400
    ? Code.INTERNAL
    : status === 401
    ? Code.UNAUTHENTICATED
    : status === 403
    ? Code.PERMISSION_DENIED
    : status === 404
    ? Code.UNIMPLEMENTED
    : status === 429 || status === 502 || status === 503 || status === 504
    ? Code.UNAVAILABLE
    : Code.UNKNOWN

/** The gRPC code of a stream reset by the peer (PROTOCOL-HTTP2's RST_STREAM table). */
const codeOfRstStream = (rstCode: number): number =>
  rstCode === http2.constants.NGHTTP2_REFUSED_STREAM
    ? Code.UNAVAILABLE
    : rstCode === http2.constants.NGHTTP2_CANCEL
    ? Code.CANCELLED
    : rstCode === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM
    ? Code.RESOURCE_EXHAUSTED
    : rstCode === http2.constants.NGHTTP2_INADEQUATE_SECURITY
    ? Code.PERMISSION_DENIED
    : Code.INTERNAL

// ---------------------------------------------------------------------------------------------------------
// Wire helpers
// ---------------------------------------------------------------------------------------------------------

/** The `:path` of each signal's unary `Export` method. */
export const servicePaths: Readonly<Record<OtlpSignal, string>> = {
  traces: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
  metrics: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
  logs: "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}

/** A `grpc-timeout` value (at most 8 digits): milliseconds, or seconds past 10^8 ms. */
export const grpcTimeout = (ms: number): string => {
  const n = Math.max(1, Math.ceil(ms))
  return n < 100_000_000 ? `${n}m` : `${Math.min(99_999_999, Math.ceil(n / 1000))}S`
}

/** Decodes a percent-encoded `grpc-message`; broken escapes are left as they are. */
export const decodeGrpcMessage = (value: string): string => {
  if (!value.includes("%")) return value
  return value.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run)
    } catch {
      return run
    }
  })
}

/** Base64 (padded or not, as gRPC requires) to bytes; the first of comma-joined values; `undefined` if invalid. */
const fromBase64 = (value: string): Uint8Array | undefined => {
  try {
    const text = atob(value.split(",")[0]!.trim())
    const out = new Uint8Array(text.length)
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i)
    return out
  } catch {
    return undefined
  }
}

const utf8 = new TextDecoder()

/** What `grpc-status-details-bin` says: the `google.rpc.Status` code, message and `RetryInfo` delay. */
export interface StatusDetails {
  readonly code: number
  readonly message: string
  /** `google.rpc.RetryInfo.retry_delay`, in milliseconds, when a `RetryInfo` detail is present. */
  readonly retryDelayMs: number | undefined
}

/**
 * Decodes a `google.rpc.Status` (`code` = 1, `message` = 2, `details` = 3: `google.protobuf.Any` with
 * `type_url` = 1, `value` = 2) and the `google.rpc.RetryInfo` among its details (`retry_delay` = 1: a
 * `google.protobuf.Duration` with `seconds` = 1, `nanos` = 2); `undefined` when malformed.
 */
export const decodeStatusDetails = (bytes: Uint8Array): StatusDetails | undefined => {
  let code = 0
  let message = ""
  let retryDelayMs: number | undefined
  let valid = true
  const read = forEachField(bytes, (field, wire, value, data) => {
    if (field === 1 && wire === 0) code = value
    else if (field === 2 && wire === 2) message = utf8.decode(data)
    else if (field === 3 && wire === 2 && data !== undefined) {
      let typeUrl = ""
      let detail: Uint8Array | undefined
      valid = forEachField(data, (f, w, _v, d) => {
        if (f === 1 && w === 2) typeUrl = utf8.decode(d)
        else if (f === 2 && w === 2) detail = d
      }) && valid
      if (!typeUrl.endsWith("/google.rpc.RetryInfo") || detail === undefined) return
      let delay = 0
      valid = forEachField(detail, (f, w, _v, d) => {
        if (f !== 1 || w !== 2 || d === undefined) return
        valid = forEachField(d, (df, dw, dv) => {
          // int64 seconds and int32 nanos; a negative delay (10-byte varint) reads as huge: clamp below.
          if (df === 1 && dw === 0) delay += dv * 1000
          else if (df === 2 && dw === 0) delay += dv / 1_000_000
        }) && valid
      }) && valid
      retryDelayMs = Number.isFinite(delay) && delay >= 0 && delay < 2 ** 52 ? delay : undefined
    }
  })
  return read && valid ? { code, message, retryDelayMs } : undefined
}

/** The most response bytes read (the OTLP specification's default limit), after decompression too. */
export const maxGrpcResponseBytes = 4 * 1024 * 1024
/** The largest request message sent (the OTLP specification's default limit). */
export const maxGrpcRequestBytes = 64 * 1024 * 1024

const gunzipBounded = async (bytes: Uint8Array, max: number): Promise<Uint8Array | undefined> => {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream("gzip"))
  const { bytes: out, truncated } = await readAtMost(stream, max)
  return truncated ? undefined : out
}

// ---------------------------------------------------------------------------------------------------------
// The call
// ---------------------------------------------------------------------------------------------------------

/** How a unary call ended. */
export interface GrpcAnswer {
  readonly code: number
  readonly message: string
  /** From a `RetryInfo` in `grpc-status-details-bin`. */
  readonly retryDelayMs?: number | undefined
  /** The response message (OK only). */
  readonly response?: Uint8Array | undefined
}

type Headers = Readonly<Record<string, string | ReadonlyArray<string> | number | undefined>>

const header = (headers: Headers | undefined, name: string): string | undefined => {
  const value = headers?.[name]
  return value === undefined ? undefined : Array.isArray(value) ? value.join(",") : String(value)
}

/** Reads the answer once the stream closed. */
const answerOf = async (
  headers: Headers | undefined,
  trailers: Headers | undefined,
  body: Uint8Array,
  streamError: unknown,
  rstCode: number | undefined,
  connectionLost: boolean,
): Promise<GrpcAnswer> => {
  const source = header(trailers, "grpc-status") !== undefined
    ? trailers
    : header(headers, "grpc-status") !== undefined
    ? headers
    : undefined
  if (source !== undefined) {
    const raw = header(source, "grpc-status")!
    const code = /^\d+$/.test(raw) ? Number(raw) : Code.UNKNOWN
    const message = decodeGrpcMessage(header(source, "grpc-message") ?? "")
    const detailsBin = header(source, "grpc-status-details-bin")
    const details = detailsBin === undefined ? undefined : fromBase64(detailsBin)
    const decoded = details === undefined ? undefined : decodeStatusDetails(details)
    if (code !== Code.OK) return { code, message, retryDelayMs: decoded?.retryDelayMs }
    // The response message: the first length-prefixed message, decompressed when flagged.
    if (body.length < 5) return { code, message }
    const length = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(1)
    if (body.length < 5 + length) return { code, message }
    let response: Uint8Array | undefined = body.subarray(5, 5 + length)
    if (body[0] === 1) {
      const encoding = header(headers, "grpc-encoding")
      if (encoding !== "gzip") {
        return { code: Code.INTERNAL, message: `response compressed with unsupported ${encoding}` }
      }
      response = await gunzipBounded(response, maxGrpcResponseBytes).catch(() => undefined)
      if (response === undefined) {
        return { code: Code.RESOURCE_EXHAUSTED, message: "response unreadable or larger than 4 MiB" }
      }
    }
    return { code, message, response }
  }
  const status = headers === undefined ? undefined : Number(header(headers, ":status"))
  if (status !== undefined && status !== 200) {
    return { code: codeOfHttpStatus(status), message: `HTTP ${status} (not a gRPC answer)` }
  }
  // No status at all: the request may never have been processed.
  if (headers === undefined || connectionLost || streamError !== undefined) {
    return {
      code: Code.UNAVAILABLE,
      message: streamError !== undefined ? describeError(streamError) : "connection lost",
    }
  }
  if (rstCode !== undefined && rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
    return { code: codeOfRstStream(rstCode), message: `stream reset (HTTP/2 error ${rstCode})` }
  }
  return { code: Code.INTERNAL, message: "answer without grpc-status" }
}

const userAgent = "stagetrace-otlp-grpc/0.2.0"

/** A session with what the transport tracks about it. */
interface Session {
  readonly session: http2.ClientHttp2Session
  /** Responses, messages and trailers received: whether the connection shows any sign of life. */
  answered: number
  /** Calls in flight: the session keeps the process alive only while there are some. */
  active: number
}

/** Options of a connection. */
export interface GrpcConnectionOptions {
  /** PEM certificate(s) trusted for the server's TLS certificate (instead of the default roots). */
  readonly ca?: string | undefined
}

/** One long-lived HTTP/2 connection to a gRPC endpoint (see the module description). */
export class GrpcConnection {
  private current: Session | undefined = undefined
  private readonly sessions = new Set<Session>()
  private closed = false

  constructor(
    /** `http://host:port` (cleartext) or `https://host:port` (TLS). */
    readonly origin: string,
    private readonly options: GrpcConnectionOptions = {},
  ) {}

  private open(): Session {
    const current = this.current
    if (current !== undefined && !current.session.closed && !current.session.destroyed) return current
    const session = http2.connect(
      this.origin,
      this.options.ca === undefined ? {} : { ca: this.options.ca },
    )
    const entry: Session = { session, answered: 0, active: 0 }
    const forget = () => {
      if (this.current === entry) this.current = undefined
    }
    // An error or a GOAWAY ends the session for new calls; the calls in flight see it on their streams.
    session.on("error", forget)
    session.on("goaway", forget)
    session.on("close", () => {
      forget()
      this.sessions.delete(entry)
    })
    session.unref()
    this.sessions.add(entry)
    this.current = entry
    return entry
  }

  /** One unary call; never rejects. `signal` cancels it (RST_STREAM CANCEL). */
  call(
    path: string,
    metadata: Readonly<Record<string, string>>,
    message: Uint8Array,
    compressed: boolean,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<GrpcAnswer> {
    return new Promise<GrpcAnswer>((resolve) => {
      if (this.closed) return resolve({ code: Code.UNAVAILABLE, message: "exporter closed" })
      if (signal.aborted) return resolve({ code: Code.CANCELLED, message: "cancelled by the exporter" })
      let entry: Session
      let stream: http2.ClientHttp2Stream
      try {
        entry = this.open()
        stream = entry.session.request({
          ":method": "POST",
          ":path": path,
          "grpc-timeout": grpcTimeout(timeoutMs),
          "content-type": "application/grpc",
          te: "trailers",
          ...(compressed ? { "grpc-encoding": "gzip" } : {}),
          "grpc-accept-encoding": "identity,gzip",
          "user-agent": userAgent,
          ...metadata,
        })
      } catch (error) {
        return resolve({ code: Code.UNAVAILABLE, message: describeError(error) })
      }
      if (entry.active++ === 0) entry.session.ref()
      const before = entry.answered
      let settled = false
      let headers: Headers | undefined
      let trailers: Headers | undefined
      let streamError: unknown
      const chunks: Array<Uint8Array> = []
      let total = 0
      const settle = (answer: GrpcAnswer | Promise<GrpcAnswer>) => {
        if (settled) return
        settled = true
        signal.removeEventListener("abort", onAbort)
        if (--entry.active === 0 && !entry.session.destroyed) entry.session.unref()
        resolve(answer)
      }
      const onAbort = () => {
        // Cut off at the deadline (or at shutdown). With no sign of life from the whole connection since
        // this call started, it is stalled or half-open: drop it, so the next attempt connects afresh.
        if (entry.answered === before) entry.session.destroy()
        else stream.close(http2.constants.NGHTTP2_CANCEL)
        settle({ code: Code.DEADLINE_EXCEEDED, message: "cancelled at the deadline" })
      }
      signal.addEventListener("abort", onAbort, { once: true })
      stream.on("response", (h: Headers) => {
        entry.answered++
        headers = h
      })
      stream.on("trailers", (t: Headers) => {
        entry.answered++
        trailers = t
      })
      stream.on("data", (chunk: Uint8Array) => {
        entry.answered++
        total += chunk.length
        if (total > maxGrpcResponseBytes + 5) {
          stream.close(http2.constants.NGHTTP2_CANCEL)
          settle({ code: Code.RESOURCE_EXHAUSTED, message: "response larger than 4 MiB" })
        } else chunks.push(chunk)
      })
      stream.on("error", (error: unknown) => {
        streamError = error
      })
      stream.on("close", () => {
        if (settled) return
        const body = concat(chunks, total)
        const lost = entry.session.destroyed || entry.session.closed
        settle(answerOf(headers, trailers, body, streamError, stream.rstCode, lost && trailers === undefined))
      })
      const prefix = new Uint8Array(5)
      prefix[0] = compressed ? 1 : 0
      new DataView(prefix.buffer).setUint32(1, message.length)
      stream.write(prefix)
      stream.end(message)
    })
  }

  /** Closes every session; later calls answer `UNAVAILABLE`. */
  close(): Promise<void> {
    this.closed = true
    this.current = undefined
    const waits: Array<Promise<void>> = []
    for (const entry of this.sessions) {
      const session = entry.session
      if (session.destroyed) continue
      waits.push(new Promise<void>((resolve) => session.once("close", () => resolve())))
      session.destroy()
    }
    this.sessions.clear()
    return Promise.all(waits).then(() => undefined)
  }
}

/** The connections of one telemetry layer, one per endpoint (and trust settings). */
export class GrpcConnections {
  private readonly connections = new Map<string, GrpcConnection>()

  get(origin: string, options: GrpcConnectionOptions = {}): GrpcConnection {
    const key = `${origin}\n${options.ca ?? ""}`
    let connection = this.connections.get(key)
    if (connection === undefined) {
      connection = new GrpcConnection(origin, options)
      this.connections.set(key, connection)
    }
    return connection
  }

  get size(): number {
    return this.connections.size
  }

  close(): Promise<void> {
    const all = [...this.connections.values()]
    this.connections.clear()
    return Promise.all(all.map((connection) => connection.close())).then(() => undefined)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------------------------

/** The drop reason of a status that is not retried (`rejected_permission_denied`…). */
export const rejectionOf = (code: number): DropReason => {
  const name = retryableCodes.has(code) || code === Code.OK ? "UNKNOWN" : statusName(code)
  return `rejected_${name.toLowerCase()}` as DropReason
}

/** What an answer means for the channel (the OTLP specification's retry table). */
export const classify = (signal: OtlpSignal, answer: GrpcAnswer): Outcome => {
  const { code } = answer
  if (code === Code.OK) {
    return {
      _tag: "ok",
      partial: parsePartialSuccess(signal, answer.response, "application/grpc+proto", false),
    }
  }
  const error = `gRPC ${statusName(code)} (${code})${answer.message === "" ? "" : `: ${answer.message}`}`
  if (retryableCodes.has(code) || (code === Code.RESOURCE_EXHAUSTED && answer.retryDelayMs !== undefined)) {
    return { _tag: "retry", error, retryAfterMs: answer.retryDelayMs }
  }
  return { _tag: "fatal", error, reason: rejectionOf(code) }
}

/** The transport of one signal over `connection`. */
export const grpcTransport = (
  connection: GrpcConnection,
  signal: OtlpSignal,
  metadata: Readonly<Record<string, string>>,
): Transport => ({
  send: async (body, compressed, timeoutMs, abort) => {
    if (body.length > maxGrpcRequestBytes) {
      return {
        _tag: "fatal",
        error: `request of ${body.length} bytes exceeds the 64 MiB limit of OTLP/gRPC`,
        reason: "error",
      }
    }
    return classify(
      signal,
      await connection.call(servicePaths[signal], metadata, body, compressed, timeoutMs, abort),
    )
  },
})

// ---------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------

// Header-Name of PROTOCOL-HTTP2 (after lowercasing; HTTP/2 field names are lowercase).
const METADATA_NAME = /^[0-9a-z_.-]+$/
// ASCII-Value: space and printable ASCII.
const METADATA_VALUE = /^[\x20-\x7e]*$/
/** Set by the transport, or forbidden in HTTP/2 (connection-specific fields). */
const reserved: ReadonlySet<string> = new Set([
  "content-type",
  "te",
  "user-agent",
  "content-length",
  "content-encoding",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "host",
])

/**
 * The headers as gRPC custom metadata (names lowercased), or why they cannot be sent: a name outside
 * gRPC's `0-9 a-z _ - .` (after lowercasing), one the transport sets or HTTP/2 forbids, a reserved `grpc-`
 * name, or a value outside printable ASCII (`-bin` values are sent as given, base64).
 */
export const grpcMetadata = (
  headers: Readonly<Record<string, string>>,
): { readonly metadata: Record<string, string> } | { readonly problem: string } => {
  const metadata: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase()
    if (!METADATA_NAME.test(key)) return { problem: `Invalid gRPC metadata name ${JSON.stringify(name)}` }
    if (reserved.has(key) || key.startsWith("grpc-")) {
      return { problem: `The gRPC exporter sets ${name} itself or it is reserved` }
    }
    if (!METADATA_VALUE.test(value)) {
      return { problem: `Invalid characters in the value of ${name} (gRPC metadata is printable ASCII)` }
    }
    metadata[key] = value
  }
  return { metadata }
}

/** A gRPC target, resolved. */
export interface GrpcTarget {
  /** `http://host:port` or `https://host:port`. */
  readonly origin: string
  readonly tls: boolean
}

/**
 * Parses an OTLP/gRPC endpoint: an `http://` (cleartext) or `https://` (TLS) URL, whose path is ignored
 * (a gRPC target is a host and port), or a bare `host:port`, which uses TLS unless `insecure` is true.
 * Ports default to 80 and 443 by scheme; `undefined` when it is not a target.
 */
export const parseGrpcTarget = (value: string, insecure: boolean): GrpcTarget | undefined => {
  const trimmed = value.trim()
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)
  let url: URL
  try {
    url = new URL(hasScheme ? trimmed : `${insecure ? "http" : "https"}://${trimmed}`)
  } catch {
    return undefined
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined
  if (url.hostname === "" || url.username !== "" || url.password !== "") return undefined
  const tls = url.protocol === "https:"
  return { origin: `${url.protocol}//${url.host}`, tls }
}
