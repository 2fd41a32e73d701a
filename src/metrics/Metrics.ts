/**
 * Typed metrics over Effect's `Metric`: define a counter, gauge or histogram once (validated against the
 * Prometheus naming rules), record it with its declared labels, or wrap effects with `Metrics.track`,
 * `Metrics.measureLatency`, `Metrics.countCalls`, `Metrics.trackLlmUsage` and `Metrics.cacheMetrics`.
 *
 * Recording never fails and never throws: an undeclared or missing label, a NaN, a negative counter
 * increment or a value of the wrong type is a dropped sample, counted in
 * `stagetrace_metric_dropped_samples_total{metric, reason}`. Memory is bounded: at most
 * `maxSeriesPerMetric` label sets per metric (later ones share one overflow series labelled
 * `otel_metric_overflow="true"`), and counter and histogram series idle for `seriesTtl` are evicted.
 *
 * Every series also appears in Effect's `MetricRegistry` (the one of the context the layer was built in),
 * so `Metric.snapshot` and OTLP metric exporters see it; `Prometheus` serves it.
 *
 * Guide: [Metrics and Prometheus](../../docs/metrics-and-prometheus.md).
 *
 * @module
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { outcomeOf } from "../internal/recorder.ts"
import type { TelemetryConfigError } from "../internal/config.ts"
import {
  defineUnsafe as defineUnsafeImpl,
  type DefinitionRule,
  type GaugeAggregation,
  type LabelValues,
  type MetricDefinition,
  MetricDefinitionError,
  type MetricSpec,
  type MetricType,
  validate,
} from "./internal/definition.ts"
import {
  llmCostDollarsTotalDef,
  llmRequestDurationDef,
  llmRequestsTotalDef,
  llmTokensUsedTotalDef,
  ragCacheHitsTotalDef,
  ragCacheMissesTotalDef,
} from "./internal/catalogue.ts"
import type { AggregateIsolatesOptions, MetricsOptions } from "./internal/options.ts"
import { buildStore, globalStore } from "./internal/service.ts"
import { type HistogramValue, Store, type Watcher } from "./internal/store.ts"

export { MetricDefinitionError }
export type {
  AggregateIsolatesOptions,
  DefinitionRule,
  GaugeAggregation,
  HistogramValue,
  LabelValues,
  MetricDefinition,
  MetricsOptions,
  MetricSpec,
  MetricType,
}

// ---------------------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------------------

/**
 * A counter definition with label names `L` (`never` when it has none).
 *
 * @category models
 * @since 0.1.0
 */
export type Counter<L extends string = never> = MetricDefinition<"counter", L>

/**
 * A gauge definition with label names `L`.
 *
 * @category models
 * @since 0.1.0
 */
export type Gauge<L extends string = never> = MetricDefinition<"gauge", L>

/**
 * A histogram definition with label names `L`.
 *
 * @category models
 * @since 0.1.0
 */
export type Histogram<L extends string = never> = MetricDefinition<"histogram", L>

/**
 * What `Metrics.value` returns for a metric type: a number for counters and gauges, a `HistogramValue`
 * for histograms.
 *
 * @category models
 * @since 0.1.0
 */
export type MetricValue<T extends MetricType> = T extends "histogram" ? HistogramValue : number

// ---------------------------------------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------------------------------------

