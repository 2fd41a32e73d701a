/**
 * The export channel under TestClock with a scripted transport: batching by size and interval, the
 * bounded queue, retries with backoff and Retry-After, per-request timeouts, giving up, and shutdown.
 */
import assert from "node:assert/strict"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import {
  backoffDelay,
  type ChannelConfig,
  ExportChannel,
  parsePartialSuccess,
  parseRawResponse,
  parseRetryAfter,
  type Post,
  type PostResult,
} from "../../src/export/internal/channel.ts"
import { ProtoWriter } from "../../src/export/internal/protobuf.ts"
import { ExportStats } from "../../src/export/internal/stats.ts"
import { SummaryWorker } from "../../src/export/internal/summaries.ts"
import type { RequestSummary } from "../../src/stage/Request.ts"
import { effectTest } from "../_harness.ts"

type Script = Array<number | "network" | "hang" | PostResult>

/** A transport that answers from `script` (then 200) and records every body it was given. */
const scripted = (script: Script) => {
  const bodies: Array<string> = []
  const aborted: Array<boolean> = []
  const post: Post = (_url, body, _headers, signal) => {
    bodies.push(new TextDecoder().decode(body))
    const step = script.shift() ?? 200
    if (step === "network") return Promise.reject(new TypeError("fetch failed"))
    if (step === "hang") {
      return new Promise((_resolve, reject) => {
        const index = aborted.push(false) - 1
        signal.addEventListener("abort", () => {
          aborted[index] = true
          reject(new DOMException("aborted", "AbortError"))
        })
      })
    }
    return Promise.resolve(typeof step === "number" ? { status: step, retryAfter: null } : step)
  }
  return { post, bodies, aborted }
}

const config = (overrides: Partial<ChannelConfig> = {}): ChannelConfig => ({
  signal: "traces",
  url: "http://collector.test/v1/traces",
  contentType: "application/json",
  headers: {},
  compression: "none",
  timeoutMs: 10_000,
  exportTimeoutMs: 30_000,
  maxBatchSize: 3,
  scheduleDelayMs: 5_000,
  maxQueueSize: 10,
  maxConcurrentExports: 1,
  initialBackoffMs: 1_000,
  maxBackoffMs: 30_000,
  ...overrides,
})

/** Lets promise callbacks (the scripted transport) run. */
const settle = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1))).pipe(
  Effect.repeat({ times: 3 }),
)

/** A started channel of numbers (a batch's body is them joined by commas) over `transport`. */
const makeWith = <X extends { readonly post: Post }>(
  transport: X,
  overrides: Partial<ChannelConfig> = {},
  random: () => number = () => 0,
) =>
  Effect.gen(function* () {
    const clock = yield* Clock.Clock
    const stats = new ExportStats()
    const channel = new ExportChannel<number>(
      config(overrides),
      (items) => new TextEncoder().encode(items.join(",")),
      stats,
      clock,
      transport.post,
      random,
    )
    yield* channel.start()
    return { channel, stats, ...transport }
  })

const make = (script: Script, overrides: Partial<ChannelConfig> = {}, random: () => number = () => 0) =>
  makeWith(scripted(script), overrides, random)

effectTest(
  "ExportChannel sends a batch as soon as it is full and the rest at the interval",
  () =>
    Effect.gen(function* () {
      const { channel, bodies, stats } = yield* make([])
      for (const n of [1, 2, 3, 4]) channel.offer(n)
      yield* settle
      assert.deepEqual(bodies, ["1,2,3"])
      yield* TestClock.adjust("4999 millis")
      yield* settle
      assert.deepEqual(bodies, ["1,2,3"])
      yield* TestClock.adjust("1 millis")
      yield* settle
      assert.deepEqual(bodies, ["1,2,3", "4"])
      assert.equal(stats.exported.get("traces"), 4)
    }),
)

effectTest("ExportChannel drops and counts items offered to a full queue", () =>
  Effect.gen(function* () {
    const { channel, stats } = yield* make([], { maxQueueSize: 4, maxBatchSize: 4 })
    for (let n = 0; n < 6; n++) channel.offer(n)
    assert.equal(stats.droppedCount("traces", "queue_full"), 2)
    assert.equal(channel.queue.size, 4)
  }))

