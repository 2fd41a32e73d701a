/**
 * OTLP metrics (from Effect `Metric` snapshots, cumulative temporality) and OTLP logs (from log records
 * captured by the export logger), in protobuf and JSON. Volumes are low compared with spans, so these
 * favour clarity over the last nanosecond.
 *
 * @internal
 */
import type * as Metric from "effect/Metric"
import type { RedactorLike } from "../../internal/slots.ts"
import type { ProtoWriter } from "./protobuf.ts"
import {
  type CachedResource,
  jsonAnyValue,
  jsonAttributes,
  jsonString,
  protoAnyValue,
  protoKeyValue,
  protoResourceScope,
  redactAttr,
} from "./otlpTraces.ts"

// ---------------------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------------------

/** A batch of metric snapshots taken at one instant. */
export interface MetricBatch {
  readonly snapshots: ReadonlyArray<Metric.Metric.Snapshot>
  readonly startNanos: bigint
  readonly timeNanos: bigint
}

const units: Readonly<Record<string, string>> = {
  milliseconds: "ms",
  millis: "ms",
  seconds: "s",
  nanoseconds: "ns",
  microseconds: "us",
  bytes: "By",
}

const unitOf = (attributes: Metric.Metric.AttributeSet | undefined): string | undefined => {
  if (attributes === undefined) return undefined
  const raw = (attributes as Record<string, string>)["unit"] ??
    (attributes as Record<string, string>)["time_unit"]
  return raw === undefined ? undefined : units[raw] ?? raw
}

const attributeEntries = (
  attributes: Metric.Metric.AttributeSet | undefined,
  redactor: RedactorLike | undefined,
): Array<[string, unknown]> => {
  if (attributes === undefined) return []
  const out: Array<[string, unknown]> = []
  for (const [key, value] of Object.entries(attributes as Record<string, string>)) {
    // The unit is the metric's own field (`unitOf`), not an attribute of its data points.
    if (key === "unit" || key === "time_unit") continue
    out.push([key, redactAttr(redactor, key, value)])
  }
  return out
}

const isInt = (value: number | bigint): boolean =>
  typeof value === "bigint" || (Number.isInteger(value) && Number.isSafeInteger(value))

const protoNumberPoint = (
  w: ProtoWriter,
  field: number,
  attributes: ReadonlyArray<readonly [string, unknown]>,
  batch: MetricBatch,
  value: number | bigint,
  withStart: boolean,
): void => {
  const p = w.begin(field, 1)
  if (withStart) w.fixed64(2, batch.startNanos)
  w.fixed64(3, batch.timeNanos)
  if (isInt(value)) {
    w.tag(6, 1)
    w.ensure(8)
    w.view.setBigInt64(w.pos, BigInt.asIntN(64, BigInt(value)), true)
    w.pos += 8
  } else w.double(4, Number(value))
  for (const [key, v] of attributes) protoKeyValue(w, 7, key, v)
  w.end(p, 1)
}

const histogramCounts = (state: Metric.HistogramState): { bounds: Array<number>; counts: Array<number> } => {
  const bounds: Array<number> = []
  const counts: Array<number> = []
  let previous = 0
  for (const [bound, cumulative] of state.buckets) {
    if (bound !== Infinity) bounds.push(bound)
    counts.push(cumulative - previous)
    previous = cumulative
  }
  if (counts.length === bounds.length) counts.push(state.count - previous)
  return { bounds, counts }
}

/** Encodes metric snapshots as an `ExportMetricsServiceRequest` (protobuf). */
export const encodeMetricsProto = (
  w: ProtoWriter,
  cached: CachedResource<Uint8Array>,
  batches: ReadonlyArray<MetricBatch>,
  redactor: RedactorLike | undefined,
): Uint8Array => {
  w.reset()
  for (const batch of batches) {
    protoResourceScope(w, cached, () => protoMetrics(w, batch, redactor))
  }
  return w.finish()
}

