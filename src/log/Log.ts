/**
 * Structured logs that know where they come from. `Log.layer` replaces Effect's default console logger
 * with one that writes every record as one JSON line (or one readable line) carrying `timestamp`, `level`,
 * `message`, the service (`service`, `environment`, `version`), the current `trace_id`, `span_id`,
 * `request_id` and `stage_id` (flat keys, from the stage or request the log runs in), the log annotations,
 * and for a logged `Cause` its `error_type`, `error_message` and `error_category`. Effect's tracer logger
 * stays installed, so logs inside a span still become span events.
 *
 * Every record passes through the redactor of the telemetry layer (or the default one) before it is
 * written: messages, annotations and fields.
 *
 * The toolkit also logs the request and stage lifecycle as the seeds do: `stage started` (debug), `stage
 * completed` (info, `duration_ms`), `stage failed` (warn), `request started` (debug), `request completed`
 * (info) and `request failed` (error), each level configurable or turned off (`lifecycle`). One way gets
 * them, whichever you use: `Log.layer(options)` next to `Telemetry.layer()` (composed in any order, or
 * merged), or `Telemetry.layer({ log: options })`; with both, each event is logged once. The records carry
 * the telemetry layer's service and pass through its redactor. They are written from a background fiber fed by a bounded queue: a stage end never runs an
 * effect, and an entry is only queued when its level is enabled (overflow is counted as the drop
 * `log_queue_full`).
 *
 * Guide: [Logs, redaction and the report](../../docs/logs-redaction-report.md#structured-logs).
 *
 * @module
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as References from "effect/References"
import { option, optionError, PositiveInt, type TelemetryConfigError } from "../internal/config.ts"
import type { RedactionOptions } from "./Redactor.ts"
import { CurrentAttachment } from "../internal/recorder.ts"
import * as Lifecycle from "./internal/lifecycle.ts"
import { buildRecord, toJsonLine, toPrettyLine } from "./internal/record.ts"

// ---------------------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------------------

/**
 * How records are written: `json` (one JSON object per line, for machines) or `pretty` (one readable
 * line, `key=value` pairs, for people).
 *
 * @category models
 * @since 0.1.0
 */
export type LogFormat = "json" | "pretty"

/**
 * One log record as written by the `json` format. Optional fields are present only when they apply;
 * annotations and fields of object messages are added as their own keys.
 *
 * @category models
 * @since 0.1.0
 */
export interface LogRecord {
  /** ISO 8601 time of the log call (of the event, for lifecycle records). */
  readonly timestamp: string
  /** `trace`, `debug`, `info`, `warn`, `error` or `fatal`. */
  readonly level: string
  /** The log message (redacted). */
  readonly message: string
  /** The service name (`service.name`). */
  readonly service: string
  /** The deployment environment, when configured. */
  readonly environment?: string | undefined
  /** The service version, when configured. */
  readonly version?: string | undefined
  /** The current trace id, inside a span. */
  readonly trace_id?: string | undefined
  /** The current span id, inside a span. */
  readonly span_id?: string | undefined
  /** The current request id, inside `Request.track`. */
  readonly request_id?: string | undefined
  /** The current stage id, inside `Stage.track`. */
  readonly stage_id?: string | undefined
  /** For a logged `Cause`: the error's `_tag` or class name, its message and its category. */
  readonly error_type?: string | undefined
  /** For a logged `Cause`: the error's message. */
  readonly error_message?: string | undefined
  /** For a logged `Cause`: its error category. */
  readonly error_category?: string | undefined
  /** For a logged `Cause`: its pretty rendering (redacted). */
  readonly cause?: string | undefined
  /** Log annotations and the fields of object messages, as their own keys. */
  readonly [key: string]: unknown
}

/**
 * The levels of the lifecycle records; `"None"` turns one off.
 *
 * @category models
 * @since 0.1.0
 */
