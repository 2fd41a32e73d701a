/**
 * Exporters through `Telemetry.layer`: the memory exporter, sampled-only export, tracestate, open spans
 * ended at shutdown, redaction, self-metrics, the console waterfall and JSONL daily files.
 */
import assert from "node:assert/strict"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import { TestClock, TestConsole } from "effect/testing"
import { Exporter, Request, Stage, Telemetry } from "../../mod.ts"
import { CurrentRecorder, type RequestRecord, setOwner } from "../../src/internal/recorder.ts"
import { ExportStatsSlot, RedactorSlot } from "../../src/internal/slots.ts"
import { RecordingNativeSpan, SpanPipeline } from "../../src/export/internal/tracer.ts"
import { type GatedSpan, GateKey, type SpanGate } from "../../src/internal/gate.ts"
import { dayOf, fileNameOf, JsonlFiles } from "../../src/export/internal/summaries.ts"
import { isSummaryLine } from "../../src/internal/jsonl.ts"
import { effectTest } from "../_harness.ts"

const withLayer = <A, E>(effect: Effect.Effect<A, E>, exporters: ReadonlyArray<Exporter.Exporter>) =>
  effect.pipe(Effect.provide(Telemetry.layer({ serviceName: "svc", exporters })))

const chat = Effect.gen(function* () {
  yield* Effect.sleep("5 millis").pipe(Stage.track("auth_check"))
  yield* Effect.sleep("20 millis").pipe(Stage.track("llm_request", { metadata: { model: "m1" } }))
}).pipe(Request.track("chat", { attributes: { "user.email": "ada@example.com" } }))

/** Runs `effect` in a child fiber while virtual time passes. */
const runFor = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust("1 second")
    return yield* Fiber.join(fiber)
  })

effectTest(
  "Exporter.memory() records a request's spans with parent links and its summary",
  () =>
    Effect.gen(function* () {
      const memory = Exporter.memory()
      yield* runFor(withLayer(chat, [memory]))
      const spans = memory.spans()
      assert.deepEqual(spans.map((s) => s.name), ["auth_check", "llm_request", "chat"])
      const request = spans[2]!
      assert.ok(
        spans.slice(0, 2).every((s) => s.parentSpanId === request.spanId && s.traceId === request.traceId),
      )
      assert.equal(spans[1]!.durationMs, 20)
      assert.equal(spans[1]!.attributes["model"], "m1")
      assert.equal(spans[1]!.status, "ok")
      const [summary] = memory.summaries()
      assert.equal(summary?.name, "chat")
      assert.equal(summary?.durationMs, 25)
    }),
)

effectTest(
  "Exporter.memory() leaves out unsampled spans and requests that were not kept",
  () =>
    Effect.gen(function* () {
      const memory = Exporter.memory()
      const unsampledParent = {
        traceId: "0af7651916cd43dd8448eb211c80319c",
        spanId: "b7ad6b7169203331",
        sampled: false,
      }
      yield* withLayer(
        Effect.gen(function* () {
          yield* Effect.void.pipe(Effect.withSpan("not_sampled", { sampled: false }))
          yield* Effect.void.pipe(Stage.track("inner"), Request.track("dropped", { parent: unsampledParent }))
          yield* Effect.void.pipe(Effect.withSpan("sampled"))
        }),
        [memory],
      )
      assert.deepEqual(memory.spans().map((s) => s.name), ["sampled"])
      assert.deepEqual(memory.summaries(), [])
    }),
)

effectTest(
  "Exporter.memory() reports failures and carries the tracestate set on a span",
  () =>
    Effect.gen(function* () {
      const memory = Exporter.memory()
      yield* withLayer(
        Effect.gen(function* () {
          const span = yield* Effect.currentSpan
          ;(span as { traceState?: string }).traceState = "ot=th:8"
          return yield* Effect.fail(new Error("boom"))
        }).pipe(Effect.withSpan("failing"), Effect.ignore),
        [memory],
      )
      const [span] = memory.spans()
      assert.equal(span?.traceState, "ot=th:8")
      assert.equal(span?.status, "error")
      assert.equal(span?.statusMessage, "boom")
    }),
)

