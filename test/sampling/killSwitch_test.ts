import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import { disabledByEnvironment, setDisabledByEnvironment } from "../../src/internal/killSwitch.ts"
import { Request, Sampler, Stage, StageStats, Summaries, Telemetry } from "../../mod.ts"
import { effectTest } from "../_harness.ts"
import { recordSpans } from "../_spans.ts"

effectTest(
  "Telemetry.layer({ enabled: false }) makes every wrapper a pass-through that records nothing",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const program = Effect.gen(function* () {
        const value = yield* Effect.gen(function* () {
          yield* Stage.record("recorded", { durationMs: 5 })
          return yield* Effect.succeed(42).pipe(Stage.track("auth"))
        }).pipe(Request.track("chat"))
        const failure = yield* Effect.fail("boom").pipe(
          Stage.track("failing"),
          Request.track("chat"),
          Effect.flip,
        )
        return {
          value,
          failure,
          summaries: yield* Summaries.recent(10),
          stats: yield* StageStats.get("auth"),
          sampling: yield* Sampler.stats,
        }
      })
      const result = yield* program.pipe(
        Effect.provide(Telemetry.layer({ enabled: false, sampleRate: 0.01 })),
        Effect.withTracer(rec.tracer),
      )
      assert.equal(result.value, 42)
      assert.equal(result.failure, "boom")
      assert.deepEqual(result.summaries, [])
      assert.equal(result.stats, undefined)
      // No concern is installed: no sampler, no tail-sampling tracer, no spans.
      assert.equal(result.sampling.sampler, "none")
      assert.deepEqual(rec.spans, [])
    }),
)

Deno.test("the environment kill switch builds no wrapper at all: Stage and Request return the effect itself", () => {
  assert.equal(disabledByEnvironment, false)
  setDisabledByEnvironment(true)
  try {
    const effect = Effect.succeed(1)
    assert.equal(Stage.track(effect, "auth"), effect)
    assert.equal(effect.pipe(Stage.track("auth")), effect)
    assert.equal(Request.track(effect, "chat"), effect)
    assert.equal(Stage.record("recorded", { durationMs: 1 }), Effect.void)
    const fn = Stage.fn("lookup")(function* (n: number) {
      return yield* Effect.succeed(n + 1)
    })
    assert.equal(Effect.runSync(fn(1)), 2)
  } finally {
    setDisabledByEnvironment(false)
  }
})

Deno.test("the environment kill switch is read from STAGETRACE_ENABLED, EXECUTION_TRACKING_ENABLED and OTEL_SDK_DISABLED", async () => {
  const probe = `
    import { disabledByEnvironment } from ${
    JSON.stringify(new URL("../../src/internal/killSwitch.ts", import.meta.url).href)
  }
    console.log(disabledByEnvironment)
  `
  const run = async (env: Record<string, string>, allowEnv = true) => {
    // `deno run -` reads the program from stdin and, unlike `deno eval`, grants only what it is given.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...(allowEnv ? ["--allow-env"] : []), "-"],
      env: { NO_COLOR: "1", ...env },
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn()
    const writer = child.stdin.getWriter()
    await writer.write(new TextEncoder().encode(probe))
    await writer.close()
    const output = await child.output()
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr))
    return new TextDecoder().decode(output.stdout).trim()
  }
  assert.equal(await run({}), "false")
  assert.equal(await run({ STAGETRACE_ENABLED: "false" }), "true")
  assert.equal(await run({ STAGETRACE_ENABLED: "0" }), "true")
  assert.equal(await run({ EXECUTION_TRACKING_ENABLED: "false" }), "true")
  assert.equal(await run({ STAGETRACE_ENABLED: "true", EXECUTION_TRACKING_ENABLED: "false" }), "false")
  assert.equal(await run({ OTEL_SDK_DISABLED: "true" }), "true")
  assert.equal(await run({ OTEL_SDK_DISABLED: "false" }), "false")
  // Without the permission nothing is read, and loading never prompts.
  assert.equal(await run({ STAGETRACE_ENABLED: "false" }, false), "false")
})
