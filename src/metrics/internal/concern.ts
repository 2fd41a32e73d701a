/**
 * The metrics concern of `Telemetry.layer`: builds the store, feeds the toolkit's metrics from the
 * recorder's hooks (stage durations, requests) and collectors (drops, export statistics), and provides
 * the `Metrics` service.
 *
 * The stage hook runs at every stage end, so it resolves each (stage, status) series once and caches it
 * by stage id: an update is one map lookup, a bucket search and three additions.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { outcomeOf, type Recorder, type StageHandles } from "../../internal/recorder.ts"
import { ExportStatsSlot, RedactorSlot } from "../../internal/slots.ts"
import type { Concern } from "../../internal/concern.ts"
import { Metrics } from "../Metrics.ts"
import type { DefinitionImpl } from "./definition.ts"
import { environmentVariables, fromEnv, type MetricsConfig, type MetricsOptions } from "./options.ts"
import { buildStore } from "./service.ts"
import { type Family, observeInto, type Series, type Store } from "./store.ts"
import {
  droppedStageExecutionsDef,
  exportDroppedDef,
  exportedDef,
  exportFailuresDef,
  exportQueueCapacityDef,
  exportQueuedDef,
  recorderDroppedSamplesDef,
  requestsTotalDef,
  stageMemoryDeltaDef,
} from "./toolkit.ts"

/** The metrics concern. */
export const metricsConcern: Concern<MetricsOptions> = {
  name: "metrics",
  environmentVariables,
  fromEnv,
  install: (recorder, options) =>
    Effect.gen(function* () {
      const { store, config } = yield* buildStore(options, () => recorder.get(RedactorSlot))
      if (store.enabled) installRecorderMetrics(store, recorder, config)
      return { layers: [Layer.succeed(Metrics, store as unknown as Metrics)] }
    }),
}

/**
 * Milliseconds to seconds in one rounding: durations are nanosecond counts divided by 1e6, and dividing that
 * by 1000 rounds a second time (7000009 ns → 0.007000009000000001 s instead of 0.007000009). Back to whole
 * nanoseconds first (exact for any realistic duration), then one division.
 */
const secondsOf = (durationMs: number): number => Math.round(durationMs * 1e6) / 1e9

const statusNames = ["ok", "error", "interrupted"] as const

const statusIndex = (exit: Exit.Exit<unknown, unknown>): number =>
  exit._tag === "Success" ? 0 : outcomeOf(exit) === "interrupted" ? 2 : 1

/**
 * Series of a two-label (name, status) histogram or counter, cached per name: at most `limit` names are
 * cached, the rest go through the family's maps. Overflow and evicted series are never served from the cache.
 */
class StatusCache {
  private readonly entries = new Map<string, Array<Series | undefined>>()
  constructor(readonly family: Family, readonly limit: number) {}

  series(name: string, status: number): Series {
    const slots = this.entries.get(name)
    const cached = slots?.[status]
    if (cached !== undefined && !cached.evicted) return cached
    const series = this.family.seriesForValues([name, statusNames[status]!])
    if (series.overflow) return series
    if (slots !== undefined) slots[status] = series
    else if (this.entries.size < this.limit) {
      const created: Array<Series | undefined> = [undefined, undefined, undefined]
      created[status] = series
      this.entries.set(name, created)
    }
    return series
  }

  /**
   * `series(name, 0)` (status `ok`, most stage ends), cached on `handles` (the spec of a stage named
   * `name`) so that a stage end skips the lookup by name; never an overflow or evicted series.
   */
  okSeries(handles: StageHandles, name: string): Series {
    if (handles.seriesOwner === this) {
      const cached = handles.okSeries as Series
      if (!cached.evicted) return cached
    }
    const series = this.series(name, 0)
    if (!series.overflow) {
      handles.okSeries = series
      handles.seriesOwner = this
    }
    return series
  }
}

const familyOf = (store: Store, def: DefinitionImpl, collected = false): Family => {
  const family = store.family(def)!
  if (collected) family.collected = true
  return family
}

/** Installs the recorder hooks and collectors that feed the toolkit's metrics. */
const installRecorderMetrics = (store: Store, recorder: Recorder, config: MetricsConfig): void => {
  const stageFamily = familyOf(store, config.stageDuration)
  const stages = new StatusCache(stageFamily, config.maxSeriesPerMetric)
  recorder.stageEnd.push((node, exit, durationMs) => {
    const seconds = secondsOf(durationMs)
    if (!(seconds >= 0) || seconds === Infinity) return store.drop(stageFamily.def.name, "invalid_duration")
    const status = statusIndex(exit)
    const series = status === 0
      ? stages.okSeries(node.handles, node.exec.stageId)
      : stages.series(node.exec.stageId, status)
    observeInto(series, seconds)
    series.touched = store.epoch
    if (stageFamily.watchers !== undefined) stageFamily.check(series, seconds)
    // Set only on stages measured for memory (off by default), by hooks and wrappers that run before.
    const memoryDelta = node.exec.memoryDeltaBytes
    if (memoryDelta !== undefined) {
      store.observe(stageMemoryDeltaDef, { stage: node.exec.stageId }, memoryDelta)
    }
  })

  const requestCounts = new StatusCache(familyOf(store, requestsTotalDef), config.maxSeriesPerMetric)
  const requestFamily = familyOf(store, config.requestDuration)
  const requestDurations = new StatusCache(requestFamily, config.maxSeriesPerMetric)
  recorder.requestEnd.push((record, summary, exit) => {
    const status = statusIndex(exit)
    const counter = requestCounts.series(record.name, status)
    counter.value++
    counter.touched = store.epoch
    if (counter.family.watchers !== undefined) counter.family.check(counter, counter.value)
    const seconds = secondsOf(summary.durationMs)
    if (!(seconds >= 0) || seconds === Infinity) return store.drop(requestFamily.def.name, "invalid_duration")
    const series = requestDurations.series(record.name, status)
    observeInto(series, seconds)
    series.touched = store.epoch
    if (requestFamily.watchers !== undefined) requestFamily.check(series, seconds)
  })

  const drops = familyOf(store, recorderDroppedSamplesDef, true)
  const droppedExecutions = familyOf(store, droppedStageExecutionsDef, true)
  store.collectors.push(() => {
    for (const [reason, count] of recorder.drops) store.setCollected(drops, [reason], count)
    store.setCollected(droppedExecutions, [], recorder.droppedStageExecutions)
  })

  let exportFamilies: ReadonlyArray<Family> | undefined
  store.collectors.push(() => {
    const read = recorder.get(ExportStatsSlot)
    if (read === undefined) return
    const stats = read()
    const [exported, dropped, failures, queued, capacity] = exportFamilies ??= [
      familyOf(store, exportedDef, true),
      familyOf(store, exportDroppedDef, true),
      familyOf(store, exportFailuresDef, true),
      familyOf(store, exportQueuedDef, true),
      familyOf(store, exportQueueCapacityDef, true),
    ]
    for (const signal in stats.exported) store.setCollected(exported!, [signal], stats.exported[signal]!)
    for (const key in stats.dropped) {
      const colon = key.indexOf(":")
      const signal = colon < 0 ? key : key.slice(0, colon)
      const reason = colon < 0 ? "unknown" : key.slice(colon + 1)
      store.setCollected(dropped!, [signal, reason], stats.dropped[key]!)
    }
    store.setCollected(failures!, [], stats.failures)
    store.setCollected(queued!, [], stats.queued)
    store.setCollected(capacity!, [], stats.capacity)
  })
}