effectTest(
  "ExportChannel.offerWith() makes items only when they are queued; a throw is an error drop",
  () =>
    Effect.gen(function* () {
      const { channel, stats } = yield* make([], { maxQueueSize: 2, maxBatchSize: 2 })
      const made: Array<number> = []
      const encode = (n: number) => {
        if (n === 1) throw new Error("unencodable")
        made.push(n)
        return n
      }
      for (let n = 0; n < 5; n++) channel.offerWith(n, encode)
      assert.deepEqual(made, [0, 2])
      assert.equal(stats.droppedCount("traces", "error"), 1)
      assert.equal(stats.droppedCount("traces", "queue_full"), 2)
    }),
)

effectTest(
  "ExportChannel exports from a succession of fibers, even when its queue never empties",
  () =>
    Effect.gen(function* () {
      // Under Deno a fiber that never ends retains an async resource per suspension (src/internal/daemon.ts).
      const clock = yield* Clock.Clock
      const fibers = new Set<number>()
      const post: Post = () => Promise.resolve({ status: 200, retryAfter: null })
      const channel = new ExportChannel<number>(
        config({ maxBatchSize: 1, maxQueueSize: 1000 }),
        (items) => {
          // Encoding runs on the channel's own fiber.
          fibers.add(Fiber.getCurrent()!.id)
          return new TextEncoder().encode(items.join(","))
        },
        new ExportStats(),
        clock,
        post,
      )
      yield* channel.start()
      for (let n = 0; n < 200; n++) channel.offer(n)
      while (channel.queue.size > 0) yield* settle
      assert.ok(fibers.size > 1, `every batch was sent from fiber ${[...fibers]}`)
    }),
)

effectTest(
  "ExportChannel retries 503 with exponential backoff, then succeeds",
  () =>
    Effect.gen(function* () {
      const { channel, bodies, stats } = yield* make([503, 503])
      for (const n of [1, 2, 3]) channel.offer(n)
      yield* settle
      assert.equal(bodies.length, 1)
      // Equal jitter with random 0: half of 1 s, then half of 2 s.
      yield* TestClock.adjust("499 millis")
      yield* settle
      assert.equal(bodies.length, 1)
      yield* TestClock.adjust("1 millis")
      yield* settle
      assert.equal(bodies.length, 2)
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.deepEqual(bodies, ["1,2,3", "1,2,3", "1,2,3"])
      assert.equal(stats.exported.get("traces"), 3)
      assert.equal(stats.failures, 0)
      assert.deepEqual(Object.fromEntries(stats.dropped), {})
    }),
)

effectTest("ExportChannel honours Retry-After on 429", () =>
  Effect.gen(function* () {
    const { channel, bodies } = yield* make([{ status: 429, retryAfter: "3" }])
    for (const n of [1, 2, 3]) channel.offer(n)
    yield* settle
    yield* TestClock.adjust("2999 millis")
    yield* settle
    assert.equal(bodies.length, 1)
    yield* TestClock.adjust("1 millis")
    yield* settle
    assert.equal(bodies.length, 2)
  }))

effectTest(
  "ExportChannel: a Retry-After shorter than the backoff (0, a past date) does not shorten it",
  () =>
    Effect.gen(function* () {
      const { channel, bodies } = yield* make([
        { status: 503, retryAfter: "0" },
        { status: 429, retryAfter: new Date(0).toUTCString() },
      ])
      for (const n of [1, 2, 3]) channel.offer(n)
      yield* settle
      assert.equal(bodies.length, 1, "no immediate retry")
      yield* TestClock.adjust("500 millis")
      yield* settle
      assert.equal(bodies.length, 2)
      yield* TestClock.adjust("999 millis")
      yield* settle
      assert.equal(bodies.length, 2)
      yield* TestClock.adjust("1 millis")
      yield* settle
      assert.equal(bodies.length, 3)
    }),
)

