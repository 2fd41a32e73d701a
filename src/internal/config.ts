/**
 * Validation of options and environment variables, shared by every concern: each value is checked with
 * Schema and a bad one becomes a `TelemetryConfigError` naming the option or variable and the value.
 * Environment variables are read one by one by name, so `--allow-env` may be narrowed to them.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { TaggedErrorClass } from "./taggedError.ts"

/** The fields of `TelemetryConfigError`. */
interface TelemetryConfigErrorFields {
  /** Where the value came from. */
  readonly source: "option" | "env"
  /** The option path (`bottleneckShare`, `exporters[0].endpoint`) or the variable name. */
  readonly name: string
  /** The value that was given. */
  readonly value: unknown
  /** Which rule the value broke. */
  readonly reason: string
}

// An explicitly typed base keeps the public class free of slow types (JSR).
const TelemetryConfigErrorBase: TaggedErrorClass<"TelemetryConfigError", TelemetryConfigErrorFields> = Data
  .TaggedError("TelemetryConfigError")<TelemetryConfigErrorFields>

/**
 * A telemetry option or environment variable has a value stagetrace cannot use. The layer that was given
 * it fails with this error instead of starting with a guess.
 *
 * @example Catching a bad option
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Layer } from "effect"
 * import { Telemetry } from "@stagetrace/stagetrace"
 *
 * const error = await Effect.runPromise(
 *   Layer.build(Telemetry.layer({ bottleneckShare: 2 })).pipe(Effect.scoped, Effect.flip),
 * )
 * assert.equal(error._tag, "TelemetryConfigError")
 * assert.equal(error.name, "bottleneckShare")
 * assert.equal(error.value, 2)
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class TelemetryConfigError extends TelemetryConfigErrorBase {
  /** `Invalid option <name>: <reason>: got <value>` (`Invalid environment variable …` for a variable). */
  override get message(): string {
    const what = this.source === "env" ? "environment variable" : "option"
    return `Invalid ${what} ${this.name}: ${this.reason}: got ${formatValue(this.value)}`
  }
}

