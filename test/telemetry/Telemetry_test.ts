import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Tracer from "effect/Tracer"
import { Request, Stage, StageStats, Summaries, Telemetry, TelemetryConfigError } from "../../mod.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { effectTest } from "../_harness.ts"

const buildError = (layer: Layer.Layer<never, TelemetryConfigError>) =>
  Layer.build(layer).pipe(Effect.scoped, Effect.flip)

effectTest(
  "Telemetry.layer() fails with a typed error naming a bad option and its value",
  () =>
    Effect.gen(function* () {
      const cases: Array<[Telemetry.TelemetryOptions, string, unknown]> = [
        [{ bottleneckShare: 2 }, "bottleneckShare", 2],
        [{ bottleneckShare: Number.NaN }, "bottleneckShare", Number.NaN],
        [{ bottleneckShare: 0 }, "bottleneckShare", 0],
        [{ summaryCapacity: -1 }, "summaryCapacity", -1],
        [{ summaryCapacity: 1.5 }, "summaryCapacity", 1.5],
        [{ maxStagesPerRequest: 0 }, "maxStagesPerRequest", 0],
        [{ maxStageIds: Infinity }, "maxStageIds", Infinity],
        [{ serviceName: "" }, "serviceName", ""],
        [{ enabled: "yes" as unknown as boolean }, "enabled", "yes"],
      ]
      for (const [options, name, value] of cases) {
        const error = yield* buildError(Telemetry.layer(options))
        assert.ok(error instanceof TelemetryConfigError)
        assert.equal(error._tag, "TelemetryConfigError")
        assert.equal(error.source, "option")
        assert.equal(error.name, name)
        assert.ok(Object.is(error.value, value), `${name}: ${String(error.value)}`)
        assert.match(error.message, new RegExp(`^Invalid option ${name}: .+: got `))
      }
    }),
)

effectTest(
  "Telemetry.layerFromEnv() fails with a typed error naming the variable and its value",
  () =>
    Effect.gen(function* () {
      const cases: Array<[Record<string, string>, string]> = [
        [{ STAGETRACE_ENABLED: "maybe" }, "STAGETRACE_ENABLED"],
        [{ OTEL_SDK_DISABLED: "nope" }, "OTEL_SDK_DISABLED"],
        [{ STAGETRACE_BOTTLENECK_SHARE: "abc" }, "STAGETRACE_BOTTLENECK_SHARE"],
        [{ STAGETRACE_BOTTLENECK_SHARE: "1.5" }, "STAGETRACE_BOTTLENECK_SHARE"],
        [{ STAGETRACE_SUMMARY_CAPACITY: "-3" }, "STAGETRACE_SUMMARY_CAPACITY"],
        [{ OTEL_RESOURCE_ATTRIBUTES: "team" }, "OTEL_RESOURCE_ATTRIBUTES"],
        [{ OTEL_RESOURCE_ATTRIBUTES: "team=%zz" }, "OTEL_RESOURCE_ATTRIBUTES"],
      ]
      for (const [env, name] of cases) {
        const error = yield* buildError(Telemetry.layerFromEnv({ env }))
        assert.equal(error.source, "env")
        assert.equal(error.name, name)
        assert.equal(error.value, env[name])
        assert.match(error.message, new RegExp(`^Invalid environment variable ${name}: `))
      }
    }),
)

effectTest("Telemetry.layerFromEnv() reads values, and explicit options win", () =>
  Effect.gen(function* () {
    const layer = Telemetry.layerFromEnv({
      env: {
        STAGETRACE_SUMMARY_CAPACITY: "2",
        STAGETRACE_BOTTLENECK_SHARE: "0.5",
        STAGETRACE_MAX_STAGE_IDS: "9",
      },
      summaryCapacity: 3,
    })
    yield* Effect.gen(function* () {
      for (let i = 0; i < 5; i++) yield* Effect.void.pipe(Request.track("r"))
      assert.equal((yield* Summaries.recent(10)).length, 3)
    }).pipe(Effect.provide(layer))
  }))