effectTest(
  "ExportChannel retries network errors and timeouts, aborting the timed-out request",
  () =>
    Effect.gen(function* () {
      const { channel, bodies, aborted, stats } = yield* make(["network", "hang"], { timeoutMs: 2_000 })
      for (const n of [1, 2, 3]) channel.offer(n)
      yield* settle
      yield* TestClock.adjust("500 millis")
      yield* settle
      assert.equal(bodies.length, 2)
      yield* TestClock.adjust("2 seconds")
      yield* settle
      assert.deepEqual(aborted, [true])
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.equal(bodies.length, 3)
      assert.equal(stats.exported.get("traces"), 3)
    }),
)

effectTest(
  "ExportChannel does not retry 400 and counts the batch as rejected",
  () =>
    Effect.gen(function* () {
      const { channel, bodies, stats } = yield* make([400])
      for (const n of [1, 2, 3]) channel.offer(n)
      yield* settle
      yield* TestClock.adjust("1 minute")
      yield* settle
      assert.equal(bodies.length, 1)
      assert.equal(stats.droppedCount("traces", "rejected"), 3)
      assert.equal(stats.failures, 1)
      assert.equal(stats.lastError, "HTTP 400")
    }),
)

effectTest(
  "ExportChannel gives up a batch after exportTimeout and goes on with the next one",
  () =>
    Effect.gen(function* () {
      const { channel, bodies, stats } = yield* make([503, 503, 503, 503], { exportTimeoutMs: 2_000 })
      for (const n of [1, 2, 3]) channel.offer(n)
      yield* settle
      yield* TestClock.adjust("500 millis")
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* settle
      // Attempts at 0, 0.5 s and 1.5 s; the next would come after the 2 s budget.
      assert.equal(bodies.length, 3)
      assert.equal(stats.droppedCount("traces", "export_failed"), 3)
      assert.equal(stats.failures, 1)
      // No silent period: the next batch is sent right away.
      for (const n of [4, 5, 6]) channel.offer(n)
      yield* settle
      assert.equal(bodies.at(-1), "4,5,6")
    }),
)

effectTest(
  "ExportChannel shutdown drains the queue without waiting for the interval",
  () =>
    Effect.gen(function* () {
      const { channel, bodies, stats } = yield* make([], { maxBatchSize: 4, scheduleDelayMs: 3_600_000 })
      for (const n of [1, 2, 3, 4, 5, 6]) channel.offer(n)
      yield* settle
      const fiber = yield* Effect.forkChild(channel.shutdown(5_000))
      yield* settle
      yield* Fiber.join(fiber)
      assert.deepEqual(bodies, ["1,2,3,4", "5,6"])
      assert.equal(stats.exported.get("traces"), 6)
      channel.offer(7)
      assert.equal(stats.droppedCount("traces", "shutdown"), 1, "items after shutdown are counted")
    }),
)

effectTest(
  "ExportChannel shutdown retries a batch waiting out its backoff at once, so a recovered receiver gets it",
  () =>
    Effect.gen(function* () {
      // The first attempt fails; the retry would come 5 s later, after the 2 s shutdown deadline.
      const { channel, bodies, stats } = yield* make([503], { initialBackoffMs: 10_000 })
      for (const n of [1, 2, 3, 4]) channel.offer(n)
      yield* settle
      assert.equal(bodies.length, 1)
      const fiber = yield* Effect.forkChild(channel.shutdown(2_000))
      yield* settle
      yield* TestClock.adjust("2 seconds")
      yield* settle
      yield* Fiber.join(fiber)
      assert.deepEqual(bodies, ["1,2,3", "1,2,3", "4"])
      assert.equal(stats.exported.get("traces"), 4)
      assert.equal(stats.droppedCount("traces", "shutdown"), 0)
    }),
)

effectTest(
  "ExportChannel shutdown stops at the deadline and counts what is left",
  () =>
    Effect.gen(function* () {
      const { channel, stats } = yield* make(["hang"], { maxBatchSize: 2, scheduleDelayMs: 3_600_000 })
      for (const n of [1, 2, 3, 4, 5]) channel.offer(n)
      yield* settle
      const fiber = yield* Effect.forkChild(channel.shutdown(1_000))
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* settle
      yield* Fiber.join(fiber)
      assert.equal(stats.droppedCount("traces", "shutdown"), 5)
      assert.equal(channel.queue.size, 0)
    }),
)

