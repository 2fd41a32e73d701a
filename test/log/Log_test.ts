import assert from "node:assert/strict"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import { TestConsole } from "effect/testing"
import { Log, Request, Stage, Telemetry } from "../../mod.ts"
import { CurrentRecorder, globalRecorder, type Recorder } from "../../src/internal/recorder.ts"
import { toSummaryLine } from "../../src/internal/jsonl.ts"
import { isoTimestamp, toJsonLine } from "../../src/log/internal/record.ts"
import { RedactorSlot } from "../../src/internal/slots.ts"
import { effectTest, runFor } from "../_harness.ts"
import { ordinaryCorpus, personalCorpus } from "./_corpus.ts"

type Json = Record<string, unknown>

/** Runs `body` with `layer` built in an inner scope (closed before the lines are read, which flushes). */
const withLayer = <A, E>(
  layer: Layer.Layer<never, E>,
  body: Effect.Effect<A, unknown>,
): Effect.Effect<{ readonly result: A; readonly lines: ReadonlyArray<Json> }, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const result = yield* Effect.scoped(
      Effect.flatMap(
        Layer.build(layer),
        (context) => runFor(Effect.provideContext(body, context), "10 seconds"),
      ),
    )
    const raw = yield* TestConsole.logLines
    return { result, lines: raw.map((line) => JSON.parse(String(line)) as Json) }
  }).pipe(Effect.provide(TestConsole.layer))

const service = { serviceName: "chat", environment: "test", serviceVersion: "1.2.0" }

effectTest(
  "Log.layer records carry service and correlation ids inside a request and a stage",
  () =>
    Effect.gen(function* () {
      const program = Effect.gen(function* () {
        yield* Effect.logInfo("outside")
        const ids = yield* Effect.gen(function* () {
          yield* Effect.logInfo("in request")
          return yield* Effect.gen(function* () {
            yield* Effect.logWarning("in stage")
            const span = yield* Effect.currentSpan
            return { traceId: span.traceId, spanId: span.spanId }
          }).pipe(Stage.track("kb_access"))
        }).pipe(Request.track("chat", { requestId: "req-42" }))
        return ids
      })
      const { lines, result } = yield* withLayer(
        // The program's own records only (Log.layer adds the lifecycle records, see below).
        Layer.provideMerge(Log.layer({ lifecycle: false }), Telemetry.layer(service)),
        program,
      )
      assert.equal(lines.length, 3)
      const [outside, inRequest, inStage] = lines
      assert.equal(outside?.message, "outside")
      assert.equal(outside?.request_id, undefined)
      assert.equal(outside?.stage_id, undefined)
      assert.equal(outside?.trace_id, undefined)
      assert.equal(inRequest?.request_id, "req-42")
      assert.equal(inRequest?.stage_id, undefined)
      assert.deepEqual(
        {
          level: inStage?.level,
          service: inStage?.service,
          environment: inStage?.environment,
          version: inStage?.version,
          trace_id: inStage?.trace_id,
          span_id: inStage?.span_id,
          request_id: inStage?.request_id,
          stage_id: inStage?.stage_id,
        },
        {
          level: "warn",
          service: "chat",
          environment: "test",
          version: "1.2.0",
          trace_id: result.traceId,
          span_id: result.spanId,
          request_id: "req-42",
          stage_id: "kb_access",
        },
      )
      assert.equal(inStage?.timestamp, new Date(0).toISOString())
    }),
)

effectTest(
  "Log.layer adds annotations and object fields, redacted, without overwriting the message",
  () =>
    Effect.gen(function* () {
      const { lines } = yield* withLayer(
        Log.layer(),
        Effect.logInfo("user alice@example.com signed in", { password: "hunter2", plan: "pro", message: "x" })
          .pipe(
            Effect.annotateLogs({ api_key: "k", session: Redacted.make("s"), region: "eu" }),
          ),
      )
      assert.deepEqual(lines[0], {
        timestamp: new Date(0).toISOString(),
        level: "info",
        message: "user [EMAIL] signed in",
        service: "unknown_service",
        password: "[REDACTED]",
        plan: "pro",
        api_key: "[REDACTED]",
        session: "[REDACTED]",
        region: "eu",
      })
    }),
)