effectTest(
  "Telemetry.layerFromEnv() parses OTEL_RESOURCE_ATTRIBUTES with percent-decoding",
  () =>
    Effect.gen(function* () {
      const { optionsFromEnv } = Telemetry
      const options = yield* optionsFromEnv({
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod, team=search%20%26%20ranking,k%3Dx=v",
        OTEL_SERVICE_NAME: "chat",
      })
      assert.deepEqual(options.resourceAttributes, {
        "deployment.environment": "prod",
        team: "search & ranking",
        "k=x": "v",
      })
      assert.equal(options.serviceName, "chat")
    }),
)

effectTest("Telemetry.layer({ enabled: false }) turns wrappers into pass-throughs", () => {
  const spans: Array<string> = []
  const tracer = Tracer.make({
    span(options) {
      spans.push(options.name)
      return Tracer.nativeTracer.span(options)
    },
  })
  return Effect.gen(function* () {
    const value = yield* Effect.succeed(7).pipe(Stage.track("s"), Request.track("r"))
    assert.equal(value, 7)
    yield* Stage.record("t", { durationMs: 3 })
    assert.deepEqual(spans, [])
    assert.deepEqual(yield* StageStats.all, [])
    assert.deepEqual(yield* Summaries.recent(), [])
  }).pipe(Effect.withTracer(tracer), Effect.provide(Telemetry.layer({ enabled: false })))
})

effectTest("OTEL_SDK_DISABLED=true disables stagetrace too", () =>
  Effect.gen(function* () {
    yield* Effect.void.pipe(Stage.track("s"), Request.track("r"))
    assert.deepEqual(yield* StageStats.all, [])
  }).pipe(Effect.provide(Telemetry.layerFromEnv({ env: { OTEL_SDK_DISABLED: "true" } }))))

effectTest("Telemetry.layer() exposes requests in flight as an Effect gauge", () =>
  Effect.gen(function* () {
    const read = Effect.map(
      Metric.snapshot,
      (all) =>
        all.find((m) => m.id === "stagetrace_requests_in_flight")?.state as { value: number } | undefined,
    )
    const inside = yield* read.pipe(Request.track("r"))
    assert.deepEqual(inside, { value: 1 })
    assert.deepEqual(yield* read, { value: 0 })
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest("Telemetry.layer() gives each program its own statistics", () =>
  Effect.gen(function* () {
    const run = Effect.gen(function* () {
      yield* Stage.record("s", { durationMs: 1 })
      return (yield* StageStats.get("s"))?.count
    })
    assert.equal(yield* run.pipe(Effect.provide(Telemetry.layer())), 1)
    assert.equal(yield* run.pipe(Effect.provide(Telemetry.layer())), 1)
  }))

effectTest(
  "Telemetry.layerFromEnv() takes service.name and service.version from OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME wins",
  () =>
    Effect.gen(function* () {
      const service = Effect.withFiber((fiber) =>
        Effect.succeed(fiber.getRef(CurrentRecorder).config.service)
      )
      const resource = "service.name=checkout,service.version=1.4.2,deployment.environment.name=staging"
      const fromResource = yield* service.pipe(
        Effect.provide(Telemetry.layerFromEnv({ env: { OTEL_RESOURCE_ATTRIBUTES: resource } })),
      )
      assert.equal(fromResource.serviceName, "checkout")
      assert.equal(fromResource.serviceVersion, "1.4.2")
      assert.equal(fromResource.environment, "staging")
      const named = yield* service.pipe(
        Effect.provide(
          Telemetry.layerFromEnv({
            env: { OTEL_RESOURCE_ATTRIBUTES: resource, OTEL_SERVICE_NAME: "payments" },
          }),
        ),
      )
      assert.equal(named.serviceName, "payments")
      assert.equal(named.serviceVersion, "1.4.2")
      const unnamed = yield* service.pipe(Effect.provide(Telemetry.layer()))
      assert.equal(unnamed.serviceName, "unknown_service")
    }),
)
