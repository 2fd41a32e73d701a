/**
 * The toolkit's HTTP server metrics, recorded by `Http.middleware` with Effect `Metric`s under the
 * catalogue names: `http_requests_total{method,route,status}` and
 * `http_request_duration_seconds{method,route,status}` (seconds, the OpenTelemetry
 * `http.server.request.duration` buckets). One metric object per label set is cached (bounded).
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Metric from "effect/Metric"

/** Name of the request counter (metrics catalogue). */
export const REQUESTS_TOTAL = "http_requests_total"
/** Name of the request duration histogram (metrics catalogue). */
export const REQUEST_DURATION_SECONDS = "http_request_duration_seconds"
/** Description of the request counter (as in the metrics catalogue). */
export const REQUESTS_TOTAL_DESCRIPTION = "Total HTTP requests"
/** Description of the request duration histogram (as in the metrics catalogue). */
export const REQUEST_DURATION_DESCRIPTION = "HTTP request duration in seconds"

/** Bucket boundaries in seconds, as advised for `http.server.request.duration`. */
export const DURATION_BOUNDARIES: ReadonlyArray<number> = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10,
]

interface Series {
  readonly requests: Metric.Counter<number>
  readonly duration: Metric.Histogram<number>
}

const MAX_CACHED = 2048
/** Series by method, route and status: no key string to build per request. */
const cache = new Map<string, Map<string, Map<number, Series>>>()
let cached = 0

const seriesFor = (method: string, route: string, status: number): Series => {
  let series = cache.get(method)?.get(route)?.get(status)
  if (series === undefined) {
    const attributes = { method, route, status: String(status) }
    series = {
      requests: Metric.counter(REQUESTS_TOTAL, {
        description: REQUESTS_TOTAL_DESCRIPTION,
        incremental: true,
        attributes,
      }),
      duration: Metric.histogram(REQUEST_DURATION_SECONDS, {
        description: REQUEST_DURATION_DESCRIPTION,
        boundaries: DURATION_BOUNDARIES,
        attributes,
      }),
    }
    if (cached < MAX_CACHED) {
      let byRoute = cache.get(method)
      if (byRoute === undefined) cache.set(method, byRoute = new Map())
      let byStatus = byRoute.get(route)
      if (byStatus === undefined) byRoute.set(route, byStatus = new Map())
      byStatus.set(status, series)
      cached++
    }
  }
  return series
}

/** Records one finished server request into the registry of `context`. */
export const recordServerRequest = (
  context: Context.Context<never>,
  method: string,
  route: string,
  status: number,
  seconds: number,
): void => {
  const series = seriesFor(method, route, status)
  series.requests.updateUnsafe(1, context)
  if (seconds >= 0 && Number.isFinite(seconds)) series.duration.updateUnsafe(seconds, context)
}

/** The route label for requests without a route. */
export const NO_ROUTE = ""
/** The route label once a middleware has seen `maxRoutes` distinct routes. */
export const OVERFLOW_ROUTE = "_OTHER"
