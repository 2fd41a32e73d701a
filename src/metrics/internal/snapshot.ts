/**
 * Snapshots of a metric store, for aggregation across isolates (`deno serve --parallel`): plain,
 * structured-clonable data (strings, numbers, arrays, one `Float64Array` per family) that an isolate posts
 * over a `BroadcastChannel`, and the merge of several snapshots into one temporary store (plus a
 * synthetic Effect registry for the other metrics) that the ordinary renderer turns into one exposition.
 *
 * Merging rules: counters and histograms sum (bucket by bucket, exactly); gauges combine as their
 * definition's `aggregation` says (`sum` by default; `system_memory_usage_bytes{type="rss"}` is
 * process-wide and takes the maximum); the overflow series of each family merge into one overflow series;
 * Effect summaries cannot be merged (quantiles do not add) and are kept per isolate with a `worker` label.
 *
 * A snapshot from another isolate is untrusted input: every field is checked while merging, and a
 * malformed or conflicting part is skipped and counted, never thrown.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import type * as Metric from "effect/Metric"
import { DefinitionImpl, type GaugeAggregation, type MetricType } from "./definition.ts"
import { type Family, maxFamilies, maxLabelLength, ownGetters, type Series, Store } from "./store.ts"

/** The protocol version of snapshots and messages; isolates with another version are ignored. */
export const snapshotVersion = 1

/** One family of stagetrace's own metrics. */
export interface FamilySnapshot {
  readonly name: string
  readonly type: MetricType
  readonly description: string
  readonly unit: string | undefined
  readonly labels: ReadonlyArray<string>
  readonly buckets: ReadonlyArray<number> | undefined
  readonly aggregation: GaugeAggregation
  /** Label values of every series but the overflow one, `labels.length` per series, in series order. */
  readonly values: ReadonlyArray<string>
  /**
   * Numbers of every series: `[value]` for counters and gauges, `[sum, count, min, max, ...counts]` for
   * histograms (per-bucket counts, not cumulative, the `+Inf` bucket last).
   */
  readonly data: Float64Array
  /** Whether the last series of `data` is the overflow series (which has no label values). */
  readonly overflow: boolean
}

/** The state of one metric of Effect's registry that is not stagetrace's, as plain data. */
export type ForeignState =
  | { readonly type: "Counter"; readonly count: number | bigint; readonly incremental: boolean }
  | { readonly type: "Gauge"; readonly value: number | bigint }
  | {
    readonly type: "Histogram"
    /** Cumulative, ending with `[Infinity, count]`. */
    readonly buckets: ReadonlyArray<readonly [number, number]>
    readonly count: number
    readonly sum: number
    readonly min: number
    readonly max: number
  }
  | { readonly type: "Frequency"; readonly occurrences: ReadonlyArray<readonly [string, number]> }
  | {
    readonly type: "Summary"
    readonly quantiles: ReadonlyArray<readonly [number, number | undefined]>
    readonly count: number
    readonly sum: number
    readonly min: number
    readonly max: number
  }

/** One metric of Effect's registry. */
export interface ForeignSnapshot {
  readonly id: string
  readonly description: string | undefined
  readonly attributes: Readonly<Record<string, string>>
  readonly state: ForeignState
}

/** Everything one isolate reports. */
export interface Snapshot {
  readonly v: typeof snapshotVersion
  /** The isolate's id (the `worker` label of per-isolate series). */
  readonly isolate: string
  readonly families: ReadonlyArray<FamilySnapshot>
  readonly foreign: ReadonlyArray<ForeignSnapshot>
}

/** Counts a dropped sample of `metric` under `reason` (in the real store of the merging isolate). */
export type Drop = (metric: string, reason: string) => void

// ---------------------------------------------------------------------------------------------------------
// Taking a snapshot
// ---------------------------------------------------------------------------------------------------------

const histogramWidth = (bounds: number): number => 4 + bounds + 1