effectTest(
  "Log.layer adds the error type, message and category of a logged Cause",
  () =>
    Effect.gen(function* () {
      class RateLimited extends Error {
        override readonly name = "RateLimited"
      }
      const { lines } = yield* withLayer(
        Log.layer(),
        Effect.gen(function* () {
          yield* Effect.logError(
            "llm call failed",
            Cause.fail(new RateLimited("rate limit exceeded for bob@x.io")),
          )
          yield* Effect.logError("crashed", Cause.die(new TypeError("x is undefined")))
          yield* Effect.logWarning("stopped", Cause.interrupt())
        }),
      )
      assert.equal(lines[0]?.error_type, "RateLimited")
      assert.equal(lines[0]?.error_message, "rate limit exceeded for [EMAIL]")
      assert.equal(lines[0]?.error_category, "transient")
      assert.equal(typeof lines[0]?.cause, "string")
      assert.equal(lines[1]?.error_category, "defect")
      assert.equal(lines[2]?.error_category, "interrupted")
    }),
)

effectTest(
  "Log.layer keeps logs as span events (the tracer logger stays installed)",
  () =>
    Effect.gen(function* () {
      const { result } = yield* withLayer(
        Log.layer(),
        Effect.gen(function* () {
          yield* Effect.logInfo("cache miss")
          return yield* Effect.currentSpan
        }).pipe(Effect.withSpan("cache")),
      )
      const events = (result as unknown as { _events?: Array<[string, bigint, Json]> })._events ?? []
      assert.deepEqual(events.map(([name]) => name), ["cache miss"])
    }),
)

effectTest(
  "Log.layer replaces Effect's default logger but keeps other loggers",
  () =>
    Effect.gen(function* () {
      const seen: Array<unknown> = []
      const other = Logger.make((options) => void seen.push(options.message))
      const loggers = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(Logger.CurrentLoggers)))
        .pipe(
          Effect.provide(Layer.provide(Log.layer(), Logger.layer([other, Logger.defaultLogger]))),
        )
      assert.equal(loggers.has(Logger.defaultLogger), false)
      assert.equal(loggers.has(Logger.tracerLogger), true)
      assert.equal(loggers.has(other), true)
      assert.equal(loggers.size, 3)
    }),
)

effectTest("Log.layer writes one readable line with the pretty format", () =>
  Effect.gen(function* () {
    const lines = yield* Effect.gen(function* () {
      yield* Effect.logInfo("answer ready").pipe(
        Stage.track("llm"),
        Request.track("chat", { requestId: "r-1" }),
      )
      return yield* TestConsole.logLines
    }).pipe(Effect.provide(Layer.provideMerge(Log.layer({ format: "pretty" }), TestConsole.layer)))
    const line = String(lines[0])
    assert.match(
      line,
      /^1970-01-01T00:00:00\.000Z INFO {2}answer ready trace_id=\w+ span_id=\w+ request_id=r-1 stage_id=llm$/,
    )
  }))

effectTest(
  "Log.layer fails with TelemetryConfigError on an invalid format or level",
  () =>
    Effect.gen(function* () {
      const format = yield* Layer.build(Log.layer({ format: "xml" as "json" })).pipe(Effect.flip)
      assert.equal(format.name, "log.format")
      const level = yield* Layer.build(Log.layer({ level: "loud" as "Info" })).pipe(Effect.flip)
      assert.equal(level.name, "log.level")
      const env = yield* Layer.build(Telemetry.layerFromEnv({ env: { STAGETRACE_LOG_LEVEL: "loud" } })).pipe(
        Effect.flip,
      )
      assert.equal(env.name, "STAGETRACE_LOG_LEVEL")
      const lifecycle = yield* Layer.build(
        Telemetry.layer({ log: { lifecycle: { stageEnd: "Loud" as "Info" } } }),
      )
        .pipe(Effect.flip)
      assert.equal(lifecycle.name, "log.lifecycle.stageEnd")
    }),
)

