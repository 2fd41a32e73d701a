/**
 * `promtool check metrics` (from Debian's `prometheus` package) on the exposition of the whole catalogue
 * plus the toolkit's own metrics, as `Telemetry.layer` produces it: no lint problem, no parse error.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { MetricCatalogue, Prometheus, Request, Stage, Telemetry } from "../../mod.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { ExportStatsSlot } from "../../src/internal/slots.ts"
import { findBinary, recordWholeCatalogue, skipBecauseMissing } from "./prometheus_helpers.ts"

const promtool = findBinary("promtool")

const promtoolCheck = async (exposition: string): Promise<{ code: number; output: string }> => {
  const child = new Deno.Command(promtool!, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn()
  const writer = child.stdin.getWriter()
  await writer.write(new TextEncoder().encode(exposition))
  await writer.close()
  const { code, stdout, stderr } = await child.output()
  const decoder = new TextDecoder()
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) }
}

Deno.test({
  name: "promtool check metrics finds no problem in the catalogue and the toolkit's metrics",
  ignore: promtool === undefined && skipBecauseMissing("promtool"),
  fn: async () => {
    const exposition = await Effect.runPromise(
      Effect.gen(function* () {
        const recorder = yield* CurrentRecorder
        recorder.set(ExportStatsSlot, () => ({
          exported: { traces: 1 },
          dropped: { "traces:queue_full": 1 },
          failures: 0,
          queued: 0,
          capacity: 100,
          lastSuccessAt: undefined,
          lastFailureAt: undefined,
          lastError: undefined,
        }))
        recorder.countDrop("record_without_duration")
        yield* Effect.gen(function* () {
          yield* Stage.track(Effect.void, "auth_check")
          yield* Effect.ignore(Stage.track(Effect.fail("x"), "llm_request"))
        }).pipe(Request.track("chat"))
        yield* recordWholeCatalogue
        return yield* Prometheus.format("text")
      }).pipe(
        Effect.provide(
          Telemetry.layer({ serviceName: "promtool" }).pipe(
            Layer.provide(Layer.succeed(Metric.MetricRegistry, new Map())),
          ),
        ),
      ),
    )
    for (const def of Object.values(MetricCatalogue)) {
      assert.match(exposition, new RegExp(`^# TYPE ${def.name} ${def.type}$`, "m"), def.name)
    }
    const { code, output } = await promtoolCheck(exposition)
    assert.equal(output, "", `promtool reported:\n${output}`)
    assert.equal(code, 0)
  },
})

Deno.test({
  name: "promtool check metrics catches what the renderer must never produce (the check can fail)",
  ignore: promtool === undefined && skipBecauseMissing("promtool"),
  fn: async () => {
    const { code, output } = await promtoolCheck(
      "# HELP latency_ms Latency\n# TYPE latency_ms gauge\nlatency_ms 1\n",
    )
    assert.notEqual(code, 0)
    assert.match(output, /latency_ms/)
  },
})
