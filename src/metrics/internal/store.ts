/**
 * The metric store: one per `Metrics` layer (or `Telemetry.layer`). It keeps every series in plain
 * numbers and typed arrays, resolves label values through nested maps (no string building per update),
 * bounds the series of each metric (overflow series past `maxSeriesPerMetric`), evicts idle series, counts
 * every dropped sample, and exposes each series in Effect's `MetricRegistry` (so `Metric.snapshot` and the
 * OTLP metric exporters see it) through `Metric.registerUnsafe` hooks that read the same numbers.
 *
 * Updates are synchronous and never throw: bad input is a counted drop.
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type { RedactorLike } from "../../internal/slots.ts"
import { type DefinitionImpl, isDefinition, type MetricDefinition } from "./definition.ts"
import { metricDroppedSamplesDef, metricSeriesOverflowDef } from "./toolkit.ts"

/**
 * The value of a histogram series.
 *
 * @category models
 * @since 0.1.0
 */
export interface HistogramValue {
  /** Number of observations. */
  readonly count: number
  /** Sum of the observations. */
  readonly sum: number
  /** Cumulative counts per upper bound, ending with `[Infinity, count]`. */
  readonly buckets: ReadonlyArray<readonly [le: number, count: number]>
}

/** Configuration of a store, already validated. */
export interface StoreConfig {
  readonly enabled: boolean
  readonly maxSeriesPerMetric: number
  /** Idle time after which a counter or histogram series is evicted; `Infinity` disables eviction. */
  readonly seriesTtlMs: number
  /** The registry series are exposed in (the one of the context the layer was built in). */
  readonly registry: Metric.MetricRegistry | undefined
  /** The redactor to pass label values through, read when a series is created. */
  readonly redactor: () => RedactorLike | undefined
}

/** Hard cap on the number of metric families in one store (definitions are normally static). */
export const maxFamilies = 4096

/** Label values longer than this are cut (and the cut counted as `label_truncated`). */
export const maxLabelLength = 1024

/** Cap on raw-value aliases per family (label values that redact to an existing series). */
const aliasFactor = 4

/** Getter functions of series this module registered, so renderers can skip them in the registry. */
export const ownGetters: WeakSet<object> = new WeakSet()

const noop = (): void => {}

/** One time series: a label set of one family. */
export class Series {
  readonly family: Family
  /** Label values as exposed (after redaction), in declared order. */
  readonly values: ReadonlyArray<string>
  /** The raw values this series is stored under in the family's maps. */
  readonly path: ReadonlyArray<string>
  aliases: Array<ReadonlyArray<string>> | undefined = undefined
  /** `{a="x",b="y"}` (escaped), or `""` without labels. */
  readonly labelsText: string
  /** `{a="x",b="y",le="` or `{le="`, for bucket lines. */
  readonly bucketPrefix: string
  readonly overflow: boolean
  value = 0
  readonly counts: Float64Array | undefined
  sum = 0
  count = 0
  min = Number.MAX_VALUE
  max = -Number.MAX_VALUE
  /** Store epoch of the last update. */
  touched: number
  evicted = false
  /** Set when user code wrote this series of a collected family: its collector no longer writes it. */
  userOwned = false
  index = -1
  registration: Metric.Registration | undefined = undefined
  private record: Readonly<Record<string, string>> | undefined = undefined

  constructor(family: Family, values: ReadonlyArray<string>, path: ReadonlyArray<string>, overflow: boolean) {
    this.family = family
    this.values = values
    this.path = path
    this.overflow = overflow
    this.touched = family.store.epoch
    const names = family.names
    let inner = ""
    if (overflow) inner = 'otel_metric_overflow="true"'
    else {
      for (let i = 0; i < names.length; i++) {
        inner += (i === 0 ? "" : ",") + names[i] + '="' + escapeLabelValue(values[i]!) + '"'
      }
    }
    this.labelsText = inner === "" ? "" : "{" + inner + "}"
    this.bucketPrefix = inner === "" ? '{le="' : "{" + inner + ',le="'
    this.counts = family.bounds === undefined ? undefined : new Float64Array(family.bounds.length + 1)
  }

