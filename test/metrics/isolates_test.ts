/**
 * Aggregation across isolates (`aggregateIsolates`), with several layers of one test process standing in
 * for the workers of `deno serve --parallel` (a `BroadcastChannel` reaches other channels of the same name
 * in the same isolate too) and raw channels standing in for slow, silent or broken isolates. The timeout
 * runs on the `TestClock`: a scrape that waits stays pending until the test moves the clock.
 * `test/integration/parallel_serve_test.ts` runs the real thing.
 */
import assert from "node:assert/strict"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { MetricCatalogue, Metrics, Prometheus, Request, Stage, Telemetry } from "../../mod.ts"
import type { Aggregator } from "../../src/metrics/internal/isolates.ts"
import { snapshotVersion, takeSnapshot } from "../../src/metrics/internal/snapshot.ts"
import { Store } from "../../src/metrics/internal/store.ts"
import { effectTest, liveTest } from "../_harness.ts"

const orders = Metrics.defineUnsafe({
  name: "shop_orders_total",
  type: "counter",
  description: "Orders placed",
  labels: ["channel"],
})
const latency = Metrics.defineUnsafe({
  name: "shop_latency_seconds",
  type: "histogram",
  description: "Latency",
  unit: "seconds",
  buckets: [0.1, 1],
})

const freshChannel = (): string => `stagetrace-test:${crypto.randomUUID()}`

interface Isolate {
  readonly store: Store
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
}

/** A layer standing for one isolate: its own store and registry, on `channel`, built in `scope`. */
const isolate = (
  channel: string,
  scope?: Scope.Scope,
  make: (options: Telemetry.TelemetryOptions) => Layer.Layer<never, unknown> = Metrics.layer,
): Effect.Effect<Isolate, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const layer = make({ systemMetrics: false, aggregateIsolates: { channel, timeout: "1 second" } }).pipe(
      Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map())),
    )
    const context = scope === undefined
      ? yield* Layer.build(layer)
      : yield* Layer.buildWithScope(layer, scope)
    const store = Context.get(
      context as Context.Context<Metrics.Metrics>,
      Metrics.Metrics,
    ) as unknown as Store
    return { store, run: (effect) => Effect.provide(effect, context) }
  })

/** Waits (real time, bounded) until `check` holds: messages on a channel arrive in later macrotasks. */
const until = (what: string, check: () => boolean): Effect.Effect<void> =>
  Effect.promise(async () => {
    for (let i = 0; i < 1000; i++) {
      if (check()) return
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    throw new Error(`Never happened: ${what}`)
  })

/** Lets pending channel messages be delivered. */
const ticks = (n = 10): Effect.Effect<void> =>
  Effect.promise(async () => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 1))
  })

/** The aggregator of `i`'s store (the store itself only knows it as an `Aggregation`). */
const aggregatorOf = (i: Isolate): Aggregator | undefined => i.store.aggregator as Aggregator | undefined

const peersOf = (i: Isolate): number => aggregatorOf(i)?.peers.size ?? -1

const value = (text: string, series: string): number | undefined => {
  const found = text.split("\n").find((l) => l.startsWith(series + " "))
  return found === undefined ? undefined : Number(found.slice(series.length + 1))
}

/** A raw channel playing another isolate; closed with the test's scope. */
const fakePeer = (channel: string, id = "fake-peer") =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const bc = new BroadcastChannel(channel)
      const received: Array<Record<string, unknown>> = []
      let answer: ((collectId: string) => unknown) | undefined
      bc.onmessage = (event) => {
        const message = event.data as Record<string, unknown>
        received.push(message)
        if (message.kind === "collect" && answer !== undefined) {
          const snapshot = answer(message.id as string)
          if (snapshot !== undefined) {
            bc.postMessage({ v: snapshotVersion, from: id, kind: "snapshot", id: message.id, snapshot })
          }
        }
      }
      return {
        received,
        post: (message: unknown) => bc.postMessage(message),
        say: (kind: string) => bc.postMessage({ v: snapshotVersion, from: id, kind }),
        answerWith: (f: ((collectId: string) => unknown) | undefined) => void (answer = f),
        close: () => bc.close(),
      }
    }),
    (peer) => Effect.sync(() => peer.close()),
  )

