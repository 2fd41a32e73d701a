import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { TestClock } from "effect/testing"
import { Health, Stage, Telemetry } from "../../mod.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { ExportStatsSlot, type ExportStatsSnapshot } from "../../src/internal/slots.ts"
import { CurrentSystemSource, type SystemSource } from "../../src/health/internal/system.ts"
import { effectTest } from "../_harness.ts"
import { captureLogs } from "../errors/_support.ts"

const GiB = 1024 ** 3

/** A machine with 16 GiB of which `usedPercent` is in use (`undefined`: no --allow-sys). */
const machine = (usedPercent: number | undefined, rss: number = 50 * 1024 ** 2): SystemSource => ({
  memoryUsage: () => ({ rss, heapTotal: 20e6, heapUsed: 10e6, external: 1e6 }),
  systemMemory: () =>
    usedPercent === undefined
      ? undefined
      : { total: 16 * GiB, available: 16 * GiB * (1 - usedPercent / 100) },
  loadAverage: () => (usedPercent === undefined ? undefined : [0.5, 0.4, 0.3]),
  cpuUsage: () => ({ user: 1_000_000, system: 0 }),
  uptimeSeconds: () => 12,
  sysGranted: () => usedPercent !== undefined,
})

const withMachine = (source: SystemSource) => Layer.succeed(CurrentSystemSource, source)

const fail = (message: string, stage: string = "llm_request") =>
  Effect.fail(new Error(message)).pipe(Stage.track(stage), Effect.ignore)

const quiet = captureLogs().layer

effectTest("Health.check reports a freshly started, idle service as healthy", () =>
  Effect.gen(function* () {
    const report = yield* Health.check.pipe(
      Effect.provide(Telemetry.layer()),
      Effect.provide(withMachine(machine(40))),
    )
    assert.equal(report.status, "healthy")
    assert.deepEqual(
      Object.fromEntries(Object.entries(report.checks).map(([k, v]) => [k, v.status])),
      { memory: "healthy", budgets: "healthy", errorRate: "healthy", exporter: "skipped" },
    )
    assert.equal(report.checks.exporter.message, "not configured")
    assert.equal(report.timestamp, 0, "time comes from the Clock")
    const system = report.metrics.system
    assert.deepEqual(system.systemMemory, {
      totalBytes: 16 * GiB,
      availableBytes: 16 * GiB * 0.6,
      usedPercent: 40,
    })
    assert.deepEqual(system.loadAverage, [0.5, 0.4, 0.3])
    assert.equal(system.requestsInFlight, 0)
    assert.equal(system.uptimeMs, 12_000)
    assert.deepEqual(system.notes, [])
    assert.equal(report.metrics.budgets.status, "all_budgets_met")
    assert.equal(report.metrics.errors.totalErrors, 0)
  }))

effectTest(
  "Health.check follows memory use: over 80% degraded, over 90% critical",
  () =>
    Effect.gen(function* () {
      const statusAt = (used: number) =>
        Effect.map(
          Health.check.pipe(Effect.provide(Telemetry.layer()), Effect.provide(withMachine(machine(used)))),
          (r) => [r.status, r.checks.memory.status],
        )
      assert.deepEqual(yield* statusAt(80), ["healthy", "healthy"])
      assert.deepEqual(yield* statusAt(85), ["degraded", "warning"])
      assert.deepEqual(yield* statusAt(95), ["critical", "critical"])
      const custom = yield* Health.check.pipe(
        Effect.provide(Telemetry.layer({ health: { memoryWarningPercent: 50, memoryCriticalPercent: 60 } })),
        Effect.provide(withMachine(machine(55))),
      )
      assert.equal(custom.checks.memory.status, "warning")
    }),
)

effectTest(
  "Health.check without --allow-sys says so and falls back to process RSS against rssLimit",
  () =>
    Effect.gen(function* () {
      const noSys = withMachine(machine(undefined, 300e6))
      const unlimited = yield* Health.check.pipe(Effect.provide(Telemetry.layer()), Effect.provide(noSys))
      assert.equal(unlimited.status, "healthy")
      assert.equal(unlimited.checks.memory.status, "skipped")
      assert.match(unlimited.checks.memory.message, /--allow-sys/)
      assert.equal(unlimited.metrics.system.systemMemory, undefined)
      assert.equal(unlimited.metrics.system.loadAverage, undefined)
      assert.ok(
        unlimited.metrics.system.notes.some((n) => /system memory unavailable: run with --allow-sys/.test(n)),
      )
      assert.equal(unlimited.metrics.system.rssBytes, 300e6)

      const check = (rssLimit: number) =>
        Effect.map(
          Health.check.pipe(Effect.provide(Telemetry.layer({ health: { rssLimit } })), Effect.provide(noSys)),
          (r) => r.checks.memory.status,
        )
      assert.equal(yield* check(1e9), "healthy")
      assert.equal(yield* check(350e6), "warning")
      assert.equal(yield* check(320e6), "critical")
    }),
)

