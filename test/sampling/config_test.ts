import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { TestClock } from "effect/testing"
import { Request, Sampler, Stage, Summaries, Telemetry } from "../../mod.ts"
import { effectTest } from "../_harness.ts"

type Options = Parameters<typeof Telemetry.layer>[0]

const layerError = (layer: Layer.Layer<never, Telemetry.TelemetryConfigError>) =>
  Layer.build(layer).pipe(Effect.scoped, Effect.flip)

const optionError = (options: Options) => layerError(Telemetry.layer(options))
const envError = (env: Record<string, string>) => layerError(Telemetry.layerFromEnv({ env }))

const currentSampler = (layer: Layer.Layer<never, Telemetry.TelemetryConfigError>) =>
  Sampler.current.pipe(
    Effect.map((sampler) => Option.getOrUndefined(sampler)?.description),
    Effect.provide(layer),
  )

effectTest(
  "Telemetry.layer() rejects a sampleRate outside [0, 1] or NaN, naming the option and value",
  () =>
    Effect.gen(function* () {
      for (const value of [2, -0.1, Number.NaN, Infinity]) {
        const error = yield* optionError({ sampleRate: value })
        assert.equal(error._tag, "TelemetryConfigError")
        assert.equal(error.name, "sampleRate")
        assert.ok(Object.is(error.value, value))
      }
    }),
)

effectTest(
  "Telemetry.layer() rejects a misconfigured sampler, naming the sampler option and the bad value",
  () =>
    Effect.gen(function* () {
      const ratio = yield* optionError({ sampler: Sampler.consistentRatio(1.5) })
      assert.equal(ratio.name, "sampler")
      assert.equal(ratio.value, 1.5)
      assert.match(
        ratio.message,
        /Invalid option sampler: Sampler\.consistentRatio: expected a rate in \[0, 1\]: got 1\.5/,
      )
      const nested = yield* optionError({ sampler: Sampler.parentBased(Sampler.consistentRatio(Number.NaN)) })
      assert.equal(nested.name, "sampler")
      assert.ok(Number.isNaN(nested.value))
      const by = yield* optionError({ sampler: Sampler.consistentRatio(0.5, { by: "spanId" as "traceId" }) })
      assert.equal(by.value, "spanId")
      const rule = yield* optionError({
        sampler: Sampler.rules([{ name: "health", sampler: undefined as unknown as Sampler.Sampler }]),
      })
      assert.match(rule.reason, /rule 0: sampler is not a Sampler/)
      const notASampler = yield* optionError({ sampler: 0.5 as unknown as Sampler.Sampler })
      assert.equal(notASampler.name, "sampler")
      assert.equal(notASampler.value, 0.5)
    }),
)

effectTest("Telemetry.layer() rejects a bad keepSlowerThan or tailBufferSize", () =>
  Effect.gen(function* () {
    const slow = yield* optionError({ keepSlowerThan: "soon" as "1 second" })
    assert.equal(slow.name, "keepSlowerThan")
    assert.equal((yield* optionError({ keepSlowerThan: -5 })).name, "keepSlowerThan")
    const buffer = yield* optionError({ tailBufferSize: 0 })
    assert.equal(buffer.name, "tailBufferSize")
    assert.equal(buffer.value, 0)
    assert.equal((yield* optionError({ tailBufferSize: 1.5 })).name, "tailBufferSize")
  }))

effectTest(
  "Telemetry.layer() uses ParentBased(AlwaysOn) by default and sampleRate as a parent-based ratio",
  () =>
    Effect.gen(function* () {
      assert.equal(yield* currentSampler(Telemetry.layer()), "ParentBased{root=AlwaysOnSampler}")
      assert.equal(
        yield* currentSampler(Telemetry.layer({ sampleRate: 0.01 })),
        "ParentBased{root=ConsistentRatio{0.01}}",
      )
      // sampleRate wins over sampler when both are given.
      assert.equal(
        yield* currentSampler(Telemetry.layer({ sampleRate: 0.5, sampler: Sampler.alwaysOff })),
        "ParentBased{root=ConsistentRatio{0.5}}",
      )
      assert.equal(yield* currentSampler(Telemetry.layer({ sampler: Sampler.alwaysOff })), "AlwaysOffSampler")
    }),
)

