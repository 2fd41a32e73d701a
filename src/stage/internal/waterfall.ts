/**
 * Text rendering of a request summary as a stage waterfall: one line per stage (sub-stages indented), a
 * bar placed at the stage's offset and scaled to its duration, its duration and outcome.
 *
 * @internal
 */
import type { RequestSummary } from "../Request.ts"
import type { StageExecution } from "../Stage.ts"

/** Options of the waterfall renderer. */
export interface WaterfallOptions {
  /** Width of the bar column in characters. @default 40 */
  readonly width?: number | undefined
  /** Use ANSI colours. @default false */
  readonly colors?: boolean | undefined
}

const formatMs = (ms: number): string =>
  ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`

const paint = (colors: boolean, code: number, text: string) => (colors ? `\x1b[${code}m${text}\x1b[0m` : text)

const flatten = (
  stages: ReadonlyArray<StageExecution>,
  depth: number,
  out: Array<[StageExecution, number]>,
): Array<[StageExecution, number]> => {
  for (const stage of stages) {
    out.push([stage, depth])
    flatten(stage.substages, depth + 1, out)
  }
  return out
}

const describeError = (error: NonNullable<StageExecution["error"]>): string =>
  `${error.type}${error.category !== undefined ? ` [${error.category}]` : ""} (${error.message})`

/** Renders `summary` as a multi-line waterfall (no trailing newline). */
export const renderWaterfall = (summary: RequestSummary, options: WaterfallOptions = {}): string => {
  const width = Math.max(10, Math.floor(options.width ?? 40))
  const colors = options.colors === true
  const rows = flatten(summary.stages, 0, [])
  // Recorded stages may claim to have started before their request: the axis starts at the earliest one.
  const origin = Math.min(0, ...rows.map(([s]) => s.startOffsetMs))
  const total = Math.max(summary.durationMs, ...rows.map(([s]) => s.startOffsetMs + s.durationMs)) - origin ||
    1e-9
  const labelWidth = Math.max(12, ...rows.map(([s, depth]) => 2 * depth + s.stageId.length)) + 2
  const outcome = summary.success
    ? paint(colors, 32, "ok")
    : paint(colors, 31, `${summary.status}${summary.error ? `: ${summary.error.type}` : ""}`)
  const flags = [
    summary.overBudget ? paint(colors, 33, "over budget") : undefined,
    summary.truncated ? "truncated" : undefined,
    summary.keptBecause !== undefined ? `kept: ${summary.keptBecause}` : undefined,
  ].filter((f) => f !== undefined)
  const lines = [
    `${paint(colors, 1, summary.name)}  ${summary.requestId}  ${formatMs(summary.durationMs)}  ${outcome}` +
    (flags.length > 0 ? `  (${flags.join(", ")})` : "") + `  trace ${summary.traceId}`,
  ]
  for (const [stage, depth] of rows) {
    const start = Math.max(
      0,
      Math.min(width - 1, Math.floor(((stage.startOffsetMs - origin) / total) * width)),
    )
    const length = Math.max(1, Math.min(width - start, Math.round((stage.durationMs / total) * width)))
    const bar = " ".repeat(start) + "█".repeat(length) + " ".repeat(Math.max(0, width - start - length))
    const label = ("  ".repeat(depth) + stage.stageId).padEnd(labelWidth)
    const status = stage.success ? stage.overBudget === true ? paint(colors, 33, "over budget") : "" : paint(
      colors,
      31,
      `${stage.status}${stage.error ? `: ${describeError(stage.error)}` : ""}`,
    )
    lines.push(
      `  ${label}│${stage.success ? bar : paint(colors, 31, bar)}│ ${
        formatMs(stage.durationMs).padStart(9)
      }  ${status}`
        .trimEnd(),
    )
  }
  if (summary.bottlenecks.length > 0) {
    lines.push(
      `  bottlenecks: ${
        summary.bottlenecks.map((b) => `${b.stageId} ${(b.share * 100).toFixed(0)}%`).join(", ")
      }`,
    )
  }
  return lines.join("\n")
}