export interface LifecycleLevels {
  /**
   * Level of `stage started`.
   * @default "Debug"
   */
  readonly stageStart?: LogLevel.LogLevel | undefined
  /**
   * Level of `stage completed`.
   * @default "Info"
   */
  readonly stageEnd?: LogLevel.LogLevel | undefined
  /**
   * Level of `stage failed`.
   * @default "Warn"
   */
  readonly stageFailure?: LogLevel.LogLevel | undefined
  /**
   * Level of `request started`.
   * @default "Debug"
   */
  readonly requestStart?: LogLevel.LogLevel | undefined
  /**
   * Level of `request completed`.
   * @default "Info"
   */
  readonly requestEnd?: LogLevel.LogLevel | undefined
  /**
   * Level of `request failed`.
   * @default "Error"
   */
  readonly requestFailure?: LogLevel.LogLevel | undefined
}

/**
 * Options of `Log.layer` and of `Telemetry.layer({ log })`.
 *
 * @category models
 * @since 0.1.0
 */
export interface LogOptions {
  /**
   * Output format.
   * @default "json"
   */
  readonly format?: LogFormat | undefined
  /**
   * Minimum level written (case-insensitive: `"debug"` works; `"warning"` means `"Warn"`).
   * @default "Info"
   */
  readonly level?: LogLevel.LogLevel | Lowercase<LogLevel.LogLevel> | "warning" | undefined
  /**
   * Request and stage lifecycle records, for the requests and stages run with this layer (whatever
   * telemetry layer records them): `false` turns them off, an object changes their levels.
   * @default true
   */
  readonly lifecycle?: boolean | LifecycleLevels | undefined
  /**
   * Lifecycle records waiting to be written; more are dropped and counted (`log_queue_full`).
   * @default 4096
   */
  readonly queueCapacity?: number | undefined
}

/**
 * The logging options of `Telemetry.layer` (and `Telemetry.makeRuntime`).
 *
 * @category models
 * @since 0.1.0
 */
export interface LoggingOptions {
  /**
   * Structured logs (`Log.layer`) plus request and stage lifecycle records; `true` uses the defaults.
   * Without it Effect's own loggers are left alone.
   * @default false
   */
  readonly log?: boolean | LogOptions | undefined
  /**
   * Redaction of logs, span attributes and events, summaries, JSONL lines and metric label values;
   * `false` turns it off (Effect `Redacted` values stay masked).
   * @default true
   */
  readonly redaction?: boolean | RedactionOptions | undefined
}

/** Validated `LogOptions`. @internal */
export interface LogConfig {
  /** Output format. */
  readonly format: LogFormat
  /** Minimum level written. */
  readonly level: LogLevel.LogLevel
  /** Level of each lifecycle record; `undefined` when lifecycle records are off. */
  readonly lifecycle: Required<{ readonly [K in keyof LifecycleLevels]-?: LogLevel.LogLevel }> | undefined
  /** Lifecycle records waiting to be written, at most. */
  readonly queueCapacity: number
}

const defaultLifecycle: LogConfig["lifecycle"] & object = {
  stageStart: "Debug",
  stageEnd: "Info",
  stageFailure: "Warn",
  requestStart: "Debug",
  requestEnd: "Info",
  requestFailure: "Error",
}

// ---------------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------------

/** Parses a level name case-insensitively; `undefined` when it is not one. @internal */
export const parseLevel = (value: unknown): LogLevel.LogLevel | undefined => {
  if (typeof value !== "string") return undefined
  const lower = value.trim().toLowerCase()
  if (lower === "warning") return "Warn"
  return LogLevel.values.find((level) => level.toLowerCase() === lower)
}

const levelOption = (
  name: string,
  value: unknown,
  fallback: LogLevel.LogLevel,
): Effect.Effect<LogLevel.LogLevel, TelemetryConfigError> => {
  if (value === undefined) return Effect.succeed(fallback)
  const level = parseLevel(value)
  return level === undefined
    ? Effect.fail(optionError(name, value, `Expected one of ${LogLevel.values.join(", ")}`))
    : Effect.succeed(level)
}

