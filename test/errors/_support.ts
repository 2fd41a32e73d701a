/**
 * Test support shared by the budget, error and health tests: a logger that records log lines, and metric
 * reads from the current registry (the span recorder is `test/_spans.ts`).
 */
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as References from "effect/References"

/** One recorded log line. */
export interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** Records every log line; provide `layer` around `Telemetry.layer` (replaces the default loggers). */
export const captureLogs = (): { readonly lines: Array<LogLine>; readonly layer: Layer.Layer<never> } => {
  const lines: Array<LogLine> = []
  const logger = Logger.make<unknown, void>((options) => {
    const message = Array.isArray(options.message)
      ? options.message.map(String).join(" ")
      : String(options.message)
    lines.push({
      level: options.logLevel,
      message,
      annotations: options.fiber.getRef(References.CurrentLogAnnotations),
    })
  })
  return { lines, layer: Logger.layer([logger]) }
}

/** The value of a counter series with exactly `attributes`, `0` when it does not exist. */
export const counterValue = (name: string, attributes: Record<string, string>): Effect.Effect<number> =>
  Effect.map(Metric.snapshot, (snapshots) => {
    for (const s of snapshots) {
      if (s.id !== name || s.type !== "Counter") continue
      const attrs = s.attributes ?? {}
      const keys = Object.keys(attrs)
      if (keys.length !== Object.keys(attributes).length) continue
      if (keys.every((k) => attrs[k] === attributes[k])) return Number(s.state.count)
    }
    return 0
  })

/** Every counter series named `name`, as `[attributes, count]`. */
export const counterSeries = (name: string): Effect.Effect<ReadonlyArray<[Record<string, string>, number]>> =>
  Effect.map(
    Metric.snapshot,
    (snapshots) =>
      snapshots.filter((s) => s.id === name && s.type === "Counter").map((s) => [
        { ...(s.attributes ?? {}) },
        Number((s.state as { count: number | bigint }).count),
      ]),
  )