/** A snapshot of a store holding `n` orders on the web channel (what a real peer would send). */
const ordersSnapshot = (n: number, id = "fake-peer") => {
  const store = new Store({
    enabled: true,
    maxSeriesPerMetric: 100,
    seriesTtlMs: Infinity,
    registry: undefined,
    redactor: () => undefined,
  })
  store.increment(orders, { channel: "web" }, n)
  return takeSnapshot(store, Context.empty() as Context.Context<never>, id, new Set())
}

effectTest(
  "with a single isolate a scrape answers at once: nothing waits without peers",
  () =>
    Effect.gen(function* () {
      const a = yield* isolate(freshChannel())
      yield* a.run(Metrics.increment(orders, { channel: "web" }, 2))
      const fiber = yield* Effect.forkChild(a.run(Prometheus.format()))
      yield* ticks(3)
      const exit = fiber.pollUnsafe()
      assert.ok(
        exit !== undefined && Exit.isSuccess(exit),
        "the scrape did not complete without a clock move",
      )
      assert.equal(value(exit.value, 'shop_orders_total{channel="web"}'), 2)
      assert.equal(value(exit.value, 'stagetrace_metric_isolates{status="fresh"}'), 1)
      assert.equal(value(exit.value, 'stagetrace_metric_isolates{status="stale"}'), 0)
    }),
)

effectTest(
  "a scrape of any isolate reports the sum of all of them, through format and handler",
  () =>
    Effect.gen(function* () {
      const channel = freshChannel()
      const [a, b, c] = [yield* isolate(channel), yield* isolate(channel), yield* isolate(channel)]
      yield* until("every isolate knows the two others", () => [a, b, c].every((i) => peersOf(i) === 2))
      yield* a.run(Metrics.increment(orders, { channel: "web" }, 3))
      yield* b.run(Metrics.increment(orders, { channel: "web" }, 4))
      yield* c.run(Metrics.increment(orders, { channel: "app" }))
      yield* b.run(Metrics.observe(latency, 0.05))
      yield* c.run(Metrics.observe(latency, 0.5))
      for (const scraped of [a, b, c]) {
        const text = yield* scraped.run(Prometheus.format("openmetrics"))
        assert.equal(value(text, 'shop_orders_total{channel="web"}'), 7)
        assert.equal(value(text, 'shop_orders_total{channel="app"}'), 1)
        assert.equal(value(text, 'shop_latency_seconds_bucket{le="0.1"}'), 1)
        assert.equal(value(text, 'shop_latency_seconds_bucket{le="1.0"}'), 2)
        assert.equal(value(text, "shop_latency_seconds_count"), 2)
        assert.equal(value(text, 'stagetrace_metric_isolates{status="fresh"}'), 3)
        assert.ok(text.endsWith("# EOF\n"))
      }
      const handle = yield* b.run(Prometheus.handler())
      const response = yield* Effect.promise(() => handle(new globalThis.Request("http://localhost/metrics")))
      const text = yield* Effect.promise(() => response.text())
      assert.equal(response.status, 200)
      assert.equal(value(text, 'shop_orders_total{channel="web"}'), 7)
    }),
)

effectTest(
  "Telemetry.layer aggregates the toolkit's request metrics and the in-flight gauge",
  () =>
    Effect.gen(function* () {
      const channel = freshChannel()
      const a = yield* isolate(channel, undefined, Telemetry.layer)
      const b = yield* isolate(channel, undefined, Telemetry.layer)
      yield* until("the isolates know each other", () => peersOf(a) === 1 && peersOf(b) === 1)
      const chat = Effect.void.pipe(Stage.track("llm_request"), Request.track("chat"))
      yield* a.run(chat)
      yield* b.run(Effect.all([chat, chat]))
      const text = yield* a.run(Prometheus.format())
      assert.equal(value(text, 'stagetrace_requests_total{request="chat",status="ok"}'), 3)
      assert.equal(value(text, 'stagetrace_stage_duration_seconds_count{stage="llm_request",status="ok"}'), 3)
      assert.equal(value(text, "stagetrace_requests_in_flight"), 0)
      assert.equal(
        text.split("\n").filter((l) => l === "# TYPE stagetrace_requests_in_flight gauge").length,
        1,
      )
    }),
)