// ---------------------------------------------------------------------------------------------------------
// Lifecycle records
// ---------------------------------------------------------------------------------------------------------

const workload = Effect.gen(function* () {
  yield* Effect.sleep("5 millis").pipe(Stage.track("auth_check"))
  yield* Effect.sleep("20 millis").pipe(Stage.track("llm_request"))
  yield* Effect.fail(new Error("index unavailable")).pipe(Stage.track("kb_access"), Effect.ignore)
}).pipe(Request.track("chat", { requestId: "req-1" }))

effectTest(
  "Telemetry.layer({ log }) logs stage and request lifecycle at their levels with event times",
  () =>
    Effect.gen(function* () {
      const { lines } = yield* withLayer(Telemetry.layer({ ...service, log: { level: "Debug" } }), workload)
      const summary = lines.map((l) => [l.level, l.message, l.stage_id ?? l.request_name, l.duration_ms])
      assert.deepEqual(summary, [
        ["debug", "request started", "chat", undefined],
        ["debug", "stage started", "auth_check", undefined],
        ["info", "stage completed", "auth_check", 5],
        ["debug", "stage started", "llm_request", undefined],
        ["info", "stage completed", "llm_request", 20],
        ["debug", "stage started", "kb_access", undefined],
        ["warn", "stage failed", "kb_access", 0],
        ["info", "request completed", "chat", 25],
      ])
      const llmEnd = lines[4]!
      assert.equal(llmEnd.timestamp, new Date(25).toISOString())
      assert.equal(llmEnd.request_id, "req-1")
      assert.equal(llmEnd.service, "chat")
      assert.equal(typeof llmEnd.trace_id, "string")
      assert.equal(lines[6]?.error_type, "Error")
      assert.equal(lines[6]?.error_category, "transient")
      assert.deepEqual(lines[7]?.bottlenecks, ["llm_request"])
    }),
)

effectTest(
  "Telemetry.layer({ log }) lifecycle levels can be turned down or off",
  () =>
    Effect.gen(function* () {
      const atInfo = yield* withLayer(Telemetry.layer({ log: true }), workload)
      assert.deepEqual(atInfo.lines.map((l) => l.message), [
        "stage completed",
        "stage completed",
        "stage failed",
        "request completed",
      ])
      const atWarn = yield* withLayer(Telemetry.layer({ log: { level: "warning" } }), workload)
      assert.deepEqual(atWarn.lines.map((l) => l.message), ["stage failed"])
      const custom = yield* withLayer(
        Telemetry.layer({ log: { lifecycle: { stageEnd: "None", stageFailure: "Error" } } }),
        workload,
      )
      assert.deepEqual(custom.lines.map((l) => [l.level, l.message]), [["error", "stage failed"], [
        "info",
        "request completed",
      ]])
      const off = yield* withLayer(Telemetry.layer({ log: { lifecycle: false } }), workload)
      assert.deepEqual(off.lines, [])
    }),
)

effectTest(
  "Log.layer gives the lifecycle records with Telemetry.layer() however the two layers are composed",
  () =>
    Effect.gen(function* () {
      const expected = [
        ["info", "stage completed", "auth_check"],
        ["info", "stage completed", "llm_request"],
        ["warn", "stage failed", "kb_access"],
        ["info", "request completed", "chat"],
      ]
      const telemetry = Telemetry.layer({ ...service, redaction: { patterns: [/index \w+/] } })
      const compositions = {
        "Log.layer inside": Layer.provideMerge(Log.layer(), telemetry),
        "Log.layer outside": Layer.provideMerge(telemetry, Log.layer()),
        merged: Layer.mergeAll(telemetry, Log.layer()),
        "with Telemetry.layer({ log }) too (one record per event)": Layer.provideMerge(
          Log.layer(),
          Telemetry.layer({ ...service, log: true, redaction: { patterns: [/index \w+/] } }),
        ),
      }
      for (const [name, layer] of Object.entries(compositions)) {
        const { lines } = yield* withLayer(layer, workload)
        assert.deepEqual(
          lines.map((l) => [l.level, l.message, l.stage_id ?? l.request_name]),
          expected,
          name,
        )
        // The records are the telemetry layer's: its service, its redactor.
        assert.equal(lines[0]?.service, "chat", name)
        assert.equal(lines[2]?.error_message, "[REDACTED]", name)
      }
    }),
)

