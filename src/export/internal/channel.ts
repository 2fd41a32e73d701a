/**
 * One OTLP export channel (one exporter × one signal): a bounded queue fed synchronously from the hot
 * path, and one background fiber that sleeps without a timer while the queue is empty, then batches by
 * size and interval (a partial batch waits at most `scheduleDelay`), encodes, sends with a per-request
 * timeout — an OTLP/HTTP POST (a `Post`, whose 429/502/503/504 and network errors are retried, honouring
 * `Retry-After`) or a unary OTLP/gRPC call (a `Transport`, which classifies its own status codes) —
 * retries with exponential backoff and jitter, and accounts for every item: exported, or dropped with a
 * reason. Up to `maxConcurrentExports` batches are in flight at once (each on its own short fiber, with
 * its own retries): a full batch goes while earlier ones still wait for their answers, so the rate a
 * channel sustains is not one batch per round trip. Memory is bounded by the queue plus that many batches.
 *
 * Shutdown: the channel stops waiting for its interval, drains the queue in batches until the deadline
 * (still up to `maxConcurrentExports` at once), waits for the batches in flight, and counts whatever is
 * left, queued or in flight, as dropped (`shutdown`).
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import type * as Scope from "effect/Scope"
import * as daemon from "../../internal/daemon.ts"
import { forEachField } from "./protobuf.ts"
import { BoundedQueue, type DropReason, type ExportStats, type Signal } from "./stats.ts"

/** What a POST answered. */
export interface PostResult {
  readonly status: number
  readonly retryAfter: string | null
  /** The start of the response body (at most `maxResponseBytes`): where a partial success is reported. */
  readonly body?: Uint8Array | undefined
  /** The response's `Content-Type`. */
  readonly contentType?: string | null | undefined
}

/** Sends one request body; rejects on network errors; aborts when `signal` fires. */
export type Post = (
  url: string,
  body: Uint8Array,
  headers: Readonly<Record<string, string>>,
  signal: AbortSignal,
) => Promise<PostResult>

/** The most response bytes read: an OTLP answer is tiny, a misbehaving receiver's may not be. */
export const maxResponseBytes = 64 * 1024

/** Reads at most `max` bytes of a body, then cancels the rest; `undefined` when there is none. */
const readBounded = async (response: Response, max: number): Promise<Uint8Array | undefined> => {
  if (response.body === null) return undefined
  // The usual answer declares its small length: read it whole, without a stream reader.
  const declared = response.headers.get("content-length")
  if (declared !== null && /^\d{1,6}$/.test(declared) && Number(declared) <= max) {
    try {
      return await response.bytes()
    } catch {
      return undefined
    }
  }
  try {
    return (await readAtMost(response.body, max)).bytes
  } catch {
    // The status is what matters; a broken body is not a failed export.
    return undefined
  }
}

/**
 * Reads `stream` until its end or until `max` bytes, then cancels the rest: the bytes read (at most `max`)
 * and whether the stream had more.
 */
export const readAtMost = async (
  stream: ReadableStream<Uint8Array>,
  max: number,
): Promise<{ readonly bytes: Uint8Array; readonly truncated: boolean }> => {
  const reader = stream.getReader()
  const chunks: Array<Uint8Array> = []
  let total = 0
  let truncated = false
  try {
    while (true) {
      const { value, done } = await reader.read()
      if (done) break
      if (total + value.length > max) {
        chunks.push(value.subarray(0, max - total))
        total = max
        truncated = true
        await reader.cancel()
        break
      }
      chunks.push(value)
      total += value.length
    }
  } finally {
    reader.releaseLock()
  }
  return { bytes: concat(chunks, total), truncated }
}

/** The default transport: `fetch`, reading (a bounded start of) the response body. */
export const fetchPost: Post = async (url, body, headers, signal) => {
  const response = await fetch(url, { method: "POST", body: body as BodyInit, headers, signal })
  const answer = await readBounded(response, maxResponseBytes)
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    body: answer,
    contentType: response.headers.get("content-type"),
  }
}

