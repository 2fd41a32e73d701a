/**
 * Runtime state of the budget concern, kept on the recorder under `BudgetsSlot`: the `budgets` table, the
 * violation window (per stage: count, overage sum, overage maximum, overage-percent sum, in time buckets)
 * and the violation counter. Never a list of violations.
 *
 * @internal
 */
import type { BackgroundLog, LogRecord } from "../../internal/backgroundLog.ts"
import type { CounterFamily } from "../../internal/counterFamily.ts"
import { Slot } from "../../internal/recorder.ts"
import { WindowStore } from "../../internal/window.ts"
import type { BudgetSummary, BudgetViolation, StageBudgetSummary } from "./budgetsModel.ts"

/** The budget concern's state on a recorder. */
export class BudgetsState {
  /** Budgets in milliseconds by stage id or request name. */
  readonly table: ReadonlyMap<string, number>
  /** Per stage: [count, overage sum, overage max, overage-percent sum]. */
  readonly window: WindowStore
  readonly counter: CounterFamily
  log: BackgroundLog | undefined
  /** Violations since the layer started. */
  total = 0

  constructor(table: ReadonlyMap<string, number>, maxStages: number, counter: CounterFamily) {
    this.table = table
    this.window = new WindowStore(["sum", "sum", "max", "sum"], maxStages)
    this.counter = counter
  }

  /** Records one violation: window, counter and a warning for the background logger. */
  record(violation: BudgetViolation, traceId: string, spanId: string): void {
    this.total++
    const keyId = this.window.keyId(violation.stageId)
    this.window.add(keyId, violation.timestamp, [
      1,
      violation.overageMs,
      violation.overageMs,
      violation.overagePercent,
    ])
    const label = this.window.keyName(keyId)
    this.counter.increment(label, () => ({ stage: label }))
    this.log?.offer({ level: "Warn", render: () => violationRecord(violation, traceId, spanId) })
  }
}

/** The warning logged for a violation (rendered in the background). */
const violationRecord = (violation: BudgetViolation, traceId: string, spanId: string): LogRecord => ({
  message: `Performance budget violation: ${violation.stageId} took ${round(violation.actualMs)} ms, budget ${
    round(violation.budgetMs)
  } ms (+${round(violation.overagePercent, 1)}%)`,
  annotations: {
    "stage.id": violation.stageId,
    ...(violation.requestId !== undefined ? { "request.id": violation.requestId } : {}),
    "budget.ms": violation.budgetMs,
    "budget.actual_ms": round(violation.actualMs),
    "budget.overage_ms": round(violation.overageMs),
    "budget.overage_percent": round(violation.overagePercent, 1),
    "trace_id": traceId,
    "span_id": spanId,
  },
})

const round = (value: number, digits: number = 2): number => {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** Where the budget concern keeps its state. */
export const BudgetsSlot: Slot<BudgetsState> = new Slot<BudgetsState>("budgets")

/** The budget summary of `state` over the window ending at `nowMs` (all met without state). */
export const summaryAt = (
  state: BudgetsState | undefined,
  windowMs: number,
  nowMs: number,
): BudgetSummary => {
  if (state === undefined) return { status: "all_budgets_met", totalViolations: 0, windowMs, byStage: {} }
  const effective = state.window.effectiveWindow(windowMs)
  const byStage: Record<string, StageBudgetSummary> = {}
  let totalViolations = 0
  for (const [stageId, [count, sum, max, percentSum]] of state.window.query(effective, nowMs)) {
    if (!(count! > 0)) continue
    totalViolations += count!
    byStage[stageId] = {
      count: count!,
      avgOverageMs: sum! / count!,
      maxOverageMs: max!,
      avgOveragePercent: percentSum! / count!,
    }
  }
  return {
    status: totalViolations > 0 ? "budget_violations_detected" : "all_budgets_met",
    totalViolations,
    windowMs: effective,
    byStage,
  }
}