const familySnapshot = (family: Family): FamilySnapshot => {
  const def = family.def
  const list = family.list
  const names = family.names
  const histogram = def.type === "histogram"
  const bounds = family.bounds?.length ?? 0
  const width = histogram ? histogramWidth(bounds) : 1
  const data = new Float64Array(list.length * width)
  const values: Array<string> = []
  let overflow: Series | undefined
  let row = 0
  const write = (series: Series): void => {
    const at = row * width
    if (histogram) {
      data[at] = series.sum
      data[at + 1] = series.count
      data[at + 2] = series.min
      data[at + 3] = series.max
      data.set(series.counts!, at + 4)
    } else data[at] = series.value
    row++
  }
  for (let i = 0; i < list.length; i++) {
    const series = list[i]!
    if (series.overflow) {
      overflow = series
      continue
    }
    for (let l = 0; l < names.length; l++) values.push(series.values[l]!)
    write(series)
  }
  if (overflow !== undefined) write(overflow)
  return {
    name: def.name,
    type: def.type,
    description: def.description,
    unit: def.unit,
    labels: names,
    buckets: def.buckets,
    aggregation: def.aggregation,
    values,
    data,
    overflow: overflow !== undefined,
  }
}

const attributesOf = (attributes: Metric.Metric.AttributeSet | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  if (attributes !== undefined) { for (const key in attributes) out[key] = String(attributes[key]) }
  return out
}

const finite = (value: unknown): number => (typeof value === "number" ? value : Number(value))

/** The plain-data state of one registry entry, or `undefined` for a type this module does not know. */
const foreignState = (type: string, state: unknown): ForeignState | undefined => {
  const s = state as Record<string, unknown>
  switch (type) {
    case "Counter":
      return {
        type,
        count: typeof s.count === "bigint" ? s.count : finite(s.count),
        incremental: s.incremental === true,
      }
    case "Gauge":
      return { type, value: typeof s.value === "bigint" ? s.value : finite(s.value) }
    case "Histogram":
      return {
        type,
        buckets: (s.buckets as ReadonlyArray<readonly [number, number]>).map(([le, n]) => [le, n] as const),
        count: finite(s.count),
        sum: finite(s.sum),
        min: finite(s.min),
        max: finite(s.max),
      }
    case "Frequency":
      return { type, occurrences: [...(s.occurrences as ReadonlyMap<string, number>)] }
    case "Summary":
      return {
        type,
        quantiles: (s.quantiles as ReadonlyArray<readonly [number, number | undefined]>).map(([q, v]) =>
          [q, v] as const
        ),
        count: finite(s.count),
        sum: finite(s.sum),
        min: finite(s.min),
        max: finite(s.max),
      }
    default:
      return undefined
  }
}

/**
 * A snapshot of `store` (collectors refreshed first) and of the other metrics of its registry. Families
 * named in `skip` are left out (values that only make sense for the isolate rendering them).
 */
export const takeSnapshot = (
  store: Store,
  context: Context.Context<never>,
  isolate: string,
  skip: ReadonlySet<string>,
): Snapshot => {
  store.refresh()
  const families: Array<FamilySnapshot> = []
  for (const family of store.familyList) {
    if (family.list.length === 0 || skip.has(family.def.name)) continue
    families.push(familySnapshot(family))
  }
  const foreign: Array<ForeignSnapshot> = []
  const registry = store.config.registry
  if (registry !== undefined) {
    for (const metadata of registry.values()) {
      if (ownGetters.has(metadata.hooks.get)) continue
      try {
        const state = foreignState(metadata.type, metadata.hooks.get(context))
        if (state === undefined) continue
        foreign.push({
          id: metadata.id,
          description: metadata.description,
          attributes: attributesOf(metadata.attributes),
          state,
        })
      } catch {
        store.drop(metadata.id, "snapshot_failed")
      }
    }
  }
  return { v: snapshotVersion, isolate, families, foreign }
}

// ---------------------------------------------------------------------------------------------------------
// Merging
// ---------------------------------------------------------------------------------------------------------

