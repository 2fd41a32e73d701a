/**
 * Error classification: from an Effect `Cause` to a category, a type, a message and whether a retry may
 * help. Pure and synchronous; it never throws, whatever the error value is (getters that throw, proxies,
 * cycles in `cause` chains).
 *
 * Order, first match wins:
 *
 * 1. interruption only → `interrupted`;
 * 2. the first `Fail` or `Die` in the cause (the same one summaries report): the user's rules (by `_tag`,
 *    then by class, then custom matchers);
 * 3. HTTP status codes (`status`, `statusCode`, `response.status`) — typed failures only;
 * 4. known names, tags and codes: Deno (`TimedOut`, `ConnectionRefused`, `PermissionDenied`, `NotFound`…),
 *    Node (`ECONNRESET`, `ENOSPC`…), the web (`AbortError`, `QuotaExceededError`) and Effect's own
 *    errors (`TimeoutError`, `TransportError`, `SchemaError`…);
 * 5. steps 2–4 again on a wrapped error (`reason` of Effect's HTTP and platform errors, `cause` of
 *    `UnknownError` and of `Error`), at most three levels down;
 * 6. the seeds' message patterns — typed failures only (a defect's message says nothing reliable about
 *    its category);
 * 7. `unknown` for a typed failure, `defect` for a defect.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import { type ErrorCategory, isErrorCategory, isRetryable } from "../ErrorCategory.ts"

/** What a rule resolves to. */
export interface Resolved {
  readonly category: ErrorCategory
  readonly retryable: boolean
}

/** The outcome of classifying a failure. */
export interface Classification {
  /** The category the error falls in. */
  readonly category: ErrorCategory
  /** The error's `_tag`, else its class name (`Interrupted` for an interruption). */
  readonly errorType: string
  /** The error's message. */
  readonly message: string
  /** Whether retrying may succeed: a rule's `retryable`, else `ErrorCategory.isRetryable(category)`. */
  readonly retryable: boolean
}

/** A rule's target as users write it. */
export type Target = ErrorCategory | {
  readonly category: ErrorCategory
  readonly retryable?: boolean | undefined
}

/** A class users map to a category (any constructor, abstract ones included). */
// deno-lint-ignore no-explicit-any
export type AnyClass = abstract new (...args: any) => unknown

/** The user's rules, ready to apply. */
export interface Compiled {
  readonly tags: ReadonlyMap<string, Resolved>
  readonly classes: ReadonlyArray<readonly [AnyClass, Resolved]>
  readonly match: ReadonlyArray<(error: unknown) => Target | undefined>
  /** Paths of targets that are not categories (`tags.RateLimited`), reported at layer build. */
  readonly invalid: ReadonlyArray<readonly [path: string, value: unknown]>
}

/** No user rules. */
export const emptyRules: Compiled = { tags: new Map(), classes: [], match: [], invalid: [] }

/** Resolves a target; `undefined` when it names no category. */
export const resolveTarget = (target: unknown): Resolved | undefined => {
  if (isErrorCategory(target)) return resolvedOf(target)
  if (typeof target === "object" && target !== null) {
    const category = (target as { category?: unknown }).category
    const retryable = (target as { retryable?: unknown }).retryable
    if (isErrorCategory(category)) {
      return typeof retryable === "boolean" ? { category, retryable } : resolvedOf(category)
    }
  }
  return undefined
}

const resolvedCache = new Map<ErrorCategory, Resolved>()
const resolvedOf = (category: ErrorCategory): Resolved => {
  let resolved = resolvedCache.get(category)
  if (resolved === undefined) {
    resolved = { category, retryable: isRetryable(category) }
    resolvedCache.set(category, resolved)
  }
  return resolved
}

/** The rule fields as users write them, before `compile`. */
export interface RuleInput {
  readonly tags?: Readonly<Record<string, unknown>> | undefined
  readonly classes?: ReadonlyArray<readonly [AnyClass, unknown]> | undefined
  readonly match?: ReadonlyArray<(error: unknown) => Target | undefined> | undefined
}