effectTest(
  "Health.check degrades on a budget violation in the last hour and recovers after it",
  () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        yield* Stage.record("kb_access", { durationMs: 50, budget: "10 millis" })
        const degraded = yield* Health.check
        assert.equal(degraded.status, "degraded")
        assert.equal(degraded.checks.budgets.status, "warning")
        assert.match(degraded.checks.budgets.message, /1 budget violation/)
        assert.equal(degraded.metrics.budgets.byStage["kb_access"]?.count, 1)
        yield* TestClock.adjust("62 minutes")
        const recovered = yield* Health.check
        assert.equal(recovered.status, "healthy")
        assert.equal(recovered.checks.budgets.status, "healthy")
      }).pipe(
        Effect.provide(Telemetry.layer()),
        Effect.provide(withMachine(machine(40))),
        Effect.provide(quiet),
      )
    }),
)

effectTest(
  "Health.check counts errors: over 20 degraded, over 50 critical, interruptions ignored",
  () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        for (let i = 0; i < 20; i++) yield* fail("something odd")
        for (let i = 0; i < 30; i++) yield* Effect.interrupt.pipe(Stage.track("race"), Effect.ignoreCause)
        assert.equal((yield* Health.check).checks.errorRate.status, "healthy")
        yield* fail("something odd")
        const degraded = yield* Health.check
        assert.deepEqual([degraded.status, degraded.checks.errorRate.status], ["degraded", "warning"])
        for (let i = 0; i < 30; i++) yield* fail("something odd")
        const critical = yield* Health.check
        assert.deepEqual([critical.status, critical.checks.errorRate.status], ["critical", "critical"])
        assert.equal(critical.metrics.errors.totalErrors, 81)
        yield* TestClock.adjust("2 hours")
        assert.equal((yield* Health.check).status, "healthy")
      }).pipe(
        Effect.provide(Telemetry.layer()),
        Effect.provide(withMachine(machine(40))),
        Effect.provide(quiet),
      )
    }),
)

const exportStats = (overrides: Partial<ExportStatsSnapshot>): ExportStatsSnapshot => ({
  exported: { traces: 10 },
  dropped: {},
  failures: 0,
  queued: 0,
  capacity: 100,
  lastSuccessAt: 1,
  lastFailureAt: undefined,
  lastError: undefined,
  ...overrides,
})

effectTest(
  "Health.check reads the exporter statistics when the export concern is installed",
  () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        const recorder = yield* CurrentRecorder
        recorder.set(ExportStatsSlot, () => exportStats({}))
        assert.equal((yield* Health.check).checks.exporter.status, "healthy")
        recorder.set(
          ExportStatsSlot,
          () => exportStats({ failures: 1, lastFailureAt: 5, lastError: "ECONNREFUSED" }),
        )
        const failing = yield* Health.check
        assert.equal(
          failing.status,
          "degraded",
          "a failing exporter degrades but never takes the service down",
        )
        assert.match(failing.checks.exporter.message, /ECONNREFUSED/)
        recorder.set(ExportStatsSlot, () => exportStats({ queued: 95 }))
        assert.equal((yield* Health.check).checks.exporter.status, "warning")
        recorder.set(ExportStatsSlot, () => {
          throw new Error("boom")
        })
        assert.equal((yield* Health.check).checks.exporter.status, "warning")
      }).pipe(Effect.provide(Telemetry.layer()), Effect.provide(withMachine(machine(40))))
    }),
)

effectTest(
  "Health.check reports process CPU share over the interval since the previous check",
  () =>
    Effect.gen(function* () {
      let cpu = 0
      const source: SystemSource = { ...machine(40), cpuUsage: () => ({ user: cpu, system: 0 }) }
      yield* Effect.gen(function* () {
        assert.equal((yield* Health.check).metrics.system.cpuPercent, undefined)
        cpu += 250_000 // 250 ms of CPU…
        yield* TestClock.adjust("1 second") // …in one second
        assert.equal((yield* Health.check).metrics.system.cpuPercent, 25)
      }).pipe(Effect.provide(Telemetry.layer()), Effect.provide(withMachine(source)))
    }),
)

effectTest(
  "Health.handler answers 200 when healthy or degraded and 503 when critical",
  () =>
    Effect.gen(function* () {
      const respond = (used: number, init?: RequestInit) =>
        Effect.gen(function* () {
          const handler = yield* Health.handler.pipe(
            Effect.provide(Telemetry.layer()),
            Effect.provide(withMachine(machine(used))),
          )
          const response = yield* Effect.promise(() => handler(new Request("http://localhost/health", init)))
          const text = yield* Effect.promise(() => response.text())
          return { response, text }
        })
      const healthy = yield* respond(10)
      assert.equal(healthy.response.status, 200)
      assert.equal(healthy.response.headers.get("content-type"), "application/json; charset=utf-8")
      assert.equal(healthy.response.headers.get("cache-control"), "no-store")
      assert.equal(JSON.parse(healthy.text).status, "healthy")
      const degraded = yield* respond(85)
      assert.deepEqual([degraded.response.status, JSON.parse(degraded.text).status], [200, "degraded"])
      const critical = yield* respond(95)
      assert.deepEqual([critical.response.status, JSON.parse(critical.text).status], [503, "critical"])
      const head = yield* respond(95, { method: "HEAD" })
      assert.deepEqual([head.response.status, head.text], [503, ""])
      const post = yield* respond(10, { method: "POST" })
      assert.equal(post.response.status, 405)
      assert.equal(post.response.headers.get("allow"), "GET, HEAD")
    }),
)