/**
 * A minimal HTTP/1.1 POST over `Deno.connect` / `Deno.connectTls` (`Connection: close`). Used instead of
 * `fetch` when Deno's built-in OpenTelemetry is on: Deno traces every `fetch` and `node:http` call and
 * honours no suppression flag, so the telemetry's own export calls would otherwise become spans.
 */
export const rawPost: Post = async (url, body, headers, signal) => {
  const target = new URL(url)
  const tls = target.protocol === "https:"
  const port = target.port !== "" ? Number(target.port) : tls ? 443 : 80
  const hostname = target.hostname.replace(/^\[|\]$/g, "")
  signal.throwIfAborted()
  const conn = tls ? await Deno.connectTls({ hostname, port }) : await Deno.connect({ hostname, port })
  const abort = () => {
    try {
      conn.close()
    } catch {
      // Closed already.
    }
  }
  signal.addEventListener("abort", abort, { once: true })
  try {
    let head = `POST ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n`
    for (const [key, value] of Object.entries(headers)) head += `${key}: ${value}\r\n`
    const bytes = new TextEncoder().encode(head + "\r\n")
    const request = new Uint8Array(bytes.length + body.length)
    request.set(bytes)
    request.set(body, bytes.length)
    for (let offset = 0; offset < request.length;) offset += await conn.write(request.subarray(offset))
    // The answer is small: read it whole (bounded), then parse the status line and headers.
    const chunks: Array<Uint8Array> = []
    let total = 0
    const buffer = new Uint8Array(16 * 1024)
    let response: RawResponse | undefined
    while (total < maxResponseBytes) {
      const n = await conn.read(buffer)
      if (n === null) break
      chunks.push(buffer.slice(0, n))
      total += n
      response = parseRawResponse(concat(chunks, total))
      if (response?.complete === true) break
    }
    response ??= parseRawResponse(concat(chunks, total))
    if (response === undefined) throw new Error("Invalid HTTP response")
    return {
      status: response.status,
      retryAfter: response.header("retry-after"),
      body: response.body,
      contentType: response.header("content-type"),
    }
  } finally {
    signal.removeEventListener("abort", abort)
    abort()
  }
}

/** Joins `chunks` (of `total` bytes) into one array. */
export const concat = (chunks: ReadonlyArray<Uint8Array>, total: number): Uint8Array => {
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

const latin1 = new TextDecoder("latin1")

/** An HTTP/1.1 response read by `rawPost`. */
interface RawResponse {
  readonly status: number
  header(name: string): string | null
  /** The body read so far (de-chunked). */
  readonly body: Uint8Array
  /** Whether the whole body was read (by Content-Length or the chunked terminator). */
  readonly complete: boolean
}

/** Parses the bytes of an HTTP/1.1 response; `undefined` until its head is complete and valid. */
export const parseRawResponse = (bytes: Uint8Array): RawResponse | undefined => {
  let end = -1
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      end = i
      break
    }
  }
  if (end < 0) return undefined
  const head = latin1.decode(bytes.subarray(0, end))
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)
  if (status === null) return undefined
  const header = (name: string): string | null => {
    const match = new RegExp(`\r\n${name}:[ \t]*([^\r\n]*)`, "i").exec(head)
    return match === null ? null : match[1]!.trim()
  }
  const rest = bytes.subarray(end + 4)
  const length = header("content-length")
  if (length !== null && /^\d+$/.test(length)) {
    const n = Number(length)
    return { status: Number(status[1]), header, body: rest.subarray(0, n), complete: rest.length >= n }
  }
  if (/chunked/i.test(header("transfer-encoding") ?? "")) {
    const { body, complete } = dechunk(rest)
    return { status: Number(status[1]), header, body, complete }
  }
  return { status: Number(status[1]), header, body: rest, complete: false }
}

