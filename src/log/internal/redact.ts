/**
 * The redaction engine behind `Redactor`: one combined regular expression for the built-in detectors (a
 * single pass over the text), a Luhn check for card-like numbers, user patterns after it, a bounded cache
 * of recent results (metric label values and log messages repeat a lot) and a bounded cache of key
 * decisions. Every entry point catches everything: a failure masks the whole value (fail closed).
 *
 * @internal
 */
import * as Redacted from "effect/Redacted"
import type { Recorder, SummaryRedaction } from "../../internal/recorder.ts"
import { type RedactorLike, RedactorSlot } from "../../internal/slots.ts"
import type { StageError, StageExecution } from "../../internal/stageModel.ts"

/** The validated configuration of a redactor. */
export interface RedactConfig {
  readonly emails: boolean
  readonly tokens: boolean
  readonly uuids: boolean
  readonly cards: boolean
  readonly ipAddresses: boolean
  readonly patterns: ReadonlyArray<RegExp>
  readonly keys: ReadonlyArray<string>
}

export const defaultConfig: RedactConfig = {
  emails: true,
  tokens: true,
  uuids: true,
  cards: true,
  ipAddresses: false,
  patterns: [],
  keys: [],
}

/** What replaces each kind of match. */
export const Mask = {
  email: "[EMAIL]",
  token: "[TOKEN]",
  uuid: "[UUID]",
  card: "[CARD]",
  ip: "[IP]",
  secret: "[REDACTED]",
} as const

/**
 * Keys whose values are always masked, compared after normalization (lower case, without `-`, `_`, `.`
 * and spaces). A key also matches when it ends with one of `maskedKeySuffixes` (`db.password`,
 * `x-api-key`, `stripe_secret`).
 */
export const alwaysMaskedKeys: ReadonlyArray<string> = [
  "password",
  "passwd",
  "pwd",
  "passphrase",
  "secret",
  "clientsecret",
  "token",
  "accesstoken",
  "refreshtoken",
  "idtoken",
  "sessiontoken",
  "authorization",
  "proxyauthorization",
  "apikey",
  "xapikey",
  "cookie",
  "setcookie",
  "sessionid",
  "privatekey",
  "credentials",
  "creditcard",
  "cardnumber",
  "cvv",
  "ssn",
]

const maskedKeySuffixes: ReadonlyArray<string> = [
  "password",
  "secret",
  "token",
  "apikey",
  "privatekey",
  "authorization",
  "cookie",
  "credentials",
]

/**
 * Keys whose values are the toolkit's own correlation identifiers: never masked (a request id is often a
 * UUID, a trace id looks like a long secret), otherwise logs could not be joined with traces.
 */
const correlationKeys: ReadonlySet<string> = new Set([
  "trace_id",
  "span_id",
  "parent_span_id",
  "request_id",
  "stage_id",
  "traceId",
  "spanId",
  "parentSpanId",
  "requestId",
  "stageId",
  "request.id",
  "stage.id",
  "trace.id",
  "span.id",
])

/** Normalizes a key for the always-masked comparison. */
export const normalizeKey = (key: string): string => key.toLowerCase().replace(/[-_.\s]/g, "")

/** Whether the digits of `digits` pass the Luhn checksum. */
export const luhn = (digits: string): boolean => {
  let sum = 0
  let double = false
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48
    if (d < 0 || d > 9) return false
    if (double) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
    double = !double
  }
  return sum % 10 === 0
}