/** Compiles rule inputs (later inputs win for the same tag; classes and matchers keep their order). */
export const compile = (inputs: ReadonlyArray<RuleInput>): Compiled => {
  const tags = new Map<string, Resolved>()
  const classes: Array<readonly [AnyClass, Resolved]> = []
  const match: Array<(error: unknown) => Target | undefined> = []
  const invalid: Array<readonly [string, unknown]> = []
  for (const input of inputs) {
    for (const [tag, target] of Object.entries(input.tags ?? {})) {
      const resolved = resolveTarget(target)
      if (resolved === undefined) invalid.push([`tags.${tag}`, target])
      else tags.set(tag, resolved)
    }
    const classList: ReadonlyArray<unknown> = input.classes ?? []
    if (!Array.isArray(classList)) invalid.push(["classes", classList])
    else {
      classList.forEach((entry, i) => {
        const [ctor, target] = Array.isArray(entry) ? entry : [undefined, entry]
        const resolved = resolveTarget(target)
        if (resolved === undefined || typeof ctor !== "function") invalid.push([`classes[${i}]`, target])
        else classes.push([ctor, resolved])
      })
    }
    const matchers: ReadonlyArray<unknown> = input.match ?? []
    if (!Array.isArray(matchers)) invalid.push(["match", matchers])
    else {
      for (const matcher of matchers) {
        if (typeof matcher === "function") match.push(matcher as (error: unknown) => Target | undefined)
        else invalid.push([`match`, matcher])
      }
    }
  }
  return { tags, classes, match, invalid }
}

const compiledPlain = new WeakMap<object, Compiled>()

/**
 * The compiled form of what a caller gave as rules: compiled rules (`Errors.rules`) as they are, the plain
 * `{ tags, classes, match }` form (untyped and JavaScript callers) compiled once per object, `undefined`
 * for anything else.
 */
export const toCompiled = (value: unknown): Compiled | undefined => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
  if ((value as { _tag?: unknown })._tag === "ErrorRules") {
    const rules = value as Partial<Compiled>
    if (rules.tags instanceof Map && Array.isArray(rules.classes) && Array.isArray(rules.match)) {
      return value as Compiled
    }
    return undefined
  }
  const { tags, classes, match } = value as Record<string, unknown>
  if (tags !== undefined && (typeof tags !== "object" || tags === null || Array.isArray(tags))) {
    return undefined
  }
  if (classes !== undefined && !Array.isArray(classes)) return undefined
  if (match !== undefined && !Array.isArray(match)) return undefined
  let compiled = compiledPlain.get(value)
  if (compiled === undefined) {
    compiled = compile([value as RuleInput])
    compiledPlain.set(value, compiled)
  }
  return compiled
}

/** Merges compiled rules: later ones win for the same tag; classes and matchers keep their order. */
export const merge = (list: ReadonlyArray<Compiled>): Compiled => {
  if (list.length === 0) return emptyRules
  if (list.length === 1) return list[0]!
  const tags = new Map<string, Resolved>()
  const classes: Array<readonly [AnyClass, Resolved]> = []
  const match: Array<(error: unknown) => Target | undefined> = []
  const invalid: Array<readonly [string, unknown]> = []
  for (const rules of list) {
    for (const [tag, resolved] of rules.tags) tags.set(tag, resolved)
    classes.push(...rules.classes)
    match.push(...rules.match)
    invalid.push(...rules.invalid)
  }
  return { tags, classes, match, invalid }
}

// ---------------------------------------------------------------------------------------------------------
// Built-in knowledge
// ---------------------------------------------------------------------------------------------------------

const statusCategories: ReadonlyMap<number, ErrorCategory> = new Map<number, ErrorCategory>([
  [408, "transient"],
  [429, "transient"],
  [502, "transient"],
  [503, "transient"],
  [504, "transient"],
  [401, "configuration"],
  [403, "configuration"],
  [400, "data"],
  [404, "data"],
  [409, "data"],
  [422, "data"],
  [413, "resource"],
  [507, "resource"],
])

const entries = (category: ErrorCategory, names: ReadonlyArray<string>): Array<[string, ErrorCategory]> =>
  names.map((name) => [name, category])