effectTest("closing the layer ends spans that are still open as interrupted", () =>
  Effect.gen(function* () {
    const memory = Exporter.memory()
    yield* Effect.scoped(
      Effect.gen(function* () {
        const context = yield* Layer.build(Telemetry.layer({ exporters: [memory] }))
        yield* Effect.forkDetach(
          Effect.never.pipe(Effect.withSpan("background"), Effect.provideContext(context)),
        )
        yield* Effect.yieldNow
      }),
    )
    const [span] = memory.spans()
    assert.equal(span?.name, "background")
    assert.equal(span?.interrupted, true)
    assert.equal(span?.status, "unset")
  }))

/** A root span recorded by `pipeline`, open. */
const openRootSpan = (pipeline: SpanPipeline, name: string): RecordingNativeSpan =>
  new RecordingNativeSpan({
    name,
    parent: Option.none(),
    annotations: Context.empty(),
    links: [],
    startTime: 0n,
    kind: "internal",
    root: true,
    sampled: true,
  }, pipeline)

Deno.test("SpanPipeline.endOpen() skips spans of requests that already ended (dropped by tail sampling)", () => {
  const pipeline = new SpanPipeline(4)
  const ended: Array<string> = []
  pipeline.sinks.push((span) => ended.push(span.name))
  const make = (name: string) => openRootSpan(pipeline, name)
  const dropped = make("dropped_request_span")
  setOwner(dropped, { _tag: "Request", closed: true } as RequestRecord)
  const running = make("running")
  const done = make("done")
  done.end(1n, Exit.void)
  assert.equal(pipeline.endOpen(5n), 1)
  assert.deepEqual(ended, ["done", "running"])
  assert.equal(running.status._tag === "Ended" && running.status.endTime, 5n)
  void dropped
})

Deno.test("OpenSpans stays bounded: ended spans leave it, dropped requests' spans are swept, the oldest evicted", () => {
  const pipeline = new SpanPipeline(2)
  const make = (name: string) => openRootSpan(pipeline, name)
  const names = () => pipeline.open.alive().map((s) => (s as unknown as { name: string }).name)
  const a = make("a")
  const b = make("b")
  a.end(1n, Exit.void)
  assert.equal(pipeline.open.size, 1)
  // b's request ended without ending b (tail sampling dropped it): the next sweep releases it.
  setOwner(b, { _tag: "Request", closed: true } as RequestRecord)
  make("c")
  make("d")
  assert.equal(pipeline.open.untracked, 0)
  assert.deepEqual(names(), ["c", "d"])
  make("e")
  assert.equal(pipeline.open.untracked, 1, "the oldest live span was evicted")
  assert.deepEqual(names(), ["d", "e"])
})

Deno.test("spans held by a tail-sampling gate have left the open-span registry, whose links hold them", () => {
  const pipeline = new SpanPipeline(8)
  const exported: Array<string> = []
  pipeline.sinks.push((span) => exported.push(span.name))
  const names = () => pipeline.open.alive().map((s) => (s as unknown as { name: string }).name)
  // A gate that holds every span, as a request whose decision is pending does.
  const held: Array<GatedSpan> = []
  const gate: SpanGate = {
    admit: (span) => {
      if (held.length > 0) held.at(-1)!.heldNext = span
      held.push(span)
      return false
    },
  }
  const spans = ["a", "b", "c", "d"].map((name) => {
    const span = openRootSpan(pipeline, name)
    span[GateKey](gate, false, undefined)
    return span
  })
  const [a, b, c, d] = spans as [
    RecordingNativeSpan,
    RecordingNativeSpan,
    RecordingNativeSpan,
    RecordingNativeSpan,
  ]
  b.end(1n, Exit.void)
  d.end(2n, Exit.void)
  assert.deepEqual(names(), ["a", "c"])
  assert.equal(pipeline.open.size, 2)
  assert.equal(pipeline.open.has(b) || pipeline.open.has(d), false)
  assert.equal(b.heldNext, d)
  assert.equal(d.heldNext, undefined)
  // Removing the span before b in the registry leaves the gate's chain alone, and the reverse.
  a.end(3n, Exit.void)
  assert.equal(b.heldNext, d)
  assert.equal(d.heldNext, a)
  assert.equal(a.heldNext, undefined)
  assert.deepEqual(names(), ["c"])
  // At shutdown the span still open is ended and exported past its gate; the held ones are the gate's.
  assert.equal(pipeline.endOpen(5n), 1)
  assert.deepEqual(exported, ["c"])
  assert.equal(c.status._tag === "Ended" && c.status.endTime, 5n)
  assert.equal(pipeline.open.size, 0)
  assert.deepEqual(held.map((s) => (s as unknown as { name: string }).name), ["b", "d", "a"])
  assert.equal(a.heldNext, undefined)
})