// Each alternative is one capture group; the replacer looks at which group matched. Order matters: a
// `password=…` pair or a bearer header wins over the generic detectors inside it.
const sources = {
  // 1: key and separator, 2: value — `password=hunter2`, `"api_key": "…"`, `{'password': 'a b'}`, `?token=…`.
  // A quoted value is masked up to its closing quote (spaces included); the quotes are kept.
  pair: String
    .raw`\b((?i:pass(?:word|wd|phrase)|pwd|secret|client[_-]?secret|(?:access|refresh|id|session)[_-]?token|token|api[_-]?key|x-api-key|authorization|private[_-]?key)["']?\s*[=:]\s*)("(?:[^"\\\n]|\\.){1,256}"|'(?:[^'\\\n]|\\.){1,256}'|(?:(?i:bearer|basic|token|digest)\s+)?[^\s"'&,;<>]+)`,
  // 3: scheme, user and colon — the password of a URL's userinfo (`postgres://app:pw@db:5432`), up to the
  // last `@` before the host (passwords with a raw `@` included). Only tried on text with an `@`.
  urlCredentials: String.raw`\b([A-Za-z][A-Za-z0-9+.-]{1,30}://[^\s:/?#@"'<>]{0,256}:)[^\s/?#"'<>]{1,256}@`,
  // 3: scheme — `Bearer eyJ…`, `Basic dXNlcjpw…`
  bearer: String.raw`\b((?i:bearer|basic))\s+(?=[A-Za-z0-9\-._~+/]*[0-9+/=_.\-])[A-Za-z0-9\-._~+/]{8,}=*`,
  jwt: String.raw`\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`,
  // Stripe/OpenAI/Anthropic, GitHub, GitLab, npm, Slack (tokens and webhook URLs), AWS access key ids
  // (long-term and STS), Google API keys and OAuth tokens, Hugging Face.
  apiKey: String
    .raw`\b(?:sk|pk|rk)[-_](?:live[-_]|test[-_]|proj[-_])?[A-Za-z0-9_-]{16,}|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}|\bglpat-[A-Za-z0-9_-]{20,}|\bnpm_[A-Za-z0-9]{36}\b|\bxox[abposr]-[A-Za-z0-9-]{10,}|\bxapp-[A-Za-z0-9-]{10,}|\bhooks\.slack\.com/services/[A-Za-z0-9_/-]{20,}|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|\bAIza[0-9A-Za-z_-]{35}|\bya29\.[0-9A-Za-z_-]{20,}|\bhf_[A-Za-z0-9]{30,}`,
  // Bounded quantifiers (RFC 5321 limits) keep the scan linear on long runs without an `@`.
  email: String.raw`[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}`,
  uuid: String.raw`\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b`,
  // Long random-looking runs: 32+ alphanumerics, or 40+ base64 characters (both checked for a digit and a
  // letter, so long words and repeated characters pass).
  longSecret: String.raw`\b[A-Za-z0-9]{32,}\b|[A-Za-z0-9+/]{40,}={0,2}`,
  // 13–19 digits, optionally grouped by spaces or dashes, starting like a card number (2–6).
  card: String.raw`\b[2-6]\d{3}(?:[ -]?\d){9,15}\b`,
  ipv4: String.raw`\b(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\b`,
  ipv6: String
    .raw`(?<![:\w])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}(?![:\w])|(?<![:\w])(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){0,6})?::(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){0,6})?(?![:\w])`,
}

type Kind =
  | "pair"
  | "urlCredentials"
  | "bearer"
  | "jwt"
  | "apiKey"
  | "email"
  | "uuid"
  | "longSecret"
  | "card"
  | "ipv4"
  | "ipv6"

/** Detectors that can only match text containing an `@` (skipped, with their scan, on text without one). */
const needsAt: ReadonlySet<Kind> = new Set(["email", "urlCredentials"])

/**
 * A PEM private key block (`-----BEGIN RSA PRIVATE KEY-----` … `-----END RSA PRIVATE KEY-----`), or from its
 * header to the end of the text when the end was cut off (fail closed). Applied before the other detectors,
 * only to text that contains `PRIVATE KEY`.
 */
const privateKeyBlock =
  /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[^]*?-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|[^]*)/g

// Anchored: an unanchored lookahead would rescan the match from every position (quadratic).
const hasDigitAndLetter = /^(?=[^]*\d)(?=[^]*[A-Za-z])/

const cacheCapacity = 4096
const cacheMaxLength = 512
const keyCacheCapacity = 2048

/** A compiled redactor. */
export interface Engine extends RedactorLike {
  readonly config: RedactConfig
  /** Masks every string inside `value` (objects and arrays are copied only when something changed). */
  readonly redactDeep: (value: unknown) => unknown
  /** Whether values under `key` are always masked. */
  readonly isMaskedKey: (key: string) => boolean
  /** `redactValue` for a `key` known to be a string (summary redaction's per-entry path). */
  readonly redactStringKeyed?: (key: string, value: unknown) => unknown
}