/** Validates `LogOptions`; `prefix` names the option in errors (`log`). @internal */
export const validate = (
  options: LogOptions | undefined,
  prefix: string,
): Effect.Effect<LogConfig, TelemetryConfigError> =>
  Effect.gen(function* () {
    const given: LogOptions = options ?? {}
    if (typeof given !== "object" || given === null) {
      return yield* Effect.fail(optionError(prefix, options, "Expected log options"))
    }
    const format = given.format ?? "json"
    if (format !== "json" && format !== "pretty") {
      return yield* Effect.fail(optionError(`${prefix}.format`, format, 'Expected "json" or "pretty"'))
    }
    const level = yield* levelOption(`${prefix}.level`, given.level, "Info")
    const queueCapacity = yield* option(`${prefix}.queueCapacity`, PositiveInt, given.queueCapacity, 4096)
    const lifecycleOption = given.lifecycle ?? true
    let lifecycle: LogConfig["lifecycle"]
    if (lifecycleOption === false) lifecycle = undefined
    else if (lifecycleOption === true) lifecycle = defaultLifecycle
    else if (typeof lifecycleOption === "object" && lifecycleOption !== null) {
      const levels: Record<string, LogLevel.LogLevel> = {}
      for (const key of Object.keys(defaultLifecycle) as Array<keyof LifecycleLevels>) {
        levels[key] = yield* levelOption(
          `${prefix}.lifecycle.${key}`,
          lifecycleOption[key],
          defaultLifecycle[key],
        )
      }
      lifecycle = levels as LogConfig["lifecycle"]
    } else {
      return yield* Effect.fail(
        optionError(`${prefix}.lifecycle`, lifecycleOption, "Expected a boolean or lifecycle levels"),
      )
    }
    return { format, level, lifecycle, queueCapacity }
  })

// ---------------------------------------------------------------------------------------------------------
// Loggers
// ---------------------------------------------------------------------------------------------------------

/**
 * A logger that builds the stagetrace record of each log call (redacted with the installed redactor)
 * without writing it, for routing records elsewhere with `Logger.map`.
 *
 * @example Collecting records
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Logger } from "effect"
 * import { Log, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const records: Array<Log.LogRecord> = []
 * const collect = Logger.map(Log.structured, (record) => void records.push(record))
 *
 * await Effect.runPromise(
 *   Effect.logInfo("cache miss for alice@example.com").pipe(
 *     Stage.track("cache"),
 *     Request.track("chat", { requestId: "req-1" }),
 *     Effect.provide(Logger.layer([collect])),
 *     Effect.provide(Telemetry.layer({ serviceName: "chat" })),
 *   ),
 * )
 * assert.equal(records[0]?.message, "cache miss for [EMAIL]")
 * assert.equal(records[0]?.request_id, "req-1")
 * assert.equal(records[0]?.stage_id, "cache")
 * assert.equal(records[0]?.service, "chat")
 * ```
 *
 * @category loggers
 * @since 0.1.0
 */
export const structured: Logger.Logger<unknown, LogRecord> = Logger.make((options) =>
  buildRecord(options, "installed") as LogRecord
)

/**
 * The logger `Log.layer` installs: writes each record as one line (`json` or `pretty`) to the console
 * (`Console` service; stderr when `Logger.LogToStderr` is set). Writing never throws into the program.
 *
 * @example Readable lines
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Logger } from "effect"
 * import { TestConsole } from "effect/testing"
 * import { Log } from "@stagetrace/stagetrace"
 *
 * const lines = await Effect.runPromise(
 *   Effect.logInfo("cache miss").pipe(
 *     Effect.annotateLogs("cache", "kb"),
 *     Effect.andThen(TestConsole.logLines),
 *     Effect.provide(Logger.layer([Log.logger("pretty")])),
 *     Effect.provide(TestConsole.layer),
 *   ),
 * )
 * assert.match(String(lines[0]), /cache miss/)
 * assert.match(String(lines[0]), /cache=kb/)
 * ```
 *
 * @category loggers
 * @since 0.1.0
 */