Deno.test("OpenSpans: past capacity with every span still open, adding stays cheap (no sweep per add)", () => {
  const capacity = 4096
  const pipeline = new SpanPipeline(capacity)
  for (let i = 0; i < 3 * capacity; i++) openRootSpan(pipeline, `s${i}`)
  assert.equal(pipeline.open.size, capacity)
  assert.equal(pipeline.open.untracked, 2 * capacity)
  // A sweep visits every open span: at most one per capacity / 16 additions, not one per addition.
  assert.ok(pipeline.open.sweeps <= (3 * capacity) / (capacity / 16), `${pipeline.open.sweeps} sweeps`)
})

effectTest(
  "exporters apply the installed redactor to span attributes and summaries",
  () =>
    Effect.gen(function* () {
      const memory = Exporter.memory()
      yield* runFor(withLayer(
        Effect.gen(function* () {
          const recorder = yield* CurrentRecorder
          recorder.set(RedactorSlot, {
            redactString: (text) => text.replace(/\S+@\S+/g, "[EMAIL]"),
            redactValue: (_key, value) =>
              typeof value === "string" ? value.replace(/\S+@\S+/g, "[EMAIL]") : value,
          })
          yield* chat
        }),
        [memory],
      ))
      assert.equal(memory.spans().at(-1)?.attributes["user.email"], "[EMAIL]")
      assert.equal(memory.summaries()[0]?.attributes["user.email"], "[EMAIL]")
    }),
)

effectTest("the export pipeline publishes its counters and self-metrics", () =>
  Effect.gen(function* () {
    const memory = Exporter.memory()
    const { stats, snapshot } = yield* withLayer(
      Effect.gen(function* () {
        const recorder = yield* CurrentRecorder
        return { stats: recorder.get(ExportStatsSlot)?.(), snapshot: yield* Metric.snapshot }
      }),
      [memory],
    )
    assert.deepEqual(stats?.dropped, {})
    assert.equal(stats?.failures, 0)
    const dropped = snapshot.filter((m) => m.id === "stagetrace_export_dropped_total")
    assert.ok(
      dropped.some((m) => m.attributes?.["signal"] === "traces" && m.attributes?.["reason"] === "queue_full"),
    )
    assert.ok(snapshot.some((m) => m.id === "stagetrace_export_failures_total"))
  }))

effectTest("Exporter.memory().metrics() snapshots the layer's registry", () =>
  Effect.gen(function* () {
    const memory = Exporter.memory()
    yield* withLayer(Metric.update(Metric.counter("jobs"), 2), [memory])
    const jobs = memory.metrics().find((m) => m.id === "jobs")
    assert.equal(jobs?.type === "Counter" && jobs.state.count, 2)
  }))