/** The result of a merge: a store and a registry for `render`. */
export interface Merged {
  readonly store: Store
  readonly registry: Metric.MetricRegistry
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const unitName = /^[a-z][a-z0-9_]*$/
const types: ReadonlySet<string> = new Set(["counter", "gauge", "histogram"])
const aggregations: ReadonlySet<string> = new Set(["sum", "max", "min"])

/** Series whose value every isolate of a process reads the same (process-wide): merged with `max`. */
const processWide = (name: string, values: ReadonlyArray<string>): boolean =>
  name === "system_memory_usage_bytes" && values[0] === "rss"

interface Target {
  readonly family: Family
  readonly snapshot: FamilySnapshot
}

const sameArray = <A>(a: ReadonlyArray<A> | undefined, b: ReadonlyArray<A> | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]))

/** Whether a family snapshot is well formed; the reason it is not otherwise. */
const checkFamily = (f: FamilySnapshot, maxSeries: number): string | undefined => {
  if (typeof f !== "object" || f === null) return "invalid_snapshot"
  if (typeof f.name !== "string" || !metricName.test(f.name)) return "invalid_snapshot"
  if (!types.has(f.type) || typeof f.description !== "string") return "invalid_snapshot"
  if (f.unit !== undefined && (typeof f.unit !== "string" || !unitName.test(f.unit))) {
    return "invalid_snapshot"
  }
  if (!aggregations.has(f.aggregation)) return "invalid_snapshot"
  if (!Array.isArray(f.labels) || !f.labels.every((l) => typeof l === "string" && labelName.test(l))) {
    return "invalid_snapshot"
  }
  if (f.type === "histogram") {
    if (!Array.isArray(f.buckets) || f.buckets.length === 0) return "invalid_snapshot"
    for (let i = 0; i < f.buckets.length; i++) {
      const b = f.buckets[i]
      if (typeof b !== "number" || !Number.isFinite(b) || (i > 0 && !(b > f.buckets[i - 1]!))) {
        return "invalid_snapshot"
      }
    }
  } else if (f.buckets !== undefined) return "invalid_snapshot"
  if (!(f.data instanceof Float64Array) || !Array.isArray(f.values) || typeof f.overflow !== "boolean") {
    return "invalid_snapshot"
  }
  const width = f.type === "histogram" ? histogramWidth(f.buckets!.length) : 1
  const rows = f.data.length / width
  if (!Number.isInteger(rows)) return "invalid_snapshot"
  const labelled = rows - (f.overflow ? 1 : 0)
  if (labelled < 0 || f.values.length !== labelled * f.labels.length) return "invalid_snapshot"
  if (labelled > maxSeries) return "too_many_series"
  for (const value of f.values) if (typeof value !== "string") return "invalid_snapshot"
  return undefined
}

/**
 * Whether a histogram row (`sum, count, min, max, ...counts`) can be merged: a finite sum, whole
 * non-negative counts, and bucket counts that add up to the count (else the exposition's cumulative buckets
 * would not end at `_count`, or would go down).
 */
const validHistogramRow = (data: Float64Array, at: number, width: number): boolean => {
  const count = data[at + 1]!
  if (!Number.isFinite(data[at]!) || !Number.isSafeInteger(count) || count < 0) return false
  let total = 0
  for (let b = at + 4; b < at + width; b++) {
    const n = data[b]!
    if (!Number.isSafeInteger(n) || n < 0) return false
    total += n
  }
  return total === count
}