/** Decodes a chunked body as far as it goes. */
const dechunk = (bytes: Uint8Array): { body: Uint8Array; complete: boolean } => {
  const parts: Array<Uint8Array> = []
  let total = 0
  let pos = 0
  while (pos < bytes.length) {
    let lineEnd = pos
    while (lineEnd + 1 < bytes.length && !(bytes[lineEnd] === 13 && bytes[lineEnd + 1] === 10)) lineEnd++
    if (lineEnd + 1 >= bytes.length) break
    const size = parseInt(latin1.decode(bytes.subarray(pos, lineEnd)).split(";")[0]!.trim(), 16)
    if (!Number.isFinite(size)) break
    if (size === 0) return { body: concat(parts, total), complete: true }
    const start = lineEnd + 2
    if (start + size > bytes.length) break
    parts.push(bytes.subarray(start, start + size))
    total += size
    pos = start + size + 2
  }
  return { body: concat(parts, total), complete: false }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// field-value: visible characters, spaces and tabs inside, obs-text; never CR, LF or NUL (RFC 9110 5.5).
// deno-lint-ignore no-control-regex
const FIELD_VALUE = /^[^\x00-\x08\x0a-\x1f\x7f]*$/
/** Headers the channel sets itself. */
const ownHeaders: ReadonlySet<string> = new Set(["content-type", "content-encoding", "content-length"])

/**
 * Why extra request headers cannot be sent (`undefined` when they can): a name that is not an RFC 9110
 * token, a value with a control character (CR, LF, NUL…), or a header the exporter sets itself. `fetch`
 * would reject each such request, so every export would fail; they are configuration errors instead.
 */
export const headerProblem = (headers: Readonly<Record<string, string>>): string | undefined => {
  for (const name of Object.keys(headers)) {
    if (!TOKEN.test(name)) return `Invalid header name ${JSON.stringify(name)}`
    if (ownHeaders.has(name.toLowerCase())) return `The exporter sets ${name} itself`
    if (!FIELD_VALUE.test(headers[name]!)) return `Invalid characters in the value of ${name}`
  }
  return undefined
}

/** Tunables of a channel, already validated. */
export interface ChannelConfig {
  readonly signal: Exclude<Signal, "summaries">
  readonly url: string
  readonly contentType: string
  readonly headers: Readonly<Record<string, string>>
  readonly compression: "gzip" | "none"
  /** Per-request timeout, in milliseconds. */
  readonly timeoutMs: number
  /** Longest time one batch may spend in retries, in milliseconds. */
  readonly exportTimeoutMs: number
  readonly maxBatchSize: number
  readonly scheduleDelayMs: number
  readonly maxQueueSize: number
  /** Most batches in flight at once (each awaiting its answer or a retry). */
  readonly maxConcurrentExports: number
  /** First retry delay and the cap of the exponential backoff, in milliseconds. */
  readonly initialBackoffMs: number
  readonly maxBackoffMs: number
}

/** Retryable per the OTLP/HTTP specification. */
export const isRetryableStatus = (status: number): boolean =>
  status === 429 || status === 502 || status === 503 || status === 504

/**
 * Parses `Retry-After` (RFC 9110: delay-seconds, or an HTTP-date, whose three forms all start with the day
 * name) into milliseconds from `nowMs`; anything else is `undefined`.
 */
export const parseRetryAfter = (value: string | null, nowMs: number): number | undefined => {
  if (value === null) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  if (!/^(?:mon|tue|wed|thu|fri|sat|sun)/i.test(trimmed)) return undefined
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs)
}

/** Exponential backoff with "equal jitter": half fixed, half random. */
export const backoffDelay = (attempt: number, initialMs: number, maxMs: number, random: number): number => {
  const base = Math.min(maxMs, initialMs * 2 ** attempt)
  return base / 2 + (base / 2) * random
}