effectTest("Exporter.console() prints a stage waterfall per kept request", () =>
  Effect.gen(function* () {
    yield* runFor(withLayer(chat, [Exporter.console({ width: 20 })]))
    const lines = (yield* TestConsole.logLines).join("\n")
    assert.match(lines, /^chat {2}\S+ {2}25\.0 ms {2}ok/m)
    assert.match(lines, /auth_check\s+│████ {16}│\s+5\.00 ms/)
    assert.match(lines, /llm_request\s+│ {4}█{16}│\s+20\.0 ms/)
    assert.match(lines, /bottlenecks: llm_request 80%/)
  }).pipe(Effect.provide(TestConsole.layer)))

effectTest(
  "Exporter.console({ format: 'json' }) prints one summary line per request",
  () =>
    Effect.gen(function* () {
      yield* withLayer(Effect.void.pipe(Request.track("ping")), [Exporter.console({ format: "json" })])
      const [line] = yield* TestConsole.logLines
      const parsed = JSON.parse(String(line))
      assert.ok(isSummaryLine(parsed))
      assert.equal(parsed.name, "ping")
      assert.equal(parsed.service.name, "svc")
    }).pipe(Effect.provide(TestConsole.layer)),
)

const readLines = (path: string) =>
  Deno.readTextFile(path).then((text) => text.split("\n").filter((l) => l !== ""))

effectTest(
  "Exporter.jsonl() writes one line per kept request to the day's file",
  () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => Deno.makeTempDir())
      yield* TestClock.setTime(Date.parse("2026-11-24T23:59:59.000Z"))
      yield* withLayer(
        Effect.gen(function* () {
          yield* Effect.void.pipe(Request.track("late"))
          yield* TestClock.adjust("2 seconds")
          yield* Effect.void.pipe(Request.track("early"))
        }),
        [Exporter.jsonl({ dir })],
      )
      const first = yield* Effect.promise(() => readLines(`${dir}/${fileNameOf("2026-11-24")}`))
      const second = yield* Effect.promise(() => readLines(`${dir}/${fileNameOf("2026-11-25")}`))
      assert.deepEqual(first.map((l) => JSON.parse(l).name), ["late"])
      assert.deepEqual(second.map((l) => JSON.parse(l).name), ["early"])
      assert.ok(isSummaryLine(JSON.parse(first[0]!)))
      yield* Effect.promise(() => Deno.remove(dir, { recursive: true }))
    }),
)

effectTest(
  "Exporter.jsonl() isolates a line cut short by a crash instead of gluing the next one to it",
  () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => Deno.makeTempDir())
      yield* TestClock.setTime(Date.parse("2026-11-24T10:00:00.000Z"))
      const path = `${dir}/${fileNameOf("2026-11-24")}`
      // A previous process died in the middle of a write.
      yield* Effect.promise(() =>
        Deno.writeTextFile(path, '{"schema":"stagetrace.summary.v1","requestId":"a"}\n{"schema":"stag')
      )
      yield* withLayer(Effect.void.pipe(Request.track("after_crash")), [Exporter.jsonl({ dir })])
      const lines = yield* Effect.promise(() => readLines(path))
      assert.equal(lines.length, 3)
      assert.equal(lines[1], '{"schema":"stag')
      assert.equal(JSON.parse(lines[2]!).name, "after_crash")
      yield* Effect.promise(() => Deno.remove(dir, { recursive: true }))
    }),
)