effectTest(
  "Log.layer lifecycle options: levels, and lifecycle: false for none",
  () =>
    Effect.gen(function* () {
      const debug = yield* withLayer(
        Layer.mergeAll(Telemetry.layer(), Log.layer({ level: "debug", lifecycle: { stageEnd: "None" } })),
        workload,
      )
      assert.deepEqual(debug.lines.map((l) => l.message), [
        "request started",
        "stage started",
        "stage started",
        "stage started",
        "stage failed",
        "request completed",
      ])
      const off = yield* withLayer(
        Layer.mergeAll(Telemetry.layer(), Log.layer({ lifecycle: false })),
        workload,
      )
      assert.deepEqual(off.lines, [])
    }),
)

effectTest(
  "Log.layer alone logs the lifecycle of the process-wide recorder and takes its hooks off when it closes",
  () =>
    Effect.gen(function* () {
      const hooks = () =>
        globalRecorder.stageStart.length + globalRecorder.stageEnd.length +
        globalRecorder.requestStart.length +
        globalRecorder.requestEnd.length
      const before = hooks()
      const { lines } = yield* withLayer(Log.layer(), workload)
      assert.deepEqual(lines.map((l) => l.message), [
        "stage completed",
        "stage completed",
        "stage failed",
        "request completed",
      ])
      assert.equal(hooks(), before)
    }),
)

effectTest(
  "Telemetry.layer without log installs no logging hooks (the hot path stays untouched)",
  () =>
    Effect.gen(function* () {
      const hooks = (layer: ReturnType<typeof Telemetry.layer>) =>
        Effect.withFiber((fiber) => {
          const recorder = fiber.getRef(CurrentRecorder)
          return Effect.succeed(
            recorder.stageStart.length + recorder.stageEnd.length + recorder.requestStart.length +
              recorder.requestEnd.length,
          )
        }).pipe(Effect.provide(layer))
      // Other concerns (budgets, errors, metrics) install their own hooks; logging adds none unless asked.
      const without = yield* hooks(Telemetry.layer())
      assert.equal(yield* hooks(Telemetry.layer({ log: { lifecycle: false } })), without)
      assert.ok((yield* hooks(Telemetry.layer({ log: {} }))) > without)
    }),
)

effectTest(
  "Telemetry.layer({ log }) drops and counts lifecycle records beyond the queue capacity",
  () =>
    Effect.gen(function* () {
      const many = Effect.gen(function* () {
        for (let i = 0; i < 10; i++) yield* Effect.void.pipe(Stage.track(`s${i}`))
        return yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
      }).pipe(Request.track("burst"))
      const { lines, result } = yield* withLayer(
        Telemetry.layer({ log: { queueCapacity: 3, lifecycle: { requestEnd: "None" } } }),
        many,
      )
      assert.equal(lines.length, 3)
      assert.equal(result.drops.get("log_queue_full"), 7)
    }),
)

// ---------------------------------------------------------------------------------------------------------
// Redaction in every channel
// ---------------------------------------------------------------------------------------------------------