effectTest(
  "an isolate that stops answering costs one timeout; its last values are served meanwhile",
  () =>
    Effect.gen(function* () {
      const channel = freshChannel()
      const a = yield* isolate(channel)
      const peer = yield* fakePeer(channel)
      yield* a.run(Metrics.increment(orders, { channel: "web" }, 1))
      peer.answerWith(() => ordersSnapshot(5))
      peer.say("hello")
      yield* until("the peer is known", () => peersOf(a) === 1)

      let text = yield* a.run(Prometheus.format())
      assert.equal(value(text, 'shop_orders_total{channel="web"}'), 6)
      assert.equal(value(text, 'stagetrace_metric_isolates{status="fresh"}'), 2)

      // The peer goes silent (a busy event loop): the scrape waits for the timeout, no longer.
      peer.answerWith(undefined)
      const waiting = yield* Effect.forkChild(a.run(Prometheus.format()))
      yield* ticks()
      assert.equal(waiting.pollUnsafe(), undefined, "the scrape must wait for the peer")
      yield* TestClock.adjust("1 second")
      text = yield* Fiber.join(waiting)
      assert.equal(value(text, 'shop_orders_total{channel="web"}'), 6, "counters never go backwards")
      assert.equal(value(text, 'stagetrace_metric_isolates{status="fresh"}'), 1)
      assert.equal(value(text, 'stagetrace_metric_isolates{status="stale"}'), 1)
      assert.equal(value(text, "stagetrace_metric_isolate_timeouts_total"), 1)

      // Not waited for again while it stays silent.
      const quick = yield* Effect.forkChild(a.run(Prometheus.format()))
      yield* ticks(3)
      const exit = quick.pollUnsafe()
      assert.ok(exit !== undefined && Exit.isSuccess(exit), "a silent peer must not be waited for twice")
      assert.equal(value(exit.value, "stagetrace_metric_isolate_timeouts_total"), 1)

      // Once it speaks again, it is waited for and its new values are served.
      peer.answerWith(() => ordersSnapshot(8))
      peer.say("here")
      yield* until(
        "the peer is responsive again",
        () => aggregatorOf(a)!.peers.get("fake-peer")!.responsive,
      )
      text = yield* a.run(Prometheus.format())
      assert.equal(value(text, 'shop_orders_total{channel="web"}'), 9)
      assert.equal(value(text, 'stagetrace_metric_isolates{status="fresh"}'), 2)
    }),
)

effectTest(
  "an isolate that scraped the others left its own values with them: they serve it when it goes silent",
  () =>
    Effect.gen(function* () {
      const channel = freshChannel()
      const a = yield* isolate(channel)
      const peer = yield* fakePeer(channel)
      yield* a.run(Metrics.increment(orders, { channel: "web" }, 1))
      // The peer is scraped and asks the others; its request carries its own snapshot. It never answers.
      peer.post({
        v: snapshotVersion,
        from: "fake-peer",
        kind: "collect",
        id: "c1",
        snapshot: ordersSnapshot(5),
      })
      yield* until("the isolate answered the peer", () => peer.received.some((m) => m.kind === "snapshot"))
      const waiting = yield* Effect.forkChild(a.run(Prometheus.format()))
      yield* ticks()
      yield* TestClock.adjust("1 second")
      const text = yield* Fiber.join(waiting)
      assert.equal(value(text, 'shop_orders_total{channel="web"}'), 6)
      assert.equal(value(text, 'stagetrace_metric_isolates{status="stale"}'), 1)
    }),
)

effectTest(
  "a peer that never answered is counted missing, and the scrape is bounded by the timeout",
  () =>
    Effect.gen(function* () {
      const channel = freshChannel()
      const a = yield* isolate(channel)
      const peer = yield* fakePeer(channel)
      peer.say("hello")
      yield* until("the peer is known", () => peersOf(a) === 1)
      yield* until("the isolate answered the hello", () => peer.received.some((m) => m.kind === "here"))
      const waiting = yield* Effect.forkChild(a.run(Prometheus.format()))
      yield* ticks()
      assert.equal(waiting.pollUnsafe(), undefined)
      yield* TestClock.adjust("999 millis")
      yield* ticks(2)
      assert.equal(waiting.pollUnsafe(), undefined)
      yield* TestClock.adjust("1 millis")
      const text = yield* Fiber.join(waiting)
      assert.equal(value(text, 'stagetrace_metric_isolates{status="missing"}'), 1)
      assert.equal(value(text, "stagetrace_metric_isolate_timeouts_total"), 1)
    }),
)

