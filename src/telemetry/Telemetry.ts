/**
 * The one layer that provides stagetrace to a program: `Telemetry.layer(options)` from code and
 * `Telemetry.layerFromEnv()` from `STAGETRACE_*` and `OTEL_*` environment variables. Both validate every
 * value once, with Schema, and fail with a `TelemetryConfigError` naming the option or variable and the
 * value it got.
 *
 * Without any layer, stages and requests still work against one process-wide recorder; the layer gives
 * the program its own recorder (statistics, summaries) and installs the concerns configured in the
 * options.
 *
 * Guide: [Configuration reference](../../docs/configuration.md).
 *
 * @module
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Tracer from "effect/Tracer"
import {
  Bool as booleanSchema,
  type Env,
  envBoolean,
  envNumber,
  NonEmpty,
  NonNegativeInt,
  option,
  optionalOption,
  parseResourceAttributes,
  PositiveFraction,
  PositiveInt,
  readEnv,
  StringRecord,
  TelemetryConfigError,
} from "../internal/config.ts"
import type { Concern } from "../internal/concern.ts"
import { lifecycleConcern, logConcern, redactionConcern } from "../log/internal/concern.ts"
import type { LoggingOptions } from "../log/Log.ts"
import * as Runtime from "../runtime/Runtime.ts"
import type { BudgetOptions } from "../budget/Budgets.ts"
import { budgetsConcern } from "../budget/internal/concern.ts"
import type { ErrorOptions } from "../errors/Errors.ts"
import { errorsConcern } from "../errors/internal/concern.ts"
import type { HealthOptions } from "../health/Health.ts"
import { healthConcern } from "../health/internal/health.ts"
import { metricsConcern } from "../metrics/internal/concern.ts"
import type { MetricsOptions } from "../metrics/internal/options.ts"
import type { SamplingOptions } from "../sampling/Sampler.ts"
import { samplingConcern } from "../sampling/internal/concern.ts"
import { exportConcern } from "../export/internal/concern.ts"
import type { StageMemoryOptions } from "../stage/Stage.ts"
import { stageMemoryConcern } from "../stage/internal/memory.ts"
import type { ExportOptions } from "../export/Exporter.ts"
import { instrumentConcern } from "../instrument/internal/concern.ts"
import type { InstrumentTelemetryOptions } from "../instrument/Instrument.ts"
import type { DashboardTelemetryOptions } from "../dashboard/Dashboard.ts"
import { dashboardConcern } from "../dashboard/internal/concern.ts"
import {
  CurrentRecorder,
  defaultRecorderConfig,
  Recorder,
  type RecorderConfig,
  type ServiceDescription,
} from "../internal/recorder.ts"

export { TelemetryConfigError }
export type { EndRequestOptions, TelemetryRuntime } from "../runtime/Runtime.ts"

// ---------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------

/**
 * Options of `Telemetry.layer`. Every field is optional; defaults are listed per field.
 *
 * @category configuration
 * @since 0.1.0
 */
export interface TelemetryOptions
  extends
    LoggingOptions,
    BudgetOptions,
    ErrorOptions,
    HealthOptions,
    MetricsOptions,
    ExportOptions,
    SamplingOptions,
    StageMemoryOptions,
    InstrumentTelemetryOptions,
    DashboardTelemetryOptions {
  /**
   * Kill switch: `false` turns every wrapper into a pass-through that records nothing.
   * @default true
   */
  readonly enabled?: boolean | undefined
  /**
   * The service name reported by exporters and logs (`service.name`, `OTEL_SERVICE_NAME`). Without it, the
   * `service.name` of `resourceAttributes`.
   * @default "unknown_service"
   */
  readonly serviceName?: string | undefined
  /**
   * The service version (`service.version`, `OTEL_SERVICE_VERSION`). Without it, the `service.version` of
   * `resourceAttributes`.
   */
  readonly serviceVersion?: string | undefined
  /**
   * The deployment environment (`deployment.environment.name`, `STAGETRACE_ENVIRONMENT`). Without it, the
   * `deployment.environment.name` (or `deployment.environment`) of `resourceAttributes`.
   */
  readonly environment?: string | undefined
  /**
   * Extra resource attributes reported by exporters (`OTEL_RESOURCE_ATTRIBUTES`).
   * @default {}
   */
  readonly resourceAttributes?: Readonly<Record<string, string>> | undefined
  /**
   * A stage is a bottleneck when its own time is at least this share of its request, in (0, 1].
   * @default 0.3
   */
  readonly bottleneckShare?: number | undefined
  /**
   * How many completed request summaries `Summaries.recent` keeps.
   * @default 1000
   */
  readonly summaryCapacity?: number | undefined
  /**
   * Stage executions kept in one request's summary; later ones still feed statistics and the summary
   * says `truncated`.
   * @default 512
   */
  readonly maxStagesPerRequest?: number | undefined
  /**
   * Distinct stage ids with their own statistics; later ids are aggregated under `__overflow__`.
   * @default 1000
   */
  readonly maxStageIds?: number | undefined
}