/** Error names (`error.name`) and tags (`_tag`) of Deno, the web platform and Effect. */
const nameCategories: ReadonlyMap<string, ErrorCategory> = new Map<string, ErrorCategory>([
  ...entries("transient", [
    // Deno.errors
    "TimedOut",
    "ConnectionRefused",
    "ConnectionReset",
    "ConnectionAborted",
    "NotConnected",
    "BrokenPipe",
    "WouldBlock",
    "Busy",
    "Interrupted",
    // web / Effect
    "TimeoutError",
    "NetworkError",
    "TransportError",
  ]),
  ...entries("configuration", [
    "PermissionDenied",
    "NotCapable",
    "AddrInUse",
    "AddrNotAvailable",
    "NotSupported",
    "NotAllowedError",
    "SecurityError",
    "InvalidUrlError",
    "ConfigError",
    "TelemetryConfigError",
  ]),
  ...entries("data", [
    "NotFound",
    "AlreadyExists",
    "InvalidData",
    "UnexpectedEof",
    "IsADirectory",
    "NotADirectory",
    "DataError",
    "EncodingError",
    "SyntaxError",
    "SchemaError",
    "ParseError",
    "DecodeError",
    "EncodeError",
    "EmptyBodyError",
    "NoSuchElementError",
    "IllegalArgumentError",
  ]),
  ...entries("resource", ["QuotaExceededError", "ExceededCapacityError", "WriteZero", "FilesystemLoop"]),
  ...entries("interrupted", ["AbortError", "InterruptError"]),
])

/** Node and undici error codes (`error.code`). */
const codeCategories: ReadonlyMap<string, ErrorCategory> = new Map<string, ErrorCategory>([
  ...entries("transient", [
    "ETIMEDOUT",
    "ECONNRESET",
    "ECONNREFUSED",
    "ECONNABORTED",
    "EPIPE",
    "EHOSTUNREACH",
    "EHOSTDOWN",
    "ENETUNREACH",
    "ENETDOWN",
    "ENETRESET",
    "EAI_AGAIN",
    "EAGAIN",
    "EBUSY",
    "EINTR",
    "UND_ERR_CONNECT_TIMEOUT",
    "UND_ERR_HEADERS_TIMEOUT",
    "UND_ERR_BODY_TIMEOUT",
    "UND_ERR_SOCKET",
  ]),
  ...entries("configuration", [
    "EACCES",
    "EPERM",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "ENOTFOUND",
    "CERT_HAS_EXPIRED",
    "DEPTH_ZERO_SELF_SIGNED_CERT",
    "SELF_SIGNED_CERT_IN_CHAIN",
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    "ERR_TLS_CERT_ALTNAME_INVALID",
  ]),
  ...entries("data", [
    "ENOENT",
    "EEXIST",
    "EISDIR",
    "ENOTDIR",
    "ENOTEMPTY",
    "ERR_INVALID_ARG_TYPE",
    "ERR_INVALID_ARG_VALUE",
    "ERR_INVALID_URL",
  ]),
  ...entries("resource", ["ENOSPC", "ENOMEM", "EMFILE", "ENFILE", "EDQUOT", "ERR_OUT_OF_MEMORY"]),
])

/** The seeds' message patterns, in the seeds' order (transient first). */
const messagePatterns: ReadonlyArray<readonly [RegExp, ErrorCategory]> = [
  [
    /timed? ?out|timeout|connection|rate[ _-]?limit|throttl|too many requests|unavailable|try again later/,
    "transient",
  ],
  [
    /authenticat|unauthori[sz]ed|permission|forbidden|credential|api[ _-]?key|\bkeys?\b|config/,
    "configuration",
  ],
  [/validat|\bformat|schema|\bpars(?:e|er|ing)\b|malformed/, "data"],
  [/\bmemory\b|\bdisk\b|\bcpu\b|quota|no space left/, "resource"],
]

// ---------------------------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------------------------

const interrupted: Classification = {
  category: "interrupted",
  errorType: "Interrupted",
  message: "interrupted",
  retryable: false,
}

const empty: Classification = { category: "unknown", errorType: "Unknown", message: "", retryable: false }

/** Reads a property without letting a throwing getter escape. */
const get = (value: unknown, key: string): unknown => {
  if (typeof value !== "object" || value === null) return undefined
  try {
    return (value as Record<string, unknown>)[key]
  } catch {
    return undefined
  }
}

/** Classifies a cause: its first `Fail` or `Die`, else interruption, else `unknown`. */
export const classifyCause = (cause: Cause.Cause<unknown>, rules: Compiled): Classification => {
  let sawInterrupt = false
  for (const reason of cause.reasons) {
    if (reason._tag === "Fail") return classifyValue(reason.error, false, rules)
    if (reason._tag === "Die") return classifyValue(reason.defect, true, rules)
    sawInterrupt = true
  }
  return sawInterrupt ? interrupted : empty
}