/**
 * Defines a metric, checked against Prometheus' rules: snake_case names, `_total` on counters and only on
 * counters, base units (`_seconds`, `_bytes`) with the unit as the name's suffix, a description, snake_case
 * label names that are neither reserved (`le`, `quantile`, `__*`…) nor repeated, and strictly increasing
 * finite buckets on histograms only. A bad definition fails with a `MetricDefinitionError` naming the rule.
 *
 * Histograms without `buckets` get Prometheus' defaults (5 ms to 10 s).
 *
 * @example Defining and recording a counter
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Metrics } from "@stagetrace/stagetrace"
 *
 * const program = Effect.gen(function* () {
 *   const orders = yield* Metrics.define({
 *     name: "orders_placed_total",
 *     type: "counter",
 *     description: "Orders placed, by channel",
 *     labels: ["channel"],
 *   })
 *   yield* Metrics.increment(orders, { channel: "web" })
 *   yield* Metrics.increment(orders, { channel: "web" }, 2)
 *   return yield* Metrics.value(orders, { channel: "web" })
 * })
 *
 * assert.equal(await Effect.runPromise(program.pipe(Effect.provide(Metrics.layer()))), 3)
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const define = <const T extends MetricType, const L extends string = never>(
  spec: MetricSpec<T, L>,
): Effect.Effect<MetricDefinition<T, L>, MetricDefinitionError> => Effect.suspend(() => validate(spec))

/**
 * Like `define`, but synchronous: for module-level constants. Throws the `MetricDefinitionError` when the
 * definition breaks a rule (so a typo fails at startup, not while recording).
 *
 * @example A module-level histogram
 * ```ts
 * import assert from "node:assert/strict"
 * import { Metrics } from "@stagetrace/stagetrace"
 *
 * const latency = Metrics.defineUnsafe({
 *   name: "search_latency_seconds",
 *   type: "histogram",
 *   description: "Search latency",
 *   unit: "seconds",
 *   buckets: [0.01, 0.1, 1],
 * })
 * assert.deepEqual(latency.buckets, [0.01, 0.1, 1])
 * assert.throws(() => Metrics.defineUnsafe({ name: "latency_ms", type: "gauge", description: "x" }))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const defineUnsafe = <const T extends MetricType, const L extends string = never>(
  spec: MetricSpec<T, L>,
): MetricDefinition<T, L> => defineUnsafeImpl(spec)

// ---------------------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------------------

/**
 * The metric store in use. Its methods are synchronous, never throw, and count bad input as dropped
 * samples; use them from callbacks and hot loops. Inside Effect code, `Metrics.increment` and friends do
 * the same as effects.
 *
 * @category services
 * @since 0.1.0
 */
export interface Metrics {
  /** Adds `amount` (default 1, must be ≥ 0) to a counter. */
  readonly increment: {
    (metric: Counter<never>, amount?: number): void
    <L extends string>(metric: Counter<L>, labels: LabelValues<L>, amount?: number): void
  }
  /** Sets a gauge. */
  readonly set: {
    (metric: Gauge<never>, value: number): void
    <L extends string>(metric: Gauge<L>, labels: LabelValues<L>, value: number): void
  }
  /** Adds `delta` (may be negative) to a gauge. */
  readonly add: {
    (metric: Gauge<never>, delta: number): void
    <L extends string>(metric: Gauge<L>, labels: LabelValues<L>, delta: number): void
  }
  /** Records one observation into a histogram. */
  readonly observe: {
    (metric: Histogram<never>, value: number): void
    <L extends string>(metric: Histogram<L>, labels: LabelValues<L>, value: number): void
  }
  /** The current value of a series, or `undefined` when it has never been recorded (or was evicted). */
  readonly value: {
    <T extends MetricType>(metric: MetricDefinition<T, never>): MetricValue<T> | undefined
    <T extends MetricType, L extends string>(
      metric: MetricDefinition<T, L>,
      labels: LabelValues<L>,
    ): MetricValue<T> | undefined
  }
}

/**
 * The `Metrics` service. Its default is one process-wide store (no eviction clock, Effect's global
 * registry); `Telemetry.layer` and `Metrics.layer` provide a fresh one.
 *
 * @example Recording synchronously from a callback
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { MetricCatalogue, Metrics } from "@stagetrace/stagetrace"
 *
 * const program = Effect.gen(function* () {
 *   const metrics = yield* Metrics.Metrics
 *   const onMessage = (queue: string) => metrics.increment(MetricCatalogue.errorsTotal, { component: queue, error_type: "timeout" })
 *   onMessage("billing")
 *   return metrics.value(MetricCatalogue.errorsTotal, { component: "billing", error_type: "timeout" })
 * })
 * assert.equal(await Effect.runPromise(program.pipe(Effect.provide(Metrics.layer()))), 1)
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export const Metrics: Context.Reference<Metrics> = Context.Reference<Metrics>(
  "@stagetrace/stagetrace/Metrics",
  {
    defaultValue: () => globalStore() as unknown as Metrics,
  },
)

/** The store behind a service, when it is stagetrace's own (custom implementations have none). */
const storeOf = (service: Metrics): Store | undefined => (service instanceof Store ? service : undefined)

/** Counts a dropped sample on `service` when it can count. */
const dropOn = (service: Metrics, metric: string, reason: string): void =>
  storeOf(service)?.drop(metric, reason)

