/**
 * One OTLP/HTTP export channel (one exporter × one signal): a bounded queue fed synchronously from the
 * hot path, and one background fiber that batches by size and interval, encodes, POSTs with a
 * per-request timeout, retries 429/502/503/504 and network errors with exponential backoff and jitter
 * (honouring `Retry-After`), and accounts for every item: exported, or dropped with a reason. One batch
 * is in flight at a time, so memory is bounded by the queue plus one batch.
 *
 * Shutdown: the channel stops waiting for its interval, drains the queue in batches until the deadline,
 * and counts whatever is left as dropped (`shutdown`).
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import type * as Scope from "effect/Scope"
import { BoundedQueue, type ExportStats, type Signal } from "./stats.ts"

/** What a POST answered. */
export interface PostResult {
  readonly status: number
  readonly retryAfter: string | null
}

/** Sends one request body; rejects on network errors; aborts when `signal` fires. */
export type Post = (
  url: string,
  body: Uint8Array,
  headers: Readonly<Record<string, string>>,
  signal: AbortSignal,
) => Promise<PostResult>

/** The default transport: `fetch`, reading the response body so no resource is left open. */
export const fetchPost: Post = async (url, body, headers, signal) => {
  const response = await fetch(url, { method: "POST", body: body as BodyInit, headers, signal })
  try {
    await response.arrayBuffer()
  } catch {
    // The status is what matters; a broken body is not a failed export.
  }
  return { status: response.status, retryAfter: response.headers.get("retry-after") }
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
    // The answer is small: read it whole (bounded), then parse the status line and Retry-After.
    const chunks: Array<Uint8Array> = []
    let total = 0
    const buffer = new Uint8Array(16 * 1024)
    while (total < 1_048_576) {
      const n = await conn.read(buffer)
      if (n === null) break
      chunks.push(buffer.slice(0, n))
      total += n
      const text = new TextDecoder().decode(chunks.length === 1 ? chunks[0] : concat(chunks, total))
      const end = text.indexOf("\r\n\r\n")
      if (end >= 0 && responseComplete(text, end)) break
    }
    const text = new TextDecoder().decode(concat(chunks, total))
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)
    if (status === null) throw new Error("Invalid HTTP response")
    const retryAfter = /\r\nretry-after:\s*([^\r\n]*)/i.exec(text)
    return { status: Number(status[1]), retryAfter: retryAfter === null ? null : retryAfter[1]!.trim() }
  } finally {
    signal.removeEventListener("abort", abort)
    abort()
  }
}

const concat = (chunks: ReadonlyArray<Uint8Array>, total: number): Uint8Array => {
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

/** Whether the headers and the whole body (by Content-Length or the chunked terminator) were read. */
const responseComplete = (text: string, headerEnd: number): boolean => {
  const head = text.slice(0, headerEnd)
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)
  if (length !== null) return new TextEncoder().encode(text.slice(headerEnd + 4)).length >= Number(length[1])
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return text.endsWith("0\r\n\r\n")
  return false
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
  /** First retry delay and the cap of the exponential backoff, in milliseconds. */
  readonly initialBackoffMs: number
  readonly maxBackoffMs: number
}

/** Retryable per the OTLP/HTTP specification. */
export const isRetryableStatus = (status: number): boolean =>
  status === 429 || status === 502 || status === 503 || status === 504

/** Parses `Retry-After` (delay-seconds or an HTTP date) into milliseconds from `nowMs`. */
export const parseRetryAfter = (value: string | null, nowMs: number): number | undefined => {
  if (value === null) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
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

type Outcome =
  | { readonly _tag: "ok" }
  | { readonly _tag: "retry"; readonly error: string; readonly retryAfterMs: number | undefined }
  | { readonly _tag: "fatal"; readonly error: string }

/** An export channel; see the module description. */
export class ExportChannel<T> {
  readonly queue: BoundedQueue<T>
  private readonly wake: Latch.Latch = Latch.makeUnsafe(false)
  private closing = false
  private deadlineAt = Infinity
  private inFlight = 0
  private fiber: Fiber.Fiber<void> | undefined = undefined

  constructor(
    readonly config: ChannelConfig,
    private readonly encode: (items: ReadonlyArray<T>) => Uint8Array,
    private readonly stats: ExportStats,
    private readonly clock: Clock.Clock,
    private readonly post: Post = fetchPost,
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
    if (this.queue.size === this.config.maxBatchSize) this.wake.openUnsafe()
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
    return Effect.gen(function* () {
      while (true) {
        // Re-arm the wake-up before deciding to wait: an offer that fills a batch from now on opens it.
        self.wake.closeUnsafe()
        if (!self.closing && self.queue.size < self.config.maxBatchSize) {
          yield* Effect.raceFirst(Effect.sleep(self.config.scheduleDelayMs), self.wake.await)
        }
        while (self.queue.size > 0) {
          const batch = self.queue.take(self.config.maxBatchSize)
          self.inFlight = batch.length
          yield* self.exportBatch(batch)
          self.inFlight = 0
          if (!self.closing && self.queue.size < self.config.maxBatchSize) break
        }
        if (self.closing && self.queue.size === 0) return
      }
    })
  }

  private send(body: Uint8Array, timeoutMs: number): Effect.Effect<Outcome> {
    const headers = this.config.compression === "gzip"
      ? { ...this.config.headers, "content-type": this.config.contentType, "content-encoding": "gzip" }
      : { ...this.config.headers, "content-type": this.config.contentType }
    const nowMs = () => this.clock.currentTimeMillisUnsafe()
    return Effect.tryPromise({
      try: (signal) => this.post(this.config.url, body, headers, signal),
      catch: (error) => error,
    }).pipe(
      Effect.timeoutOption(Math.max(1, timeoutMs)),
      Effect.map((result): Outcome => {
        if (result._tag === "None") {
          return { _tag: "retry", error: `timed out after ${timeoutMs} ms`, retryAfterMs: undefined }
        }
        const { status, retryAfter } = result.value
        if (status >= 200 && status < 300) return { _tag: "ok" }
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
          self.stats.exportedOk(signal, batch.length, after)
          return
        }
        if (outcome._tag === "fatal") {
          self.stats.drop(signal, "rejected", batch.length)
          self.stats.failed(outcome.error, after)
          return
        }
        const delay = outcome.retryAfterMs ??
          backoffDelay(attempt, self.config.initialBackoffMs, self.config.maxBackoffMs, self.random())
        const giveUpAt = Math.min(startedAt + self.config.exportTimeoutMs, self.deadlineAt)
        if (after + delay >= giveUpAt) {
          self.stats.drop(signal, self.closing ? "shutdown" : "export_failed", batch.length)
          self.stats.failed(outcome.error, after)
          return
        }
        yield* Effect.sleep(delay)
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
      const fiber = self.fiber
      if (fiber === undefined) {
        self.stats.drop(self.config.signal, "shutdown", self.queue.clear())
        return
      }
      const done = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(timeoutMs))
      if (done._tag === "None") {
        yield* Fiber.interrupt(fiber)
        self.stats.drop(self.config.signal, "shutdown", self.queue.clear() + self.inFlight)
        self.inFlight = 0
      }
      self.fiber = undefined
    })
  }
}