const gzip = async (body: Uint8Array): Promise<Uint8Array> => {
  const stream = new Blob([body as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"))
  return new Uint8Array(await new Response(stream).arrayBuffer())
}

/** `Name: message (cause)`, following `cause` chains (fetch hides the socket error there). */
export const describeError = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error)
  let text = `${error.name}: ${error.message}`
  let cause = error.cause
  for (let depth = 0; cause !== undefined && depth < 3; depth++) {
    text += cause instanceof Error ? ` (${cause.message})` : ` (${String(cause)})`
    cause = cause instanceof Error ? cause.cause : undefined
  }
  return text
}

/** What an OTLP receiver reported as rejected in a successful answer (`partial_success`). */
export interface PartialSuccess {
  readonly rejected: number
  readonly message: string
}

const jsonRejectedField: Readonly<Record<string, readonly [string, string]>> = {
  traces: ["rejectedSpans", "rejected_spans"],
  metrics: ["rejectedDataPoints", "rejected_data_points"],
  logs: ["rejectedLogRecords", "rejected_log_records"],
}

const utf8 = new TextDecoder()

/**
 * The `partial_success` of an `Export*ServiceResponse` (protobuf or JSON, by the answer's content type,
 * else by the request's), or `undefined` when there is none or the body cannot be read.
 */
export const parsePartialSuccess = (
  signal: Exclude<Signal, "summaries">,
  body: Uint8Array | undefined,
  contentType: string | null | undefined,
  sentJson: boolean,
): PartialSuccess | undefined => {
  if (body === undefined || body.length === 0) return undefined
  const json = contentType === null || contentType === undefined || contentType === ""
    ? sentJson
    : contentType.includes("json")
  if (json) {
    try {
      const answer = JSON.parse(utf8.decode(body))
      const partial = answer?.partialSuccess ?? answer?.partial_success
      if (partial === null || typeof partial !== "object") return undefined
      const [camel, snake] = jsonRejectedField[signal]!
      const rejected = Number(partial[camel] ?? partial[snake] ?? 0)
      const message = partial.errorMessage ?? partial.error_message
      return {
        rejected: Number.isSafeInteger(rejected) && rejected > 0 ? rejected : 0,
        message: typeof message === "string" ? message : "",
      }
    } catch {
      return undefined
    }
  }
  let partial: Uint8Array | undefined
  const valid = forEachField(body, (field, wire, _value, data) => {
    if (field === 1 && wire === 2) partial = data
  })
  if (!valid || partial === undefined) return undefined
  let rejected = 0
  let message = ""
  const ok = forEachField(partial, (field, wire, value, data) => {
    if (field === 1 && wire === 0) rejected = value
    else if (field === 2 && wire === 2 && data !== undefined) message = utf8.decode(data)
  })
  return ok ? { rejected, message } : undefined
}

/**
 * What one export attempt came to: accepted (perhaps partially), worth retrying (after at least
 * `retryAfterMs` when the receiver said so), or refused for good (its items dropped with `reason`,
 * `rejected` when absent).
 */
export type Outcome =
  | { readonly _tag: "ok"; readonly partial: PartialSuccess | undefined }
  | { readonly _tag: "retry"; readonly error: string; readonly retryAfterMs: number | undefined }
  | { readonly _tag: "fatal"; readonly error: string; readonly reason?: DropReason | undefined }

/**
 * A transport that classifies its own answers (OTLP/gRPC): sends one encoded batch, already compressed
 * when `compressed`, within `timeoutMs`; resolves to an `Outcome` (a transport error is a `retry`), and
 * stops when `signal` aborts. The channel keeps everything else: queue, batching, backoff, drop accounting.
 */
export interface Transport {
  readonly send: (
    body: Uint8Array,
    compressed: boolean,
    timeoutMs: number,
    signal: AbortSignal,
  ) => Promise<Outcome>
}