export const logger = (format: LogFormat = "json"): Logger.Logger<unknown, void> => {
  const render = format === "pretty" ? toPrettyLine : toJsonLine
  return Logger.make((options) => {
    try {
      const line = render(buildRecord(options, "installed"))
      const console = options.fiber.getRef(Console.Console)
      if (options.fiber.getRef(References.LogToStderr)) console.error(line)
      else console.log(line)
    } catch {
      // A logger must never fail the program it observes.
    }
  })
}

/** The loggers `Log.layer` installs given the current ones: Effect's default console logger is replaced,
 * everything else (the tracer logger, OTLP loggers) is kept. @internal */
export const replaceDefault = (
  current: ReadonlySet<Logger.Logger<unknown, unknown>>,
  mine: Logger.Logger<unknown, unknown>,
): ReadonlySet<Logger.Logger<unknown, unknown>> => {
  const next = new Set<Logger.Logger<unknown, unknown>>()
  for (const existing of current) if (existing !== Logger.defaultLogger) next.add(existing)
  next.add(Logger.tracerLogger)
  next.add(mine)
  return next
}

/**
 * The logger layer for a validated config: the loggers, the minimum level and the lifecycle records (a
 * sink that attaches to the recorder the requests and stages run with, see `Lifecycle.make`). @internal
 */
export const layerFromConfig = (config: LogConfig): Layer.Layer<never> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const loggers = yield* Effect.withFiber((fiber) =>
        Effect.succeed(replaceDefault(fiber.getRef(References.CurrentLoggers), logger(config.format)))
      )
      const lifecycle = yield* Lifecycle.make(config, loggers)
      return Layer.mergeAll(
        Layer.succeed(References.CurrentLoggers, loggers),
        Layer.succeed(References.MinimumLogLevel, config.level),
        lifecycle === undefined ? Layer.empty : Layer.succeed(CurrentAttachment, lifecycle),
      )
    }),
  )

// ---------------------------------------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------------------------------------

/**
 * Replaces Effect's default console logger with the stagetrace logger (keeping the tracer logger, so logs
 * stay span events, and any other installed logger) and sets the minimum log level. Invalid options fail
 * the layer with `TelemetryConfigError`.
 *
 * Also writes the request and stage lifecycle records (`lifecycle`, on by default) of the requests and
 * stages run with it, whichever telemetry layer records them: `Log.layer()` next to `Telemetry.layer()`
 * (in any order, or merged) is the same as `Telemetry.layer({ log: {} })`. Without a telemetry layer they
 * come from the process-wide recorder. Its hooks are removed when the layer closes.
 *
 * @example JSON logs with correlation ids
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Layer } from "effect"
 * import { TestConsole } from "effect/testing"
 * import { Log, Request, Stage } from "@stagetrace/stagetrace"
 *
 * const lines = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* Effect.logInfo("answer ready").pipe(Stage.track("llm_request"), Request.track("chat", { requestId: "r-7" }))
 *     return yield* TestConsole.logLines
 *   }).pipe(Effect.provide(Layer.provideMerge(Log.layer({ format: "json" }), TestConsole.layer))),
 * )
 * const record = JSON.parse(String(lines[0]))
 * assert.equal(record.message, "answer ready")
 * assert.equal(record.level, "info")
 * assert.equal(record.request_id, "r-7")
 * assert.equal(record.stage_id, "llm_request")
 * assert.equal(typeof record.trace_id, "string")
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: LogOptions = {}): Layer.Layer<never, TelemetryConfigError> =>
  Layer.unwrap(Effect.map(validate(options, "log"), layerFromConfig))