/**
 * Provides a fresh `Metrics` store (and nothing else of stagetrace): its series are exposed in the
 * `MetricRegistry` of the context the layer is built in, idle series are evicted by a background fiber that
 * lives as long as the layer, and `prometheus` starts the endpoint. `Telemetry.layer` does all this too.
 *
 * @example Isolated metrics for a test
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { MetricCatalogue, Metrics } from "@stagetrace/stagetrace"
 *
 * const value = await Effect.runPromise(
 *   Metrics.set(MetricCatalogue.dbConnectionsActive, { database: "main" }, 4).pipe(
 *     Effect.andThen(Metrics.value(MetricCatalogue.dbConnectionsActive, { database: "main" })),
 *     Effect.provide(Metrics.layer({ maxSeriesPerMetric: 100 })),
 *   ),
 * )
 * assert.equal(value, 4)
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: MetricsOptions = {}): Layer.Layer<never, TelemetryConfigError> =>
  Layer.unwrap(
    Effect.map(buildStore(options, () => undefined), ({ store }) =>
      Layer.succeed(Metrics, store as unknown as Metrics)),
  )

// ---------------------------------------------------------------------------------------------------------
// Recording
// ---------------------------------------------------------------------------------------------------------

/** The store of the last context a recording ran in: contexts are immutable, so it stays right for it. */
let lastContext: Context.Context<never> | undefined
let lastStore: Metrics | undefined

/** The `Metrics` service of `fiber`'s context (one context lookup per new context). */
const metricsOf = (fiber: Fiber.Fiber<unknown, unknown>): Metrics => {
  const context = fiber.context
  if (context === lastContext) return lastStore!
  lastContext = context
  return lastStore = fiber.getRef(Metrics)
}

/**
 * Adds `amount` (default 1) to a counter. A negative, NaN or infinite amount, or labels other than the
 * declared ones, is a counted drop.
 *
 * @example Counting orders
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Metrics } from "@stagetrace/stagetrace"
 *
 * const orders = Metrics.defineUnsafe({ name: "shop_orders_total", type: "counter", description: "Orders", labels: ["channel"] })
 * const value = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* Metrics.increment(orders, { channel: "web" })
 *     yield* Metrics.increment(orders, { channel: "web" }, 2)
 *     return yield* Metrics.value(orders, { channel: "web" })
 *   }).pipe(Effect.provide(Metrics.layer())),
 * )
 * assert.equal(value, 3)
 * ```
 *
 * @category recording
 * @since 0.1.0
 */
export const increment: {
  (metric: Counter<never>, amount?: number): Effect.Effect<void>
  <L extends string>(metric: Counter<L>, labels: LabelValues<L>, amount?: number): Effect.Effect<void>
} = (metric: MetricDefinition, a?: unknown, b?: unknown): Effect.Effect<void> =>
  Effect.sync(() => {
    ;(metricsOf(Fiber.getCurrent()!).increment as (m: unknown, a: unknown, b: unknown) => void)(metric, a, b)
  })

/**
 * Sets a gauge to `value`. NaN is a counted drop. A series of a gauge the toolkit samples itself
 * (`system_cpu_usage_percent`, `system_memory_usage_bytes`) becomes yours: the sampler stops writing it.
 *
 * @example Setting a gauge
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Metrics } from "@stagetrace/stagetrace"
 *
 * const queued = Metrics.defineUnsafe({ name: "jobs_queued", type: "gauge", description: "Jobs waiting" })
 * const value = await Effect.runPromise(
 *   Metrics.set(queued, 7).pipe(Effect.andThen(Metrics.value(queued)), Effect.provide(Metrics.layer())),
 * )
 * assert.equal(value, 7)
 * ```
 *
 * @category recording
 * @since 0.1.0
 */
export const set: {
  (metric: Gauge<never>, value: number): Effect.Effect<void>
  <L extends string>(metric: Gauge<L>, labels: LabelValues<L>, value: number): Effect.Effect<void>
} = (metric: MetricDefinition, a?: unknown, b?: unknown): Effect.Effect<void> =>
  Effect.sync(() => {
    ;(metricsOf(Fiber.getCurrent()!).set as (m: unknown, a: unknown, b: unknown) => void)(metric, a, b)
  })

/**
 * Adds `delta` (may be negative) to a gauge.
 *
 * @example Moving a gauge up and down
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Metrics } from "@stagetrace/stagetrace"
 *
 * const open = Metrics.defineUnsafe({ name: "connections_open", type: "gauge", description: "Open connections" })
 * const value = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* Metrics.add(open, 3)
 *     yield* Metrics.add(open, -1)
 *     return yield* Metrics.value(open)
 *   }).pipe(Effect.provide(Metrics.layer())),
 * )
 * assert.equal(value, 2)
 * ```
 *
 * @category recording
 * @since 0.1.0
 */
export const add: {
  (metric: Gauge<never>, delta: number): Effect.Effect<void>
  <L extends string>(metric: Gauge<L>, labels: LabelValues<L>, delta: number): Effect.Effect<void>
} = (metric: MetricDefinition, a?: unknown, b?: unknown): Effect.Effect<void> =>
  Effect.sync(() => {
    ;(metricsOf(Fiber.getCurrent()!).add as (m: unknown, a: unknown, b: unknown) => void)(metric, a, b)
  })

