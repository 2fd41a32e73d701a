/**
 * The text summary printed by `deno task report`.
 *
 * @internal
 */
import type { Analysis } from "./analyze.ts"
import { ms } from "./html.ts"

const pct = (value: number): string => `${(value * 100).toFixed(1)}%`

/** A few lines for a terminal: totals, per-stage percentiles, bottlenecks, budgets, errors, slow values. */
export const renderText = (analysis: Analysis): string => {
  const o = analysis.overall
  const out: Array<string> = []
  const range = analysis.from === undefined || analysis.to === undefined
    ? ""
    : ` (${new Date(analysis.from).toISOString()} → ${new Date(analysis.to).toISOString()})`
  out.push(
    `stagetrace report: ${analysis.requests} requests from ${analysis.sources.length} file(s)${range}`,
    `requests: ${pct(o.successRate)} ok · p50 ${ms(o.p50Ms)} · p95 ${ms(o.p95Ms)} · p99 ${
      ms(o.p99Ms)
    } · max ${ms(o.maxMs)}`,
  )
  if (analysis.skippedLines > 0) out.push(`skipped ${analysis.skippedLines} lines that are not summaries`)
  if (analysis.stages.length > 0) {
    const width = Math.max(5, ...analysis.stages.map((s) => s.stageId.length))
    out.push(
      "",
      `${"stage".padEnd(width)}  ${
        ["count", "errors", "p50", "p95", "p99", "share"].map((h) => h.padStart(9)).join(" ")
      }`,
    )
    for (const s of analysis.stages) {
      out.push(
        `${s.stageId.padEnd(width)}  ${
          [String(s.count), String(s.errors), ms(s.p50Ms), ms(s.p95Ms), ms(s.p99Ms), pct(s.shareOfTime)]
            .map((v) => v.padStart(9)).join(" ")
        }`,
      )
    }
  }
  out.push("")
  if (analysis.bottlenecks.length > 0) {
    out.push(
      `bottlenecks: ${
        analysis.bottlenecks.slice(0, 3).map((b) => `${b.stageId} (${pct(b.shareOfRequests)} of requests)`)
          .join(
            ", ",
          )
      }`,
    )
  }
  out.push(
    `budgets: ${analysis.overBudgetRequests} requests over budget${
      analysis.budgets.length === 0
        ? ""
        : `; ${analysis.budgets.slice(0, 3).map((b) => `${b.stageId} ${b.violations}×`).join(", ")}`
    }`,
  )
  out.push(
    `errors: ${analysis.failedRequests} failed requests${
      analysis.errors.length === 0
        ? ""
        : `; ${
          analysis.errors.map((e) => `${e.category} ${e.failedRequests} (${e.failedStages} in stages)`).join(
            ", ",
          )
        }`
    }`,
  )
  if (analysis.slowValues.length > 0) {
    out.push(
      `slow requests (≥ ${ms(analysis.slowThresholdMs)}) over-represent: ${
        analysis.slowValues.slice(0, 4).map((v) => `${v.key}=${v.value} (${v.lift.toFixed(1)}×)`).join(", ")
      }`,
    )
  }
  return out.join("\n")
}
