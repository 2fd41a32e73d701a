/**
 * The error category put on log records when a `Cause` is logged: the errors concern's classifier with the
 * rules installed on the recorder when it is installed, else a basic classification with the same
 * categories (the seeds' keyword patterns, HTTP-like status codes, `interrupted`, `defect`, `unknown`).
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import type { Recorder } from "../../internal/recorder.ts"
import { classifyCause } from "../../errors/internal/classify.ts"
import { ErrorsSlot } from "../../errors/internal/state.ts"

const patterns: ReadonlyArray<readonly [category: string, pattern: RegExp]> = [
  ["transient", /timeout|timed out|connection|econnre|unavailable|rate.?limit|throttl|temporar|try again/i],
  ["configuration", /authenticat|unauthori[sz]ed|permission|forbidden|credential|api.?key|config/i],
  ["data", /validat|invalid|format|schema|parse|malformed|decode/i],
  ["resource", /memory|disk|cpu|quota|exhaust|too large|capacity/i],
]

const byStatus = (status: number): string | undefined =>
  status === 408 || status === 429 || status >= 500
    ? "transient"
    : status === 401 || status === 403
    ? "configuration"
    : status >= 400
    ? "data"
    : undefined

const classifyValue = (error: unknown, defect: boolean): string => {
  if (typeof error === "object" && error !== null) {
    const e = error as { _tag?: unknown; name?: unknown; message?: unknown; status?: unknown; code?: unknown }
    if (e._tag === "TimeoutError") return "transient"
    const status = typeof e.status === "number" ? e.status : undefined
    if (status !== undefined) {
      const category = byStatus(status)
      if (category !== undefined) return category
    }
    const text = `${typeof e._tag === "string" ? e._tag : ""} ${typeof e.name === "string" ? e.name : ""} ${
      typeof e.message === "string" ? e.message : ""
    } ${typeof e.code === "string" ? e.code : ""}`
    for (const [category, pattern] of patterns) if (pattern.test(text)) return category
  } else if (typeof error === "string") {
    for (const [category, pattern] of patterns) if (pattern.test(error)) return category
  }
  return defect ? "defect" : "unknown"
}

/** A basic category for `cause` (see the module comment). Never throws. */
export const basicCategory = (cause: Cause.Cause<unknown>): string | undefined => {
  try {
    const reasons = cause.reasons
    if (reasons.length === 0) return undefined
    for (const reason of reasons) {
      if (reason._tag === "Fail") return classifyValue(reason.error, false)
      if (reason._tag === "Die") return classifyValue(reason.defect, true)
    }
    return "interrupted"
  } catch {
    return "unknown"
  }
}

/** The category of a logged cause under `recorder`. Never throws. */
export const categoryOf = (recorder: Recorder, cause: Cause.Cause<unknown>): string | undefined => {
  const state = recorder.get(ErrorsSlot)
  if (state === undefined || cause.reasons.length === 0) return basicCategory(cause)
  try {
    return classifyCause(cause, state.rules).category
  } catch {
    return basicCategory(cause)
  }
}
