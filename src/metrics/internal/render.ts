/**
 * Prometheus exposition: the text format 0.0.4 and OpenMetrics 1.0. stagetrace's own families are
 * rendered from precomputed strings (headers, escaped label sets, bucket bounds); every other metric in
 * Effect's `MetricRegistry` (the in-flight gauge, the user's own `Metric.counter`s, fiber metrics) is
 * rendered from its snapshot with the same conventions: `_total` on counters, up-down counters as gauges,
 * escaped labels, one HELP/TYPE per family.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Metric from "effect/Metric"
import {
  escapeHelp,
  escapeLabelValue,
  type Family,
  formatNumber,
  formatOmFloat,
  ownGetters,
  type Store,
} from "./store.ts"

/**
 * Renders `store` (and the other metrics of `registry`, by default its own) in the text format or
 * OpenMetrics.
 */
export const render = (
  store: Store,
  context: Context.Context<never>,
  om: boolean,
  registry: Metric.MetricRegistry | undefined = store.config.registry,
): string => {
  store.refresh()
  let out = ""
  const names = new Set<string>()
  const families = store.familyList
  for (let f = 0; f < families.length; f++) {
    const family = families[f]!
    if (family.list.length === 0) continue
    out += renderFamily(family, om)
    names.add(om ? family.omName : family.textName)
  }
  if (registry !== undefined && registry.size > 0) out += renderForeign(store, registry, context, om, names)
  return om ? out + "# EOF\n" : out
}

/**
 * Renders `store` for a scrape: with `aggregateIsolates`, what every isolate of the process reports
 * (after waiting for their answers, bounded by the timeout); otherwise the store alone, synchronously.
 * A failure to merge is a counted drop and falls back to this isolate's metrics.
 */
export const renderScrape = (
  store: Store,
  context: Context.Context<never>,
  om: boolean,
): Effect.Effect<string> => {
  const aggregator = store.aggregator
  if (aggregator === undefined) return Effect.sync(() => render(store, context, om))
  return aggregator.scrape(context, om)
}