/**
 * The validated service description shared by exporters and logs.
 *
 * @category models
 * @since 0.1.0
 */
export interface ServiceInfo {
  /** `service.name`. */
  readonly serviceName: string
  /** `service.version`, when configured. */
  readonly serviceVersion: string | undefined
  /** `deployment.environment.name`, when configured. */
  readonly environment: string | undefined
}

// ---------------------------------------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------------------------------------

const validateRecorderConfig = (
  options: TelemetryOptions,
): Effect.Effect<RecorderConfig, TelemetryConfigError> =>
  Effect.all({
    enabled: option("enabled", booleanSchema, options.enabled, defaultRecorderConfig.enabled),
    bottleneckShare: option(
      "bottleneckShare",
      PositiveFraction,
      options.bottleneckShare,
      defaultRecorderConfig.bottleneckShare,
    ),
    summaryCapacity: option(
      "summaryCapacity",
      NonNegativeInt,
      options.summaryCapacity,
      defaultRecorderConfig.summaryCapacity,
    ),
    maxStagesPerRequest: option(
      "maxStagesPerRequest",
      PositiveInt,
      options.maxStagesPerRequest,
      defaultRecorderConfig.maxStagesPerRequest,
    ),
    maxStageIds: option("maxStageIds", PositiveInt, options.maxStageIds, defaultRecorderConfig.maxStageIds),
    service: validateService(options),
  })

/**
 * The service description. As OpenTelemetry specifies, `service.name` (and `service.version`,
 * `deployment.environment.name`) given in the resource attributes (`OTEL_RESOURCE_ATTRIBUTES`) apply unless
 * the dedicated option or variable (`serviceName` / `OTEL_SERVICE_NAME`…) is set, which wins.
 */
const validateService = (
  options: TelemetryOptions,
): Effect.Effect<ServiceDescription, TelemetryConfigError> =>
  Effect.gen(function* () {
    const resourceAttributes = yield* option(
      "resourceAttributes",
      StringRecord,
      options.resourceAttributes,
      {},
    )
    const fromResource = (...keys: ReadonlyArray<string>): string | undefined => {
      for (const key of keys) {
        const value = resourceAttributes[key]
        if (value !== undefined && value !== "") return value
      }
      return undefined
    }
    return {
      serviceName: yield* option(
        "serviceName",
        NonEmpty,
        options.serviceName,
        fromResource("service.name") ?? defaultRecorderConfig.service.serviceName,
      ),
      serviceVersion: (yield* optionalOption("serviceVersion", NonEmpty, options.serviceVersion)) ??
        fromResource("service.version"),
      environment: (yield* optionalOption("environment", NonEmpty, options.environment)) ??
        fromResource("deployment.environment.name", "deployment.environment"),
      resourceAttributes,
    }
  })

/**
 * The concerns of the telemetry layer, in installation order: redaction first (every later concern reads
 * the redactor from the recorder), then the loggers (every later concern logs through them); budgets and
 * errors mark a stage before metrics and lifecycle logs read it; the export concern creates the recording
 * tracer before sampling wraps it.
 */
const concerns: ReadonlyArray<Concern<TelemetryOptions>> = [
  redactionConcern,
  // Installs the loggers and provides them to every later concern's background fibers.
  logConcern,
  // Stage heap deltas (off by default): measured before metrics and lifecycle records read them.
  stageMemoryConcern,
  budgetsConcern,
  errorsConcern,
  healthConcern,
  metricsConcern,
  // Lifecycle records read what budgets and errors marked on a stage.
  lifecycleConcern,
  exportConcern,
  // Sampling stays AFTER the export concern: its tail-sampling tracer wraps the exporting tracer, and its
  // requestEnd hook reads the summary that budgets and errors have marked.
  samplingConcern,
  // The dashboard reads every other concern's state, and adds its log capture to the loggers in force.
  dashboardConcern,
  // Last: its tracer, which adopts the spans of Effect's own modules, must see every span first.
  instrumentConcern,
]

