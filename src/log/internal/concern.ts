/**
 * The two concerns of the log folder. `redactionConcern` installs the redactor on the recorder first of
 * all (on by default), so every later concern (export, metrics) finds it under `RedactorSlot` and every
 * summary is redacted once, when its request ends, before it is stored or published;
 * `logConcern` installs the structured logger and the lifecycle hooks after budgets and errors have
 * marked the stage.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import { type Env, envBoolean, envError, envString } from "../../internal/config.ts"
import type { Concern } from "../../internal/concern.ts"
import { logger, type LoggingOptions, type LogOptions, parseLevel, replaceDefault, validate } from "../Log.ts"
import { makeEngine } from "../Redactor.ts"
import * as Lifecycle from "./lifecycle.ts"
import { installRedactor } from "./redact.ts"
import type * as Logger from "effect/Logger"
import { Slot } from "../../internal/recorder.ts"

/** The validated log options and the loggers the log concern installed, for the lifecycle concern. */
const LoggingSlot: Slot<{
  readonly config: Parameters<typeof Lifecycle.make>[0]
  readonly loggers: ReadonlySet<Logger.Logger<unknown, unknown>>
}> = new Slot("logging")

/** Installs the redactor (always, unless `redaction: false`). */
export const redactionConcern: Concern<LoggingOptions> = {
  name: "redaction",
  environmentVariables: ["STAGETRACE_REDACTION", "STAGETRACE_REDACT_IP_ADDRESSES"],
  fromEnv: (env: Env) =>
    Effect.gen(function* () {
      const enabled = yield* envBoolean(env, ["STAGETRACE_REDACTION"])
      const ips = yield* envBoolean(env, ["STAGETRACE_REDACT_IP_ADDRESSES"])
      if (enabled === undefined && ips === undefined) return {}
      if (enabled === false) return { redaction: false }
      return { redaction: ips === undefined ? true : { ipAddresses: ips } }
    }),
  install: (recorder, options: LoggingOptions) =>
    Effect.map(makeEngine(options.redaction, "redaction"), (engine) => {
      installRedactor(recorder, engine)
      return {}
    }),
}

/** Installs the structured logger and the lifecycle records when `log` is set. */
export const logConcern: Concern<LoggingOptions> = {
  name: "log",
  environmentVariables: ["STAGETRACE_LOG_FORMAT", "STAGETRACE_LOG_LEVEL"],
  fromEnv: (env: Env) =>
    Effect.gen(function* () {
      const format = envString(env, ["STAGETRACE_LOG_FORMAT"])
      const level = envString(env, ["STAGETRACE_LOG_LEVEL"])
      if (format === undefined && level === undefined) return {}
      const log: { format?: "json" | "pretty"; level?: LogOptions["level"] } = {}
      if (format !== undefined) {
        const lower = format.toLowerCase()
        if (lower !== "json" && lower !== "pretty") {
          return yield* Effect.fail(envError("STAGETRACE_LOG_FORMAT", format, "Expected json or pretty"))
        }
        log.format = lower
      }
      if (level !== undefined) {
        const parsed = parseLevel(level)
        if (parsed === undefined) {
          return yield* Effect.fail(
            envError(
              "STAGETRACE_LOG_LEVEL",
              level,
              "Expected trace, debug, info, warn, error, fatal or none",
            ),
          )
        }
        log.level = parsed
      }
      return { log }
    }),
  install: (recorder, options: LoggingOptions) =>
    Effect.gen(function* () {
      const given = options.log
      if (given === undefined || given === false) return {}
      const config = yield* validate(given === true ? {} : given, "log")
      const current = yield* Effect.withFiber((fiber) =>
        Effect.succeed(fiber.getRef(References.CurrentLoggers))
      )
      const loggers = replaceDefault(current, logger(config.format))
      recorder.set(LoggingSlot, { config, loggers })
      return {
        layers: [
          Layer.mergeAll(
            Layer.succeed(References.CurrentLoggers, loggers),
            Layer.succeed(References.MinimumLogLevel, config.level),
          ),
        ],
        // Concerns installed later (budgets, errors, export…) log from background fibers forked at install:
        // they must see these loggers, not the ones around the telemetry layer.
        provide: (effect) =>
          effect.pipe(
            Effect.provideService(References.CurrentLoggers, loggers),
            Effect.provideService(References.MinimumLogLevel, config.level),
          ),
      }
    }),
}

/**
 * The stage and request lifecycle records. Installed after budgets and errors, so its records see a
 * stage's `overBudget` and error category; uses the loggers the log concern installed.
 */
export const lifecycleConcern: Concern<LoggingOptions> = {
  name: "log-lifecycle",
  environmentVariables: [],
  fromEnv: () => Effect.succeed({}),
  install: (recorder) =>
    Effect.gen(function* () {
      const logging = recorder.get(LoggingSlot)
      if (logging !== undefined) (yield* Lifecycle.make(logging.config, logging.loggers))?.attachTo(recorder)
      return {}
    }),
}