/** Compiles a redactor. Never throws for a validated config. */
export const compile = (config: RedactConfig): Engine => {
  const kinds: Array<Kind> = []
  const parts: Array<string> = []
  const add = (kind: Kind, enabled: boolean) => {
    if (!enabled) return
    kinds.push(kind)
    parts.push(sources[kind])
  }
  add("pair", config.tokens)
  add("urlCredentials", config.tokens)
  add("bearer", config.tokens)
  add("jwt", config.tokens)
  add("apiKey", config.tokens)
  add("email", config.emails)
  add("uuid", config.uuids)
  add("longSecret", config.tokens)
  add("card", config.cards)
  add("ipv4", config.ipAddresses)
  add("ipv6", config.ipAddresses)
  // Every alternative is wrapped in a group so its index tells the kind; `pair` and `bearer` have inner
  // groups, accounted for below.
  const groupIndex: Array<[index: number, kind: Kind]> = []
  let index = 1
  const wrapped = parts.map((source, i) => {
    const kind = kinds[i]!
    groupIndex.push([index, kind])
    index += 1 + (kind === "pair" ? 2 : kind === "bearer" || kind === "urlCredentials" ? 1 : 0)
    return `(${source})`
  })
  // Two detectors are costly to scan for and need something most text lacks: the e-mail detector (an `@`)
  // and the long-secret one (a run of 32+ characters of its alphabet, which it otherwise looks for from
  // every position). Text is checked for both first, and matched against a variant of the combined
  // expression without the detectors it cannot contain (same groups, the alternatives made impossible).
  const variants: Array<RegExp | undefined> = []
  const variant = (withAt: boolean, withRun: boolean): RegExp | undefined => {
    if (wrapped.length === 0) return undefined
    const key = (withAt ? 1 : 0) + (withRun ? 2 : 0)
    let regex = variants[key]
    if (regex === undefined) {
      regex = new RegExp(
        wrapped.map((part, i) => {
          const kind = kinds[i]!
          const off = (!withAt && needsAt.has(kind)) || (!withRun && kind === "longSecret")
          if (!off) return part
          return kind === "urlCredentials" ? "((?!)())" : "((?!))"
        }).join("|"),
        "g",
      )
      variants[key] = regex
    }
    return regex
  }
  const userPatterns = config.patterns.map((p) =>
    new RegExp(p.source, p.flags.includes("g") ? p.flags : p.flags + "g")
  )

  const replacer = (match: string, ...groups: Array<unknown>): string => {
    for (const [i, kind] of groupIndex) {
      if (groups[i - 1] === undefined) continue
      switch (kind) {
        case "pair": {
          const value = groups[i + 1] as string
          const quote = value[0] === '"' || value[0] === "'" ? value[0] : ""
          return `${groups[i] as string}${quote}${Mask.secret}${quote}`
        }
        case "urlCredentials":
          return `${groups[i] as string}${Mask.secret}@`
        case "bearer":
          return `${groups[i] as string} ${Mask.token}`
        case "jwt":
        case "apiKey":
          return Mask.token
        case "email":
          return Mask.email
        case "uuid":
          return Mask.uuid
        case "longSecret":
          return hasDigitAndLetter.test(match) ? Mask.token : match
        case "card": {
          const digits = match.replace(/[ -]/g, "")
          return digits.length >= 13 && digits.length <= 19 && luhn(digits) ? Mask.card : match
        }
        case "ipv4":
          return Mask.ip
        case "ipv6": {
          // `::` alone or a short run like `a::b` in prose is not an address.
          let colons = 0
          for (let c = 0; c < match.length; c++) if (match.charCodeAt(c) === 58) colons++
          return colons >= 2 && match.length >= 3 && /[0-9a-fA-F]/.test(match) ? Mask.ip : match
        }
      }
    }
    return match
  }

  const run = (text: string): string => {
    let out = text
    if (config.tokens && text.indexOf("PRIVATE KEY") >= 0) {
      privateKeyBlock.lastIndex = 0
      out = out.replace(privateKeyBlock, Mask.secret)
    }
    const regex = variant(out.indexOf("@") >= 0, hasLongRun(out))
    if (regex !== undefined) {
      regex.lastIndex = 0
      out = out.replace(regex, replacer as (substring: string, ...args: Array<unknown>) => string)
    }
    for (const pattern of userPatterns) {
      pattern.lastIndex = 0
      out = out.replace(pattern, Mask.secret)
    }
    return out
  }

  // Bounded memo of recent inputs; cleared wholesale when full (cheaper than LRU bookkeeping and just as
  // effective for the repeating label values and messages it is for).
  const cache = new Map<string, string>()
  const redactString = (text: string): string => {
    try {
      if (typeof text !== "string") return redactString(String(text))
      if (text.length < 6) return text
      if (text.length <= cacheMaxLength) {
        const hit = cache.get(text)
        if (hit !== undefined) return hit
        const result = run(text)
        if (cache.size >= cacheCapacity) cache.clear()
        cache.set(text, result)
        return result
      }
      return run(text)
    } catch {
      return Mask.secret
    }
  }

  const extraKeys = new Set(config.keys.map(normalizeKey))
  const builtInKeys = new Set(alwaysMaskedKeys)
  const keyCache = new Map<string, boolean>()
  const isMaskedKey = (key: string): boolean => {
    const hit = keyCache.get(key)
    if (hit !== undefined) return hit
    const normalized = normalizeKey(key)
    let masked = builtInKeys.has(normalized) || extraKeys.has(normalized)
    if (!masked) {
      for (const suffix of maskedKeySuffixes) {
        if (normalized.endsWith(suffix)) {
          masked = true
          break
        }
      }
    }
    if (!masked) { for (const extra of extraKeys) if (normalized.endsWith(extra)) masked = true }
    if (keyCache.size < keyCacheCapacity) keyCache.set(key, masked)
    return masked
  }

  const redactDeepAt = (value: unknown, depth: number): unknown => {
    switch (typeof value) {
      case "string":
        return redactString(value)
      case "number":
        return value >= 1e12 && Number.isSafeInteger(value) && cardLike(String(value)) ? Mask.card : value
      case "bigint":
        return cardLike(value.toString()) ? Mask.card : value
      case "object": {
        if (value === null) return value
        if (Redacted.isRedacted(value)) return Mask.secret
        if (depth >= 8) return "[…]"
        if (Array.isArray(value)) {
          let copy: Array<unknown> | undefined
          for (let i = 0; i < value.length; i++) {
            const next = redactDeepAt(value[i], depth + 1)
            if (next !== value[i]) {
              copy ??= value.slice()
              copy[i] = next
            }
          }
          return copy ?? value
        }
        if (value instanceof Error) {
          return { name: value.name, message: redactString(value.message) }
        }
        if (value instanceof Date) return value
        let copy: Record<string, unknown> | undefined
        for (const key of Object.keys(value)) {
          const original = (value as Record<string, unknown>)[key]
          const next = redactEntry(key, original, depth + 1)
          if (next !== original) {
            copy ??= { ...(value as Record<string, unknown>) }
            copy[key] = next
          }
        }
        return copy ?? value
      }
      default:
        return value
    }
  }

  // What `redactEntry` does for a key (0 redact the value, 1 correlation key, 2 always masked), remembered
  // for up to `keyCacheCapacity` keys: one lookup per entry instead of two.
  const keyKinds = new Map<string, number>()
  const keyKind = (key: string): number => {
    let kind = keyKinds.get(key)
    if (kind === undefined) {
      kind = correlationKeys.has(key) ? 1 : isMaskedKey(key) ? 2 : 0
      if (keyKinds.size < keyCacheCapacity) keyKinds.set(key, kind)
    }
    return kind
  }

  const redactEntry = (key: string, value: unknown, depth: number): unknown => {
    if (value === undefined || value === null) return value
    const kind = keyKind(key)
    if (kind === 1) return typeof value === "object" ? redactDeepAt(value, depth) : value
    if (kind === 2) return Mask.secret
    return redactDeepAt(value, depth)
  }

  // `redactValue`, also summary redaction's per-entry path (whose keys, of `for…in`, are strings already).
  const redactStringKeyed = (key: string, value: unknown): unknown => {
    try {
      return redactEntry(typeof key === "string" ? key : String(key), value, 0)
    } catch {
      return Mask.secret
    }
  }

  return {
    config,
    redactString,
    redactStringKeyed,
    redactValue: redactStringKeyed,
    redactDeep: (value: unknown): unknown => {
      try {
        return redactDeepAt(value, 0)
      } catch {
        return Mask.secret
      }
    },
    isMaskedKey: (key: string): boolean => {
      try {
        return isMaskedKey(key)
      } catch {
        return true
      }
    },
  }
}