effectTest("Exporter.jsonl() deletes daily files older than retentionDays", () =>
  Effect.gen(function* () {
    const dir = yield* Effect.promise(() => Deno.makeTempDir())
    const now = Date.parse("2026-11-24T10:00:00.000Z")
    yield* TestClock.setTime(now)
    const day = (daysAgo: number) => `${dir}/${fileNameOf(dayOf(now - daysAgo * 86_400_000))}`
    for (const daysAgo of [1, 6, 7, 8, 30]) yield* Effect.promise(() => Deno.writeTextFile(day(daysAgo), ""))
    yield* Effect.promise(() => Deno.writeTextFile(`${dir}/notes.txt`, "kept"))
    yield* withLayer(Effect.void, [Exporter.jsonl({ dir, retentionDays: 7 })])
    const names = new Set<string>()
    yield* Effect.promise(async () => {
      for await (const entry of Deno.readDir(dir)) names.add(entry.name)
    })
    assert.ok(names.has(fileNameOf(dayOf(now - 6 * 86_400_000))))
    assert.ok(names.has(fileNameOf(dayOf(now - 7 * 86_400_000))))
    assert.ok(!names.has(fileNameOf(dayOf(now - 8 * 86_400_000))))
    assert.ok(!names.has(fileNameOf(dayOf(now - 30 * 86_400_000))))
    assert.ok(names.has("notes.txt"))
    yield* Effect.promise(() => Deno.remove(dir, { recursive: true }))
  }))

effectTest(
  "invalid exporter options fail the layer with TelemetryConfigError naming the option",
  () =>
    Effect.gen(function* () {
      const cases: Array<[Exporter.Exporter, string]> = [
        [Exporter.otlp({ endpoint: "ftp://x" }), "exporters[0].endpoint"],
        [Exporter.otlp({ protocol: "thrift" as never }), "exporters[0].protocol"],
        [Exporter.otlp({ protocol: "grpc", endpoint: "ftp://collector:4317" }), "exporters[0].endpoint"],
        [Exporter.otlp({ protocol: "grpc", tracesEndpoint: "http://" }), "exporters[0].tracesEndpoint"],
        [Exporter.otlp({ protocol: "grpc", headers: { "grpc-timeout": "1S" } }), "exporters[0].headers"],
        [Exporter.otlp({ protocol: "grpc", headers: { "x key": "v" } }), "exporters[0].headers"],
        [Exporter.otlp({ protocol: "grpc", headers: { "x-key": "café" } }), "exporters[0].headers"],
        [Exporter.otlp({ protocol: "grpc", insecure: "yes" as never }), "exporters[0].insecure"],
        [Exporter.otlp({ protocol: "grpc", certificate: "not pem" }), "exporters[0].certificate"],
        [Exporter.otlp({ certificate: "-----BEGIN CERTIFICATE-----" }), "exporters[0].certificate"],
        [Exporter.otlp({ protocol: "grpc", implementation: "otel-sdk" }), "exporters[0].implementation"],
        [Exporter.otlp({ maxQueueSize: 0 }), "exporters[0].maxQueueSize"],
        [Exporter.otlp({ maxQueueSize: 10, maxExportBatchSize: 20 }), "exporters[0].maxExportBatchSize"],
        [Exporter.otlp({ maxConcurrentExports: 0 }), "exporters[0].maxConcurrentExports"],
        [Exporter.otlp({ maxConcurrentExports: 1.5 }), "exporters[0].maxConcurrentExports"],
        [Exporter.otlp({ timeout: "soon" as never }), "exporters[0].timeout"],
        [Exporter.otlp({ signals: ["spans" as never] }), "exporters[0].signals"],
        [Exporter.jsonl({ dir: "" }), "exporters[0].dir"],
        [Exporter.console({ format: "xml" as never }), "exporters[0].format"],
        [{ _tag: "Nope" } as never, "exporters[0]"],
      ]
      for (const [exporter, name] of cases) {
        const error = yield* Layer.build(Telemetry.layer({ exporters: [exporter] })).pipe(
          Effect.scoped,
          Effect.flip,
        )
        assert.equal(error._tag, "TelemetryConfigError")
        assert.equal(error.name, name)
      }
      const both = yield* Layer.build(
        Telemetry.layer({
          exporters: [Exporter.denoNative(), Exporter.otlp({ implementation: "otel-sdk" })],
        }),
      ).pipe(Effect.scoped, Effect.flip)
      assert.equal(both.name, "exporters")
    }),
)

