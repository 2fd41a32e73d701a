/**
 * The public models of `Dashboard` that its machinery reads (the options), declared below the public module
 * so that they do not import each other. `Dashboard.ts` re-exports this module whole (`export *`), so
 * everything exported here is public as `Dashboard.<name>`.
 *
 * @module
 */
import type * as Duration from "effect/Duration"
import type * as Redacted from "effect/Redacted"

/**
 * Options of `Dashboard.handler`.
 *
 * @category configuration
 * @since 0.2.0
 */
export interface HandlerOptions {
  /**
   * The path the dashboard answers under: the page at `path` and `path/`, its event stream and API below.
   * @default "/dashboard"
   */
  readonly path?: string | undefined
  /**
   * When set, every request must carry the token: `Authorization: Bearer <token>`, or the cookie the page
   * sets when opened once as `path/?token=<token>`. Letters, digits and `. _ ~ + / = -`.
   * @default undefined (no authentication; allowed on loopback addresses only when the dashboard serves)
   */
  readonly bearerToken?: string | Redacted.Redacted<string> | undefined
}

/**
 * Options of the `dashboard` option of `Telemetry.layer`.
 *
 * @category configuration
 * @since 0.2.0
 */
export interface DashboardOptions extends HandlerOptions {
  /**
   * Serve the dashboard on its own server; `false` to only mount `Dashboard.handler()` on yours.
   * @default true
   */
  readonly serve?: boolean | undefined
  /**
   * The TCP port; `0` picks a free one (read it back with `Dashboard.serverAddress`).
   * @default 9465
   */
  readonly port?: number | undefined
  /**
   * The interface to listen on. Any address other than a loopback one (127.0.0.0/8, `::1`, `localhost`)
   * needs `bearerToken`.
   * @default "127.0.0.1"
   */
  readonly hostname?: string | undefined
  /**
   * How often open pages get an update.
   * @default "1 second"
   */
  readonly interval?: Duration.Input | undefined
  /**
   * The width of a time bucket of the charts (a whole number of seconds).
   * @default "5 seconds"
   */
  readonly bucket?: Duration.Input | undefined
  /**
   * How many buckets of history the charts keep (2 to 2000): 120 buckets of 5 seconds are 10 minutes.
   * @default 120
   */
  readonly buckets?: number | undefined
  /**
   * A link to a request's trace, with `{traceId}` (and optionally `{spanId}`) replaced, for example
   * Jaeger's `"http://localhost:16686/trace/{traceId}"`.
   * @default undefined (the trace id is shown without a link)
   */
  readonly traceUrl?: string | undefined
  /**
   * Pages open at the same time; more get `503`.
   * @default 8
   */
  readonly maxConnections?: number | undefined
  /**
   * Bytes a page may leave unread before it is dropped as too slow (at least 16384).
   * @default 1048576
   */
  readonly bufferSize?: number | undefined
  /**
   * Requests listed per table (newest, slowest, failed).
   * @default 25
   */
  readonly tableSize?: number | undefined
  /**
   * Log records made inside requests that the dashboard keeps for the request view (`0` keeps none).
   * @default 2000
   */
  readonly logCapacity?: number | undefined
  /**
   * Log records kept per request; later ones are counted as the drop `dashboard_log_capture_full`.
   * @default 50
   */
  readonly logsPerRequest?: number | undefined
  /**
   * JSONL performance logs (a file or a directory, as `Exporter.jsonl` writes them) holding earlier
   * deployments: the page's Compare panel compares the requests in memory (this `serviceVersion`) with the
   * newest other `service.version` found there, with the statistics of `deno task report --compare`.
   * Needs read permission for the path.
   * @default undefined (no comparison panel)
   */
  readonly compareWith?: string | undefined
}

/**
 * The dashboard option of `Telemetry.layer`.
 *
 * @category configuration
 * @since 0.2.0
 */
export interface DashboardTelemetryOptions {
  /**
   * The live dashboard: `true` for the defaults (served on 127.0.0.1:9465 under `/dashboard`), or its
   * options; `{ serve: false }` to mount `Dashboard.handler()` on a server of your own.
   * @default false
   */
  readonly dashboard?: boolean | DashboardOptions | undefined
}