effectTest(
  "the installed redactor masks the personal-data corpus in logs, spans, summaries and labels",
  () =>
    Effect.gen(function* () {
      const inputs = personalCorpus.map(([input]) => input)
      const expected = personalCorpus.map(([, output]) => output)
      const program = Effect.gen(function* () {
        const spans = yield* Effect.gen(function* () {
          for (const text of [...inputs, ...ordinaryCorpus]) yield* Effect.logInfo(text)
          const span = yield* Effect.currentSpan
          return span
        }).pipe(Stage.track("kb_access", { metadata: { query: inputs[0], note: ordinaryCorpus[0] } }))
        yield* Request.annotate("user.email", "carol@example.com")
        return spans
      }).pipe(Request.track("chat", { attributes: { "http.authorization": "Bearer abc.def-123456" } }))

      const summaries: Array<unknown> = []
      const recorderRef = yield* Effect.succeed({ current: undefined as unknown })
      const { lines, result: span } = yield* withLayer(
        Telemetry.layer({ log: { lifecycle: false } }),
        Effect.gen(function* () {
          const recorder = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
          recorderRef.current = recorder
          recorder.summary.push((s) => void summaries.push(toSummaryLine(s, recorder.config.service)))
          return yield* program
        }),
      )
      // Logs: every personal value masked, every ordinary one unchanged.
      assert.deepEqual(lines.map((l) => l.message), [...expected, ...ordinaryCorpus])

      const recorder = recorderRef.current as Recorder
      const redactor = recorder.get(RedactorSlot)!
      // Spans: attribute values and event names as an exporter hands them to the redactor.
      const attributes = Object.fromEntries(
        [...(span as Tracer.Span).attributes].map(([key, value]) => [key, redactor.redactValue(key, value)]),
      )
      assert.equal(attributes.query, expected[0])
      assert.equal(attributes.note, ordinaryCorpus[0])
      const events = ((span as unknown as { _events?: Array<[string]> })._events ?? []).map(([name]) =>
        redactor.redactString(name)
      )
      assert.deepEqual(events, [...expected, ...ordinaryCorpus])
      // JSONL / summaries: the whole line.
      const line = JSON.stringify(redactor.redactValue("", summaries[0]))
      for (const [input] of personalCorpus.slice(0, 1)) assert.equal(line.includes(input), false)
      assert.equal(line.includes("carol@example.com"), false)
      assert.equal(line.includes("abc.def-123456"), false)
      assert.equal(line.includes("[EMAIL]"), true)
      // Metric label values.
      assert.deepEqual(inputs.map(redactor.redactString), expected)
      assert.deepEqual(ordinaryCorpus.map(redactor.redactString), ordinaryCorpus)
    }),
)

effectTest(
  "Telemetry.layer({ log }) also formats the warnings and alerts other concerns log in the background",
  () =>
    Effect.gen(function* () {
      const workload = Effect.gen(function* () {
        yield* Effect.sleep("5 millis").pipe(
          Stage.track("auth_check"),
          Request.track("chat", { requestId: "r-7" }),
        )
      })
      const { lines } = yield* withLayer(
        Telemetry.layer({
          ...service,
          log: { format: "json", lifecycle: false },
          budgets: { auth_check: "1 millis" },
        }),
        workload,
      )
      const warning = lines.find((l) => String(l.message).startsWith("Performance budget violation"))
      assert.ok(warning, JSON.stringify(lines))
      assert.equal(warning.level, "warn")
      assert.equal(warning.service, "chat")
    }),
)

Deno.test("log records format timestamps exactly like Date.toISOString", () => {
  const times = [
    0,
    1,
    999,
    59_999,
    60_000,
    1_764_000_000_000,
    1_764_000_059_999,
    1_764_000_060_000,
    1_767_225_599_999, // 2025-12-31T23:59:59.999Z
    1_767_225_600_000,
    253_402_300_799_999,
    253_402_300_800_000, // year 10000: six-digit year
    -1,
    -62_198_755_200_000,
  ]
  for (let i = 0; i < 2000; i++) times.push(1_764_000_000_000 + Math.floor(i * 7919.5))
  for (const time of times) assert.equal(isoTimestamp(time), new Date(time).toISOString(), String(time))
})

Deno.test("log records serialize bigints, errors and nested values, with or without the fast path", () => {
  const plain = {
    timestamp: "t",
    level: "info",
    message: "m",
    n: 1.5,
    ok: true,
    list: ["a", 1, null],
    gone: undefined,
  }
  assert.equal(toJsonLine(plain), JSON.stringify(plain))
  assert.deepEqual(JSON.parse(toJsonLine({ big: 12n, error: new TypeError("bad"), nested: { big: 1n } })), {
    big: "12",
    error: { name: "TypeError", message: "bad" },
    nested: { big: "1" },
  })
  assert.deepEqual(JSON.parse(toJsonLine({ list: [1n, new Error("x")] })), {
    list: ["1", { name: "Error", message: "x" }],
  })
})