/** A transport whose answers the test gives by hand: `answer(i)` resolves the i-th request with a 200. */
const gated = () => {
  const bodies: Array<string> = []
  const answers: Array<() => void> = []
  const post: Post = (_url, body) => {
    bodies.push(new TextDecoder().decode(body))
    return new Promise((resolve) => answers.push(() => resolve({ status: 200, retryAfter: null })))
  }
  return { post, bodies, answer: (index: number) => answers[index]!() }
}

const makeGated = (overrides: Partial<ChannelConfig>) => makeWith(gated(), overrides)

effectTest(
  "ExportChannel sends the next full batch while earlier ones await their answers, at most maxConcurrentExports",
  () =>
    Effect.gen(function* () {
      const { channel, stats, bodies, answer } = yield* makeGated({
        maxBatchSize: 2,
        maxQueueSize: 6,
        maxConcurrentExports: 2,
        scheduleDelayMs: 3_600_000,
      })
      for (let n = 1; n <= 4; n++) channel.offer(n)
      yield* settle
      // Two batches in flight, unanswered.
      assert.deepEqual(bodies, ["1,2", "3,4"])
      for (let n = 5; n <= 12; n++) channel.offer(n)
      yield* settle
      // The third waits for a free slot.
      assert.deepEqual(bodies, ["1,2", "3,4"])
      // Memory stays bounded: the queue (6) plus two batches in flight; the rest is counted.
      assert.equal(channel.queue.size, 6)
      assert.equal(stats.droppedCount("traces", "queue_full"), 2)
      answer(1)
      yield* settle
      assert.deepEqual(bodies, ["1,2", "3,4", "5,6"])
      assert.equal(stats.exported.get("traces"), 2)
      answer(0)
      answer(2)
      yield* settle
      assert.deepEqual(bodies, ["1,2", "3,4", "5,6", "7,8", "9,10"])
      answer(3)
      answer(4)
      yield* settle
      assert.equal(stats.exported.get("traces"), 10)
      assert.equal(channel.queue.size, 0)
    }),
)

effectTest(
  "ExportChannel with maxConcurrentExports 1 sends one batch at a time",
  () =>
    Effect.gen(function* () {
      const { channel, bodies, answer } = yield* makeGated({ maxBatchSize: 2, maxConcurrentExports: 1 })
      for (let n = 1; n <= 6; n++) channel.offer(n)
      yield* settle
      assert.deepEqual(bodies, ["1,2"])
      answer(0)
      yield* settle
      assert.deepEqual(bodies, ["1,2", "3,4"])
    }),
)

effectTest(
  "ExportChannel shutdown drains the queue in concurrent batches and waits for every batch in flight",
  () =>
    Effect.gen(function* () {
      const { channel, stats, bodies, answer } = yield* makeGated({
        maxBatchSize: 2,
        maxConcurrentExports: 2,
        scheduleDelayMs: 3_600_000,
      })
      for (let n = 1; n <= 5; n++) channel.offer(n)
      yield* settle
      assert.deepEqual(bodies, ["1,2", "3,4"])
      const fiber = yield* Effect.forkChild(channel.shutdown(5_000))
      yield* settle
      // The partial batch goes as soon as a slot is free, without waiting for the interval.
      assert.deepEqual(bodies, ["1,2", "3,4"])
      answer(0)
      yield* settle
      assert.deepEqual(bodies, ["1,2", "3,4", "5"])
      answer(2)
      yield* settle
      assert.equal(fiber.pollUnsafe(), undefined, "shutdown waits for the batch still in flight")
      answer(1)
      yield* settle
      yield* Fiber.join(fiber)
      assert.equal(stats.exported.get("traces"), 5)
      assert.equal(stats.droppedCount("traces", "shutdown"), 0)
    }),
)

