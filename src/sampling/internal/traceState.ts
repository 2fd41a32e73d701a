/**
 * The OpenTelemetry `ot` entry of the W3C `tracestate` (`ot=th:<threshold>;rv:<randomness>`). The W3C
 * list itself (grammar, 32 members, a modified member moving to the front) is `src/internal/traceState.ts`,
 * shared with the HTTP concern; `normalizeTraceState` is re-exported from there for the tail sampler.
 *
 * OpenTelemetry: the `ot` value is a `;`-separated list of `key:value` sub-keys of at most 256 characters;
 * setting a sub-key keeps the others (`rv` and unknown ones).
 *
 * Nothing here throws: a malformed `ot` value is ignored when reading and replaced when writing.
 *
 * @internal
 */
import { traceStateValue, withTraceStateMember } from "../../internal/traceState.ts"

export { normalizeTraceState } from "../../internal/traceState.ts"

const OT = "ot"
const MAX_OT_LENGTH = 256

const otSubKeyPattern = /^[a-z][a-z0-9]*:[A-Za-z0-9._-]*$/

/** The `th` and `rv` sub-keys of the `ot` entry of a (valid) tracestate. */
export interface OtValues {
  readonly th: string | undefined
  readonly rv: string | undefined
}

const noOtValues: OtValues = { th: undefined, rv: undefined }

/** Reads `th` and `rv` from the `ot` entry (raw strings, not validated as numbers). */
export const readOt = (traceState: string | undefined): OtValues => {
  if (traceState === undefined) return noOtValues
  const ot = traceStateValue(traceState, OT)
  if (ot === undefined) return noOtValues
  let th: string | undefined
  let rv: string | undefined
  for (const sub of ot.split(";")) {
    if (sub.startsWith("th:")) th = sub.slice(3)
    else if (sub.startsWith("rv:")) rv = sub.slice(3)
  }
  return th === undefined && rv === undefined ? noOtValues : { th, rv }
}

/**
 * Sets (`th` a string) or erases (`th` undefined) the threshold in `traceState`, and sets `rv` when given,
 * keeping every other `ot` sub-key and every other vendor's member. The modified `ot` member moves to the
 * front; an `ot` member left empty is removed. Returns the input unchanged when nothing changes, and
 * `undefined` for an empty result.
 *
 * A malformed `ot` value is replaced by the sub-keys being set (its content cannot be trusted). When the
 * new `ot` value would exceed 256 characters the threshold is not set (erased instead), as the OpenTelemetry
 * specification advises.
 */
export const withThreshold = (
  traceState: string | undefined,
  th: string | undefined,
  rv?: string | undefined,
): string | undefined => {
  if (traceState === undefined) {
    if (th === undefined) return rv === undefined ? undefined : `ot=rv:${rv}`
    return rv === undefined ? `ot=th:${th}` : `ot=th:${th};rv:${rv}`
  }
  const oldOt = traceStateValue(traceState, OT)
  const subs: Array<string> = []
  let valid = true
  if (oldOt !== undefined && oldOt !== "") {
    for (const sub of oldOt.split(";")) {
      if (!otSubKeyPattern.test(sub)) {
        valid = false
        break
      }
      subs.push(sub)
    }
  }
  const kept = valid ? subs : []
  let next = kept.filter((sub) => !sub.startsWith("th:") && (rv === undefined || !sub.startsWith("rv:")))
  if (th !== undefined) next.unshift(`th:${th}`)
  if (rv !== undefined) next.splice(th === undefined ? 0 : 1, 0, `rv:${rv}`)
  let newOt = next.join(";")
  if (newOt.length > MAX_OT_LENGTH && th !== undefined) {
    next = next.filter((sub) => !sub.startsWith("th:"))
    newOt = next.join(";")
    if (newOt.length > MAX_OT_LENGTH) newOt = rv === undefined ? "" : `rv:${rv}`
  }
  if (newOt === (oldOt ?? "") && valid) return traceState
  return withTraceStateMember(traceState, OT, newOt === "" ? undefined : newOt)
}