const renderFamily = (family: Family, om: boolean): string => {
  let out = om ? family.omHeader : family.textHeader
  const list = family.list
  const name = family.textName
  if (family.def.type !== "histogram") {
    for (let i = 0; i < list.length; i++) {
      const series = list[i]!
      out += name + series.labelsText + " " + formatNumber(series.value) + "\n"
    }
    return out
  }
  const le = om ? family.omLe! : family.textLe!
  const bucket = name + "_bucket"
  const sum = name + "_sum"
  const count = name + "_count"
  const inf = '+Inf"} '
  for (let i = 0; i < list.length; i++) {
    const series = list[i]!
    const counts = series.counts!
    const prefix = bucket + series.bucketPrefix
    let cumulative = 0
    for (let b = 0; b < le.length; b++) {
      cumulative += counts[b]!
      out += prefix + le[b] + cumulative + "\n"
    }
    out += prefix + inf + series.count + "\n" +
      sum + series.labelsText + " " + formatNumber(series.sum) + "\n" +
      count + series.labelsText + " " + series.count + "\n"
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------
// Metrics that are not stagetrace's (read from Effect's registry)
// ---------------------------------------------------------------------------------------------------------

interface ForeignFamily {
  readonly type: "counter" | "gauge" | "histogram" | "summary"
  readonly help: string | undefined
  readonly lines: Array<string>
  /** The metric name samples are written with (`_total` included for counters). */
  readonly sampleName: string
}

const sanitizeName = (name: string): string => {
  let out = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  if (/^[0-9]/.test(out)) out = "_" + out
  return out
}

const sanitizeLabel = (name: string): string => {
  let out = name.replace(/[^a-zA-Z0-9_]/g, "_")
  if (/^[0-9]/.test(out)) out = "_" + out
  return out
}

const labelText = (attributes: Metric.Metric.AttributeSet | undefined, extra: string | undefined): string => {
  let inner = ""
  if (attributes !== undefined) {
    for (const key in attributes) {
      if (key === "unit" || key === "time_unit") continue
      inner += (inner === "" ? "" : ",") + sanitizeLabel(key) + '="' +
        escapeLabelValue(String(attributes[key])) +
        '"'
    }
  }
  if (extra !== undefined) inner += (inner === "" ? "" : ",") + extra
  return inner === "" ? "" : "{" + inner + "}"
}

const formatAny = (value: unknown): string =>
  typeof value === "bigint" ? value.toString() : typeof value === "number" ? formatNumber(value) : "NaN"

const renderForeign = (
  store: Store,
  registry: Metric.MetricRegistry,
  context: Context.Context<never>,
  om: boolean,
  taken: Set<string>,
): string => {
  const families = new Map<string, ForeignFamily>()
  for (const metadata of registry.values()) {
    if (ownGetters.has(metadata.hooks.get)) continue
    let state: unknown
    try {
      state = metadata.hooks.get(context)
    } catch {
      store.drop(metadata.id, "render_failed")
      continue
    }
    const base = sanitizeName(metadata.id)
    switch (metadata.type) {
      case "Counter": {
        const s = state as Metric.CounterState<number | bigint>
        // An incremental counter, or one named like one, is a counter; others can go down: gauges.
        const isCounter = s.incremental || base.endsWith("_total")
        const sampleName = isCounter && !base.endsWith("_total") ? base + "_total" : base
        const family = foreignFamily(
          store,
          families,
          sampleName,
          isCounter ? "counter" : "gauge",
          metadata.description,
        )
        if (family === undefined) break
        family.lines.push(sampleName + labelText(metadata.attributes, undefined) + " " + formatAny(s.count))
        break
      }
      case "Gauge": {
        const s = state as Metric.GaugeState<number | bigint>
        const family = foreignFamily(store, families, base, "gauge", metadata.description)
        if (family === undefined) break
        family.lines.push(base + labelText(metadata.attributes, undefined) + " " + formatAny(s.value))
        break
      }
      case "Frequency": {
        const s = state as Metric.FrequencyState
        const sampleName = base.endsWith("_total") ? base : base + "_total"
        const family = foreignFamily(store, families, sampleName, "counter", metadata.description)
        if (family === undefined) break
        for (const [key, count] of s.occurrences) {
          family.lines.push(
            sampleName + labelText(metadata.attributes, 'key="' + escapeLabelValue(key) + '"') + " " + count,
          )
        }
        break
      }
      case "Histogram": {
        const s = state as Metric.HistogramState
        const family = foreignFamily(store, families, base, "histogram", metadata.description)
        if (family === undefined) break
        for (const [bound, cumulative] of s.buckets) {
          if (bound === Infinity) continue
          const le = 'le="' + (om ? formatOmFloat(bound) : formatNumber(bound)) + '"'
          family.lines.push(base + "_bucket" + labelText(metadata.attributes, le) + " " + cumulative)
        }
        family.lines.push(
          base + "_bucket" + labelText(metadata.attributes, 'le="+Inf"') + " " + s.count,
          base + "_sum" + labelText(metadata.attributes, undefined) + " " + formatNumber(s.sum),
          base + "_count" + labelText(metadata.attributes, undefined) + " " + s.count,
        )
        break
      }
      case "Summary": {
        const s = state as Metric.SummaryState
        const family = foreignFamily(store, families, base, "summary", metadata.description)
        if (family === undefined) break
        for (const [quantile, value] of s.quantiles) {
          const q = 'quantile="' + (om ? formatOmFloat(quantile) : formatNumber(quantile)) + '"'
          family.lines.push(base + labelText(metadata.attributes, q) + " " + formatAny(value ?? NaN))
        }
        family.lines.push(
          base + "_sum" + labelText(metadata.attributes, undefined) + " " + formatNumber(s.sum),
          base + "_count" + labelText(metadata.attributes, undefined) + " " + s.count,
        )
        break
      }
    }
  }
  let out = ""
  for (const family of families.values()) {
    const name = om && family.type === "counter"
      ? family.sampleName.slice(0, -"_total".length)
      : family.sampleName
    // One family per name: stagetrace's own families first, then the first of the others (a counter
    // `x` and a gauge `x` differ in the text format, as `x_total` and `x`, not in OpenMetrics).
    if (taken.has(name)) {
      store.drop(name, "name_conflict")
      continue
    }
    taken.add(name)
    if (om) {
      out += `# TYPE ${name} ${family.type}\n`
      if (family.help !== undefined) out += `# HELP ${name} ${escapeHelp(family.help, true)}\n`
    } else {
      if (family.help !== undefined) out += `# HELP ${name} ${escapeHelp(family.help, false)}\n`
      out += `# TYPE ${name} ${family.type}\n`
    }
    out += family.lines.join("\n") + "\n"
  }
  return out
}

/**
 * The family for `sampleName`, created on first use; `undefined` (a counted `name_conflict` drop) when the
 * name has another type.
 */
const foreignFamily = (
  store: Store,
  families: Map<string, ForeignFamily>,
  sampleName: string,
  type: ForeignFamily["type"],
  description: string | undefined,
): ForeignFamily | undefined => {
  const existing = families.get(sampleName)
  if (existing !== undefined) {
    if (existing.type === type) return existing
    store.drop(sampleName, "name_conflict")
    return undefined
  }
  const family: ForeignFamily = {
    type,
    help: description !== undefined && description !== "" ? description : undefined,
    lines: [],
    sampleName,
  }
  families.set(sampleName, family)
  return family
}