effectTest(
  "ExportChannel shutdown counts every batch still in flight at the deadline, and aborts their requests",
  () =>
    Effect.gen(function* () {
      const { channel, stats, aborted } = yield* make(["hang", "hang"], {
        maxBatchSize: 2,
        maxConcurrentExports: 2,
        scheduleDelayMs: 3_600_000,
      })
      for (const n of [1, 2, 3, 4, 5]) channel.offer(n)
      yield* settle
      const fiber = yield* Effect.forkChild(channel.shutdown(1_000))
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* settle
      yield* Fiber.join(fiber)
      // Two batches in flight (4 items) and one queued item.
      assert.equal(stats.droppedCount("traces", "shutdown"), 5)
      assert.equal(stats.exported.get("traces") ?? 0, 0)
      assert.deepEqual(aborted, [true, true])
      assert.equal(channel.queue.size, 0)
    }),
)

Deno.test("parseRetryAfter() reads seconds and HTTP dates", () => {
  assert.equal(parseRetryAfter("7", 0), 7000)
  assert.equal(parseRetryAfter(new Date(5_000).toUTCString(), 2_000), 3_000)
  assert.equal(parseRetryAfter("soon", 0), undefined)
  assert.equal(parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", 0), Date.UTC(1994, 10, 6, 8, 49, 37))
  // Neither form: Date.parse would read these as dates.
  assert.equal(parseRetryAfter("1.5", 0), undefined)
  assert.equal(parseRetryAfter("-1", 0), undefined)
  assert.equal(parseRetryAfter("2030-01-01", 0), undefined)
  assert.equal(parseRetryAfter(null, 0), undefined)
})

Deno.test("backoffDelay() doubles up to the cap, with jitter in the upper half", () => {
  assert.equal(backoffDelay(0, 1000, 30_000, 0), 500)
  assert.equal(backoffDelay(0, 1000, 30_000, 1), 1000)
  assert.equal(backoffDelay(3, 1000, 30_000, 0), 4000)
  assert.equal(backoffDelay(10, 1000, 30_000, 1), 30_000)
})

effectTest(
  "ExportChannel counts what a partial success rejected as dropped, and does not retry it",
  () =>
    Effect.gen(function* () {
      const partial = '{"partialSuccess":{"rejectedSpans":"2","errorMessage":"too old"}}'
      const { channel, bodies, stats } = yield* make([{
        status: 200,
        retryAfter: null,
        body: new TextEncoder().encode(partial),
        contentType: "application/json",
      }])
      for (const n of [1, 2, 3]) channel.offer(n)
      yield* settle
      yield* TestClock.adjust("1 minute")
      yield* settle
      assert.equal(bodies.length, 1)
      assert.equal(stats.droppedCount("traces", "rejected"), 2)
      assert.equal(stats.exported.get("traces"), 1)
      assert.equal(stats.failures, 0)
      assert.equal(stats.lastError, "partial success: 2 rejected (too old)")
    }),
)

Deno.test("parsePartialSuccess() reads ExportTraceServiceResponse in protobuf and JSON, per signal", () => {
  const w = new ProtoWriter()
  const p = w.begin(1, 1)
  w.int64(1, 7)
  w.string(2, "bad attribute")
  w.end(p, 1)
  const proto = w.finish()
  assert.deepEqual(parsePartialSuccess("traces", proto, "application/x-protobuf", false), {
    rejected: 7,
    message: "bad attribute",
  })
  // Without a content type, the request's encoding decides.
  assert.deepEqual(parsePartialSuccess("logs", proto, null, false), { rejected: 7, message: "bad attribute" })
  const json = (text: string) => new TextEncoder().encode(text)
  assert.deepEqual(
    parsePartialSuccess(
      "metrics",
      json('{"partialSuccess":{"rejectedDataPoints":4}}'),
      "application/json",
      true,
    ),
    { rejected: 4, message: "" },
  )
  assert.deepEqual(
    parsePartialSuccess("logs", json('{"partial_success":{"rejected_log_records":"1"}}'), null, true),
    { rejected: 1, message: "" },
  )
  // An empty answer, a full success, or a body that is neither: no partial success.
  assert.equal(parsePartialSuccess("traces", new Uint8Array(0), "application/x-protobuf", false), undefined)
  assert.equal(parsePartialSuccess("traces", json("{}"), "application/json", false), undefined)
  assert.equal(parsePartialSuccess("traces", json("{}"), "application/x-protobuf", false), undefined)
  assert.equal(parsePartialSuccess("traces", json("OK"), "text/plain", false), undefined)
})

Deno.test("parseRawResponse() reads status, headers and the body, by length or chunked", () => {
  const bytes = (text: string) => new TextEncoder().encode(text)
  const sized = parseRawResponse(
    bytes("HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nContent-Length: 2\r\n\r\nok"),
  )
  assert.equal(sized?.status, 429)
  assert.equal(sized?.header("retry-after"), "3")
  assert.equal(sized?.complete, true)
  assert.equal(new TextDecoder().decode(sized?.body), "ok")
  assert.equal(parseRawResponse(bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok"))?.complete, false)
  const chunked = parseRawResponse(
    bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
  )
  assert.equal(chunked?.complete, true)
  assert.equal(new TextDecoder().decode(chunked?.body), "abcde")
  assert.equal(parseRawResponse(bytes("HTTP/1.1 200 OK\r\n")), undefined, "head not complete")
  assert.equal(parseRawResponse(bytes("garbage\r\n\r\n")), undefined)
})

effectTest(
  "ExportChannel survives a defect: the batch is dropped as error and the next one is sent",
  () =>
    Effect.gen(function* () {
      let calls = 0
      const random = () => {
        if (calls++ === 0) throw new Error("boom")
        return 0
      }
      const { channel, bodies, stats } = yield* make([503], {}, random)
      for (const n of [1, 2, 3]) channel.offer(n)
      yield* settle
      assert.equal(stats.droppedCount("traces", "error"), 3)
      assert.equal(stats.lastError, "traces: boom")
      for (const n of [4, 5, 6]) channel.offer(n)
      yield* settle
      assert.equal(bodies.at(-1), "4,5,6")
      assert.equal(stats.exported.get("traces"), 3)
    }),
)

effectTest(
  "SummaryWorker survives a throwing handler: the batch is dropped as error, later ones handled",
  () =>
    Effect.gen(function* () {
      const stats = new ExportStats()
      const handled: Array<string> = []
      const worker = new SummaryWorker(
        8,
        (batch) =>
          Effect.sync(() => {
            if (batch.some((s) => s.name === "bad")) throw new RangeError("Invalid count value: -1")
            for (const s of batch) handled.push(s.name)
          }),
        stats,
      )
      yield* worker.start()
      worker.offer({ name: "bad" } as RequestSummary)
      yield* settle
      worker.offer({ name: "good" } as RequestSummary)
      yield* settle
      assert.deepEqual(handled, ["good"])
      assert.equal(stats.droppedCount("summaries", "error"), 1)
      assert.equal(stats.lastError, "summaries: Invalid count value: -1")
      yield* worker.shutdown(1_000)
    }),
)

/** The current Clock, counting the sleeps asked of it. */
const countingClock = Effect.map(Clock.clockWith(Effect.succeed), (base) => {
  const counter = { sleeps: 0 }
  const clock: Clock.Clock = Object.create(base, {
    sleep: {
      value: (duration: Parameters<Clock.Clock["sleep"]>[0]) => {
        counter.sleeps++
        return base.sleep(duration)
      },
    },
  })
  return { clock, counter }
})

effectTest(
  "an idle ExportChannel sets no timer, even with scheduleDelay 0, and still sends what comes",
  () =>
    Effect.gen(function* () {
      for (const scheduleDelayMs of [0, 5_000]) {
        const { clock, counter } = yield* countingClock
        const stats = new ExportStats()
        const transport = scripted([])
        const channel = new ExportChannel<number>(
          config({ scheduleDelayMs }),
          (items) => new TextEncoder().encode(items.join(",")),
          stats,
          clock,
          transport.post,
          () => 0,
        )
        yield* channel.start().pipe(Effect.provideService(Clock.Clock, clock))
        yield* settle
        yield* TestClock.adjust("1 minute")
        yield* settle
        assert.equal(counter.sleeps, 0, `scheduleDelay ${scheduleDelayMs}: no wake-up while idle`)
        channel.offer(1)
        yield* settle
        yield* TestClock.adjust(scheduleDelayMs)
        yield* settle
        assert.deepEqual(transport.bodies, ["1"])
        yield* channel.shutdown(1_000)
      }
    }),
)