/** The `stagetrace_requests_in_flight` gauge, read from the recorder when metrics are collected. */
const requestsInFlight = Metric.gauge("stagetrace_requests_in_flight", {
  description: "Requests currently running",
})

const inFlightGauge = (recorder: Recorder): Layer.Layer<never> =>
  Layer.effectDiscard(
    Effect.withFiber((fiber) => {
      const registration = Metric.registerUnsafe(requestsInFlight, fiber.context, {
        get: () => ({ value: recorder.inFlight }),
        update: () => {},
        modify: () => {},
      })
      return Effect.addFinalizer(() => Effect.sync(() => registration.remove()))
    }),
  )

/**
 * The one layer that provides stagetrace: a fresh recorder (statistics, summaries, in-flight gauge) and
 * every concern configured in `options`. Invalid options fail the layer with `TelemetryConfigError`.
 *
 * @example Providing the layer
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Stage, StageStats, Telemetry } from "@stagetrace/stagetrace"
 *
 * const program = Effect.gen(function* () {
 *   yield* Effect.void.pipe(Stage.track("auth_check"), Request.track("chat"))
 *   return yield* StageStats.get("auth_check")
 * })
 *
 * const stats = await Effect.runPromise(program.pipe(Effect.provide(Telemetry.layer({ serviceName: "chat" }))))
 * assert.equal(stats?.count, 1)
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: TelemetryOptions = {}): Layer.Layer<never, TelemetryConfigError> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const config = yield* validateRecorderConfig(options)
      const recorder = new Recorder(config)
      const layers: Array<Layer.Layer<never>> = [inFlightGauge(recorder)]
      const built: Array<(telemetry: Context.Context<never>) => Effect.Effect<void>> = []
      let tracer: Tracer.Tracer | undefined
      if (config.enabled) {
        // Each concern validates its own options, installs its hooks on the recorder and may add layers
        // or wrap the tracer.
        let current = yield* Effect.tracer
        let changed = false
        // Background fibers forked while installing see the recorder they belong to.
        let provide = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
          Effect.provideService(effect, CurrentRecorder, recorder)
        for (const concern of concerns) {
          const installed = yield* provide(concern.install(recorder, options))
          if (installed.provide !== undefined) {
            const outer = provide
            const inner = installed.provide
            provide = (effect) => outer(inner(effect))
          }
          if (installed.layers !== undefined) layers.push(...installed.layers)
          if (installed.built !== undefined) built.push(installed.built)
          if (installed.tracer !== undefined) {
            current = installed.tracer(current)
            changed = true
          }
        }
        if (changed) tracer = current
      }
      const base = Layer.mergeAll(Layer.succeed(CurrentRecorder, recorder), ...layers)
      const telemetry = tracer === undefined ? base : Layer.merge(base, Layer.succeed(Tracer.Tracer, tracer))
      return built.length === 0
        ? telemetry
        : Layer.tap(telemetry, (context) => Effect.forEach(built, (f) => f(context), { discard: true }))
    }),
  ) as Layer.Layer<never, TelemetryConfigError>

/**
 * Environment variables read by `Telemetry.layerFromEnv`. Each is read on its own, so Deno's
 * `--allow-env` may be narrowed to exactly these names.
 *
 * @example Narrowing --allow-env
 * ```ts
 * import assert from "node:assert/strict"
 * import { Telemetry } from "@stagetrace/stagetrace"
 *
 * // deno run --allow-env=<this list> main.ts
 * const allowEnv = Telemetry.environmentVariables.join(",")
 * assert.match(allowEnv, /OTEL_EXPORTER_OTLP_ENDPOINT/)
 * assert.match(allowEnv, /STAGETRACE_SAMPLE_RATE/)
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const environmentVariables: ReadonlyArray<string> = [
  ...new Set([...coreVariables(), ...concerns.flatMap((concern) => concern.environmentVariables)]),
]

function coreVariables(): ReadonlyArray<string> {
  return [
    "STAGETRACE_ENABLED",
    "EXECUTION_TRACKING_ENABLED",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_SERVICE_VERSION",
    "STAGETRACE_ENVIRONMENT",
    "STAGETRACE_BOTTLENECK_SHARE",
    "STAGETRACE_SUMMARY_CAPACITY",
    "STAGETRACE_MAX_STAGES_PER_REQUEST",
    "STAGETRACE_MAX_STAGE_IDS",
    "OTEL_RESOURCE_ATTRIBUTES",
  ]
}

/**
 * Reads `TelemetryOptions` from an environment snapshot (the variables in `environmentVariables`): only
 * the options that are set. What `Telemetry.layerFromEnv` uses; fails with a `TelemetryConfigError` naming
 * the variable and its value.
 *
 * @example Reading options from an environment snapshot
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Telemetry } from "@stagetrace/stagetrace"
 *
 * const options = await Effect.runPromise(
 *   Telemetry.optionsFromEnv({ OTEL_SERVICE_NAME: "chat", STAGETRACE_SUMMARY_CAPACITY: "200" }),
 * )
 * assert.equal(options.serviceName, "chat")
 * assert.equal(options.summaryCapacity, 200)
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const optionsFromEnv = (env: Env): Effect.Effect<TelemetryOptions, TelemetryConfigError> =>
  Effect.gen(function* () {
    const enabled = yield* envBoolean(env, ["STAGETRACE_ENABLED", "EXECUTION_TRACKING_ENABLED"])
    const sdkDisabled = yield* envBoolean(env, ["OTEL_SDK_DISABLED"])
    const options: Record<string, unknown> = {
      enabled: sdkDisabled === true ? false : enabled,
      serviceName: env["OTEL_SERVICE_NAME"],
      serviceVersion: env["OTEL_SERVICE_VERSION"],
      environment: env["STAGETRACE_ENVIRONMENT"],
      bottleneckShare: yield* envNumber(env, ["STAGETRACE_BOTTLENECK_SHARE"], PositiveFraction),
      summaryCapacity: yield* envNumber(env, ["STAGETRACE_SUMMARY_CAPACITY"], NonNegativeInt),
      maxStagesPerRequest: yield* envNumber(env, ["STAGETRACE_MAX_STAGES_PER_REQUEST"], PositiveInt),
      maxStageIds: yield* envNumber(env, ["STAGETRACE_MAX_STAGE_IDS"], PositiveInt),
    }
    const resource = env["OTEL_RESOURCE_ATTRIBUTES"]
    if (resource !== undefined) options.resourceAttributes = yield* parseResourceAttributes(resource)
    for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key]
    for (const concern of concerns) Object.assign(options, yield* concern.fromEnv(env))
    return options as TelemetryOptions
  })

/**
 * Options of `Telemetry.layerFromEnv`.
 *
 * @category configuration
 * @since 0.1.0
 */