/** The `Metric` messages of one batch (field 2 of `ScopeMetrics`). */
const protoMetrics = (w: ProtoWriter, batch: MetricBatch, redactor: RedactorLike | undefined): void => {
  for (const snapshot of batch.snapshots) {
    const attributes = attributeEntries(snapshot.attributes, redactor)
    const m = w.begin(2, 2)
    w.string(1, snapshot.id)
    if (snapshot.description !== undefined) w.string(2, snapshot.description)
    const unit = unitOf(snapshot.attributes)
    if (unit !== undefined) w.string(3, unit)
    switch (snapshot.type) {
      case "Counter": {
        const s = w.begin(7, 2)
        protoNumberPoint(w, 1, attributes, batch, snapshot.state.count, true)
        w.uint(2, 2)
        w.bool(3, snapshot.state.incremental)
        w.end(s, 2)
        break
      }
      case "Gauge": {
        const g = w.begin(5, 2)
        protoNumberPoint(w, 1, attributes, batch, snapshot.state.value, false)
        w.end(g, 2)
        break
      }
      case "Frequency": {
        const s = w.begin(7, 2)
        for (const [word, count] of snapshot.state.occurrences) {
          protoNumberPoint(w, 1, [...attributes, ["key", word]], batch, count, true)
        }
        w.uint(2, 2)
        w.bool(3, true)
        w.end(s, 2)
        break
      }
      case "Histogram": {
        const state = snapshot.state
        const { bounds, counts } = histogramCounts(state)
        const h = w.begin(9, 2)
        const p = w.begin(1, 2)
        w.fixed64(2, batch.startNanos)
        w.fixed64(3, batch.timeNanos)
        w.fixed64Number(4, state.count)
        w.double(5, state.sum)
        const bc = w.begin(6, 2)
        w.ensure(counts.length * 8)
        for (const c of counts) {
          const hi = Math.floor(c / 4294967296)
          w.view.setUint32(w.pos, c - hi * 4294967296, true)
          w.view.setUint32(w.pos + 4, hi, true)
          w.pos += 8
        }
        w.end(bc, 2)
        const eb = w.begin(7, 2)
        w.ensure(bounds.length * 8)
        for (const b of bounds) {
          w.view.setFloat64(w.pos, b, true)
          w.pos += 8
        }
        w.end(eb, 2)
        for (const [key, v] of attributes) protoKeyValue(w, 9, key, v)
        if (state.count > 0) {
          w.double(11, state.min)
          w.double(12, state.max)
        }
        w.end(p, 2)
        w.uint(2, 2)
        w.end(h, 2)
        break
      }
      case "Summary": {
        const state = snapshot.state
        const s = w.begin(11, 2)
        const p = w.begin(1, 2)
        w.fixed64(2, batch.startNanos)
        w.fixed64(3, batch.timeNanos)
        w.fixed64Number(4, state.count)
        w.double(5, state.sum)
        for (const [quantile, value] of state.quantiles) {
          if (value === undefined) continue
          const q = w.begin(6, 1)
          w.double(1, quantile)
          w.double(2, value)
          w.end(q, 1)
        }
        for (const [key, v] of attributes) protoKeyValue(w, 7, key, v)
        w.end(p, 2)
        w.end(s, 2)
        break
      }
    }
    w.end(m, 2)
  }
}

const jsonNumber = (value: number): string => Number.isFinite(value) ? String(value) : `"${value}"`

const jsonNumberPoint = (
  attributes: ReadonlyArray<readonly [string, unknown]>,
  batch: MetricBatch,
  value: number | bigint,
  withStart: boolean,
): string =>
  `{"attributes":[${jsonAttributes(attributes, undefined)}],${
    withStart ? `"startTimeUnixNano":"${batch.startNanos}",` : ""
  }"timeUnixNano":"${batch.timeNanos}",${
    isInt(value) ? `"asInt":"${BigInt(value)}"` : `"asDouble":${jsonNumber(Number(value))}`
  }}`

