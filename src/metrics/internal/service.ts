/**
 * Building a store for a layer: validated options, the registry of the context the layer is built in, the
 * eviction clock (a scoped background fiber), system metrics and the optional Prometheus server.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import process from "node:process"
import type { TelemetryConfigError } from "../../internal/config.ts"
import type { RedactorLike } from "../../internal/slots.ts"
import { type MetricsConfig, type MetricsOptions, validateMetricsOptions } from "./options.ts"
import { Aggregator } from "./isolates.ts"
import { serve } from "./server.ts"
import { Store } from "./store.ts"
import * as daemon from "../../internal/daemon.ts"
import { systemCpuUsagePercentDef, systemMemoryUsageBytesDef } from "./catalogue.ts"

/** The process-wide store used when no layer provides one (no eviction clock, global registry). */
let global: Store | undefined

/** The default store of the `Metrics` reference. */
export const globalStore = (): Store =>
  global ??= new Store({
    enabled: true,
    maxSeriesPerMetric: 2000,
    seriesTtlMs: Infinity,
    registry: Context.get(Context.empty(), Metric.MetricRegistry),
    redactor: () => undefined,
  })

/** How often the eviction clock ticks: a quarter of the TTL, at most every 10 seconds. */
export const tickMillis = (
  ttlMs: number,
): number => (ttlMs === Infinity ? 10_000 : Math.min(10_000, Math.max(1, ttlMs / 4)))

/**
 * Validates `options` and builds a store in the current scope: registry from the current context, eviction
 * clock, system metrics, Prometheus server when configured.
 */
export const buildStore = (
  options: MetricsOptions,
  redactor: () => RedactorLike | undefined,
): Effect.Effect<
  { readonly store: Store; readonly config: MetricsConfig },
  TelemetryConfigError,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const config = yield* validateMetricsOptions(options)
    const registry = yield* Metric.MetricRegistry
    const store = new Store({
      enabled: config.enabled,
      maxSeriesPerMetric: config.maxSeriesPerMetric,
      seriesTtlMs: config.seriesTtlMs,
      registry: config.enabled ? registry : undefined,
      redactor,
    })
    if (!config.enabled) return { store, config }
    const clock = yield* Clock.Clock
    if (config.systemMetrics) installSystemMetrics(store, clock)
    const tickMs = tickMillis(config.seriesTtlMs)
    yield* Effect.forkScoped(
      daemon.forever(Effect.sleep(tickMs).pipe(Effect.andThen(Effect.sync(() => store.tick(tickMs))))),
    )
    const context = yield* Effect.context<never>()
    const aggregate = config.aggregate
    if (aggregate !== undefined) {
      // Opened before the server (an isolate that cannot bind the port asks the channel whether another
      // isolate serves it), closed after it.
      yield* Effect.acquireRelease(
        Effect.sync(
          () => (store.aggregator = new Aggregator(store, context, aggregate, config.maxSeriesPerMetric)),
        ),
        (aggregator) =>
          Effect.sync(() => {
            aggregator.close()
            store.aggregator = undefined
          }),
      )
    }
    if (config.prometheus !== undefined) yield* serve(store, context, config.prometheus, "prometheus.")
    return { store, config }
  })

/** Memory by type and CPU usage of the process, read at every refresh (scrape or tick). */
const installSystemMetrics = (store: Store, clock: Clock.Clock): void => {
  const memory = store.family(systemMemoryUsageBytesDef)
  const cpu = store.family(systemCpuUsagePercentDef)
  if (memory === undefined || cpu === undefined) return
  memory.collected = true
  cpu.collected = true
  let lastCpu = -1
  let lastWall = -1
  let percent = 0
  store.collectors.push(() => {
    const usage = Deno.memoryUsage()
    store.setCollected(memory, ["rss"], usage.rss)
    store.setCollected(memory, ["heap_total"], usage.heapTotal)
    store.setCollected(memory, ["heap_used"], usage.heapUsed)
    store.setCollected(memory, ["external"], usage.external)
    const times = process.cpuUsage()
    const cpuMicros = times.user + times.system
    const wallMicros = clock.currentTimeMillisUnsafe() * 1000
    if (lastWall >= 0 && wallMicros > lastWall) {
      percent = Math.max(0, (100 * (cpuMicros - lastCpu)) / (wallMicros - lastWall))
    }
    lastCpu = cpuMicros
    lastWall = wallMicros
    store.setCollected(cpu, [], percent)
  })
}