/** An export channel; see the module description. */
export class ExportChannel<T> {
  readonly queue: BoundedQueue<T>
  /** Opened when a batch is full (and at shutdown): ends the wait for a partial batch. */
  private readonly wake: Latch.Latch = Latch.makeUnsafe(false)
  /** Opened by the first item of an empty queue (and at shutdown): an idle channel sets no timer at all. */
  private readonly nonEmpty: Latch.Latch = Latch.makeUnsafe(false)
  /** Opened by `shutdown`: a batch waiting out a retry backoff is retried at once. */
  private readonly retryNow: Latch.Latch = Latch.makeUnsafe(false)
  /** Opened when a batch in flight ends: the loop waiting for a free export slot goes on. */
  private readonly slotFree: Latch.Latch = Latch.makeUnsafe(false)
  private closing = false
  private deadlineAt = Infinity
  /** Items in the batches in flight. */
  private inFlight = 0
  /** The fibers sending a batch (at most `maxConcurrentExports`). */
  private readonly exports: Set<Fiber.Fiber<void>> = new Set()
  private fiber: Fiber.Fiber<void> | undefined = undefined

  constructor(
    readonly config: ChannelConfig,
    private readonly encode: (items: ReadonlyArray<T>) => Uint8Array,
    private readonly stats: ExportStats,
    private readonly clock: Clock.Clock,
    /** OTLP/HTTP: a `Post` (its status codes are classified here); OTLP/gRPC: a `Transport`. */
    private readonly post: Post | Transport = fetchPost,
    private readonly random: () => number = Math.random,
  ) {
    this.queue = new BoundedQueue<T>(config.maxQueueSize)
    stats.queues.push(this.queue)
  }

  /** Enqueues one item; counts a `queue_full` drop when the queue is full. Synchronous and O(1). */
  offer(item: T): void {
    if (this.closing && this.fiber === undefined) {
      this.stats.drop(this.config.signal, "shutdown")
      return
    }
    if (!this.queue.offer(item)) {
      this.stats.drop(this.config.signal, "queue_full")
      return
    }
    const size = this.queue.size
    if (size === 1) this.nonEmpty.openUnsafe()
    if (size === this.config.maxBatchSize) this.wake.openUnsafe()
  }

  /**
   * Like `offer`, making the item from `source` only when it will be queued (encoding a span that is
   * dropped would be wasted). A `make` that throws drops the item as `error`: the hot path never fails.
   */
  offerWith<S>(source: S, make: (source: S) => T): void {
    if (this.closing && this.fiber === undefined) {
      this.stats.drop(this.config.signal, "shutdown")
      return
    }
    if (this.queue.size >= this.queue.capacity) {
      this.stats.drop(this.config.signal, "queue_full")
      return
    }
    let item: T
    try {
      item = make(source)
    } catch {
      this.stats.drop(this.config.signal, "error")
      return
    }
    this.offer(item)
  }

  /** Starts the background fiber in `scope`. */
  start(): Effect.Effect<void, never, Scope.Scope> {
    return Effect.forkScoped(this.loop()).pipe(
      Effect.map((fiber) => {
        this.fiber = fiber
      }),
    )
  }

  private loop(): Effect.Effect<void> {
    // deno-lint-ignore no-this-alias
    const self = this
    // One batch per step, on a succession of fibers (see daemon.ts); `false` ends the loop. A step must stay
    // short: a queue that never empties would otherwise keep one fiber (and its async context) forever.
    return daemon.loop(Effect.gen(function* () {
      if (self.exports.size >= self.config.maxConcurrentExports) {
        // Every export slot is taken: wait until a batch in flight ends (it opens the latch).
        self.slotFree.closeUnsafe()
        yield* self.slotFree.await
        return true
      }
      if (self.queue.size === 0) {
        if (self.closing) return false
        // Idle: wait for the first item, with no timer (a zero scheduleDelay must not spin).
        self.nonEmpty.closeUnsafe()
        yield* self.nonEmpty.await
        return true
      }
      // Re-arm the wake-up before deciding to wait: an offer that fills a batch from now on opens it.
      self.wake.closeUnsafe()
      // A full batch (or shutdown) goes at once; a partial one waits at most scheduleDelay.
      if (!self.closing && self.queue.size < self.config.maxBatchSize) {
        yield* Effect.raceFirst(Effect.sleep(self.config.scheduleDelayMs), self.wake.await)
      }
      if (self.queue.size > 0) yield* self.startExport(self.queue.take(self.config.maxBatchSize))
      return !(self.closing && self.queue.size === 0)
    })).pipe(
      // Drained (at shutdown): the batches still in flight end, or the shutdown deadline interrupts them.
      Effect.andThen(Effect.suspend(() => Fiber.awaitAll([...self.exports]))),
      Effect.onInterrupt(() => Effect.suspend(() => Fiber.interruptAll([...self.exports]))),
      Effect.asVoid,
    )
  }

