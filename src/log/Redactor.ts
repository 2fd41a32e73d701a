/**
 * Keeps personal data and secrets inside the process. One `Redactor` masks, in every log record, span
 * attribute and event, summary, JSONL line and metric label value that stagetrace emits:
 *
 * | detector | example | becomes |
 * | --- | --- | --- |
 * | e-mail addresses | `alice@example.com` | `[EMAIL]` |
 * | bearer / basic credentials | `Bearer eyJhbGci…` | `Bearer [TOKEN]` |
 * | JWTs, API keys (`sk-…`, `ghp_…`, `AKIA…`, `xox…-`), long random secrets (32+ alphanumerics) | `sk-proj-4f…` | `[TOKEN]` |
 * | `key=value` secrets in text | `password=hunter2`, `?api_key=…` | `password=[REDACTED]` |
 * | UUIDs | `123e4567-e89b-…` | `[UUID]` |
 * | card-like numbers passing the Luhn check | `4111 1111 1111 1111` | `[CARD]` |
 * | IPv4 / IPv6 addresses (off by default) | `192.168.1.20` | `[IP]` |
 * | your own patterns | `/ACME-\d{6}/` | `[REDACTED]` |
 * | always-masked keys (`password`, `authorization`, `api_key`, `cookie`, …) | `{ password: "x" }` | `[REDACTED]` |
 * | Effect `Redacted` values, whatever the settings | `Redacted.make("x")` | `[REDACTED]` |
 *
 * Redaction is on by default (`Telemetry.layer` installs it even without options), never throws (a
 * failure masks the whole value) and caches recent results, so repeated label values and messages cost a
 * map lookup. The toolkit's own correlation identifiers (`trace_id`, `span_id`, `request_id`, `stage_id`
 * and their `request.id` / `requestId` spellings) are never masked, so logs still join with traces.
 *
 * Guide: [Logs, redaction and the report](../../docs/logs-redaction-report.md#redaction).
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Bool, option, optionError, type TelemetryConfigError } from "../internal/config.ts"
import { CurrentRecorder, globalRecorder } from "../internal/recorder.ts"
import { type RedactorLike, RedactorSlot } from "../internal/slots.ts"
import {
  alwaysMaskedKeys as builtInKeys,
  compile,
  defaultConfig,
  type Engine,
  installRedactor,
  passThrough,
} from "./internal/redact.ts"

// ---------------------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------------------

/**
 * Options of the redactor (`Telemetry.layer({ redaction })` or `Redactor.make`). `false` as the
 * telemetry option turns redaction off (Effect `Redacted` values stay masked).
 *
 * @category models
 * @since 0.1.0
 */
export interface RedactionOptions {
  /**
   * Turns redaction off when `false`.
   * @default true
   */
  readonly enabled?: boolean | undefined
  /**
   * Masks e-mail addresses.
   * @default true
   */
  readonly emails?: boolean | undefined
  /**
   * Masks bearer/basic credentials, JWTs, well-known API key formats, `password=…`-style pairs and long
   * random-looking secrets.
   * @default true
   */
  readonly tokens?: boolean | undefined
  /**
   * Masks UUIDs.
   * @default true
   */
  readonly uuids?: boolean | undefined
  /**
   * Masks 13–19 digit card-like numbers that pass the Luhn check.
   * @default true
   */
  readonly cards?: boolean | undefined
  /**
   * Masks IPv4 and IPv6 addresses.
   * @default false
   */
  readonly ipAddresses?: boolean | undefined
  /** Extra patterns to mask (a string is compiled as a regular expression). */
  readonly patterns?: ReadonlyArray<RegExp | string> | undefined
  /**
   * Extra keys whose values are always masked, compared case-insensitively and ignoring `-`, `_` and
   * `.` (a key ending with one also matches: `keys: ["ssn"]` masks `customer.ssn`).
   */
  readonly keys?: ReadonlyArray<string> | undefined
}

/**
 * Masks personal data and secrets. Every method is total: it never throws, and a value it cannot
 * process is masked whole.
 *
 * @category models
 * @since 0.1.0
 */
export interface Redactor {
  /** Masks every detected secret in `text`; ordinary text is returned unchanged (the same string). */
  readonly redactString: (text: string) => string
  /**
   * Masks `value` whole when `key` is always-masked, else masks the strings inside it (objects and
   * arrays are copied only when something changed).
   */
  readonly redactValue: (key: string, value: unknown) => unknown
  /** Masks the strings inside `value`, and the values of always-masked keys in nested objects. */
  readonly redactDeep: (value: unknown) => unknown
  /** Whether values under `key` are always masked. */
  readonly isMaskedKey: (key: string) => boolean
}

/**
 * The keys (normalized: lower case, no `-`, `_`, `.`) whose values are always masked. Keys ending with
 * `password`, `secret`, `token`, `apikey`, `privatekey`, `authorization`, `cookie` or `credentials` are
 * masked too.
 *
 * @example Keys masked whatever their value
 * ```ts
 * import assert from "node:assert/strict"
 * import { Redactor } from "@stagetrace/stagetrace"
 *
 * assert.ok(Redactor.alwaysMaskedKeys.includes("password"))
 * assert.equal(Redactor.defaultRedactor.isMaskedKey("X-Api-Key"), true)
 * assert.equal(Redactor.defaultRedactor.isMaskedKey("db.password"), true)
 * ```
 *
 * @category constants
 * @since 0.1.0
 */
export const alwaysMaskedKeys: ReadonlyArray<string> = builtInKeys

// ---------------------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------------------