/**
 * Records one observation into a histogram. NaN and infinite values are counted drops.
 *
 * @example Recording a histogram observation
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { MetricCatalogue, Metrics } from "@stagetrace/stagetrace"
 *
 * const value = await Effect.runPromise(
 *   Metrics.observe(MetricCatalogue.dbQueryDuration, { operation: "select" }, 0.012).pipe(
 *     Effect.andThen(Metrics.value(MetricCatalogue.dbQueryDuration, { operation: "select" })),
 *     Effect.provide(Metrics.layer()),
 *   ),
 * )
 * assert.equal(value?.count, 1)
 * assert.equal(value?.sum, 0.012)
 * ```
 *
 * @category recording
 * @since 0.1.0
 */
export const observe: {
  (metric: Histogram<never>, value: number): Effect.Effect<void>
  <L extends string>(metric: Histogram<L>, labels: LabelValues<L>, value: number): Effect.Effect<void>
} = (metric: MetricDefinition, a?: unknown, b?: unknown): Effect.Effect<void> =>
  Effect.sync(() => {
    ;(metricsOf(Fiber.getCurrent()!).observe as (m: unknown, a: unknown, b: unknown) => void)(metric, a, b)
  })

/**
 * The current value of a series: a number for counters and gauges, `{ count, sum, buckets }` for
 * histograms, `undefined` when the series was never recorded (or was evicted).
 *
 * @example A series never recorded
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Metrics } from "@stagetrace/stagetrace"
 *
 * const orders = Metrics.defineUnsafe({ name: "shop_orders_total", type: "counter", description: "Orders" })
 * assert.equal(await Effect.runPromise(Metrics.value(orders).pipe(Effect.provide(Metrics.layer()))), undefined)
 * ```
 *
 * @category recording
 * @since 0.1.0
 */
export const value: {
  <T extends MetricType>(metric: MetricDefinition<T, never>): Effect.Effect<MetricValue<T> | undefined>
  <T extends MetricType, L extends string>(
    metric: MetricDefinition<T, L>,
    labels: LabelValues<L>,
  ): Effect.Effect<MetricValue<T> | undefined>
} = (metric: MetricDefinition, labels?: unknown): Effect.Effect<never> =>
  Effect.withFiber((fiber) =>
    Effect.succeed(
      (fiber.getRef(Metrics).value as unknown as (m: unknown, l: unknown) => never)(metric, labels),
    )
  )

// ---------------------------------------------------------------------------------------------------------
// Wrappers
// ---------------------------------------------------------------------------------------------------------

const secondsSince = (clock: Clock.Clock, startNanos: bigint): number =>
  Number(clock.currentTimeNanosUnsafe() - startNanos) / 1e9

/** Runs `self`, calling `onEnd` with the service, the exit and the elapsed seconds. */
const timed = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  onStart: ((service: Metrics) => void) | undefined,
  onEnd: (service: Metrics, exit: Exit.Exit<A, E>, seconds: number) => void,
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => {
    const service = fiber.getRef(Metrics)
    const clock = fiber.getRef(Clock.Clock)
    const start = clock.currentTimeNanosUnsafe()
    if (onStart !== undefined) onStart(service)
    return Effect.onExitPrimitive(self, (exit) => {
      onEnd(service, exit, secondsSince(clock, start))
      return undefined
    })
  })

/** A failure that is not only an interruption. */
const failed = (exit: Exit.Exit<unknown, unknown>): boolean => outcomeOf(exit) === "error"

/**
 * Options of `Metrics.track`.
 *
 * @category models
 * @since 0.1.0
 */
export interface TrackOptions {
  /**
   * Constant labels of the three metrics (their names become the declared labels).
   * @default {}
   */
  readonly labels?: Readonly<Record<string, string | number | boolean>> | undefined
  /**
   * Buckets of `<name>_duration_seconds`.
   * @default Prometheus' defaults (0.005 … 10)
   */
  readonly buckets?: ReadonlyArray<number> | undefined
}

interface TrackSpec {
  readonly name: string
  readonly labels: Readonly<Record<string, string | number | boolean>>
  readonly duration: Histogram<string> | undefined
  readonly calls: Counter<string> | undefined
  readonly errors: Counter<string> | undefined
}