export interface FromEnvOptions extends TelemetryOptions {
  /** The environment to read instead of the process environment (for tests). */
  readonly env?: Env | undefined
}

/**
 * `Telemetry.layer` configured from environment variables (see `environmentVariables`); options given
 * here win over the environment. An invalid value fails the layer with a `TelemetryConfigError` naming
 * the variable and its value.
 *
 * @example Reading the kill switch from the environment
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Layer } from "effect"
 * import { Telemetry } from "@stagetrace/stagetrace"
 *
 * const error = await Effect.runPromise(
 *   Layer.build(Telemetry.layerFromEnv({ env: { STAGETRACE_ENABLED: "maybe" } })).pipe(Effect.scoped, Effect.flip),
 * )
 * assert.equal(error.name, "STAGETRACE_ENABLED")
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromEnv = (options: FromEnvOptions = {}): Layer.Layer<never, TelemetryConfigError> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const { env, ...overrides } = options
      const fromEnv = yield* optionsFromEnv(env ?? readEnv(environmentVariables))
      return layer({ ...fromEnv, ...withoutUndefined(overrides) })
    }),
  )

const withoutUndefined = <T extends object>(value: T): Partial<T> => {
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) if (v !== undefined) out[key] = v
  return out as Partial<T>
}

// ---------------------------------------------------------------------------------------------------------
// Promise API
// ---------------------------------------------------------------------------------------------------------

/**
 * Options of `Telemetry.makeRuntime`: every `Telemetry.layer` option, plus the bounds of the manual
 * lifecycle.
 *
 * @category runtime
 * @since 0.1.0
 */
export interface RuntimeOptions extends TelemetryOptions, Runtime.RuntimeOwnOptions {}