/** Whether `text` has a run of 32 characters of the long-secret alphabet (`A-Za-z0-9+/`). */
const hasLongRun = (text: string): boolean => {
  let run = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 43 || c === 47) {
      if (++run >= 32) return true
    } else run = 0
  }
  return false
}

const cardLike = (digits: string): boolean =>
  digits.length >= 13 && digits.length <= 19 && digits.charCodeAt(0) >= 50 && digits.charCodeAt(0) <= 54 &&
  luhn(digits)

/** A redactor that changes nothing (redaction turned off); Effect `Redacted` values are still masked. */
export const passThrough: Engine = {
  config: { ...defaultConfig, emails: false, tokens: false, uuids: false, cards: false },
  redactString: (text) => text,
  redactValue: (_key, value) => Redacted.isRedacted(value) ? Mask.secret : value,
  redactDeep: (value) => Redacted.isRedacted(value) ? Mask.secret : value,
  isMaskedKey: () => false,
}

// ---------------------------------------------------------------------------------------------------------
// Summaries
// ---------------------------------------------------------------------------------------------------------

/**
 * `record` with every value redacted under its key; the same object when nothing changed, an empty one
 * when it cannot be read (fail closed: a getter that throws, a hostile proxy).
 */
const redactRecord = (
  record: Readonly<Record<string, unknown>>,
  redactValue: (key: string, value: unknown) => unknown,
): Readonly<Record<string, unknown>> => {
  try {
    let copy: Record<string, unknown> | undefined
    for (const key in record) {
      const value = record[key]
      const next = redactValue(key, value)
      if (next !== value) {
        copy ??= { ...record }
        copy[key] = next
      }
    }
    return copy ?? record
  } catch {
    return {}
  }
}

