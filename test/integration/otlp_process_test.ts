/**
 * Whole-process behaviour, in subprocesses: `Telemetry.runMain` flushes on SIGTERM (open spans ended as
 * interrupted), and `Exporter.denoNative()` nests stagetrace spans with Deno's own fetch and serve spans
 * under `OTEL_DENO=true` without tracing the exporter's own HTTP calls.
 */
import assert from "node:assert/strict"
import { type ReceivedSpan, startReceiver } from "./_otlp_receiver.ts"

const root = new URL("../../", import.meta.url).pathname
const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname

/** Waits for `line` on the child's stdout, then keeps draining it. */
const waitForLine = async (stream: ReadableStream<Uint8Array>, line: string): Promise<void> => {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader()
  let seen = ""
  while (!seen.includes(line)) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`process ended before printing ${line}: ${seen}`)
    seen += value
  }
  ;(async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })()
}

Deno.test("Telemetry.runMain() on SIGTERM ends open spans as interrupted and flushes before exit", async () => {
  const receiver = startReceiver()
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", fixture("sigterm_main.ts"), receiver.url],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn()
    await waitForLine(child.stdout, "ready")
    child.kill("SIGTERM")
    const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()])
    assert.equal(status.code, 143, stderr)
    const spans = receiver.spans()
    const byName = new Map(spans.map((s) => [s.name, s]))
    for (const name of ["boot", "warmup", "long_job", "waiting", "background"]) {
      assert.ok(byName.has(name), `${name} arrived (got ${[...byName.keys()]})`)
    }
    for (const name of ["long_job", "waiting", "background"]) {
      assert.equal(byName.get(name)!.attributes["effect.fiber.interrupted"], true, name)
      assert.equal(byName.get(name)!.statusCode, 0)
    }
    assert.equal(byName.get("waiting")!.parentSpanId, byName.get("long_job")!.spanId)
    assert.equal(spans.length, 5)
  } finally {
    await receiver.close()
  }
})

Deno.test("Exporter.denoNative() nests stagetrace spans with Deno's fetch and serve spans", async () => {
  const receiver = startReceiver()
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", fixture("deno_native.ts"), receiver.url],
      cwd: root,
      env: {
        NO_COLOR: "1",
        OTEL_DENO: "true",
        OTEL_SERVICE_NAME: "deno-native-service",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
        OTEL_BSP_SCHEDULE_DELAY: "100",
        OTEL_DENO_CONSOLE: "ignore",
        OTEL_DENO_METRICS: "false",
      },
      stdout: "piped",
      stderr: "piped",
    }).output()
    const stderr = new TextDecoder().decode(output.stderr)
    assert.equal(output.code, 0, stderr)
    const [hello, traceparent] = new TextDecoder().decode(output.stdout).trim().split("\n")
    assert.equal(hello, "hello")
    // Exactly one traceparent (Deno's), not a list with stagetrace's own in front of it.
    assert.match(traceparent ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]$/)
    assert.deepEqual(receiver.errors, [])

    const all = receiver.spans()
    const fromDeno = all.filter((s) => s.resource["telemetry.sdk.name"] === "deno-opentelemetry")
    const fromStagetrace = all.filter((s) => s.resource["telemetry.sdk.name"] === "stagetrace")
    const find = (
      spans: ReadonlyArray<ReceivedSpan>,
      predicate: (s: ReceivedSpan) => boolean,
      what: string,
    ) => {
      const found = spans.filter(predicate)
      assert.equal(found.length, 1, `${what}: ${JSON.stringify(spans.map((s) => [s.scope, s.name, s.kind]))}`)
      return found[0]!
    }
    const outer = find(fromDeno, (s) => s.name === "outer", "outer")
    const call = find(fromDeno, (s) => s.name === "call_api", "call_api")
    const client = find(fromDeno, (s) => s.kind === 3 && s.attributes["url.path"] === "/hello", "fetch span")
    const server = find(fromDeno, (s) => s.kind === 2 && s.parentSpanId === client.spanId, "serve span")
    const handle = find(fromDeno, (s) => s.name === "handle", "handle")
    const stage = find(fromDeno, (s) => s.name === "handler_stage", "handler_stage")
    assert.equal(outer.parentSpanId, undefined)
    assert.equal(call.parentSpanId, outer.spanId)
    assert.equal(client.parentSpanId, call.spanId, "Deno's fetch span nests under the stage")
    assert.equal(server.parentSpanId, client.spanId, "trace context went over fetch into Deno.serve")
    assert.equal(handle.parentSpanId, server.spanId, "the handler's request continues Deno's server span")
    assert.equal(stage.parentSpanId, handle.spanId)
    assert.ok([outer, call, client, server, handle, stage].every((s) => s.traceId === outer.traceId))
    // The Http.fetch call carried one traceparent: Deno's fetch span under stagetrace's client span.
    const propagate = find(fromDeno, (s) => s.name === "propagate", "propagate")
    const [, , parentId] = traceparent!.split("-")
    const denoFetch = find(fromDeno, (s) => s.spanId === parentId, "the fetch span named by the traceparent")
    assert.equal(denoFetch.traceId, propagate.traceId)

    // The exporter's own POSTs to /v1/traces were not traced by Deno.
    assert.ok(
      fromDeno.every((s) =>
        !String(s.attributes["url.full"] ?? s.attributes["url.path"] ?? "").includes("/v1/")
      ),
      "no span for stagetrace's own export calls",
    )
    // Exporter.otlp sent the same spans with the same ids.
    const ids = new Set(fromStagetrace.map((s) => s.spanId))
    for (const span of [outer, call, handle, stage]) assert.ok(ids.has(span.spanId), span.name)
  } finally {
    await receiver.close()
  }
})

Deno.test("under OTEL_DENO=true, Exporter.otlp's own calls are not traced even without Exporter.denoNative()", async () => {
  const receiver = startReceiver()
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", fixture("deno_otel_otlp_only.ts"), receiver.url],
      cwd: root,
      env: {
        NO_COLOR: "1",
        OTEL_DENO: "true",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
        OTEL_BSP_SCHEDULE_DELAY: "100",
        OTEL_DENO_CONSOLE: "ignore",
        OTEL_DENO_METRICS: "false",
      },
      stdout: "piped",
      stderr: "piped",
    }).output()
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr))
    const spans = receiver.spans()
    const fromStagetrace = spans.filter((s) => s.resource["telemetry.sdk.name"] === "stagetrace")
    assert.deepEqual(fromStagetrace.map((s) => s.name).sort(), ["job", "step"])
    const exportCalls = spans.filter((s) =>
      String(s.attributes["url.full"] ?? s.attributes["url.path"] ?? "").includes("/v1/")
    )
    assert.deepEqual(exportCalls.map((s) => s.name), [], "no span for stagetrace's own export calls")
  } finally {
    await receiver.close()
  }
})
