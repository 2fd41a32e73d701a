/**
 * Parsing of durations given as text (environment variables): a number of milliseconds (`250`), a short
 * form (`250ms`, `2s`, `5m`, `1h`) or an Effect duration (`"250 millis"`, `"2 seconds"`).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type Env, envError, firstSet, type TelemetryConfigError } from "./config.ts"

const shortUnits: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }

/** Milliseconds of a textual duration; `undefined` when it is not one, or is negative or infinite. */
export const durationFromEnv = (text: string): number | undefined => {
  const trimmed = text.trim()
  if (trimmed === "") return undefined
  let ms: number | undefined
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) ms = Number(trimmed)
  else {
    const short = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(trimmed)
    if (short !== null) ms = Number(short[1]) * shortUnits[short[2]!]!
    else {
      const decoded = Duration.fromInput(trimmed as Duration.Input)
      if (Option.isSome(decoded)) ms = Duration.toMillis(decoded.value)
    }
  }
  return ms !== undefined && ms >= 0 && ms !== Infinity ? ms : undefined
}

/**
 * A positive duration variable (the first of `names` that is set), in milliseconds; `undefined` when none
 * is set. Any other value fails naming the variable, with `expected` as the reason.
 */
export const envPositiveDuration = (
  env: Env,
  names: ReadonlyArray<string>,
  expected: string,
): Effect.Effect<number | undefined, TelemetryConfigError> => {
  const found = firstSet(env, names)
  if (found === undefined) return Effect.succeed(undefined)
  const ms = durationFromEnv(found[1])
  return ms !== undefined && ms > 0 ? Effect.succeed(ms) : Effect.fail(envError(found[0], found[1], expected))
}