  /**
   * Sends `batch` on a fiber of its own (detached from the loop's short-lived step fibers; interrupted by
   * the loop's interruption). Its items count as in flight until it ends; an interrupted export leaves
   * them there, for `shutdown` to count as dropped.
   */
  private startExport(batch: ReadonlyArray<T>): Effect.Effect<void> {
    this.inFlight += batch.length
    // A defect must not end the channel (every later item would pile up as queue_full): drop the batch.
    const send = Effect.catchDefect(this.exportBatch(batch), (defect) =>
      Effect.sync(() => {
        this.stats.drop(this.config.signal, "error", batch.length)
        this.stats.failed(
          `${this.config.signal}: ${defect instanceof Error ? defect.message : String(defect)}`,
          this.clock.currentTimeMillisUnsafe(),
        )
      }))
    return Effect.map(Effect.forkDetach(send, { startImmediately: true }), (fiber) => {
      this.exports.add(fiber)
      // Called at once when the export already ended (an encoding error, a synchronous transport).
      fiber.addObserver((exit) => {
        this.exports.delete(fiber)
        if (!Exit.hasInterrupts(exit)) this.inFlight -= batch.length
        this.slotFree.openUnsafe()
      })
    })
  }

  private send(body: Uint8Array, timeoutMs: number): Effect.Effect<Outcome> {
    const transport = this.post
    if (typeof transport !== "function") {
      const compressed = this.config.compression === "gzip"
      return Effect.tryPromise({
        try: (signal) => transport.send(body, compressed, timeoutMs, signal),
        catch: (error) => error,
      }).pipe(
        Effect.timeoutOption(Math.max(1, timeoutMs)),
        Effect.map((result): Outcome =>
          result._tag === "None"
            ? { _tag: "retry", error: `timed out after ${timeoutMs} ms`, retryAfterMs: undefined }
            : result.value
        ),
        Effect.catch((error) =>
          Effect.succeed<Outcome>({ _tag: "retry", error: describeError(error), retryAfterMs: undefined })
        ),
      )
    }
    const headers = this.config.compression === "gzip"
      ? { ...this.config.headers, "content-type": this.config.contentType, "content-encoding": "gzip" }
      : { ...this.config.headers, "content-type": this.config.contentType }
    const nowMs = () => this.clock.currentTimeMillisUnsafe()
    return Effect.tryPromise({
      try: (signal) => transport(this.config.url, body, headers, signal),
      catch: (error) => error,
    }).pipe(
      Effect.timeoutOption(Math.max(1, timeoutMs)),
      Effect.map((result): Outcome => {
        if (result._tag === "None") {
          return { _tag: "retry", error: `timed out after ${timeoutMs} ms`, retryAfterMs: undefined }
        }
        const { status, retryAfter } = result.value
        if (status >= 200 && status < 300) {
          return {
            _tag: "ok",
            partial: parsePartialSuccess(
              this.config.signal,
              result.value.body,
              result.value.contentType,
              this.config.contentType === "application/json",
            ),
          }
        }
        if (isRetryableStatus(status)) {
          return {
            _tag: "retry",
            error: `HTTP ${status}`,
            retryAfterMs: parseRetryAfter(retryAfter, nowMs()),
          }
        }
        return { _tag: "fatal", error: `HTTP ${status}` }
      }),
      Effect.catch((error) =>
        Effect.succeed<Outcome>({
          _tag: "retry",
          error: describeError(error),
          retryAfterMs: undefined,
        })
      ),
    )
  }

