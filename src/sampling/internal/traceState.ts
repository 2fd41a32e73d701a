/**
 * W3C `tracestate` handling for the OpenTelemetry `ot` entry (`ot=th:<threshold>;rv:<randomness>`).
 *
 * - W3C Trace Context: a list of at most 32 `key=value` members separated by commas (optional spaces and
 *   empty members allowed), unique keys; a member that is modified moves to the front; past 32 members
 *   the rightmost ones are removed.
 * - OpenTelemetry: the `ot` value is a `;`-separated list of `key:value` sub-keys of at most 256 characters;
 *   setting a sub-key keeps the others (`rv` and unknown ones).
 *
 * Nothing here throws: malformed input is reported as `undefined` (validation) or ignored (`ot` parsing).
 *
 * @internal
 */

const MAX_MEMBERS = 32
const MAX_OT_LENGTH = 256

const keyPattern = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/
const valuePattern = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/
const otSubKeyPattern = /^[a-z][a-z0-9]*:[A-Za-z0-9._-]*$/

/**
 * Validates a received `tracestate` header and returns it normalized (members trimmed, empty members
 * removed), or `undefined` when it is malformed: the W3C specification lets a vendor discard a header it
 * cannot parse rather than propagate it. An empty header is `undefined` too.
 */
export const normalizeTraceState = (header: string): string | undefined => {
  const parts = header.split(",")
  let out = ""
  let count = 0
  const keys: Array<string> = []
  for (const raw of parts) {
    const member = raw.replace(/^[ \t]+|[ \t]+$/g, "")
    if (member === "") continue
    const eq = member.indexOf("=")
    if (eq <= 0) return undefined
    const key = member.slice(0, eq)
    const value = member.slice(eq + 1)
    if (!keyPattern.test(key) || !valuePattern.test(value)) return undefined
    if (keys.includes(key)) return undefined
    keys.push(key)
    if (++count > MAX_MEMBERS) return undefined
    out = out === "" ? member : `${out},${member}`
  }
  return out === "" ? undefined : out
}

/** The `th` and `rv` sub-keys of the `ot` entry of a (valid) tracestate. */
export interface OtValues {
  readonly th: string | undefined
  readonly rv: string | undefined
}

const noOtValues: OtValues = { th: undefined, rv: undefined }

/** The `ot` member's value, if the tracestate has one. */
const otValueOf = (traceState: string): string | undefined => {
  // Cheap rejection first: most tracestates carry no `ot` entry.
  if (traceState.indexOf("ot=") < 0) return undefined
  for (const raw of traceState.split(",")) {
    const member = raw.trim()
    if (member.startsWith("ot=")) return member.slice(3)
  }
  return undefined
}

/** Reads `th` and `rv` from the `ot` entry (raw strings, not validated as numbers). */
export const readOt = (traceState: string | undefined): OtValues => {
  if (traceState === undefined) return noOtValues
  const ot = otValueOf(traceState)
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
  const members = traceState.split(",")
  let otIndex = -1
  for (let i = 0; i < members.length; i++) {
    const member = members[i]!.trim()
    members[i] = member
    if (otIndex < 0 && member.startsWith("ot=")) otIndex = i
  }
  const oldOt = otIndex < 0 ? undefined : members[otIndex]!.slice(3)
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
  const others = members.filter((member, i) => i !== otIndex && member !== "")
  if (newOt !== "") {
    others.unshift(`ot=${newOt}`)
    if (others.length > MAX_MEMBERS) others.length = MAX_MEMBERS
  }
  return others.length === 0 ? undefined : others.join(",")
}