effectTest(
  "an isolate that closes says goodbye: the others stop counting and waiting for it",
  () =>
    Effect.gen(function* () {
      const channel = freshChannel()
      const a = yield* isolate(channel)
      const scope = yield* Scope.make()
      const b = yield* isolate(channel, scope)
      yield* until("the isolates know each other", () => peersOf(a) === 1 && peersOf(b) === 1)
      yield* b.run(Metrics.increment(orders, { channel: "web" }, 4))
      yield* a.run(Metrics.increment(orders, { channel: "web" }, 1))
      assert.equal(value(yield* a.run(Prometheus.format()), 'shop_orders_total{channel="web"}'), 5)
      yield* Scope.close(scope, Exit.void)
      assert.equal(b.store.aggregator, undefined)
      yield* until("the goodbye arrived", () => peersOf(a) === 0)
      const fiber = yield* Effect.forkChild(a.run(Prometheus.format()))
      yield* ticks(3)
      const exit = fiber.pollUnsafe()
      assert.ok(exit !== undefined && Exit.isSuccess(exit))
      assert.equal(value(exit.value, 'shop_orders_total{channel="web"}'), 1)
    }),
)

effectTest(
  "garbage on the channel and malformed snapshots are counted drops, never exceptions",
  () =>
    Effect.gen(function* () {
      const channel = freshChannel()
      const a = yield* isolate(channel)
      const peer = yield* fakePeer(channel, "broken")
      yield* a.run(Metrics.increment(orders, { channel: "web" }, 1))
      const garbage = [
        null,
        42,
        "collect",
        { v: 99, from: "x", kind: "hello" },
        { v: snapshotVersion, from: 5, kind: "hello" },
        { v: snapshotVersion, from: "x".repeat(65), kind: "hello" },
        { v: snapshotVersion, from: "broken", kind: "explode" },
        { v: snapshotVersion, from: "broken", kind: "collect", id: 7 },
        { v: snapshotVersion, from: "broken", kind: "hello", serving: 9464 },
        { v: snapshotVersion, from: "broken", kind: "snapshot", id: "s", snapshot: "no" },
      ]
      for (const message of garbage) peer.post(message)
      const dropped = (reason: string) =>
        a.store.value(MetricCatalogue.metricDroppedSamples, { metric: "aggregate_isolates", reason }) ?? 0
      yield* until("the garbage was read", () => dropped("invalid_message") === 8)
      assert.equal(dropped("incompatible_isolate"), 1)
      assert.equal(dropped("invalid_snapshot"), 1)
      assert.equal(peersOf(a), 0, "malformed messages make no peer")

      // A well-formed peer that answers with a malformed snapshot: skipped and counted while merging.
      peer.answerWith(() => ({ v: snapshotVersion, isolate: "broken", families: "nope", foreign: [] }))
      peer.say("hello")
      yield* until("the peer is known", () => peersOf(a) === 1)
      const text = yield* a.run(Prometheus.format())
      assert.equal(value(text, 'shop_orders_total{channel="web"}'), 1)
      assert.equal(dropped("invalid_snapshot"), 2)
    }),
)