const redactError = (error: StageError, redactor: RedactorLike): StageError => {
  const message = redactor.redactString(error.message)
  return message === error.message ? error : { ...error, message }
}

type MutableExecution = { -readonly [K in keyof StageExecution]: StageExecution[K] }

/** Redacts a stage tree in place: the executions belong to the recorder (or are a snapshot's copies). */
const redactStages = (
  stages: ReadonlyArray<StageExecution>,
  redactor: RedactorLike,
  redactValue: (key: string, value: unknown) => unknown,
): void => {
  for (let i = 0; i < stages.length; i++) {
    const stage = stages[i] as MutableExecution
    // Metadata is the user's object (shared by every execution of a call site): replaced, never written.
    stage.metadata = redactRecord(stage.metadata, redactValue)
    if (stage.error !== undefined) stage.error = redactError(stage.error, redactor)
    if (stage.substages.length > 0) redactStages(stage.substages, redactor, redactValue)
  }
}

/**
 * The summary redaction of a redactor: request attributes, stage metadata and error messages, each value
 * under its key as `redactValue` does (always-masked keys whole, personal data inside strings), objects
 * copied only where something changed. A compiled redactor's entries skip `redactValue`'s key conversion.
 */
export const summaryRedaction = (redactor: RedactorLike): SummaryRedaction => {
  const redactValue = (redactor as Partial<Engine>).redactStringKeyed ??
    ((key: string, value: unknown) => redactor.redactValue(key, value))
  return (summary) => {
    summary.attributes = redactRecord(summary.attributes, redactValue)
    if (summary.error !== undefined) summary.error = redactError(summary.error, redactor)
    redactStages(summary.stages, redactor, redactValue)
  }
}

/**
 * Installs `redactor` on `recorder`: every concern reads it from `RedactorSlot`, and every summary is
 * redacted with it when its request ends.
 */
export const installRedactor = (recorder: Recorder, redactor: RedactorLike): void => {
  recorder.set(RedactorSlot, redactor)
  recorder.redactSummary = summaryRedaction(redactor)
}
