/**
 * Redaction and logging cost, in one `deno bench` run:
 *
 * - `redact ordinary`: redacting ordinary text (cache miss and cache hit) against copying the string;
 * - `redact pii`: redacting a line full of personal data against the same baseline;
 * - `log record`: building and serializing one redacted JSON record against `JSON.stringify` of it;
 * - `stage with logs`: a 10-stage request with lifecycle logging on, against the same request without.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Console from "effect/Console"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { compile, defaultConfig } from "../src/log/internal/redact.ts"
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
const stages = Array.from({ length: 10 }, (_, i) => Effect.void.pipe(Stage.track(`stage_${i}`)))
const request = Effect.gen(function* () {
  for (const stage of stages) yield* stage
}).pipe(Request.track("request", { requestId: "bench" }))
// Records are built and serialized but written to a console that discards them (the I/O is not ours).
const silent = Layer.succeed(
  Console.Console,
  { ...globalThis.console, log: () => {}, error: () => {} } as Console.Console,
)
const plain = ManagedRuntime.make(Telemetry.layer())
const logged = ManagedRuntime.make(
  Layer.provide(Telemetry.layer({ log: { level: "Info", queueCapacity: 1 << 16 } }), silent),
)
await plain.context()
await logged.context()

Deno.bench("Request.track with 10 × Stage.track, log off (baseline)", {
  group: "stage with logs",
  baseline: true,
}, () => {
  plain.runSync(request)
})
Deno.bench("same, lifecycle logs at info (queued)", { group: "stage with logs" }, () => {
  logged.runSync(request)
})

addEventListener("unload", () => {
  void plain.dispose()
  void logged.dispose()
  void sink
})