/** Adds one family snapshot into the merged store. */
const mergeFamily = (
  target: Target,
  f: FamilySnapshot,
  gauges: Set<Series>,
  drop: Drop,
): void => {
  const family = target.family
  const k = f.labels.length
  const histogram = f.type === "histogram"
  const width = histogram ? histogramWidth(f.buckets!.length) : 1
  const rows = f.data.length / width
  const labelled = rows - (f.overflow ? 1 : 0)
  const data = f.data
  for (let row = 0; row < rows; row++) {
    let series: Series
    let values: ReadonlyArray<string> = []
    if (row === labelled) series = family.overflowTarget()
    else {
      values = f.values.slice(row * k, row * k + k)
      if (values.some((v) => v.length > maxLabelLength)) {
        drop(f.name, "label_truncated")
        values = values.map((v) => v.slice(0, maxLabelLength))
      }
      series = family.seriesForValues(values)
    }
    const at = row * width
    if (histogram) {
      if (!validHistogramRow(data, at, width)) {
        drop(f.name, "invalid_snapshot")
        continue
      }
      const count = data[at + 1]!
      series.sum += data[at]!
      series.count += count
      if (data[at + 2]! < series.min) series.min = data[at + 2]!
      if (data[at + 3]! > series.max) series.max = data[at + 3]!
      const counts = series.counts!
      for (let b = 0; b < counts.length; b++) counts[b] = counts[b]! + data[at + 4 + b]!
      continue
    }
    const value = data[at]!
    if (value !== value || (f.type === "counter" && !(value >= 0 && value < Infinity))) {
      drop(f.name, "invalid_snapshot")
      continue
    }
    if (f.type === "counter") {
      series.value += value
      continue
    }
    const aggregation = processWide(f.name, values) ? "max" : target.snapshot.aggregation
    if (!gauges.has(series)) {
      gauges.add(series)
      series.value = value
    } else if (aggregation === "sum") series.value += value
    else if (aggregation === "max") series.value = Math.max(series.value, value)
    else series.value = Math.min(series.value, value)
  }
}

// Foreign metrics ------------------------------------------------------------------------------------------

interface ForeignEntry {
  readonly id: string
  readonly type: Metric.Metric.Type
  readonly description: string | undefined
  readonly attributes: Readonly<Record<string, string>>
  state: unknown
}

const add = (a: number | bigint, b: number | bigint): number | bigint =>
  typeof a === "bigint" && typeof b === "bigint" ? a + b : Number(a) + Number(b)

const isNumeric = (value: unknown): value is number | bigint =>
  (typeof value === "number" && value === value) || typeof value === "bigint"

const checkForeign = (f: ForeignSnapshot): boolean => {
  if (typeof f !== "object" || f === null || typeof f.id !== "string" || f.id === "") return false
  if (f.description !== undefined && typeof f.description !== "string") return false
  if (typeof f.attributes !== "object" || f.attributes === null) return false
  for (const key in f.attributes) if (typeof f.attributes[key] !== "string") return false
  const s = f.state
  if (typeof s !== "object" || s === null) return false
  switch (s.type) {
    case "Counter":
      return isNumeric(s.count)
    case "Gauge":
      return isNumeric(s.value)
    case "Histogram":
    case "Summary": {
      const pairs = s.type === "Histogram" ? s.buckets : s.quantiles
      return Array.isArray(pairs) && pairs.every((p) => Array.isArray(p) && typeof p[0] === "number") &&
        typeof s.count === "number" && typeof s.sum === "number"
    }
    case "Frequency":
      return Array.isArray(s.occurrences) &&
        s.occurrences.every((p) => Array.isArray(p) && typeof p[0] === "string" && typeof p[1] === "number")
    default:
      return false
  }
}

const foreignKey = (type: string, id: string, attributes: Readonly<Record<string, string>>): string => {
  let key = type + "\u0000" + id
  for (const name of Object.keys(attributes).sort()) key += "\u0000" + name + "=" + attributes[name]
  return key
}