const makeTrackSpec = (name: string, options: TrackOptions | undefined): TrackSpec => {
  const labels = options?.labels ?? {}
  const names = Object.keys(labels)
  const attempt = <D>(make: () => D): D | undefined => {
    try {
      return make()
    } catch {
      return undefined
    }
  }
  return {
    name,
    labels,
    duration: attempt(() =>
      defineUnsafeImpl({
        name: `${name}_duration_seconds`,
        type: "histogram",
        description: `Duration of ${name}`,
        unit: "seconds",
        labels: names,
        buckets: options?.buckets,
      })
    ),
    calls: attempt(() =>
      defineUnsafeImpl({
        name: `${name}_calls_total`,
        type: "counter",
        description: `Calls of ${name}`,
        labels: names,
      })
    ),
    errors: attempt(() =>
      defineUnsafeImpl({
        name: `${name}_errors_total`,
        type: "counter",
        description: `Failed calls of ${name}`,
        labels: names,
      })
    ),
  }
}

/**
 * Tracks an effect like the seeds' `@track_metrics`: `<name>_duration_seconds` (histogram, every run),
 * `<name>_calls_total` (counter, at start) and `<name>_errors_total` (counter, failures other than
 * interruption), all with the constant `labels`. Adds no error and no requirement; an invalid `name` makes
 * it a pass-through that counts a dropped sample per run.
 *
 * @example Tracking a function's calls, errors and duration
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Metrics, Prometheus } from "@stagetrace/stagetrace"
 *
 * const process = Effect.fail("boom").pipe(Metrics.track("process_data", { labels: { component: "ingest" } }))
 *
 * const text = await Effect.runPromise(
 *   Effect.ignore(process).pipe(Effect.andThen(Prometheus.format()), Effect.provide(Metrics.layer())),
 * )
 * assert.match(text, /process_data_calls_total\{component="ingest"\} 1/)
 * assert.match(text, /process_data_errors_total\{component="ingest"\} 1/)
 * assert.match(text, /process_data_duration_seconds_count\{component="ingest"\} 1/)
 * ```
 *
 * @category wrappers
 * @since 0.1.0
 */
export const track: {
  (name: string, options?: TrackOptions): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string, options?: TrackOptions): Effect.Effect<A, E, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string, options?: TrackOptions): Effect.Effect<A, E, R> => {
    const spec = makeTrackSpec(name, options)
    const { duration, calls, errors, labels } = spec
    if (duration === undefined || calls === undefined || errors === undefined) {
      return Effect.withFiber((fiber) => {
        dropOn(fiber.getRef(Metrics), name, "invalid_definition")
        return self
      })
    }
    return timed(
      self,
      (service) => service.increment(calls, labels),
      (service, exit, seconds) => {
        service.observe(duration, labels, seconds)
        if (failed(exit)) service.increment(errors, labels)
      },
    )
  },
)

/**
 * Records the duration of every run of an effect (success or failure), in seconds, into a histogram
 * (whose unit should be `seconds`), like the seeds' `@measure_latency`.
 *
 * @example Measuring a call's latency
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Fiber } from "effect"
 * import { TestClock } from "effect/testing"
 * import { MetricCatalogue, Metrics } from "@stagetrace/stagetrace"
 *
 * const query = Effect.sleep("250 millis").pipe(
 *   Metrics.measureLatency(MetricCatalogue.dbQueryDuration, { operation: "select" }),
 * )
 * const latency = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     const fiber = yield* Effect.forkChild(query)
 *     yield* TestClock.adjust("250 millis")
 *     yield* Fiber.join(fiber)
 *     return yield* Metrics.value(MetricCatalogue.dbQueryDuration, { operation: "select" })
 *   }).pipe(Effect.provide([Metrics.layer(), TestClock.layer()])),
 * )
 * assert.equal(latency?.sum, 0.25)
 * ```
 *
 * @category wrappers
 * @since 0.1.0
 */
export const measureLatency: {
  (metric: Histogram<never>): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <L extends string>(
    metric: Histogram<L>,
    labels: LabelValues<L>,
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, metric: Histogram<never>): Effect.Effect<A, E, R>
  <A, E, R, L extends string>(
    self: Effect.Effect<A, E, R>,
    metric: Histogram<L>,
    labels: LabelValues<L>,
  ): Effect.Effect<A, E, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    metric: Histogram<string>,
    labels?: unknown,
  ): Effect.Effect<A, E, R> =>
    timed(self, undefined, (service, _exit, seconds) => {
      if (labels === undefined) (service.observe as (m: unknown, v: number) => void)(metric, seconds)
      else service.observe(metric, labels as LabelValues<string>, seconds)
    }),
)

/**
 * Options of `Metrics.countCalls`: constant labels, or a function of the call's arguments (the arguments
 * an `Effect.fn` pipeable receives).
 *
 * @category models
 * @since 0.1.0
 */