/**
 * A telemetry runtime for code outside Effect: `request`, `stage` and `instrument` for async functions
 * (the current request is carried across `await`), the manual lifecycle keyed by id (`startRequest`,
 * `recordStage`, `timingScope`, `endRequest`), statistics and summaries, and `dispose()` to flush and
 * stop. Built from `Telemetry.layer(options)`, so stages, statistics, budgets, summaries, logs and
 * exports are the Effect API's. Rejects with `TelemetryConfigError` on an invalid option.
 *
 * @example Timing plain async functions
 * ```ts
 * import assert from "node:assert/strict"
 * import { Telemetry } from "@stagetrace/stagetrace"
 *
 * const telemetry = await Telemetry.makeRuntime({ serviceName: "chat" })
 * const fetchUser = telemetry.instrument("database_query", async (id: string) => ({ id }))
 *
 * const user = await telemetry.request("chat", { requestId: "req-1" }, async () => {
 *   await telemetry.stage("auth_check", async () => {})
 *   return await fetchUser("u-1")
 * })
 * assert.deepEqual(user, { id: "u-1" })
 *
 * telemetry.startRequest("req-2", "chat")
 * telemetry.recordStage("req-2", "retrieval", { durationMs: 15 })
 * const summary = await telemetry.endRequest("req-2")
 * assert.equal(summary?.stages[0]?.durationMs, 15)
 *
 * assert.deepEqual(telemetry.recentSummaries().map((s) => s.requestId), ["req-2", "req-1"])
 * await telemetry.dispose()
 * ```
 *
 * @category runtime
 * @since 0.1.0
 */
export const makeRuntime = (options: RuntimeOptions = {}): Promise<Runtime.TelemetryRuntime> => {
  const { maxOpenRequests: _max, openRequestTimeout: _timeout, layer: _layer, ...telemetry } = options
  return Runtime.make(layer(telemetry), options)
}

// ---------------------------------------------------------------------------------------------------------
// Running a program
// ---------------------------------------------------------------------------------------------------------

/**
 * Options of `Telemetry.runMain`.
 *
 * @category running
 * @since 0.1.0
 */
export interface RunMainOptions {
  /**
   * Signals that interrupt the program (so its layers close and telemetry is flushed).
   * @default ["SIGINT", "SIGTERM"]
   */
  readonly signals?: ReadonlyArray<"SIGINT" | "SIGTERM"> | undefined
  /**
   * Print a failure's cause to stderr and set `Deno.exitCode` (1 on failure, 130 after SIGINT, 143 after
   * SIGTERM).
   * @default true
   */
  readonly setExitCode?: boolean | undefined
}

/**
 * Runs a program whose telemetry layer is provided inside it, turning SIGINT and SIGTERM into an
 * interruption: running requests and stages end as interrupted, the layer's scope closes, and every
 * exporter flushes within its shutdown deadline before the process exits. Resolves with the program's
 * exit; never rejects.
 *
 * @example Running a service
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Exporter, Request, Telemetry } from "@stagetrace/stagetrace"
 *
 * const memory = Exporter.memory()
 * const main = Effect.void.pipe(Request.track("job"), Effect.provide(Telemetry.layer({ exporters: [memory] })))
 * const exit = await Telemetry.runMain(main, { setExitCode: false })
 * assert.equal(exit._tag, "Success")
 * assert.equal(memory.spans().length, 1)
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const runMain = <A, E>(
  program: Effect.Effect<A, E>,
  options: RunMainOptions = {},
): Promise<Exit.Exit<A, E>> => {
  const fiber = Effect.runFork(program)
  const deno = (globalThis as {
    Deno?: {
      addSignalListener?: (signal: string, handler: () => void) => void
      removeSignalListener?: (signal: string, handler: () => void) => void
      exitCode?: number
    }
  }).Deno
  let received: string | undefined
  const listeners: Array<[string, () => void]> = []
  for (const signal of options.signals ?? ["SIGINT", "SIGTERM"]) {
    const handler = () => {
      received ??= signal
      fiber.interruptUnsafe()
    }
    try {
      deno?.addSignalListener?.(signal, handler)
      listeners.push([signal, handler])
    } catch {
      // Signals are unavailable here (Windows SIGTERM, a worker): the program still runs.
    }
  }
  return new Promise<Exit.Exit<A, E>>((resolve) => {
    fiber.addObserver((exit) => {
      for (const [signal, handler] of listeners) {
        try {
          deno?.removeSignalListener?.(signal, handler)
        } catch {
          // Already removed.
        }
      }
      if (options.setExitCode !== false && deno !== undefined) {
        if (received !== undefined) deno.exitCode = received === "SIGINT" ? 130 : 143
        else if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) {
          globalThis.console.error(Cause.pretty(exit.cause))
          deno.exitCode = 1
        }
      }
      resolve(exit)
    })
  })
}