effectTest(
  "OTLP headers fetch would refuse are TelemetryConfigErrors, not an endless run of failed exports",
  () =>
    Effect.gen(function* () {
      for (
        const headers of [
          { "x api key": "1" },
          { "x-api-key": "abc\r\nx-injected: 1" },
          { "x-api-key": "a\u0000b" },
          { "Content-Type": "text/plain" },
        ]
      ) {
        const error = yield* Layer.build(Telemetry.layer({ exporters: [Exporter.otlp({ headers })] })).pipe(
          Effect.scoped,
          Effect.flip,
        )
        assert.equal(error._tag, "TelemetryConfigError", JSON.stringify(headers))
        assert.equal(error.name, "exporters[0].headers")
      }
      const fromEnv = yield* Layer.build(
        Telemetry.layerFromEnv({
          env: {
            OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
            OTEL_EXPORTER_OTLP_HEADERS: "a%0Ab=1",
          },
        }),
      ).pipe(Effect.scoped, Effect.flip)
      assert.equal(fromEnv.name, "OTEL_EXPORTER_OTLP_HEADERS")
      // Spaces and tabs inside a value, and any case of a name, are fine.
      yield* Layer.build(
        Telemetry.layer({
          exporters: [
            Exporter.otlp({
              endpoint: "http://127.0.0.1:9",
              signals: ["traces"],
              headers: { Authorization: "Basic a\tb c" },
            }),
          ],
        }),
      ).pipe(Effect.scoped)
    }),
)

Deno.test("JsonlFiles runs the retention when the day advances, not each time a late request goes back a day", async () => {
  const dir = await Deno.makeTempDir()
  class Spy extends JsonlFiles {
    cleanups = 0
    override cleanup(): Promise<Array<string>> {
      this.cleanups++
      return super.cleanup()
    }
  }
  const files = new Spy(
    dir,
    30,
    { currentTimeMillisUnsafe: () => Date.parse("2026-11-25T00:00:01Z") } as never,
  )
  try {
    // Around midnight, requests that started on the 24th keep ending after ones of the 25th.
    for (const day of ["2026-11-24", "2026-11-25", "2026-11-24", "2026-11-25", "2026-11-24"]) {
      await files.append(day, `{"day":"${day}"}`)
    }
    assert.equal(files.cleanups, 1, "once, when the 25th was first written")
    await files.append("2026-11-26", "{}")
    assert.equal(files.cleanups, 2)
    assert.equal((await Deno.readTextFile(`${dir}/${fileNameOf("2026-11-24")}`)).split("\n").length, 4)
  } finally {
    files.close()
    await Deno.remove(dir, { recursive: true })
  }
})

effectTest(
  "Exporter.console({ filter }) prints only the kept requests the filter accepts; a throwing filter skips",
  () =>
    Effect.gen(function* () {
      const printed = yield* Effect.gen(function* () {
        yield* Effect.void.pipe(Stage.track("ok_stage"), Request.track("fine", { requestId: "a" }))
        yield* Effect.exit(
          Effect.fail(new Error("boom")).pipe(Stage.track("bad_stage"), Request.track("broken")),
        )
        yield* Effect.void.pipe(Request.track("explodes"))
      }).pipe(
        Effect.provide(Telemetry.layer({
          exporters: [Exporter.console({
            filter: (summary) => {
              if (summary.name === "explodes") throw new Error("filter bug")
              return !summary.success
            },
          })],
        })),
        Effect.andThen(TestConsole.logLines),
      )
      const text = printed.map(String).join("\n")
      assert.match(text, /^broken /m)
      assert.doesNotMatch(text, /^fine /m)
      assert.doesNotMatch(text, /^explodes /m)
    }).pipe(Effect.provide(TestConsole.layer)),
)

effectTest("Exporter.console({ filter }) must be a function", () =>
  Effect.gen(function* () {
    const error = yield* Layer.build(
      Telemetry.layer({ exporters: [Exporter.console({ filter: "errors" as unknown as () => boolean })] }),
    ).pipe(Effect.scoped, Effect.flip)
    assert.equal(error.name, "exporters[0].filter")
  }))