effectTest("Health.handler reads the live state on every request", () =>
  Effect.gen(function* () {
    yield* Effect.gen(function* () {
      const handler = yield* Health.handler
      const status = () =>
        Effect.promise(() => handler(new Request("http://localhost/health")).then((r) => r.status))
      assert.equal(yield* status(), 200)
      for (let i = 0; i < 51; i++) yield* fail("something odd")
      assert.equal(yield* status(), 503)
    }).pipe(
      Effect.provide(Telemetry.layer()),
      Effect.provide(withMachine(machine(40))),
      Effect.provide(quiet),
    )
  }))

effectTest("Health.check works without the telemetry layer", () =>
  Effect.gen(function* () {
    const report = yield* Health.check.pipe(Effect.provide(withMachine(machine(40))))
    assert.equal(report.checks.budgets.status, "skipped")
    assert.equal(report.checks.errorRate.status, "skipped")
    assert.equal(report.status, "healthy")
  }))

effectTest("Health.check reads the real machine through Deno", () =>
  Effect.gen(function* () {
    const report = yield* Health.check.pipe(Effect.provide(Telemetry.layer()))
    const system = report.metrics.system
    assert.ok(system.rssBytes > 0)
    assert.ok(system.heapUsedBytes > 0)
    assert.ok(system.uptimeMs > 0)
    // The tests run with -A, so --allow-sys is granted.
    assert.ok(system.systemMemory !== undefined && system.systemMemory.totalBytes > 0)
    assert.equal(system.loadAverage?.length, 3)
  }))

effectTest(
  "Telemetry.layer({ health }) validates thresholds; layerFromEnv reads them",
  () =>
    Effect.gen(function* () {
      const build = (health: Telemetry.TelemetryOptions["health"]) =>
        Layer.build(Telemetry.layer({ health })).pipe(Effect.scoped, Effect.flip)
      assert.equal((yield* build({ memoryWarningPercent: 120 })).name, "health.memoryWarningPercent")
      assert.equal(
        (yield* build({ memoryWarningPercent: 95, memoryCriticalPercent: 90 })).name,
        "health.memoryCriticalPercent",
      )
      assert.equal((yield* build({ errorWarning: -1 })).name, "health.errorWarning")
      assert.equal((yield* build({ errorWarning: 10, errorCritical: 5 })).name, "health.errorCritical")
      assert.equal((yield* build({ rssLimit: 0 })).name, "health.rssLimit")
      assert.equal((yield* build({ window: "never" as never })).name, "health.window")

      const options = yield* Telemetry.optionsFromEnv({
        STAGETRACE_HEALTH_MEMORY_WARNING_PERCENT: "70",
        STAGETRACE_HEALTH_MEMORY_CRITICAL_PERCENT: "85",
        STAGETRACE_HEALTH_RSS_LIMIT: "512MiB",
        STAGETRACE_HEALTH_ERROR_WARNING: "5",
        STAGETRACE_HEALTH_ERROR_CRITICAL: "10",
        STAGETRACE_HEALTH_WINDOW: "30m",
      })
      assert.deepEqual(options.health, {
        memoryWarningPercent: 70,
        memoryCriticalPercent: 85,
        rssLimit: 512 * 1024 ** 2,
        errorWarning: 5,
        errorCritical: 10,
        window: 1_800_000,
      })
      const bad = yield* Effect.flip(Telemetry.optionsFromEnv({ STAGETRACE_HEALTH_RSS_LIMIT: "lots" }))
      assert.equal(bad.name, "STAGETRACE_HEALTH_RSS_LIMIT")
    }),
)

effectTest(
  "Health.check redacts the exporter's last error before it reaches a public endpoint",
  () =>
    Effect.gen(function* () {
      const recorder = yield* CurrentRecorder
      recorder.set(
        ExportStatsSlot,
        () =>
          exportStats({
            failures: 1,
            lastFailureAt: 5,
            lastError: "TypeError: fetch failed for https://otel:s3cretpw@collector.internal:4318 " +
              "(Authorization: Bearer abcdef0123456789xyz)",
          }),
      )
      const handler = yield* Health.handler
      const body = yield* Effect.promise(() =>
        handler(new Request("http://localhost/health")).then((r) => r.text())
      )
      assert.match(body, /fetch failed/)
      assert.doesNotMatch(body, /s3cretpw|abcdef0123456789xyz/)
    }).pipe(Effect.provide(Telemetry.layer()), Effect.provide(withMachine(machine(40)))),
)
