/**
 * Extraction of `traceparent`, `tracestate` and `baggage` from incoming headers, with the count of every
 * dropped item.
 *
 * @internal
 */
import type { Recorder } from "../../internal/recorder.ts"
import type { Baggage, Extracted, Issue, RemoteContext } from "./propagationModel.ts"
import { parseBaggage } from "./baggage.ts"
import { emptyBaggage } from "./context.ts"
import { getHeader, type HeadersInput, isHeaders } from "./headers.ts"
import { readTraceState } from "../../internal/traceState.ts"
import { FLAG_RANDOM, FLAG_SAMPLED, parseTraceParent } from "./traceContext.ts"

/** What `parseHeaders` gives. */
export interface Parsed extends Extracted {
  readonly counts: ReadonlyArray<readonly [Issue, number]>
}

const noIssues: ReadonlyArray<Issue> = []
const noCounts: ReadonlyArray<readonly [Issue, number]> = []
/** What headers without any propagation field give (shared: nothing to allocate). */
const nothing: Parsed = { parent: undefined, baggage: emptyBaggage, issues: noIssues, counts: noCounts }

/** Parses the headers; `counts` says how many items each issue dropped. */
export const parseHeaders = (headers: HeadersInput): Parsed => {
  let traceparent: string | undefined
  let baggageHeader: string | undefined
  const web = isHeaders(headers)
  if (web) {
    traceparent = headers.get("traceparent") ?? undefined
    baggageHeader = headers.get("baggage") ?? undefined
  } else {
    traceparent = getHeader(headers, "traceparent")
    baggageHeader = getHeader(headers, "baggage")
  }
  // The fast path: a request without trace context (a public edge, a health check).
  if (traceparent === undefined && baggageHeader === undefined) return nothing
  let issues: Array<Issue> | undefined
  let counts: Array<readonly [Issue, number]> | undefined
  let parent: RemoteContext | undefined
  if (traceparent !== undefined) {
    const parsed = parseTraceParent(traceparent)
    if (parsed === undefined) {
      ;(issues ??= []).push("invalid_traceparent")
      ;(counts ??= []).push(["invalid_traceparent", 1])
    } else {
      // tracestate is read only with a valid traceparent.
      let traceState: string | undefined
      const tracestate = web ? headers.get("tracestate") ?? undefined : getHeader(headers, "tracestate")
      if (tracestate !== undefined) {
        const drops = { duplicates: 0 }
        const normalized = readTraceState(tracestate, drops)
        if (normalized === null) {
          ;(issues ??= []).push("invalid_tracestate")
          ;(counts ??= []).push(["invalid_tracestate", 1])
        } else {
          traceState = normalized
          if (drops.duplicates > 0) {
            ;(issues ??= []).push("tracestate_duplicate")
            ;(counts ??= []).push(["tracestate_duplicate", drops.duplicates])
          }
        }
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
  if (baggageHeader !== undefined) {
    const parsed = parseBaggage(baggageHeader)
    if (parsed.entries.size > 0) baggage = parsed.entries
    if (parsed.invalid > 0) {
      ;(issues ??= []).push("invalid_baggage")
      ;(counts ??= []).push(["invalid_baggage", parsed.invalid])
    }
    if (parsed.truncated > 0) {
      ;(issues ??= []).push("baggage_truncated")
      ;(counts ??= []).push(["baggage_truncated", parsed.truncated])
    }
  }
  return { parent, baggage, issues: issues ?? noIssues, counts: counts ?? noCounts }
}

/** Counts dropped items on the recorder's drop counters. */
export const countIssues = (recorder: Recorder, counts: ReadonlyArray<readonly [Issue, number]>): void => {
  for (const [issue, count] of counts) for (let i = 0; i < count; i++) recorder.countDrop(issue)
}