const formatValue = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "number" || typeof value === "boolean" || value == null) return String(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

/** Builds an option error. */
export const optionError = (name: string, value: unknown, reason: string): TelemetryConfigError =>
  new TelemetryConfigError({ source: "option", name, value, reason })

/** Builds an environment error. */
export const envError = (name: string, value: unknown, reason: string): TelemetryConfigError =>
  new TelemetryConfigError({ source: "env", name, value, reason })

// ---------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------

/**
 * A bearer token option (a string or a `Redacted` one), as `Redacted`; `undefined` when absent. `valid`
 * is what the token may look like, `expected` says so in the error (which never shows the token).
 */
export const bearerTokenOption = (
  name: string,
  token: string | Redacted.Redacted<string> | undefined,
  valid: (raw: string) => boolean,
  expected: string,
): Effect.Effect<Redacted.Redacted<string> | undefined, TelemetryConfigError> => {
  if (token === undefined) return Effect.succeed(undefined)
  const raw: unknown = Redacted.isRedacted(token) ? Redacted.value(token) : token
  return typeof raw === "string" && valid(raw)
    ? Effect.succeed(Redacted.make(raw))
    : Effect.fail(optionError(name, "<redacted>", expected))
}

/** Schema-checked option value: the given value, the default when absent, or a `TelemetryConfigError`. */
export const option = <T>(
  name: string,
  schema: Schema.Codec<T, unknown>,
  value: unknown,
  fallback: T,
): Effect.Effect<T, TelemetryConfigError> => {
  if (value === undefined) return Effect.succeed(fallback)
  const exit = Schema.decodeUnknownExit(schema)(value)
  return Exit.isSuccess(exit)
    ? Effect.succeed(exit.value)
    : Effect.fail(optionError(name, value, issueText(exit)))
}

/** Like `option`, but keeps `undefined` when the value is absent. */
export const optionalOption = <T>(
  name: string,
  schema: Schema.Codec<T, unknown>,
  value: unknown,
): Effect.Effect<T | undefined, TelemetryConfigError> => option<T | undefined>(name, schema, value, undefined)

/** An integer option in [`min`, `max`], or `fallback` when absent. */
export const integerOption = (
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): Effect.Effect<number, TelemetryConfigError> =>
  value === undefined
    ? Effect.succeed(fallback)
    : typeof value === "number" && Number.isInteger(value) && value >= min && value <= max
    ? Effect.succeed(value)
    : Effect.fail(optionError(name, value, `Expected an integer in [${min}, ${max}]`))

/** A `Duration.Input` option, in milliseconds; `undefined` when absent. */
export const durationOption = (
  name: string,
  value: Duration.Input | undefined,
): Effect.Effect<number | undefined, TelemetryConfigError> => {
  if (value === undefined) return Effect.succeed(undefined)
  const decoded = Duration.fromInput(value)
  if (Option.isNone(decoded)) {
    return Effect.fail(optionError(name, value, 'Expected a duration such as "10 millis"'))
  }
  const ms = Duration.toMillis(decoded.value)
  if (!(ms >= 0) || ms === Infinity) {
    return Effect.fail(optionError(name, value, "Expected a finite, non-negative duration"))
  }
  return Effect.succeed(ms)
}

/** A `Duration.Input` option that must be positive, in milliseconds; `undefined` when absent. */
export const positiveDurationOption = (
  name: string,
  value: Duration.Input | undefined,
): Effect.Effect<number | undefined, TelemetryConfigError> =>
  Effect.flatMap(
    durationOption(name, value),
    (ms) =>
      ms === undefined || ms > 0
        ? Effect.succeed(ms)
        : Effect.fail(optionError(name, value, "Expected a positive duration")),
  )

const issueText = (exit: Exit.Exit<unknown, Schema.SchemaError>): string => {
  if (Exit.isSuccess(exit)) return ""
  const error = exit.cause.reasons.find((r) => r._tag === "Fail")
  const text = error?._tag === "Fail" ? String(error.error.message ?? error.error) : "Invalid value"
  // Schema messages end with the offending path for nested values; the name says it already.
  return text.split("\n")[0]!.trim()
}

// ---------------------------------------------------------------------------------------------------------
// Common schemas
// ---------------------------------------------------------------------------------------------------------

/** A finite number in [0, 1]. */
export const UnitInterval: Schema.Codec<number, unknown> = Schema.Finite.check(
  Schema.isBetween({ minimum: 0, maximum: 1 }),
) as unknown as Schema.Codec<number, unknown>

/** A finite number in (0, 1]. */
export const PositiveFraction: Schema.Codec<number, unknown> = Schema.Finite.check(
  Schema.isGreaterThan(0),
  Schema.isLessThanOrEqualTo(1),
) as unknown as Schema.Codec<number, unknown>

/** An integer ≥ 0. */
export const NonNegativeInt: Schema.Codec<number, unknown> = Schema.Int.check(
  Schema.isGreaterThanOrEqualTo(0),
) as unknown as Schema.Codec<number, unknown>

/** An integer ≥ 1. */
export const PositiveInt: Schema.Codec<number, unknown> = Schema.Int.check(
  Schema.isGreaterThanOrEqualTo(1),
) as unknown as Schema.Codec<number, unknown>

/** A boolean. */
export const Bool: Schema.Codec<boolean, unknown> = Schema.Boolean as unknown as Schema.Codec<
  boolean,
  unknown
>

/** A non-empty string. */
export const NonEmpty: Schema.Codec<string, unknown> = Schema.String.check(
  Schema.isMinLength(1),
) as unknown as Schema.Codec<string, unknown>

/** A record of strings (resource attributes, headers). */
export const StringRecord: Schema.Codec<Readonly<Record<string, string>>, unknown> = Schema.Record(
  Schema.String,
  Schema.String,
) as unknown as Schema.Codec<Readonly<Record<string, string>>, unknown>

// ---------------------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------------------

/** A snapshot of the environment variables a layer needs. */
export type Env = Readonly<Record<string, string | undefined>>

/**
 * Reads the named variables one by one. A variable that cannot be read (narrowed `--allow-env`) counts as
 * unset. Empty values count as unset, as the OpenTelemetry specification requires.
 */
export const readEnv = (names: Iterable<string>): Env => {
  const env: Record<string, string | undefined> = {}
  const denoEnv = (globalThis as { Deno?: { env?: { get(name: string): string | undefined } } }).Deno?.env
  const processEnv = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
  for (const name of names) {
    let value: string | undefined
    try {
      value = denoEnv !== undefined ? denoEnv.get(name) : processEnv?.[name]
    } catch {
      value = undefined
    }
    if (value !== undefined && value.trim() !== "") env[name] = value
  }
  return env
}

/** The first of `names` that is set, with its value. */
export const firstSet = (
  env: Env,
  names: ReadonlyArray<string>,
): [name: string, value: string] | undefined => {
  for (const name of names) {
    const value = env[name]
    if (value !== undefined) return [name, value]
  }
  return undefined
}

/** A number variable checked against `schema`; `undefined` when unset. */
export const envNumber = (
  env: Env,
  names: ReadonlyArray<string>,
  schema: Schema.Codec<number, unknown>,
): Effect.Effect<number | undefined, TelemetryConfigError> => {
  const found = firstSet(env, names)
  if (found === undefined) return Effect.succeed(undefined)
  const [name, raw] = found
  const number = Number(raw.trim())
  if (raw.trim() === "" || Number.isNaN(number)) return Effect.fail(envError(name, raw, "Expected a number"))
  const exit = Schema.decodeUnknownExit(schema)(number)
  return Exit.isSuccess(exit) ? Effect.succeed(exit.value) : Effect.fail(envError(name, raw, issueText(exit)))
}

/** A boolean variable (`true`/`false`, case-insensitive; also `1`/`0`); `undefined` when unset. */
export const envBoolean = (
  env: Env,
  names: ReadonlyArray<string>,
): Effect.Effect<boolean | undefined, TelemetryConfigError> => {
  const found = firstSet(env, names)
  if (found === undefined) return Effect.succeed(undefined)
  const [name, raw] = found
  const value = raw.trim().toLowerCase()
  if (value === "true" || value === "1") return Effect.succeed(true)
  if (value === "false" || value === "0") return Effect.succeed(false)
  return Effect.fail(envError(name, raw, "Expected true or false"))
}

/** One of `values` (case-insensitive); `undefined` when unset. */
export const envLiteral = <const L extends string>(
  env: Env,
  names: ReadonlyArray<string>,
  values: ReadonlyArray<L>,
): Effect.Effect<L | undefined, TelemetryConfigError> => {
  const found = firstSet(env, names)
  if (found === undefined) return Effect.succeed(undefined)
  const [name, raw] = found
  const value = raw.trim().toLowerCase()
  const match = values.find((v) => v === value)
  return match !== undefined
    ? Effect.succeed(match)
    : Effect.fail(envError(name, raw, `Expected one of ${values.join(", ")}`))
}

/** A string variable, trimmed; `undefined` when unset. */
export const envString = (env: Env, names: ReadonlyArray<string>): string | undefined =>
  firstSet(env, names)?.[1].trim()

/**
 * Parses a W3C-Baggage-style list of `key=value` pairs, as `OTEL_RESOURCE_ATTRIBUTES` and
 * `OTEL_EXPORTER_OTLP_HEADERS` use: comma-separated, values percent-decoded, surrounding spaces trimmed.
 * A pair without `=` or with an empty key, or a malformed percent escape, fails naming `name`.
 */
export const parseKeyValueList = (
  name: string,
  raw: string,
): Effect.Effect<Record<string, string>, TelemetryConfigError> => {
  const out: Record<string, string> = {}
  for (const part of raw.split(",")) {
    if (part.trim() === "") continue
    const eq = part.indexOf("=")
    const key = eq < 0 ? "" : part.slice(0, eq).trim()
    if (eq < 0 || key === "") {
      return Effect.fail(envError(name, raw, `Expected key=value pairs, got ${JSON.stringify(part)}`))
    }
    try {
      out[decodeURIComponent(key)] = decodeURIComponent(part.slice(eq + 1).trim())
    } catch {
      return Effect.fail(envError(name, raw, `Invalid percent-encoding in ${JSON.stringify(part)}`))
    }
  }
  return Effect.succeed(out)
}

/** Parses `OTEL_RESOURCE_ATTRIBUTES`. */
export const parseResourceAttributes = (
  raw: string,
): Effect.Effect<Record<string, string>, TelemetryConfigError> =>
  parseKeyValueList("OTEL_RESOURCE_ATTRIBUTES", raw)