/**
 * The redactor with the default settings (everything but IP addresses).
 *
 * @example Masking a log line
 * ```ts
 * import assert from "node:assert/strict"
 * import { Redactor } from "@stagetrace/stagetrace"
 *
 * assert.equal(
 *   Redactor.defaultRedactor.redactString("login alice@example.com with Bearer abc.def-123456"),
 *   "login [EMAIL] with Bearer [TOKEN]",
 * )
 * assert.equal(Redactor.defaultRedactor.redactValue("password", "hunter2"), "[REDACTED]")
 * assert.equal(Redactor.defaultRedactor.redactString("kb_access took 12 ms"), "kb_access took 12 ms")
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultRedactor: Redactor = compile(defaultConfig)

// Where no telemetry layer provides a recorder, summaries are redacted with the default redactor, as logs are.
if (globalRecorder.redactSummary === undefined) installRedactor(globalRecorder, defaultRedactor)

/**
 * A redactor that masks only Effect `Redacted` values (what `enabled: false` installs).
 *
 * @example Only Effect Redacted values stay masked
 * ```ts
 * import assert from "node:assert/strict"
 * import { Redacted } from "effect"
 * import { Redactor } from "@stagetrace/stagetrace"
 *
 * assert.equal(Redactor.disabled.redactString("alice@example.com"), "alice@example.com")
 * assert.equal(Redactor.disabled.redactValue("token", Redacted.make("s3cret")), "[REDACTED]")
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const disabled: Redactor = passThrough

const KeyList = Schema.Array(Schema.String.check(Schema.isMinLength(1))) as unknown as Schema.Codec<
  ReadonlyArray<string>,
  unknown
>

/**
 * Builds a redactor from options, failing with `TelemetryConfigError` on an invalid option (a pattern
 * string that is not a regular expression, a key that is not a non-empty string).
 *
 * @example Masking an internal customer number
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Redactor } from "@stagetrace/stagetrace"
 *
 * const redactor = await Effect.runPromise(Redactor.make({ patterns: [/ACME-\d{6}/], ipAddresses: true }))
 * assert.equal(redactor.redactString("customer ACME-123456 from 10.0.0.7"), "customer [REDACTED] from [IP]")
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: RedactionOptions = {}): Effect.Effect<Redactor, TelemetryConfigError> =>
  makeEngine(options, "redaction")

/** Validates options into an engine; `prefix` names the option in errors. @internal */
export const makeEngine = (
  options: RedactionOptions | boolean | undefined,
  prefix: string,
): Effect.Effect<Engine, TelemetryConfigError> =>
  Effect.gen(function* () {
    if (options === false) return passThrough
    if (options === true || options === undefined) return compile(defaultConfig)
    if (typeof options !== "object" || options === null) {
      return yield* Effect.fail(optionError(prefix, options, "Expected a boolean or redaction options"))
    }
    const name = (field: string) => `${prefix}.${field}`
    const enabled = yield* option(name("enabled"), Bool, options.enabled, true)
    if (!enabled) return passThrough
    const emails = yield* option(name("emails"), Bool, options.emails, defaultConfig.emails)
    const tokens = yield* option(name("tokens"), Bool, options.tokens, defaultConfig.tokens)
    const uuids = yield* option(name("uuids"), Bool, options.uuids, defaultConfig.uuids)
    const cards = yield* option(name("cards"), Bool, options.cards, defaultConfig.cards)
    const ipAddresses = yield* option(name("ipAddresses"), Bool, options.ipAddresses, false)
    const keys = yield* option(name("keys"), KeyList, options.keys, [])
    const patterns: Array<RegExp> = []
    const given = options.patterns ?? []
    if (!Array.isArray(given)) {
      return yield* Effect.fail(
        optionError(name("patterns"), given, "Expected an array of RegExp or strings"),
      )
    }
    for (let i = 0; i < given.length; i++) {
      const pattern = given[i]
      if (pattern instanceof RegExp) {
        patterns.push(pattern)
        continue
      }
      if (typeof pattern !== "string" || pattern === "") {
        return yield* Effect.fail(
          optionError(`${name("patterns")}[${i}]`, pattern, "Expected a RegExp or a non-empty string"),
        )
      }
      try {
        patterns.push(new RegExp(pattern, "g"))
      } catch (error) {
        return yield* Effect.fail(
          optionError(`${name("patterns")}[${i}]`, pattern, `Invalid regular expression: ${String(error)}`),
        )
      }
    }
    return compile({ emails, tokens, uuids, cards, ipAddresses, patterns, keys })
  })

// ---------------------------------------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------------------------------------

/**
 * The redactor of the current telemetry layer; the default redactor when no layer is installed.
 *
 * @example Reading the installed redactor
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Redactor, Telemetry } from "@stagetrace/stagetrace"
 *
 * const masked = await Effect.runPromise(
 *   Effect.map(Redactor.current, (r) => r.redactString("card 4111 1111 1111 1111")).pipe(
 *     Effect.provide(Telemetry.layer()),
 *   ),
 * )
 * assert.equal(masked, "card [CARD]")
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const current: Effect.Effect<Redactor> = Effect.withFiber((fiber) =>
  Effect.succeed(currentUnsafe(fiber.getRef(CurrentRecorder).get(RedactorSlot)))
)

/** The installed redactor as a full `Redactor`, falling back to the default one. @internal */
export const currentUnsafe = (installed: RedactorLike | undefined): Redactor => {
  if (installed === undefined) return defaultRedactor
  const candidate = installed as Partial<Redactor>
  if (typeof candidate.redactDeep === "function" && typeof candidate.isMaskedKey === "function") {
    return candidate as Redactor
  }
  return {
    redactString: installed.redactString,
    redactValue: installed.redactValue,
    redactDeep: (value) => installed.redactValue("", value),
    isMaskedKey: (key) => installed.redactValue(key, "x") !== "x",
  }
}