/** Classifies one error value: a typed failure, or a defect when `defect` is set. */
export const classifyValue = (error: unknown, defect: boolean, rules: Compiled): Classification => {
  const errorType = typeOf(error)
  const message = messageOf(error)
  const resolved = byRules(error, defect, rules, 0) ??
    (defect ? undefined : byMessage(message)) ??
    (defect ? resolvedOf("defect") : resolvedOf("unknown"))
  return { category: resolved.category, errorType, message, retryable: resolved.retryable }
}

const byRules = (error: unknown, defect: boolean, rules: Compiled, depth: number): Resolved | undefined => {
  if (typeof error !== "object" || error === null) {
    return rules.match.length > 0 ? byMatchers(error, rules) : undefined
  }
  const tag = get(error, "_tag")
  if (typeof tag === "string" && rules.tags.size > 0) {
    const resolved = rules.tags.get(tag)
    if (resolved !== undefined) return resolved
  }
  for (const [ctor, resolved] of rules.classes) {
    try {
      if (error instanceof ctor) return resolved
    } catch {
      // A class with a throwing Symbol.hasInstance matches nothing.
    }
  }
  if (rules.match.length > 0) {
    const resolved = byMatchers(error, rules)
    if (resolved !== undefined) return resolved
  }
  if (!defect) {
    const status = statusOf(error)
    if (status !== undefined) {
      const category = statusCategories.get(status)
      if (category !== undefined) return resolvedOf(category)
    }
  }
  const known = byKnownName(error, tag)
  if (known !== undefined) return known
  if (depth < 3) {
    for (const key of ["reason", "cause"]) {
      const inner = get(error, key)
      if (typeof inner === "object" && inner !== null && inner !== error) {
        const resolved = byRules(inner, defect, rules, depth + 1)
        if (resolved !== undefined) return resolved
      }
    }
  }
  return undefined
}

const byMatchers = (error: unknown, rules: Compiled): Resolved | undefined => {
  for (const matcher of rules.match) {
    let target: Target | undefined
    try {
      target = matcher(error)
    } catch {
      continue
    }
    if (target !== undefined) {
      const resolved = resolveTarget(target)
      if (resolved !== undefined) return resolved
    }
  }
  return undefined
}

const byKnownName = (error: object, tag: unknown): Resolved | undefined => {
  if (typeof tag === "string") {
    const category = nameCategories.get(tag)
    if (category !== undefined) return resolvedOf(category)
  }
  const name = get(error, "name")
  if (typeof name === "string" && name !== tag) {
    const category = nameCategories.get(name)
    if (category !== undefined) return resolvedOf(category)
  }
  const code = get(error, "code")
  if (typeof code === "string") {
    const category = codeCategories.get(code)
    if (category !== undefined) return resolvedOf(category)
  }
  return undefined
}

const statusOf = (error: object): number | undefined => {
  for (
    const value of [get(error, "status"), get(error, "statusCode"), get(get(error, "response"), "status")]
  ) {
    if (typeof value === "number" && Number.isInteger(value) && value >= 100 && value <= 599) return value
  }
  return undefined
}

const byMessage = (message: string): Resolved | undefined => {
  if (message === "") return undefined
  const text = message.toLowerCase()
  for (const [pattern, category] of messagePatterns) if (pattern.test(text)) return resolvedOf(category)
  return undefined
}

/** The error's `_tag`, else its class name (as the spine's summaries report it). */
export const typeOf = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return typeof error
  try {
    const tag = get(error, "_tag")
    if (typeof tag === "string") return tag
    if (error instanceof Error) {
      const name = get(error, "name")
      if (name === "Error" && error.constructor !== Error) return error.constructor.name
      return typeof name === "string" ? name : "Error"
    }
    return (error as { constructor?: { name?: string } }).constructor?.name ?? "Object"
  } catch {
    return "Object"
  }
}

const messageOf = (error: unknown): string => {
  if (typeof error === "string") return error
  const message = get(error, "message")
  if (typeof message === "string") return message
  try {
    return JSON.stringify(error) ?? String(error)
  } catch {
    try {
      return Object.prototype.toString.call(error)
    } catch {
      return "[unprintable]"
    }
  }
}