  /** Label names to values, as given to threshold predicates and `Metrics.value` readers. */
  labels(): Readonly<Record<string, string>> {
    if (this.record === undefined) {
      const record: Record<string, string> = {}
      if (this.overflow) record["otel_metric_overflow"] = "true"
      else this.family.names.forEach((name, i) => (record[name] = this.values[i]!))
      this.record = record
    }
    return this.record
  }

  /** The state Effect's registry reports for this series. */
  state(): unknown {
    const family = this.family
    if (family.def.type === "counter") return { count: this.value, incremental: true }
    if (family.def.type === "gauge") return { value: this.value }
    return {
      buckets: this.buckets(),
      count: this.count,
      min: this.min,
      max: this.max,
      sum: this.sum,
    }
  }

  /** Cumulative bucket counts, ending with `[Infinity, count]`. */
  buckets(): Array<[number, number]> {
    const bounds = this.family.bounds!
    const counts = this.counts!
    const out: Array<[number, number]> = []
    let cumulative = 0
    for (let i = 0; i < bounds.length; i++) {
      cumulative += counts[i]!
      out.push([bounds[i]!, cumulative])
    }
    out.push([Infinity, this.count])
    return out
  }
}

/** A label value escaped for the exposition formats (backslash, double quote, newline). */
export const escapeLabelValue = (value: string): string =>
  /[\\"\n]/.test(value) ? value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : value

/** Watches the values recorded into one family and reports threshold crossings. */
export interface Watcher {
  readonly predicate: (value: number, labels: Readonly<Record<string, string>>) => boolean
  readonly fire: (value: number, labels: Readonly<Record<string, string>>) => void
  /** Series whose last value satisfied the predicate. */
  readonly above: WeakSet<Series>
}

/** All series of one metric definition in one store. */
export class Family {
  readonly store: Store
  readonly def: DefinitionImpl
  readonly names: ReadonlyArray<string>
  readonly bounds: Float64Array | undefined
  readonly internal: boolean
  /** Nested maps keyed by raw label values; the last level holds series. */
  readonly root: Map<string, unknown> = new Map()
  single: Series | undefined = undefined
  overflowSeries: Series | undefined = undefined
  /** Series by exposed label values, kept only while a redactor is in use. */
  byLabels: Map<string, Series> | undefined = undefined
  aliasCount = 0
  readonly list: Array<Series> = []
  /** Number of series, the overflow series excepted. */
  size = 0
  watchers: Array<Watcher> | undefined = undefined
  /** Exposition metadata, precomputed for both formats. */
  readonly textHeader: string
  readonly omHeader: string
  /** Name in the exposition: counters keep `_total` in the text format, OpenMetrics drops it from metadata. */
  readonly textName: string
  readonly omName: string
  readonly textLe: ReadonlyArray<string> | undefined
  readonly omLe: ReadonlyArray<string> | undefined
  /** Set by a collector: its values are replaced on every refresh rather than evicted when idle. */
  collected = false

  constructor(store: Store, def: DefinitionImpl, internal: boolean) {
    this.store = store
    this.def = def
    this.internal = internal
    this.names = def.labels
    this.bounds = def.buckets === undefined ? undefined : Float64Array.from(def.buckets)
    const type = def.type
    const name = def.name
    this.textName = name
    this.omName = type === "counter" ? name.slice(0, -"_total".length) : name
    this.textHeader = `# HELP ${name} ${escapeHelp(def.description, false)}\n# TYPE ${name} ${type}\n` +
      (def.unit === undefined ? "" : `# UNIT ${name} ${def.unit}\n`)
    this.omHeader = `# TYPE ${this.omName} ${type}\n` +
      (def.unit === undefined ? "" : `# UNIT ${this.omName} ${def.unit}\n`) +
      `# HELP ${this.omName} ${escapeHelp(def.description, true)}\n`
    this.textLe = def.buckets?.map((b) => formatNumber(b) + '"} ')
    this.omLe = def.buckets?.map((b) => formatOmFloat(b) + '"} ')
  }

  /**
   * The series for a labels object, created on first use; the overflow series past the limit;
   * `undefined` (a counted drop) when the labels are not exactly the declared ones.
   */
  seriesFor(labels: unknown): Series | undefined {
    const names = this.names
    const n = names.length
    if (n === 0) {
      if (labels !== undefined && labels !== null) {
        for (const _ in labels as object) return this.labelError(labels)
      }
      const single = this.single
      return single !== undefined ? single : this.create([])
    }
    if (typeof labels !== "object" || labels === null) {
      this.store.drop(this.def.name, "missing_label")
      return undefined
    }
    let given = 0
    for (const _ in labels) given++
    if (given !== n) return this.labelError(labels)
    let node: Map<string, unknown> = this.root
    for (let i = 0; i < n; i++) {
      let value = (labels as Record<string, unknown>)[names[i]!]
      if (typeof value !== "string") {
        value = labelString(value)
        if (value === undefined) return this.labelError(labels)
      }
      if ((value as string).length > maxLabelLength) {
        return this.createFromLabels(labels as Record<string, unknown>)
      }
      const next = node.get(value as string)
      if (next === undefined) return this.createFromLabels(labels as Record<string, unknown>)
      if (i === n - 1) return next as Series
      node = next as Map<string, unknown>
    }
    return undefined
  }

  /** The series for label values given in declared order (internal callers: hooks, collectors). */
  seriesForValues(values: ReadonlyArray<string>): Series {
    const n = this.names.length
    if (n === 0) return this.single ?? this.create([])
    let node: Map<string, unknown> = this.root
    for (let i = 0; i < n; i++) {
      if (values[i]!.length > maxLabelLength) return this.seriesForValues(this.truncate(values))
      const next = node.get(values[i]!)
      if (next === undefined) return this.create(values)
      if (i === n - 1) return next as Series
      node = next as Map<string, unknown>
    }
    return this.create(values)
  }

  /** Looks a series up without creating it. */
  find(labels: unknown): Series | undefined {
    const names = this.names
    if (names.length === 0) return this.single
    if (typeof labels !== "object" || labels === null) return undefined
    const raw: Array<string> = []
    for (const name of names) {
      const value = labelString((labels as Record<string, unknown>)[name])
      if (value === undefined) return undefined
      raw.push(value.length > maxLabelLength ? value.slice(0, maxLabelLength) : value)
    }
    let node: unknown = this.root
    for (const value of raw) {
      node = (node as Map<string, unknown>).get(value)
      if (node === undefined) break
    }
    if (node !== undefined) return node as Series
    const redactor = this.store.config.redactor()
    if (redactor === undefined || this.byLabels === undefined) return undefined
    return this.byLabels.get(this.redact(redactor, raw).join("\u0000"))
  }

  private labelError(labels: unknown): undefined {
    const names = this.names
    let reason = "undeclared_label"
    if (typeof labels === "object" && labels !== null) {
      const record = labels as Record<string, unknown>
      for (const key in record) if (!names.includes(key)) return this.dropReason("undeclared_label")
      for (const name of names) {
        const value = record[name]
        if (value === undefined) {
          reason = "missing_label"
          break
        }
        if (labelString(value) === undefined) {
          reason = "invalid_label_value"
          break
        }
      }
    } else reason = "missing_label"
    return this.dropReason(reason)
  }

  private dropReason(reason: string): undefined {
    this.store.drop(this.def.name, reason)
    return undefined
  }

  private createFromLabels(labels: Record<string, unknown>): Series | undefined {
    const raw: Array<string> = []
    let long = false
    for (const name of this.names) {
      const value = labelString(labels[name])
      if (value === undefined) return this.labelError(labels)
      if (value.length > maxLabelLength) long = true
      raw.push(value)
    }
    return this.seriesForValues(long ? this.truncate(raw) : raw)
  }

  /** Label values cut to `maxLabelLength` characters (a counted drop of the rest). */
  private truncate(values: ReadonlyArray<string>): ReadonlyArray<string> {
    if (!this.internal) this.store.drop(this.def.name, "label_truncated")
    return values.map((v) => (v.length > maxLabelLength ? v.slice(0, maxLabelLength) : v))
  }

  private redact(redactor: RedactorLike, raw: ReadonlyArray<string>): ReadonlyArray<string> {
    const names = this.names
    let out: Array<string> | undefined
    for (let i = 0; i < raw.length; i++) {
      let redacted: string
      try {
        const value = redactor.redactValue(names[i]!, raw[i])
        redacted = typeof value === "string" ? value : String(value)
      } catch {
        redacted = "[REDACTED]"
      }
      if (redacted !== raw[i]) {
        out ??= raw.slice()
        out[i] = redacted
      }
    }
    return out ?? raw
  }

  /** Creates the series for raw label values (or finds the one they redact to, or overflows). */
  private create(raw: ReadonlyArray<string>): Series {
    const store = this.store
    let values = raw
    let key: string | undefined
    const redactor = this.internal ? undefined : store.config.redactor()
    if (redactor !== undefined && raw.length > 0) {
      values = this.redact(redactor, raw)
      key = values.join("\u0000")
      this.byLabels ??= new Map()
      const existing = this.byLabels.get(key)
      if (existing !== undefined) {
        if (this.aliasCount < store.config.maxSeriesPerMetric * aliasFactor) {
          this.insert(raw, existing)
          ;(existing.aliases ??= []).push(raw)
          this.aliasCount++
        }
        return existing
      }
    }
    if (this.size >= store.config.maxSeriesPerMetric) return this.overflow()
    const series = new Series(this, values, raw, false)
    if (raw.length === 0) this.single = series
    else this.insert(raw, series)
    if (key !== undefined) this.byLabels!.set(key, series)
    this.size++
    this.add(series)
    return series
  }

  private overflow(): Series {
    if (!this.internal) store_overflow(this)
    return this.overflowTarget()
  }

  /** The overflow series, created on first use, without counting an overflow (merging snapshots). */
  overflowTarget(): Series {
    let series = this.overflowSeries
    if (series === undefined) {
      series = new Series(this, [], [], true)
      this.overflowSeries = series
      this.add(series)
    }
    return series
  }

  private add(series: Series): void {
    series.index = this.list.length
    this.list.push(series)
    this.store.register(series)
  }

  private insert(path: ReadonlyArray<string>, series: Series): void {
    let node = this.root
    const last = path.length - 1
    for (let i = 0; i < last; i++) {
      let next = node.get(path[i]!) as Map<string, unknown> | undefined
      if (next === undefined) {
        next = new Map()
        node.set(path[i]!, next)
      }
      node = next
    }
    node.set(path[last]!, series)
  }

  private removePath(path: ReadonlyArray<string>): void {
    const nodes: Array<Map<string, unknown>> = [this.root]
    let node = this.root
    for (let i = 0; i < path.length - 1; i++) {
      const next = node.get(path[i]!) as Map<string, unknown> | undefined
      if (next === undefined) return
      nodes.push(next)
      node = next
    }
    node.delete(path[path.length - 1]!)
    for (let i = nodes.length - 1; i > 0 && nodes[i]!.size === 0; i--) nodes[i - 1]!.delete(path[i - 1]!)
  }

  /** Removes a series from every index and from the registry. */
  evict(series: Series): void {
    if (series.evicted) return
    series.evicted = true
    const list = this.list
    const last = list.pop()!
    if (last !== series) {
      list[series.index] = last
      last.index = series.index
    }
    series.registration?.remove()
    if (series.overflow) {
      this.overflowSeries = undefined
      return
    }
    this.size--
    if (series.path.length === 0) this.single = undefined
    else {
      this.removePath(series.path)
      for (const alias of series.aliases ?? []) this.removePath(alias)
      this.aliasCount -= series.aliases?.length ?? 0
      this.byLabels?.delete(series.values.join("\u0000"))
    }
  }

  /** Runs the threshold watchers of this family after `series` recorded `value`. */
  check(series: Series, value: number): void {
    const watchers = this.watchers!
    for (let i = 0; i < watchers.length; i++) {
      const watcher = watchers[i]!
      let hit: boolean
      try {
        hit = watcher.predicate(value, series.labels()) === true
      } catch {
        this.store.drop(this.def.name, "threshold_predicate_failed")
        continue
      }
      if (hit) {
        if (!watcher.above.has(series)) {
          watcher.above.add(series)
          watcher.fire(value, series.labels())
        }
      } else if (watcher.above.has(series)) watcher.above.delete(series)
    }
  }
}

const store_overflow = (family: Family): void => {
  const store = family.store
  const counter = store.overflowFamily.seriesForValues([family.def.name])
  counter.value++
  counter.touched = store.epoch
}

/** A label value as a string, or `undefined` when it cannot be one. */
const labelString = (value: unknown): string | undefined => {
  switch (typeof value) {
    case "string":
      return value
    case "number":
    case "boolean":
    case "bigint":
      return String(value)
    default:
      return undefined
  }
}

/** HELP text escaped: backslash and newline (and double quote in OpenMetrics). */
export const escapeHelp = (text: string, om: boolean): string => {
  let out = text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
  if (om) out = out.replace(/"/g, '\\"')
  return out
}

/** A sample value in the exposition formats. */
export const formatNumber = (value: number): string =>
  value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : value !== value ? "NaN" : "" + value

/** A float in OpenMetrics' canonical form (`1.0`, `0.25`, `1e+21`). */
export const formatOmFloat = (value: number): string => {
  const text = formatNumber(value)
  return Number.isInteger(value) && !text.includes("e") ? text + ".0" : text
}

/**
 * What a store's readers (scrapes, the Prometheus server) need of the aggregation across isolates attached
 * to it: `Aggregator` (isolates.ts, which builds on this module) implements it.
 */
export interface Aggregation {
  /** Renders what every isolate reports, after waiting (bounded) for their answers. */
  scrape(context: Context.Context<never>, om: boolean): Effect.Effect<string>
  /** Waits (bounded) for a peer serving `address`; `true` when one does. */
  awaitServer(address: string): Effect.Effect<boolean>
  /** Tells the peers which address this isolate serves (`undefined`: none any more). */
  announceServing(address: string | undefined): void
}

/** A store of metric families; see the module documentation. */
export class Store {
  readonly config: StoreConfig
  readonly enabled: boolean
  /** Ticks of the eviction clock; series remember the epoch of their last update. */
  epoch = 0
  readonly families: Map<string, Family> = new Map()
  readonly familyList: Array<Family> = []
  readonly overflowFamily: Family
  readonly dropFamily: Family
  /** Refreshers of scrape-time values (recorder drops, export statistics…). */
  readonly collectors: Array<() => void> = []
  /** The address of the Prometheus server serving this store, once one listens. */
  server: { readonly hostname: string; readonly port: number; readonly url: string } | undefined = undefined
  /** Aggregation across isolates (`aggregateIsolates`), while the layer that opened it lives. */
  aggregator: Aggregation | undefined = undefined
  private readonly registryContext: Context.Context<never> | undefined

  constructor(config: StoreConfig) {
    this.config = config
    this.enabled = config.enabled
    this.registryContext = config.registry === undefined
      ? undefined
      : Context.make(Metric.MetricRegistry, config.registry) as Context.Context<never>
    this.overflowFamily = this.internalFamily(metricSeriesOverflowDef)
    this.dropFamily = this.internalFamily(metricDroppedSamplesDef)
  }

  private internalFamily(def: DefinitionImpl): Family {
    const family = new Family(this, def, true)
    this.families.set(def.name, family)
    this.familyList.push(family)
    return family
  }

  /** The family of `def` in this store, or `undefined` (a counted drop) when it cannot have one. */
  family(def: MetricDefinition): Family | undefined {
    const impl = def as DefinitionImpl
    if (impl.cacheStore === this) return impl.cacheFamily as Family
    return this.resolveFamily(def)
  }

  private resolveFamily(def: MetricDefinition): Family | undefined {
    if (!isDefinition(def)) {
      this.drop(
        typeof (def as { name?: unknown })?.name === "string" ? def.name : "unknown",
        "invalid_definition",
      )
      return undefined
    }
    let family = this.families.get(def.name)
    if (family === undefined) {
      if (this.families.size >= maxFamilies) {
        this.drop(def.name, "too_many_metrics")
        return undefined
      }
      family = new Family(this, def, false)
      this.families.set(def.name, family)
      this.familyList.push(family)
    } else if (family.def !== def && !sameShape(family.def, def)) {
      this.drop(def.name, "conflicting_definition")
      return undefined
    }
    def.cacheStore = this
    def.cacheFamily = family
    return family
  }

  /** Counts one dropped sample of `metric` under `reason`. */
  drop(metric: string, reason: string): void {
    const series = this.dropFamily.seriesForValues([metric, reason])
    series.value++
    series.touched = this.epoch
  }

  /** Exposes a new series in the registry. */
  register(series: Series): void {
    const context = this.registryContext
    if (context === undefined) return
    const family = series.family
    const def = family.def
    const attributes: Record<string, string> = {}
    if (series.overflow) attributes["otel.metric.overflow"] = "true"
    else family.names.forEach((name, i) => (attributes[name] = series.values[i]!))
    if (def.unit !== undefined) attributes["unit"] = def.unit
    const options = { description: def.description, attributes }
    const metric: Metric.Metric<never, unknown> = def.type === "counter"
      ? Metric.counter(def.name, { ...options, incremental: true })
      : def.type === "gauge"
      ? Metric.gauge(def.name, options)
      : Metric.histogram(def.name, { ...options, boundaries: def.buckets! })
    const get = () => series.state()
    ownGetters.add(get)
    try {
      series.registration = Metric.registerUnsafe(metric, context, { get, update: noop, modify: noop })
    } catch {
      // A registry that refuses the series still leaves it in the store (and in the Prometheus output).
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Recording (synchronous, never throws)
  // ---------------------------------------------------------------------------------------------------

  increment(def: MetricDefinition, a?: unknown, b?: unknown): void {
    if (!this.enabled) return
    const family = this.family(def)
    if (family === undefined) return
    if (family.def.type !== "counter") return this.drop(family.def.name, "wrong_type")
    let labels: unknown
    let amount: unknown
    if (typeof a === "object" && a !== null) {
      labels = a
      amount = b === undefined ? 1 : b
    } else amount = a === undefined ? 1 : a
    if (typeof amount !== "number" || !(amount >= 0) || amount === Infinity) {
      return this.drop(family.def.name, invalidReason(amount, true))
    }
    const series = family.seriesFor(labels)
    if (series === undefined) return
    series.value += amount
    series.touched = this.epoch
    if (family.watchers !== undefined) family.check(series, series.value)
  }

  set(def: MetricDefinition, a?: unknown, b?: unknown): void {
    this.gauge(def, a, b, false)
  }

  add(def: MetricDefinition, a?: unknown, b?: unknown): void {
    this.gauge(def, a, b, true)
  }

  private gauge(def: MetricDefinition, a: unknown, b: unknown, delta: boolean): void {
    if (!this.enabled) return
    const family = this.family(def)
    if (family === undefined) return
    if (family.def.type !== "gauge") return this.drop(family.def.name, "wrong_type")
    let labels: unknown
    let value: unknown
    if (typeof a === "object" && a !== null) {
      labels = a
      value = b
    } else value = a
    if (typeof value !== "number" || value !== value) {
      return this.drop(family.def.name, invalidReason(value, false))
    }
    const series = family.seriesFor(labels)
    if (series === undefined) return
    series.value = delta ? series.value + value : value
    series.touched = this.epoch
    // A collected gauge (the system metrics) that the user sets is the user's from now on.
    if (family.collected) series.userOwned = true
    if (family.watchers !== undefined) family.check(series, series.value)
  }

  observe(def: MetricDefinition, a?: unknown, b?: unknown): void {
    if (!this.enabled) return
    const family = this.family(def)
    if (family === undefined) return
    if (family.def.type !== "histogram") return this.drop(family.def.name, "wrong_type")
    let labels: unknown
    let value: unknown
    if (typeof a === "object" && a !== null) {
      labels = a
      value = b
    } else value = a
    if (typeof value !== "number" || value !== value || value === Infinity || value === -Infinity) {
      return this.drop(family.def.name, invalidReason(value, false))
    }
    const series = family.seriesFor(labels)
    if (series === undefined) return
    observeInto(series, value)
    series.touched = this.epoch
    if (family.watchers !== undefined) family.check(series, value)
  }

  /** The current value of a series, without creating it. */
  value(def: MetricDefinition, labels?: unknown): number | HistogramValue | undefined {
    const family = this.family(def)
    const series = family?.find(labels)
    if (series === undefined) return undefined
    if (family!.def.type !== "histogram") return series.value
    return { count: series.count, sum: series.sum, buckets: series.buckets() }
  }

  /** Runs the collectors (scrape-time values). */
  refresh(): void {
    for (const collect of this.collectors) {
      try {
        collect()
      } catch {
        this.drop("collector", "collector_failed")
      }
    }
  }

  /** One tick of the eviction clock: advance the epoch, refresh collectors, evict idle series. */
  tick(tickMs: number): void {
    this.epoch++
    this.refresh()
    const ttl = this.config.seriesTtlMs
    if (ttl === Infinity) return
    const ttlTicks = Math.ceil(ttl / tickMs)
    const epoch = this.epoch
    for (const family of this.familyList) {
      if (family.def.type === "gauge" || family.collected || family.internal) continue
      const list = family.list
      for (let i = list.length - 1; i >= 0; i--) {
        const series = list[i]!
        if (epoch - series.touched > ttlTicks) family.evict(series)
      }
    }
  }

  /**
   * Sets a collected value (counters and gauges) for label values in declared order, unless user code set
   * that series itself (its value wins).
   */
  setCollected(family: Family, values: ReadonlyArray<string>, value: number): void {
    const series = family.seriesForValues(values)
    if (series.userOwned) return
    series.value = value
    series.touched = this.epoch
  }
}

/** Adds one observation to a histogram series. */
export const observeInto = (series: Series, value: number): void => {
  const bounds = series.family.bounds!
  const n = bounds.length
  let i = 0
  if (n > 16) {
    let hi = n
    while (i < hi) {
      const mid = (i + hi) >>> 1
      if (value <= bounds[mid]!) hi = mid
      else i = mid + 1
    }
  } else {
    while (i < n && value > bounds[i]!) i++
  }
  const counts = series.counts!
  counts[i] = counts[i]! + 1
  series.sum += value
  series.count++
  if (value < series.min) series.min = value
  if (value > series.max) series.max = value
}

const invalidReason = (value: unknown, counter: boolean): string =>
  typeof value !== "number"
    ? "invalid_value"
    : value !== value
    ? "nan"
    : counter && value < 0
    ? "negative_increment"
    : "infinite"

/**
 * Two definitions of one name share a family when type, unit and labels agree; the first one's
 * description and buckets win (so the catalogue's `stageDuration` reads a store whose stage buckets were
 * configured).
 */
const sameShape = (a: MetricDefinition, b: MetricDefinition): boolean =>
  a.type === b.type && a.unit === b.unit && a.labels.length === b.labels.length &&
  a.labels.every((l, i) => b.labels[i] === l)
