/**
 * A real Prometheus (Debian's `prometheus`, started by the test on 127.0.0.1 with a temporary config and
 * data directory) scrapes stagetrace twice: the `Telemetry.layer` server with a bearer token (Prometheus
 * asks for OpenMetrics first) and a `Prometheus.handler` forced to the text format. Both targets must be
 * `up`, and the query API must return the values the test recorded, tricky label values included.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Metric from "effect/Metric"
import { Metrics, Prometheus, Request, Stage, Telemetry } from "../../mod.ts"
import { findBinary, getJson, skipBecauseMissing, startPrometheus, waitFor } from "./prometheus_helpers.ts"

const prometheus = findBinary("prometheus")

const orders = Metrics.defineUnsafe({
  name: "shop_orders_total",
  type: "counter",
  description: "Orders placed",
  labels: ["channel"],
})
const basket = Metrics.defineUnsafe({
  name: "shop_basket_value_dollars",
  type: "histogram",
  description: "Basket value",
  unit: "dollars",
  buckets: [10, 50, 100],
})
const depth = Metrics.defineUnsafe({
  name: "shop_queue_depth",
  type: "gauge",
  description: "Queue depth",
  labels: ["queue"],
})

/** A label value that needs every escape the formats have (newlines are covered by the unit tests). */
const tricky = 'we"b\\shop'

interface QueryResult {
  readonly data: {
    readonly result: ReadonlyArray<{ metric: Record<string, string>; value: [number, string] }>
  }
}

Deno.test({
  name: "a real Prometheus scrapes both formats and its query API returns the recorded values",
  ignore: prometheus === undefined && skipBecauseMissing("prometheus"),
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    const token = "scrape-token-42"
    const runtime = ManagedRuntime.make(
      Telemetry.layer({ serviceName: "shop", prometheus: { port: 0, bearerToken: token } }).pipe(
        Layer.provide(Layer.succeed(Metric.MetricRegistry, new Map())),
      ),
    )
    let textServer: Deno.HttpServer<Deno.NetAddr> | undefined
    let server: Awaited<ReturnType<typeof startPrometheus>> | undefined
    try {
      const { omAddress, handle } = await runtime.runPromise(
        Effect.gen(function* () {
          yield* Metrics.increment(orders, { channel: tricky }, 3)
          yield* Metrics.increment(orders, { channel: "mobile" })
          yield* Metrics.observe(basket, 42)
          yield* Metrics.observe(basket, 420)
          yield* Metrics.set(depth, { queue: "emails" }, 7)
          yield* Effect.gen(function* () {
            yield* Stage.track(Effect.void, "auth_check")
            yield* Stage.track(Effect.void, "llm_request")
          }).pipe(Request.track("chat"))
          const omAddress = (yield* Prometheus.serverAddress)!
          const handle = yield* Prometheus.handler({ format: "text" })
          return { omAddress, handle }
        }),
      )
      textServer = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handle)
      const textPort = textServer.addr.port

      server = await startPrometheus(
        prometheus!,
        [
          "global:",
          "  scrape_interval: 1s",
          "  scrape_timeout: 1s",
          "scrape_configs:",
          "  - job_name: stagetrace_openmetrics",
          "    authorization:",
          `      credentials: ${token}`,
          "    static_configs:",
          `      - targets: ["127.0.0.1:${omAddress.port}"]`,
          "  - job_name: stagetrace_text",
          "    static_configs:",
          `      - targets: ["127.0.0.1:${textPort}"]`,
          "",
        ].join("\n"),
      )
      const api = server.url
      await waitFor("Prometheus to be ready", 60_000, async () => {
        const response = await fetch(`${api}/-/ready`)
        await response.body?.cancel()
        return response.ok ? true : undefined
      })

      const targets = await waitFor("both targets to be up", 60_000, async () => {
        const body = await getJson(`${api}/api/v1/targets`) as {
          data: {
            activeTargets: ReadonlyArray<{ labels: { job: string }; health: string; lastError: string }>
          }
        }
        const active = body.data.activeTargets
        return active.length === 2 && active.every((t) => t.health === "up") ? active : undefined
      }).catch(async (error) => {
        const body = await getJson(`${api}/api/v1/targets`).catch(() => undefined)
        throw new Error(`${error.message}\ntargets: ${JSON.stringify(body)}`)
      })
      assert.deepEqual(targets.map((t) => t.lastError), ["", ""])

      const query = (promql: string) =>
        waitFor(`a result for ${promql}`, 30_000, async () => {
          const body = await getJson(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`) as QueryResult
          return body.data.result.length > 0 ? body.data.result : undefined
        })
      for (const job of ["stagetrace_openmetrics", "stagetrace_text"]) {
        const up = await query(`up{job="${job}"}`)
        assert.equal(up[0]!.value[1], "1", job)
        const byChannel = await query(`shop_orders_total{job="${job}"}`)
        const values = Object.fromEntries(byChannel.map((r) => [r.metric["channel"], r.value[1]]))
        assert.deepEqual(values, { [tricky]: "3", mobile: "1" }, job)
        assert.equal((await query(`shop_basket_value_dollars_count{job="${job}"}`))[0]!.value[1], "2")
        assert.equal((await query(`shop_basket_value_dollars_sum{job="${job}"}`))[0]!.value[1], "462")
        const inf = await query(`shop_basket_value_dollars_bucket{job="${job}",le="+Inf"}`)
        assert.equal(inf[0]!.value[1], "2")
        assert.equal((await query(`shop_queue_depth{job="${job}",queue="emails"}`))[0]!.value[1], "7")
        const stages = await query(`stagetrace_stage_duration_seconds_count{job="${job}"}`)
        assert.deepEqual(stages.map((r) => r.metric["stage"]).sort(), ["auth_check", "llm_request"])
        const requests = await query(`stagetrace_requests_total{job="${job}",request="chat",status="ok"}`)
        assert.equal(requests[0]!.value[1], "1")
        assert.equal((await query(`stagetrace_requests_in_flight{job="${job}"}`))[0]!.value[1], "0")
      }
      // The OpenMetrics scrape carried the units.
      const metadata = await getJson(`${api}/api/v1/targets/metadata?metric=shop_basket_value_dollars`) as {
        data: ReadonlyArray<{ target: { job: string }; type: string; help: string; unit: string }>
      }
      const om = metadata.data.find((m) => m.target.job === "stagetrace_openmetrics")
      assert.deepEqual([om?.type, om?.help, om?.unit], ["histogram", "Basket value", "dollars"])
    } finally {
      const log = await server?.stop()
      await textServer?.shutdown()
      await runtime.dispose()
      if (log !== undefined && /level=error/.test(log)) console.warn(log)
    }
  },
})