/** Adds one registry entry of one isolate into the merged entries. */
const mergeForeign = (
  entries: Map<string, ForeignEntry>,
  f: ForeignSnapshot,
  isolate: string,
  perIsolate: boolean,
  drop: Drop,
): void => {
  const s = f.state
  const attributes = s.type === "Summary" && perIsolate ? { ...f.attributes, worker: isolate } : f.attributes
  const key = foreignKey(s.type, f.id, attributes)
  const existing = entries.get(key)
  if (existing === undefined) {
    let state: unknown = s
    if (s.type === "Frequency") state = { occurrences: new Map(s.occurrences) }
    else if (s.type === "Histogram") {
      state = { ...s, buckets: s.buckets.map(([le, n]) => [le, n]) }
    }
    entries.set(key, { id: f.id, type: s.type, description: f.description, attributes, state })
    return
  }
  const e = existing.state as Record<string, unknown>
  switch (s.type) {
    case "Counter":
      existing.state = {
        count: add(e.count as number | bigint, s.count),
        incremental: (e.incremental as boolean) || s.incremental,
      }
      return
    case "Gauge":
      existing.state = { value: add(e.value as number | bigint, s.value) }
      return
    case "Frequency": {
      const occurrences = e.occurrences as Map<string, number>
      for (const [name, n] of s.occurrences) occurrences.set(name, (occurrences.get(name) ?? 0) + n)
      return
    }
    case "Histogram": {
      const buckets = e.buckets as Array<[number, number]>
      if (buckets.length !== s.buckets.length || buckets.some(([le], i) => le !== s.buckets[i]![0])) {
        drop(f.id, "aggregation_conflict")
        return
      }
      for (let i = 0; i < buckets.length; i++) buckets[i]![1] += s.buckets[i]![1]
      existing.state = {
        buckets,
        count: (e.count as number) + s.count,
        sum: (e.sum as number) + s.sum,
        min: Math.min(e.min as number, s.min),
        max: Math.max(e.max as number, s.max),
      }
      return
    }
    case "Summary":
      // Two isolates cannot share a per-isolate key; one isolate reporting it twice keeps the first.
      return
  }
}

const noop = (): void => {}

/**
 * Merges snapshots (the merging isolate's own first) into a fresh store and a synthetic registry.
 * `maxSeriesPerMetric` bounds the labelled series read from each family snapshot.
 */
export const mergeSnapshots = (
  snapshots: ReadonlyArray<Snapshot>,
  maxSeriesPerMetric: number,
  drop: Drop,
): Merged => {
  const store = new Store({
    enabled: true,
    maxSeriesPerMetric: Number.MAX_SAFE_INTEGER,
    seriesTtlMs: Infinity,
    registry: undefined,
    redactor: () => undefined,
  })
  const targets = new Map<string, Target>()
  const gauges = new Set<Series>()
  const entries = new Map<string, ForeignEntry>()
  const perIsolate = snapshots.length > 1
  for (const snapshot of snapshots) {
    if (!Array.isArray(snapshot.families) || !Array.isArray(snapshot.foreign)) {
      drop("aggregate_isolates", "invalid_snapshot")
      continue
    }
    const isolate = typeof snapshot.isolate === "string" ? snapshot.isolate.slice(0, 64) : "unknown"
    for (const f of snapshot.families) {
      const problem = checkFamily(f, maxSeriesPerMetric)
      if (problem !== undefined) {
        const name = f?.name
        drop(typeof name === "string" && metricName.test(name) ? name : "aggregate_isolates", problem)
        continue
      }
      let target = targets.get(f.name)
      if (target === undefined) {
        if (targets.size >= maxFamilies) {
          drop(f.name, "too_many_metrics")
          continue
        }
        const def = new DefinitionImpl({
          name: f.name,
          type: f.type,
          description: f.description,
          unit: f.unit,
          labels: f.labels,
          buckets: f.buckets,
          aggregation: f.aggregation,
        })
        const family = store.family(def)
        if (family === undefined) continue
        target = { family, snapshot: f }
        targets.set(f.name, target)
      } else if (
        target.snapshot.type !== f.type || !sameArray(target.snapshot.labels, f.labels) ||
        !sameArray(target.snapshot.buckets, f.buckets)
      ) {
        drop(f.name, "aggregation_conflict")
        continue
      }
      mergeFamily(target, f, gauges, drop)
    }
    for (const f of snapshot.foreign) {
      if (!checkForeign(f)) {
        const id = f?.id
        drop(typeof id === "string" && metricName.test(id) ? id : "aggregate_isolates", "invalid_snapshot")
        continue
      }
      mergeForeign(entries, f, isolate, perIsolate, drop)
    }
  }
  const registry: Metric.MetricRegistry = new Map()
  let i = 0
  for (const entry of entries.values()) {
    const state = entry.state
    registry.set(String(i++), {
      id: entry.id,
      type: entry.type,
      description: entry.description,
      attributes: entry.attributes,
      hooks: { get: () => state, update: noop, modify: noop },
    } as unknown as Metric.Metric.Metadata<unknown, unknown>)
  }
  return { store, registry }
}