export interface CountCallsOptions<L extends string, Args extends ReadonlyArray<unknown>> {
  /**
   * Label values, constant or from the call's arguments.
   * @default undefined (the counter must have no labels)
   */
  readonly labels?: LabelValues<L> | ((...args: Args) => LabelValues<L>) | undefined
}

const countCallsImpl = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  metric: Counter<string>,
  options: CountCallsOptions<string, ReadonlyArray<unknown>> | undefined,
  args: ReadonlyArray<unknown>,
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => {
    const service = fiber.getRef(Metrics)
    const given = options?.labels
    if (given === undefined) (service.increment as (m: unknown) => void)(metric)
    else if (typeof given === "function") {
      let labels: LabelValues<string> | undefined
      try {
        labels = given(...args)
      } catch {
        dropOn(service, metric.name, "label_function_failed")
      }
      if (labels !== undefined) service.increment(metric, labels)
    } else service.increment(metric, given)
    return self
  })

/**
 * Counts the calls of an effect, like the seeds' `@count_calls`; the label values may come from the call's
 * arguments, so it fits `Effect.fn` as a pipeable (which receives the effect and the arguments).
 *
 * @example Counting calls by user
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Metrics } from "@stagetrace/stagetrace"
 *
 * const calls = Metrics.defineUnsafe({
 *   name: "user_requests_total",
 *   type: "counter",
 *   description: "Requests per user",
 *   labels: ["user_id"],
 * })
 * const handle = Effect.fn("handle")(
 *   function* (userId: string) {
 *     return userId.length
 *   },
 *   Metrics.countCalls(calls, { labels: (userId: string) => ({ user_id: userId }) }),
 * )
 *
 * const count = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* handle("u1")
 *     yield* handle("u1")
 *     return yield* Metrics.value(calls, { user_id: "u1" })
 *   }).pipe(Effect.provide(Metrics.layer())),
 * )
 * assert.equal(count, 2)
 * ```
 *
 * @category wrappers
 * @since 0.1.0
 */
export const countCalls: {
  // deno-lint-ignore no-explicit-any
  <L extends string, Args extends ReadonlyArray<any> = []>(
    metric: Counter<L>,
    options?: CountCallsOptions<L, Args>,
  ): <A, E, R>(self: Effect.Effect<A, E, R>, ...args: Args) => Effect.Effect<A, E, R>
  <A, E, R, L extends string>(
    self: Effect.Effect<A, E, R>,
    metric: Counter<L>,
    options?: CountCallsOptions<L, []>,
  ): Effect.Effect<A, E, R>
} = function (this: unknown) {
  // Not `dual`: the data-last form forwards the call's arguments (Effect.fn pipeables receive them).
  const first = arguments[0]
  if (Effect.isEffect(first)) return countCallsImpl(first, arguments[1], arguments[2], [])
  const metric = first as Counter<string>
  const options = arguments[1] as CountCallsOptions<string, ReadonlyArray<unknown>> | undefined
  return <A, E, R>(self: Effect.Effect<A, E, R>, ...args: ReadonlyArray<unknown>) =>
    countCallsImpl(self, metric, options, args)
  // deno-lint-ignore no-explicit-any
} as any

/**
 * Token counts of one LLM call.
 *
 * @category models
 * @since 0.1.0
 */
export interface LlmUsage {
  /** Tokens in the prompt (input). */
  readonly promptTokens: number
  /** Tokens in the completion (output). */
  readonly completionTokens: number
}

/**
 * Prices per 1,000 tokens, in US dollars.
 *
 * @category models
 * @since 0.1.0
 */
export interface LlmPricing {
  /** US dollars per 1,000 prompt tokens. */
  readonly promptPer1k: number
  /** US dollars per 1,000 completion tokens. */
  readonly completionPer1k: number
}

/**
 * Options of `Metrics.trackLlmUsage`.
 *
 * @category models
 * @since 0.1.0
 */
export interface TrackLlmUsageOptions<A> {
  /** The `provider` label (`openai`, `anthropic`…). */
  readonly provider: string
  /** The `model` label. */
  readonly model: string
  /**
   * Prices per 1,000 tokens; without them no cost is recorded.
   * @default undefined
   */
  readonly pricing?: LlmPricing | undefined
  /** Reads the token counts from the call's result. */
  readonly usage: (result: A) => LlmUsage
}

const validCount = (n: unknown): n is number => typeof n === "number" && n >= 0 && n !== Infinity

