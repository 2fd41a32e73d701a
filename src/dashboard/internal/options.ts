/**
 * Validation of the dashboard options: every value checked once, a bad one failing with a
 * `TelemetryConfigError` that names the option (`dashboard.port`…). A hostname other than a loopback
 * address needs a bearer token: the dashboard shows request ids, error messages and log records.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import {
  bearerTokenOption,
  integerOption,
  NonEmpty,
  option,
  optionError,
  positiveDurationOption,
  type TelemetryConfigError,
} from "../../internal/config.ts"
import type { DashboardOptions, HandlerOptions } from "./dashboardModel.ts"

/** Validated handler options. */
export interface HandlerConfig {
  readonly path: string
  readonly bearerToken: Redacted.Redacted<string> | undefined
}

/** Validated dashboard options. */
export interface DashboardConfig extends HandlerConfig {
  readonly serve: boolean
  readonly port: number
  readonly hostname: string
  readonly intervalMs: number
  readonly bucketMs: number
  readonly buckets: number
  readonly traceUrl: string | undefined
  readonly maxConnections: number
  readonly bufferBytes: number
  readonly tableSize: number
  readonly logCapacity: number
  readonly logsPerRequest: number
  readonly compareWith: string | undefined
}

/** The defaults. */
export const defaults = {
  port: 9465,
  hostname: "127.0.0.1",
  path: "/dashboard",
  intervalMs: 1_000,
  bucketMs: 5_000,
  buckets: 120,
  maxConnections: 8,
  bufferBytes: 1024 * 1024,
  tableSize: 25,
  logCapacity: 2_000,
  logsPerRequest: 50,
} as const

/** Whether `hostname` only accepts connections from this machine. */
export const isLoopback = (hostname: string): boolean => {
  const host = hostname.trim().toLowerCase().replace(/^\[|\]$/g, "")
  return host === "localhost" || host === "::1" || /^127(?:\.\d{1,3}){3}$/.test(host) ||
    host === "::ffff:127.0.0.1"
}

/** Validates the handler options; `prefix` names the option path in errors (`dashboard.`). */
export const validateHandler = (
  options: HandlerOptions | undefined,
  prefix: string,
): Effect.Effect<HandlerConfig, TelemetryConfigError> =>
  Effect.gen(function* () {
    // Also travels in a cookie: printable ASCII without separators.
    const bearerToken = yield* bearerTokenOption(
      `${prefix}bearerToken`,
      options?.bearerToken,
      (raw) => /^[A-Za-z0-9._~+/=-]+$/.test(raw),
      "Expected a non-empty token of letters, digits and . _ ~ + / = -",
    )
    const path = options?.path ?? defaults.path
    if (typeof path !== "string" || !/^\/[A-Za-z0-9._~/-]*$/.test(path) || path.includes("//")) {
      return yield* Effect.fail(
        optionError(`${prefix}path`, path, 'Expected a path starting with "/" (letters, digits, . _ ~ - /)'),
      )
    }
    return { path: path.length > 1 ? path.replace(/\/+$/, "") : path, bearerToken }
  })

/** Validates the `dashboard` option of `Telemetry.layer`. */
export const validateDashboard = (
  value: boolean | DashboardOptions | undefined,
): Effect.Effect<DashboardConfig | undefined, TelemetryConfigError> =>
  Effect.gen(function* () {
    if (value === undefined || value === false) return undefined
    if (value !== true && (typeof value !== "object" || value === null)) {
      return yield* Effect.fail(optionError("dashboard", value, "Expected true, false or dashboard options"))
    }
    const options: DashboardOptions = value === true ? {} : value
    const handler = yield* validateHandler(options, "dashboard.")
    const serve = options.serve ?? true
    if (typeof serve !== "boolean") {
      return yield* Effect.fail(optionError("dashboard.serve", serve, "Expected a boolean"))
    }
    const port = yield* integerOption("dashboard.port", options.port, defaults.port, 0, 65535)
    const hostname = yield* option("dashboard.hostname", NonEmpty, options.hostname, defaults.hostname)
    if (serve && !isLoopback(hostname) && handler.bearerToken === undefined) {
      return yield* Effect.fail(
        optionError(
          "dashboard.bearerToken",
          undefined,
          `A bearer token is required to serve the dashboard on ${hostname}, which is not a loopback address`,
        ),
      )
    }
    const intervalMs = (yield* positiveDurationOption("dashboard.interval", options.interval)) ??
      defaults.intervalMs
    const bucketMs = (yield* positiveDurationOption("dashboard.bucket", options.bucket)) ?? defaults.bucketMs
    if (bucketMs < 1000 || bucketMs % 1000 !== 0) {
      return yield* Effect.fail(
        optionError(
          "dashboard.bucket",
          options.bucket,
          "Expected a whole number of seconds, at least 1 second",
        ),
      )
    }
    const traceUrl = options.traceUrl
    if (traceUrl !== undefined) {
      let valid = typeof traceUrl === "string" && traceUrl.includes("{traceId}")
      if (valid) {
        try {
          const url = new URL(traceUrl.replaceAll("{traceId}", "0").replaceAll("{spanId}", "0"))
          valid = url.protocol === "http:" || url.protocol === "https:"
        } catch {
          valid = false
        }
      }
      if (!valid) {
        return yield* Effect.fail(
          optionError(
            "dashboard.traceUrl",
            traceUrl,
            'Expected an http(s) URL template containing {traceId}, such as "http://localhost:16686/trace/{traceId}"',
          ),
        )
      }
    }
    const bufferBytes = options.bufferSize ?? defaults.bufferBytes
    if (!(typeof bufferBytes === "number" && Number.isInteger(bufferBytes) && bufferBytes >= 16 * 1024)) {
      return yield* Effect.fail(
        optionError(
          "dashboard.bufferSize",
          bufferBytes,
          "Expected an integer number of bytes, at least 16384",
        ),
      )
    }
    const compareWith = options.compareWith
    if (compareWith !== undefined && (typeof compareWith !== "string" || compareWith === "")) {
      return yield* Effect.fail(
        optionError("dashboard.compareWith", compareWith, "Expected the path of a JSONL file or directory"),
      )
    }
    return {
      ...handler,
      compareWith,
      serve,
      port,
      hostname,
      intervalMs,
      bucketMs,
      buckets: yield* integerOption("dashboard.buckets", options.buckets, defaults.buckets, 2, 2000),
      traceUrl,
      maxConnections: yield* integerOption(
        "dashboard.maxConnections",
        options.maxConnections,
        defaults.maxConnections,
        1,
        1000,
      ),
      bufferBytes,
      tableSize: yield* integerOption("dashboard.tableSize", options.tableSize, defaults.tableSize, 1, 500),
      logCapacity: yield* integerOption(
        "dashboard.logCapacity",
        options.logCapacity,
        defaults.logCapacity,
        0,
        1e6,
      ),
      logsPerRequest: yield* integerOption(
        "dashboard.logsPerRequest",
        options.logsPerRequest,
        defaults.logsPerRequest,
        1,
        10_000,
      ),
    }
  })