effectTest(
  "Telemetry.layerFromEnv() reads every OTEL_TRACES_SAMPLER value with OTEL_TRACES_SAMPLER_ARG",
  () =>
    Effect.gen(function* () {
      const cases: Array<[Record<string, string>, string]> = [
        [{ OTEL_TRACES_SAMPLER: "always_on" }, "AlwaysOnSampler"],
        [{ OTEL_TRACES_SAMPLER: "always_off" }, "AlwaysOffSampler"],
        [{ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" }, "ConsistentRatio{0.25}"],
        [{ OTEL_TRACES_SAMPLER: "traceidratio" }, "ConsistentRatio{1}"],
        [{ OTEL_TRACES_SAMPLER: "parentbased_always_on" }, "ParentBased{root=AlwaysOnSampler}"],
        [{ OTEL_TRACES_SAMPLER: "parentbased_always_off" }, "ParentBased{root=AlwaysOffSampler}"],
        [
          { OTEL_TRACES_SAMPLER: "ParentBased_TraceIdRatio", OTEL_TRACES_SAMPLER_ARG: "0.1" },
          "ParentBased{root=ConsistentRatio{0.1}}",
        ],
        // The argument of a sampler that takes none is not read.
        [{ OTEL_TRACES_SAMPLER: "always_on", OTEL_TRACES_SAMPLER_ARG: "junk" }, "AlwaysOnSampler"],
      ]
      for (const [env, description] of cases) {
        assert.equal(yield* currentSampler(Telemetry.layerFromEnv({ env })), description, JSON.stringify(env))
      }
    }),
)

effectTest(
  "Telemetry.layerFromEnv() reads STAGETRACE_SAMPLE_RATE, then the seeds' EXECUTION_TRACKING_SAMPLE_RATE",
  () =>
    Effect.gen(function* () {
      const described = (env: Record<string, string>) => currentSampler(Telemetry.layerFromEnv({ env }))
      assert.equal(
        yield* described({ STAGETRACE_SAMPLE_RATE: "0.1" }),
        "ParentBased{root=ConsistentRatio{0.1}}",
      )
      assert.equal(
        yield* described({ EXECUTION_TRACKING_SAMPLE_RATE: "0.2" }),
        "ParentBased{root=ConsistentRatio{0.2}}",
      )
      assert.equal(
        yield* described({ STAGETRACE_SAMPLE_RATE: "0.1", EXECUTION_TRACKING_SAMPLE_RATE: "0.2" }),
        "ParentBased{root=ConsistentRatio{0.1}}",
      )
      // The stagetrace rate wins over the OpenTelemetry sampler.
      assert.equal(
        yield* described({ STAGETRACE_SAMPLE_RATE: "0.3", OTEL_TRACES_SAMPLER: "always_off" }),
        "ParentBased{root=ConsistentRatio{0.3}}",
      )
      // Options given in code win over the environment.
      assert.equal(
        yield* currentSampler(
          Telemetry.layerFromEnv({ env: { STAGETRACE_SAMPLE_RATE: "0.1" }, sampleRate: 0.4 }),
        ),
        "ParentBased{root=ConsistentRatio{0.4}}",
      )
      assert.equal(
        yield* currentSampler(
          Telemetry.layerFromEnv({ env: { OTEL_TRACES_SAMPLER: "always_on" }, sampler: Sampler.alwaysOff }),
        ),
        "AlwaysOffSampler",
      )
    }),
)

effectTest(
  "Telemetry.layerFromEnv() fails on a bad rate or sampler name, naming the variable and value",
  () =>
    Effect.gen(function* () {
      const cases: Array<[Record<string, string>, string, string]> = [
        [{ STAGETRACE_SAMPLE_RATE: "1.5" }, "STAGETRACE_SAMPLE_RATE", "1.5"],
        [{ STAGETRACE_SAMPLE_RATE: "NaN" }, "STAGETRACE_SAMPLE_RATE", "NaN"],
        [{ STAGETRACE_SAMPLE_RATE: "ten percent" }, "STAGETRACE_SAMPLE_RATE", "ten percent"],
        // A shadowed variable is still validated.
        [
          { STAGETRACE_SAMPLE_RATE: "0.5", EXECUTION_TRACKING_SAMPLE_RATE: "-1" },
          "EXECUTION_TRACKING_SAMPLE_RATE",
          "-1",
        ],
        [{ OTEL_TRACES_SAMPLER: "jaeger_remote" }, "OTEL_TRACES_SAMPLER", "jaeger_remote"],
        [
          { OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" },
          "OTEL_TRACES_SAMPLER_ARG",
          "2",
        ],
        [{ STAGETRACE_KEEP_SLOWER_THAN_MS: "-1" }, "STAGETRACE_KEEP_SLOWER_THAN_MS", "-1"],
        [{ STAGETRACE_TAIL_BUFFER_SIZE: "0" }, "STAGETRACE_TAIL_BUFFER_SIZE", "0"],
      ]
      for (const [env, name, value] of cases) {
        const error = yield* envError(env)
        assert.equal(error._tag, "TelemetryConfigError")
        assert.equal(error.source, "env")
        assert.equal(error.name, name)
        assert.equal(error.value, value)
        assert.match(error.message, new RegExp(`^Invalid environment variable ${name}: `))
      }
    }),
)

effectTest(
  "Telemetry.layerFromEnv() reads STAGETRACE_KEEP_SLOWER_THAN_MS and STAGETRACE_TAIL_BUFFER_SIZE",
  () =>
    Effect.gen(function* () {
      const layer = Telemetry.layerFromEnv({
        env: {
          OTEL_TRACES_SAMPLER: "always_off",
          STAGETRACE_KEEP_SLOWER_THAN_MS: "25",
          STAGETRACE_TAIL_BUFFER_SIZE: "1",
        },
      })
      const summaries = yield* Effect.gen(function* () {
        const fiber = yield* Effect.gen(function* () {
          yield* Effect.sleep("15 millis").pipe(Stage.track("a"))
          yield* Effect.sleep("15 millis").pipe(Stage.track("b"))
        }).pipe(Request.track("slow"), Effect.forkChild)
        yield* TestClock.adjust("40 millis")
        yield* Fiber.join(fiber)
        return yield* Summaries.recent(1)
      }).pipe(Effect.provide(layer))
      assert.equal(summaries[0]?.keptBecause, "slow")
      // One span fits in the buffer, the second does not.
      assert.equal(summaries[0]?.truncated, true)
    }),
)

Deno.test("Telemetry.environmentVariables lists the sampling variables", () => {
  for (
    const name of [
      "STAGETRACE_SAMPLE_RATE",
      "EXECUTION_TRACKING_SAMPLE_RATE",
      "OTEL_TRACES_SAMPLER",
      "OTEL_TRACES_SAMPLER_ARG",
      "STAGETRACE_KEEP_SLOWER_THAN_MS",
      "STAGETRACE_TAIL_BUFFER_SIZE",
    ]
  ) assert.ok(Telemetry.environmentVariables.includes(name), name)
})