const trackLlmImpl = <A, E, R>(self: Effect.Effect<A, E, R>, options: TrackLlmUsageOptions<A>) => {
  const provider = String(options.provider)
  const model = String(options.model)
  const base = { provider, model }
  const pricing = options.pricing
  const pricingValid = pricing === undefined ||
    (validCount(pricing.promptPer1k) && validCount(pricing.completionPer1k))
  return timed(self, undefined, (service, exit, seconds) => {
    service.increment(llmRequestsTotalDef, { provider, model, status: outcomeOf(exit) })
    service.observe(llmRequestDurationDef, base, seconds)
    if (exit._tag !== "Success") return
    let usage: LlmUsage
    try {
      usage = options.usage(exit.value)
    } catch {
      return dropOn(service, llmTokensUsedTotalDef.name, "usage_function_failed")
    }
    const prompt = usage?.promptTokens
    const completion = usage?.completionTokens
    if (!validCount(prompt) || !validCount(completion)) {
      return dropOn(service, llmTokensUsedTotalDef.name, "invalid_usage")
    }
    service.increment(llmTokensUsedTotalDef, { provider, model, type: "prompt" }, prompt)
    service.increment(llmTokensUsedTotalDef, { provider, model, type: "completion" }, completion)
    if (pricing === undefined) return
    if (!pricingValid) return dropOn(service, llmCostDollarsTotalDef.name, "invalid_pricing")
    const cost = (prompt / 1000) * pricing.promptPer1k + (completion / 1000) * pricing.completionPer1k
    service.increment(llmCostDollarsTotalDef, base, cost)
  })
}

/**
 * Tracks an LLM call like the seeds' `@track_llm_usage`: `llm_requests_total{provider, model, status}`,
 * `llm_request_duration_seconds{provider, model}`, and on success the tokens
 * (`llm_tokens_used_total{provider, model, type}`) and the cost from the per-1k prices
 * (`llm_cost_dollars_total{provider, model}`). A `usage` function that throws or returns bad numbers is a
 * counted drop; the call's result is never changed.
 *
 * @example Tracking tokens and cost
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { MetricCatalogue, Metrics } from "@stagetrace/stagetrace"
 *
 * interface Completion { readonly text: string; readonly usage: { readonly input: number; readonly output: number } }
 * const complete = Effect.succeed<Completion>({ text: "hi", usage: { input: 1000, output: 500 } }).pipe(
 *   Metrics.trackLlmUsage({
 *     provider: "openai",
 *     model: "gpt-4",
 *     pricing: { promptPer1k: 0.03, completionPer1k: 0.06 },
 *     usage: (c: Completion) => ({ promptTokens: c.usage.input, completionTokens: c.usage.output }),
 *   }),
 * )
 * const cost = await Effect.runPromise(
 *   complete.pipe(
 *     Effect.andThen(Metrics.value(MetricCatalogue.llmCostDollarsTotal, { provider: "openai", model: "gpt-4" })),
 *     Effect.provide(Metrics.layer()),
 *   ),
 * )
 * assert.equal(cost, 0.06)
 * ```
 *
 * @category wrappers
 * @since 0.1.0
 */
export const trackLlmUsage: {
  <A>(options: TrackLlmUsageOptions<A>): <E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, options: TrackLlmUsageOptions<NoInfer<A>>): Effect.Effect<A, E, R>
} = dual(2, trackLlmImpl)

/**
 * What `Metrics.cacheMetrics` expects an effect to return: `[value, hit]` or an object with `hit`.
 *
 * @category models
 * @since 0.1.0
 */
export type CacheResult = readonly [value: unknown, hit: boolean] | { readonly hit: boolean }

/**
 * Counts hits and misses of a cache lookup, like the seeds' `@cache_metrics`: the effect returns its value
 * and a hit flag (`[value, hit]` or `{ hit }`), recorded in `rag_cache_hits_total{cache}` or
 * `rag_cache_misses_total{cache}`. The result is returned unchanged; one without a hit flag is a counted
 * drop.
 *
 * @example Counting cache hits
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { MetricCatalogue, Metrics } from "@stagetrace/stagetrace"
 *
 * const lookup = (key: string) =>
 *   Effect.succeed([key.length, key === "cached"] as const).pipe(Metrics.cacheMetrics("embeddings"))
 *
 * const hits = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* lookup("cached")
 *     yield* lookup("other")
 *     return yield* Metrics.value(MetricCatalogue.ragCacheHitsTotal, { cache: "embeddings" })
 *   }).pipe(Effect.provide(Metrics.layer())),
 * )
 * assert.equal(hits, 1)
 * ```
 *
 * @category wrappers
 * @since 0.1.0
 */
