/**
 * Validation of the `instrument` option (and `STAGETRACE_INSTRUMENT`): each kind resolves to its settings,
 * or `undefined` when it is turned off.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { type Env, envBoolean, optionError, type TelemetryConfigError } from "../../internal/config.ts"
import type {
  AiCall,
  HttpClientCall,
  InstrumentOptions,
  InstrumentTelemetryOptions,
  ModelPrice,
  SqlStatement,
} from "../Instrument.ts"

/** A `stageId` option. */
export type StageIdFunction<I> = (input: I) => string | false | undefined

/** Settings of adopted server requests. */
export interface HttpServerConfig {
  /** The request id header, lower-cased; `undefined` to always generate ids. */
  readonly requestIdHeader: string | undefined
  readonly metrics: boolean
}

/** The validated `instrument` option; a kind that is off is `undefined`. */
export interface InstrumentConfig {
  readonly httpServer: HttpServerConfig | undefined
  readonly httpClient: { readonly stageId: StageIdFunction<HttpClientCall> | undefined } | undefined
  readonly ai:
    | {
      readonly stageId: StageIdFunction<AiCall> | undefined
      readonly prices: ReadonlyMap<string, ModelPrice>
    }
    | undefined
  readonly sql: { readonly stageId: StageIdFunction<SqlStatement> | undefined } | undefined
}

/** Environment variables of the concern. */
export const environmentVariables: ReadonlyArray<string> = ["STAGETRACE_INSTRUMENT"]

/** `STAGETRACE_INSTRUMENT=false` turns adoption off. */
export const fromEnv = (env: Env): Effect.Effect<InstrumentTelemetryOptions, TelemetryConfigError> =>
  Effect.map(
    envBoolean(env, ["STAGETRACE_INSTRUMENT"]),
    (enabled): InstrumentTelemetryOptions => enabled === false ? { instrument: false } : {},
  )

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** A header field name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

type Kind<C> = Effect.Effect<C | undefined, TelemetryConfigError>

/** `undefined` / `true` → on with defaults, `false` → off, an object → validated by `f`. */
const kind = <C>(
  path: string,
  value: unknown,
  f: (options: Record<string, unknown>) => Effect.Effect<C, TelemetryConfigError>,
): Kind<C> => {
  if (value === undefined || value === true) return f({})
  if (value === false) return Effect.succeed(undefined)
  if (!isRecord(value)) {
    return Effect.fail(optionError(path, value, "Expected true, false or an options object"))
  }
  return f(value)
}

const stageIdOption = <I>(
  path: string,
  value: unknown,
): Effect.Effect<StageIdFunction<I> | undefined, TelemetryConfigError> =>
  value === undefined || typeof value === "function"
    ? Effect.succeed(value as StageIdFunction<I> | undefined)
    : Effect.fail(optionError(path, value, "Expected a function returning a stage id, false or undefined"))

const validPrice = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n) && n >= 0

const pricesOption = (
  path: string,
  value: unknown,
): Effect.Effect<ReadonlyMap<string, ModelPrice>, TelemetryConfigError> => {
  const prices = new Map<string, ModelPrice>()
  if (value === undefined) return Effect.succeed(prices)
  if (!isRecord(value)) return Effect.fail(optionError(path, value, "Expected a record of model prices"))
  for (const model of Object.keys(value)) {
    const price = value[model]
    if (!isRecord(price)) {
      return Effect.fail(
        optionError(`${path}.${model}`, price, "Expected { inputPer1k, outputPer1k } in US dollars"),
      )
    }
    for (const field of ["inputPer1k", "outputPer1k"] as const) {
      if (!validPrice(price[field])) {
        return Effect.fail(
          optionError(
            `${path}.${model}.${field}`,
            price[field],
            "Expected a finite price ≥ 0 in US dollars per 1,000 tokens",
          ),
        )
      }
    }
    prices.set(model, { inputPer1k: price.inputPer1k as number, outputPer1k: price.outputPer1k as number })
  }
  return Effect.succeed(prices)
}

const allOff: InstrumentConfig = {
  httpServer: undefined,
  httpClient: undefined,
  ai: undefined,
  sql: undefined,
}

/** Validates `instrument`; every failure names the option path and the value. */
export const validate = (value: unknown): Effect.Effect<InstrumentConfig, TelemetryConfigError> =>
  Effect.gen(function* () {
    if (value === false) return allOff
    if (value !== undefined && value !== true && !isRecord(value)) {
      return yield* Effect.fail(optionError("instrument", value, "Expected true, false or an options object"))
    }
    const options = (isRecord(value) ? value : {}) as InstrumentOptions & Record<string, unknown>
    const httpServer = yield* kind(
      "instrument.httpServer",
      options.httpServer,
      (o) =>
        Effect.gen(function* () {
          const header = o.requestIdHeader
          if (
            header !== undefined && header !== false && (typeof header !== "string" || !TOKEN.test(header))
          ) {
            return yield* Effect.fail(
              optionError("instrument.httpServer.requestIdHeader", header, "Expected a header name or false"),
            )
          }
          const metrics = o.metrics
          if (metrics !== undefined && typeof metrics !== "boolean") {
            return yield* Effect.fail(
              optionError("instrument.httpServer.metrics", metrics, "Expected a boolean"),
            )
          }
          return {
            requestIdHeader: header === false ? undefined : (header ?? "x-request-id").toLowerCase(),
            metrics: metrics ?? true,
          } satisfies HttpServerConfig
        }),
    )
    const httpClient = yield* kind("instrument.httpClient", options.httpClient, (o) =>
      Effect.map(
        stageIdOption<HttpClientCall>("instrument.httpClient.stageId", o.stageId),
        (stageId) => ({ stageId }),
      ))
    const ai = yield* kind("instrument.ai", options.ai, (o) =>
      Effect.gen(function* () {
        const stageId = yield* stageIdOption<AiCall>("instrument.ai.stageId", o.stageId)
        const prices = yield* pricesOption("instrument.ai.prices", o.prices)
        return { stageId, prices }
      }))
    const sql = yield* kind("instrument.sql", options.sql, (o) =>
      Effect.map(
        stageIdOption<SqlStatement>("instrument.sql.stageId", o.stageId),
        (stageId) => ({ stageId }),
      ))
    return { httpServer, httpClient, ai, sql }
  })

/** Whether any kind is on. */
export const anyOn = (config: InstrumentConfig): boolean =>
  config.httpServer !== undefined || config.httpClient !== undefined || config.ai !== undefined ||
  config.sql !== undefined