/** Encodes metric snapshots as an `ExportMetricsServiceRequest` in OTLP/JSON. */
export const encodeMetricsJson = (
  cached: CachedResource<string>,
  batches: ReadonlyArray<MetricBatch>,
  redactor: RedactorLike | undefined,
): string => {
  const resourceMetrics: Array<string> = []
  for (const batch of batches) {
    const metrics: Array<string> = []
    for (const snapshot of batch.snapshots) {
      const attributes = attributeEntries(snapshot.attributes, redactor)
      const unit = unitOf(snapshot.attributes)
      let out = `{"name":${jsonString(snapshot.id)}`
      if (snapshot.description !== undefined) out += `,"description":${jsonString(snapshot.description)}`
      if (unit !== undefined) out += `,"unit":${jsonString(unit)}`
      switch (snapshot.type) {
        case "Counter":
          out += `,"sum":{"dataPoints":[${
            jsonNumberPoint(attributes, batch, snapshot.state.count, true)
          }],"aggregationTemporality":2,"isMonotonic":${snapshot.state.incremental}}`
          break
        case "Gauge":
          out += `,"gauge":{"dataPoints":[${
            jsonNumberPoint(attributes, batch, snapshot.state.value, false)
          }]}`
          break
        case "Frequency": {
          const points: Array<string> = []
          for (const [word, count] of snapshot.state.occurrences) {
            points.push(jsonNumberPoint([...attributes, ["key", word]], batch, count, true))
          }
          out += `,"sum":{"dataPoints":[${points.join(",")}],"aggregationTemporality":2,"isMonotonic":true}`
          break
        }
        case "Histogram": {
          const state = snapshot.state
          const { bounds, counts } = histogramCounts(state)
          out += `,"histogram":{"dataPoints":[{"attributes":[${
            jsonAttributes(attributes, undefined)
          }],"startTimeUnixNano":"${batch.startNanos}","timeUnixNano":"${batch.timeNanos}","count":"${state.count}","sum":${
            jsonNumber(state.sum)
          },"bucketCounts":[${counts.map((c) => `"${c}"`).join(",")}],"explicitBounds":[${
            bounds.map(jsonNumber).join(",")
          }]${
            state.count > 0 ? `,"min":${jsonNumber(state.min)},"max":${jsonNumber(state.max)}` : ""
          }}],"aggregationTemporality":2}`
          break
        }
        case "Summary": {
          const state = snapshot.state
          const quantiles = state.quantiles.filter(([, v]) => v !== undefined).map(([q, v]) =>
            `{"quantile":${jsonNumber(q)},"value":${jsonNumber(v!)}}`
          )
          out += `,"summary":{"dataPoints":[{"attributes":[${
            jsonAttributes(attributes, undefined)
          }],"startTimeUnixNano":"${batch.startNanos}","timeUnixNano":"${batch.timeNanos}","count":"${state.count}","sum":${
            jsonNumber(state.sum)
          },"quantileValues":[${quantiles.join(",")}]}]}`
          break
        }
      }
      metrics.push(out + "}")
    }
    resourceMetrics.push(
      `{${cached.resource},"scopeMetrics":[{${cached.scope},"metrics":[${metrics.join(",")}]}]}`,
    )
  }
  return `{"resourceMetrics":[${resourceMetrics.join(",")}]}`
}

// ---------------------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------------------

/** One log record as captured by the export logger. */
export interface LogItem {
  readonly timeNanos: bigint
  readonly severityNumber: number
  readonly severityText: string
  readonly body: unknown
  readonly attributes: ReadonlyArray<readonly [string, unknown]>
  readonly traceId: string | undefined
  readonly spanId: string | undefined
}

const redactBody = (body: unknown, redactor: RedactorLike | undefined): unknown =>
  redactor === undefined
    ? body
    : typeof body === "string"
    ? redactor.redactString(body)
    : redactor.redactValue("body", body)

/** Encodes log records as an `ExportLogsServiceRequest` (protobuf). */
export const encodeLogsProto = (
  w: ProtoWriter,
  cached: CachedResource<Uint8Array>,
  logs: ReadonlyArray<LogItem>,
  redactor: RedactorLike | undefined,
): Uint8Array => {
  w.reset()
  protoResourceScope(w, cached, () => {
    for (const log of logs) protoLogRecord(w, log, redactor)
  })
  return w.finish()
}

/** One `LogRecord` (field 2 of `ScopeLogs`). */
const protoLogRecord = (w: ProtoWriter, log: LogItem, redactor: RedactorLike | undefined): void => {
  const r = w.begin(2, 2)
  w.fixed64(1, log.timeNanos)
  w.fixed64(11, log.timeNanos)
  w.uint(2, log.severityNumber)
  w.string(3, log.severityText)
  protoAnyValue(w, 5, redactBody(log.body, redactor), 0)
  for (const [key, value] of log.attributes) protoKeyValue(w, 6, key, redactAttr(redactor, key, value))
  if (log.traceId !== undefined && log.spanId !== undefined) {
    w.fixed32(8, 1)
    w.hexBytes(9, log.traceId.padStart(32, "0"))
    w.hexBytes(10, log.spanId)
  }
  w.end(r, 2)
}

/** Encodes log records as an `ExportLogsServiceRequest` in OTLP/JSON. */
export const encodeLogsJson = (
  cached: CachedResource<string>,
  logs: ReadonlyArray<LogItem>,
  redactor: RedactorLike | undefined,
): string => {
  const records = logs.map((log) => {
    const attrs = jsonAttributes(log.attributes, redactor)
    return `{"timeUnixNano":"${log.timeNanos}","observedTimeUnixNano":"${log.timeNanos}","severityNumber":${log.severityNumber},"severityText":${
      jsonString(log.severityText)
    },"body":${jsonAnyValue(redactBody(log.body, redactor), 0)},"attributes":[${attrs}]${
      log.traceId !== undefined && log.spanId !== undefined
        ? `,"flags":1,"traceId":"${log.traceId.padStart(32, "0")}","spanId":"${log.spanId}"`
        : ""
    }}`
  })
  return `{"resourceLogs":[{${cached.resource},"scopeLogs":[{${cached.scope},"logRecords":[${
    records.join(",")
  }]}]}]}`
}