liveTest(
  "isolates share the Prometheus port: one binds it and answers for all, the others rely on it",
  () =>
    Effect.gen(function* () {
      const channel = freshChannel()
      const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 })
      const port = probe.addr.port
      probe.close()
      const options = (id: number): Telemetry.TelemetryOptions => ({
        systemMetrics: false,
        aggregateIsolates: { channel },
        prometheus: { port },
        serviceName: `isolate-${id}`,
      })
      const a = yield* isolate(channel, undefined, () => Telemetry.layer(options(1)))
      const b = yield* isolate(channel, undefined, () => Telemetry.layer(options(2)))
      const url = `http://127.0.0.1:${port}/metrics`
      assert.equal((yield* a.run(Prometheus.serverAddress))?.url, url)
      assert.equal((yield* b.run(Prometheus.serverAddress))?.url, url)
      yield* until("the isolates know each other", () => peersOf(a) === 1 && peersOf(b) === 1)
      yield* a.run(Metrics.increment(orders, { channel: "web" }, 2))
      yield* b.run(Metrics.increment(orders, { channel: "web" }, 3))
      for (let i = 0; i < 3; i++) {
        const response = yield* Effect.promise(() => fetch(url))
        const text = yield* Effect.promise(() => response.text())
        assert.equal(value(text, 'shop_orders_total{channel="web"}'), 5)
      }
    }),
)

liveTest(
  "a port held by something that is not an isolate on the channel still fails the layer",
  () =>
    Effect.gen(function* () {
      const stranger = yield* Effect.acquireRelease(
        Effect.sync(() => Deno.listen({ hostname: "127.0.0.1", port: 0 })),
        (listener) => Effect.sync(() => listener.close()),
      )
      const error = yield* Effect.flip(
        Layer.build(
          Metrics.layer({
            systemMetrics: false,
            aggregateIsolates: { channel: freshChannel(), timeout: "50 millis" },
            prometheus: { port: stranger.addr.port },
          }),
        ),
      )
      assert.equal(error._tag, "TelemetryConfigError")
      assert.match(error.message, /no other isolate/)
    }),
)

liveTest(
  "without aggregateIsolates a second server on the port fails the layer, naming the option",
  () =>
    Effect.gen(function* () {
      const first = yield* Layer.build(Metrics.layer({ systemMetrics: false, prometheus: { port: 0 } }))
      const { port } = (yield* Prometheus.serverAddress.pipe(Effect.provide(first)))!
      const error = yield* Effect.flip(
        Layer.build(Metrics.layer({ systemMetrics: false, prometheus: { port } })),
      )
      assert.equal(error._tag, "TelemetryConfigError")
      assert.match(error.message, /aggregateIsolates/)
    }),
)

effectTest(
  "invalid aggregateIsolates options fail the layer with a TelemetryConfigError naming them",
  () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<[unknown, string]> = [
        ["yes", "aggregateIsolates"],
        [{ channel: "" }, "aggregateIsolates.channel"],
        [{ channel: "x".repeat(513) }, "aggregateIsolates.channel"],
        [{ timeout: "soon" }, "aggregateIsolates.timeout"],
        [{ timeout: 0 }, "aggregateIsolates.timeout"],
        [{ timeout: "2 minutes" }, "aggregateIsolates.timeout"],
      ]
      for (const [aggregateIsolates, name] of cases) {
        const error = yield* Effect.flip(
          Layer.build(Metrics.layer({ aggregateIsolates } as Metrics.MetricsOptions)),
        )
        assert.equal(error._tag, "TelemetryConfigError")
        assert.match(error.message, new RegExp(name.replace(".", "\\.")), String(aggregateIsolates))
      }
      const definition = yield* Effect.flip(
        Metrics.define({ name: "a_total", type: "counter", description: "A", aggregation: "max" }),
      )
      assert.equal(definition.rule, "aggregation_type")
    }),
)

effectTest(
  "STAGETRACE_METRICS_AGGREGATE_ISOLATES turns aggregation on from the environment",
  () =>
    Effect.gen(function* () {
      assert.ok(Telemetry.environmentVariables.includes("STAGETRACE_METRICS_AGGREGATE_ISOLATES"))
      const { metricsConcern } = yield* Effect.promise(() => import("../../src/metrics/internal/concern.ts"))
      assert.deepEqual(
        yield* metricsConcern.fromEnv({ STAGETRACE_METRICS_AGGREGATE_ISOLATES: "true" }),
        { aggregateIsolates: true },
      )
      const error = yield* Effect.flip(
        metricsConcern.fromEnv({ STAGETRACE_METRICS_AGGREGATE_ISOLATES: "maybe" }),
      )
      assert.match(error.message, /STAGETRACE_METRICS_AGGREGATE_ISOLATES/)
    }),
)