  private exportBatch(batch: ReadonlyArray<T>): Effect.Effect<void> {
    // deno-lint-ignore no-this-alias
    const self = this
    const { signal } = this.config
    return Effect.gen(function* () {
      let body: Uint8Array
      try {
        body = self.encode(batch)
        if (self.config.compression === "gzip") body = yield* Effect.promise(() => gzip(body))
      } catch (error) {
        self.stats.drop(signal, "error", batch.length)
        self.stats.failed(`encode: ${String(error)}`, self.clock.currentTimeMillisUnsafe())
        return
      }
      const startedAt = self.clock.currentTimeMillisUnsafe()
      for (let attempt = 0;; attempt++) {
        const now = self.clock.currentTimeMillisUnsafe()
        const budget = Math.min(self.config.exportTimeoutMs - (now - startedAt), self.deadlineAt - now)
        const outcome = yield* self.send(body, Math.min(self.config.timeoutMs, Math.max(1, budget)))
        const after = self.clock.currentTimeMillisUnsafe()
        if (outcome._tag === "ok") {
          // A partial success is not retried; what the receiver rejected is dropped (traces and logs count
          // items; a metrics batch is one item, so its rejected data points are only reported).
          const partial = outcome.partial
          const rejected = partial === undefined || signal === "metrics"
            ? 0
            : Math.min(batch.length, partial.rejected)
          self.stats.drop(signal, "rejected", rejected)
          self.stats.exportedOk(signal, batch.length - rejected, after)
          if (partial !== undefined && partial.rejected > 0) {
            self.stats.lastError = `partial success: ${partial.rejected} rejected${
              partial.message === "" ? "" : ` (${partial.message})`
            }`
          }
          return
        }
        if (outcome._tag === "fatal") {
          self.stats.drop(signal, outcome.reason ?? "rejected", batch.length)
          self.stats.failed(outcome.error, after)
          return
        }
        // Retry-After may lengthen the wait, never shorten it: "Retry-After: 0" (or a date in the past)
        // from a struggling receiver must not turn the backoff into a retry storm.
        const backoff = backoffDelay(
          attempt,
          self.config.initialBackoffMs,
          self.config.maxBackoffMs,
          self.random(),
        )
        const delay = Math.max(backoff, outcome.retryAfterMs ?? 0)
        const giveUpAt = Math.min(startedAt + self.config.exportTimeoutMs, self.deadlineAt)
        if (after + delay >= giveUpAt) {
          self.stats.drop(signal, self.closing ? "shutdown" : "export_failed", batch.length)
          self.stats.failed(outcome.error, after)
          return
        }
        // At shutdown the wait is cut short once: the receiver may be back, and the deadline is near.
        yield* Effect.raceFirst(Effect.sleep(delay), self.retryNow.await)
        self.retryNow.closeUnsafe()
      }
    })
  }

  /**
   * Drains the queue within `timeoutMs`; what is still queued (or in flight) afterwards is counted as
   * dropped with reason `shutdown`.
   */
  shutdown(timeoutMs: number): Effect.Effect<void> {
    // deno-lint-ignore no-this-alias
    const self = this
    return Effect.gen(function* () {
      self.closing = true
      self.deadlineAt = self.clock.currentTimeMillisUnsafe() + timeoutMs
      self.wake.openUnsafe()
      self.nonEmpty.openUnsafe()
      self.retryNow.openUnsafe()
      const fiber = self.fiber
      if (fiber === undefined) {
        self.stats.drop(self.config.signal, "shutdown", self.queue.clear())
        return
      }
      const done = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(timeoutMs))
      if (done._tag === "None") {
        // Interrupting the loop interrupts the batches in flight; their items are still counted there.
        yield* Fiber.interrupt(fiber)
        yield* Fiber.interruptAll([...self.exports])
        self.stats.drop(self.config.signal, "shutdown", self.queue.clear() + self.inFlight)
        self.inFlight = 0
      }
      self.fiber = undefined
    })
  }
}
