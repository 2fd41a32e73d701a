/**
 * Extraction of `traceparent`, `tracestate` and `baggage` from incoming headers, with the count of every
 * dropped item.
 *
 * @internal
 */
import type { Recorder } from "../../internal/recorder.ts"
import type { Baggage, Extracted, Issue, RemoteContext } from "../Propagation.ts"
import { parseBaggage } from "./baggage.ts"
import { emptyBaggage } from "./context.ts"
import { getHeader, type HeadersInput } from "./headers.ts"
import { readTraceState } from "../../internal/traceState.ts"
import { FLAG_RANDOM, FLAG_SAMPLED, parseTraceParent } from "./traceContext.ts"

/** What `parseHeaders` gives. */
export interface Parsed extends Extracted {
  readonly counts: ReadonlyArray<readonly [Issue, number]>
}

const noIssues: ReadonlyArray<Issue> = []
const noCounts: ReadonlyArray<readonly [Issue, number]> = []

/** Parses the headers; `counts` says how many items each issue dropped. */
export const parseHeaders = (headers: HeadersInput): Parsed => {
  let issues: Array<Issue> | undefined
  let counts: Array<readonly [Issue, number]> | undefined
  const report = (issue: Issue, count: number) => {
    ;(issues ??= []).push(issue)
    ;(counts ??= []).push([issue, count])
  }
  let parent: RemoteContext | undefined
  const traceparent = getHeader(headers, "traceparent")
  if (traceparent !== undefined) {
    const parsed = parseTraceParent(traceparent)
    if (parsed === undefined) {
      report("traceparent_invalid", 1)
    } else {
      // tracestate is read only with a valid traceparent.
      let traceState: string | undefined
      const tracestate = getHeader(headers, "tracestate")
      if (tracestate !== undefined) {
        const normalized = readTraceState(tracestate)
        if (normalized === null) report("tracestate_invalid", 1)
        else traceState = normalized
      }
      parent = {
        traceId: parsed.traceId,
        spanId: parsed.spanId,
        sampled: (parsed.flags & FLAG_SAMPLED) !== 0,
        randomTraceId: (parsed.flags & FLAG_RANDOM) !== 0,
        traceState,
      }
    }
  }
  let baggage: Baggage = emptyBaggage
  const header = getHeader(headers, "baggage")
  if (header !== undefined) {
    const parsed = parseBaggage(header)
    if (parsed.entries.size > 0) baggage = parsed.entries
    if (parsed.invalid > 0) report("baggage_invalid", parsed.invalid)
    if (parsed.truncated > 0) report("baggage_truncated", parsed.truncated)
  }
  return { parent, baggage, issues: issues ?? noIssues, counts: counts ?? noCounts }
}

/** Counts dropped items on the recorder's drop counters. */
export const countIssues = (recorder: Recorder, counts: ReadonlyArray<readonly [Issue, number]>): void => {
  for (const [issue, count] of counts) for (let i = 0; i < count; i++) recorder.countDrop(issue)
}
