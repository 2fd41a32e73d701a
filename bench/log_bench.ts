/**
 * Redaction and logging cost, in one `deno bench` run:
 *
 * - `redact ordinary`: redacting ordinary text (cache miss and cache hit) against copying the string;
 * - `redact pii`: redacting a line full of personal data against the same baseline;
 * - `log record`: building and serializing one redacted JSON record against `JSON.stringify` of it;
 * - `stage with logs`: 10-stage requests with lifecycle logging on, every record written by the background
 *   writer before the iteration ends, against the same requests without;
 * - `summary redaction`: a 10-stage request whose summary (stage metadata, attributes) is redacted when it
 *   ends, against the same request without the summary redaction.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Console from "effect/Console"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { compile, defaultConfig } from "../src/log/internal/redact.ts"
import { CurrentRecorder } from "../src/internal/recorder.ts"
import { Request, Stage, Telemetry } from "../mod.ts"

const redactor = compile(defaultConfig)
const ordinary = "Stage kb_access completed in 12.5 ms for 3 documents from index docs-v2"
const pii = "user alice@example.com sent Bearer abc123def456ghi with card 4111 1111 1111 1111 id " +
  "123e4567-e89b-12d3-a456-426614174000"
let sink: unknown
let counter = 0

// --- redaction of ordinary text ---------------------------------------------------------------------------
Deno.bench("copy string (baseline)", { group: "redact ordinary", baseline: true }, () => {
  sink = (ordinary + counter++).slice(0)
})
Deno.bench("redactString, cache miss", { group: "redact ordinary" }, () => {
  sink = redactor.redactString(ordinary + counter++)
})
Deno.bench("redactString, cache hit", { group: "redact ordinary" }, () => {
  sink = redactor.redactString(ordinary)
})

// --- redaction of personal data ---------------------------------------------------------------------------
Deno.bench("copy string (baseline)", { group: "redact pii", baseline: true }, () => {
  sink = (pii + counter++).slice(0)
})
Deno.bench("redactString, cache miss", { group: "redact pii" }, () => {
  sink = redactor.redactString(pii + counter++)
})
Deno.bench("redactValue on a 6-key object", { group: "redact pii" }, () => {
  sink = redactor.redactValue("attributes", {
    user: "alice@example.com",
    password: "x",
    plan: "pro",
    region: "eu",
    query: ordinary,
    n: counter++,
  })
})

// --- one log record ---------------------------------------------------------------------------------------
const record = {
  timestamp: "2026-11-24T10:30:00.000Z",
  level: "info",
  message: ordinary,
  service: "chat",
  environment: "prod",
  version: "1.2.0",
  trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
  span_id: "00f067aa0ba902b7",
  request_id: "123e4567-e89b-12d3-a456-426614174000",
  stage_id: "kb_access",
  region: "eu",
}
Deno.bench("JSON.stringify(record) (baseline)", { group: "log record", baseline: true }, () => {
  sink = JSON.stringify({ ...record, n: counter++ })
})
Deno.bench("redact every field + JSON.stringify", { group: "log record" }, () => {
  const out: Record<string, unknown> = {}
  for (const key in record) out[key] = redactor.redactValue(key, record[key as keyof typeof record])
  out.n = counter++
  sink = JSON.stringify(out)
})

// --- lifecycle logging on the stage hot path --------------------------------------------------------------
// Records are built and serialized but written to a console that only counts them (the I/O is not ours).
// Deno.bench runs a synchronous bench without giving the event loop a turn, so the background writer would
// never run: the queue would fill and every record past it be dropped, and the bench would time the drop.
// Each iteration therefore runs a batch of requests and then waits until the writer has written every one
// of their records (the baseline waits one turn of the event loop too): the whole cost of a record.
const stages = Array.from({ length: 10 }, (_, i) => Effect.void.pipe(Stage.track(`stage_${i}`)))
const request = Effect.gen(function* () {
  for (const stage of stages) yield* stage
}).pipe(Request.track("request", { requestId: "bench" }))
let written = 0
const silent = Layer.succeed(
  Console.Console,
  {
    ...globalThis.console,
    log: () => void written++,
    error: () => void written++,
  } as Console.Console,
)
const plain = ManagedRuntime.make(Telemetry.layer())
const logged = ManagedRuntime.make(
  Layer.provide(Telemetry.layer({ log: { level: "Info", queueCapacity: 1 << 16 } }), silent),
)
await plain.context()
await logged.context()

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))
/** Waits until `expected` records were written; throws rather than timing a writer that fell behind. */
const drained = async (expected: number): Promise<void> => {
  for (let turns = 0; written < expected; turns++) {
    if (turns > 10_000) throw new Error(`lifecycle records were lost: ${written} of ${expected} written`)
    await turn()
  }
}
// Records per request (10 stage completions and the request's).
logged.runSync(request)
await drained(1)
for (let i = 0; i < 10; i++) await turn()
const perRequest = written
const batch = 20

Deno.bench(`${batch} × Request.track with 10 × Stage.track, log off (baseline)`, {
  group: "stage with logs",
  baseline: true,
}, async () => {
  for (let i = 0; i < batch; i++) plain.runSync(request)
  await turn()
})
Deno.bench(`same, lifecycle logs at info (${perRequest} records each, written)`, {
  group: "stage with logs",
}, async () => {
  const expected = written + batch * perRequest
  for (let i = 0; i < batch; i++) logged.runSync(request)
  await drained(expected)
})

// --- summary redaction at request end ---------------------------------------------------------------------
// A 10-stage request with metadata on every stage and three request attributes, one of them different in
// every request (a cache miss of the redactor), on the same layer with and without the summary redaction.
const redactedRuntime = ManagedRuntime.make(Telemetry.layer())
const unredactedRuntime = ManagedRuntime.make(Telemetry.layer())
await redactedRuntime.context()
const unredacted = await unredactedRuntime.runPromise(CurrentRecorder)
unredacted.redactSummary = undefined
const metadataStages = Array.from(
  { length: 10 },
  (_, i) =>
    Effect.void.pipe(Stage.track(`stage_${i}`, { metadata: { "kb.index": "docs-v2", documents: i } })),
)
let user = 0
const attributedRequest = Effect.suspend(() =>
  Effect.gen(function* () {
    for (const stage of metadataStages) yield* stage
  }).pipe(
    Request.track("request", {
      requestId: "bench",
      attributes: { "user.email": `user${user++}@example.com`, plan: "pro", region: "eu-west-1" },
    }),
  )
)

Deno.bench("Request.track, 10 stages with metadata, 3 attributes (baseline)", {
  group: "summary redaction",
  baseline: true,
}, () => {
  unredactedRuntime.runSync(attributedRequest)
})
Deno.bench("same, summary redacted at request end (default redactor)", { group: "summary redaction" }, () => {
  redactedRuntime.runSync(attributedRequest)
})

addEventListener("unload", () => {
  void plain.dispose()
  void logged.dispose()
  void redactedRuntime.dispose()
  void unredactedRuntime.dispose()
  void sink
})