export const cacheMetrics: {
  (cacheName: string): <A extends CacheResult, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A extends CacheResult, E, R>(self: Effect.Effect<A, E, R>, cacheName: string): Effect.Effect<A, E, R>
} = dual(
  2,
  <A extends CacheResult, E, R>(self: Effect.Effect<A, E, R>, cacheName: string): Effect.Effect<A, E, R> => {
    const labels = { cache: String(cacheName) }
    return timed(self, undefined, (service, exit) => {
      if (exit._tag !== "Success") return
      const result = exit.value as unknown
      const hit = Array.isArray(result)
        ? result[1]
        : typeof result === "object" && result !== null
        ? (result as { hit?: unknown }).hit
        : undefined
      if (typeof hit !== "boolean") return dropOn(service, ragCacheHitsTotalDef.name, "invalid_cache_result")
      service.increment(hit ? ragCacheHitsTotalDef : ragCacheMissesTotalDef, labels)
    })
  },
)

// ---------------------------------------------------------------------------------------------------------
// Thresholds
// ---------------------------------------------------------------------------------------------------------

/**
 * What a threshold effect receives: the metric, the value that crossed, and the series' labels.
 *
 * @category models
 * @since 0.1.0
 */
export interface ThresholdEvent<L extends string> {
  /** The metric's name. */
  readonly metric: string
  /** The value that made the predicate true. */
  readonly value: number
  /** The series' label values (after redaction). */
  readonly labels: Readonly<Record<L, string>>
}

/** Threshold effects of one watcher allowed to run at once; more crossings meanwhile are counted drops. */
const maxRunningThresholdEffects = 64

/**
 * Runs `effect` in the background when a recorded value crosses a threshold, like the seeds' metric
 * callbacks: `predicate` sees every value recorded into the metric (a counter's new total, a gauge's new
 * value, a histogram observation) with the series' labels; the effect runs when it turns `true` for a
 * series, and not again for that series until it has been `false`. Watching lasts for the current scope;
 * effects still running when it closes are interrupted. A predicate that throws or an effect that fails is
 * counted (and the failure logged), never propagated.
 *
 * @example Alerting once when errors pass 3
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { MetricCatalogue, Metrics } from "@stagetrace/stagetrace"
 *
 * const alerts: Array<string> = []
 * const program = Effect.gen(function* () {
 *   yield* Metrics.onThreshold(
 *     MetricCatalogue.errorsTotal,
 *     (total) => total > 3,
 *     (event) => Effect.sync(() => alerts.push(`${event.labels.component}: ${event.value}`)),
 *   )
 *   for (let i = 0; i < 6; i++) yield* Metrics.increment(MetricCatalogue.errorsTotal, { component: "kb", error_type: "timeout" })
 *   yield* Effect.yieldNow
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Metrics.layer())))
 * assert.deepEqual(alerts, ["kb: 4"])
 * ```
 *
 * @category thresholds
 * @since 0.1.0
 */
export const onThreshold = <T extends MetricType, L extends string, X, E2, R2>(
  metric: MetricDefinition<T, L>,
  predicate: (value: number, labels: Readonly<Record<L, string>>) => boolean,
  effect: Effect.Effect<X, E2, R2> | ((event: ThresholdEvent<L>) => Effect.Effect<X, E2, R2>),
): Effect.Effect<void, never, Scope.Scope | R2> =>
  Effect.gen(function* () {
    const store = storeOf(yield* Metrics)
    const family = store?.family(metric)
    if (store === undefined || family === undefined) return
    const run = yield* FiberSet.makeRuntime<R2>()
    const name = metric.name
    let running = 0
    const watcher: Watcher = {
      predicate: predicate as Watcher["predicate"],
      above: new WeakSet(),
      fire: (value, labels) => {
        if (running >= maxRunningThresholdEffects) return store.drop(name, "threshold_effect_dropped")
        running++
        const task = Effect.isEffect(effect)
          ? effect
          : Effect.suspend(() =>
            effect({ metric: name, value, labels: labels as Readonly<Record<L, string>> })
          )
        run(
          task.pipe(
            Effect.catchCause((cause) => {
              store.drop(name, "threshold_effect_failed")
              return Effect.logWarning(`stagetrace: threshold effect of ${name} failed`, cause)
            }),
            Effect.ensuring(Effect.sync(() => running--)),
          ),
        )
      },
    }
    ;(family.watchers ??= []).push(watcher)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        const watchers = family.watchers?.filter((w) => w !== watcher)
        family.watchers = watchers === undefined || watchers.length === 0 ? undefined : watchers
      })
    )
  })
