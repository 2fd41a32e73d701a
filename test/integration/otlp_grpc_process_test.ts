/**
 * The "done when", in a subprocess: a program using `Telemetry.layerFromEnv()` with only
 * `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` set delivers every span, metric and
 * log record to a gRPC receiver exactly once, parents intact, and exits within its shutdown deadline when
 * the receiver is gone.
 */
import assert from "node:assert/strict"
import { downUrl } from "./_otlp_receiver.ts"
import { GrpcReceiver } from "./_otlp_grpc_receiver.ts"

const root = new URL("../../", import.meta.url).pathname
const fixture = new URL("./fixtures/grpc_from_env.ts", import.meta.url).pathname

/** Runs the fixture with only the two OTLP variables (plus what Deno itself needs to find its cache). */
const runFixture = async (endpoint: string) => {
  const env: Record<string, string> = {
    NO_COLOR: "1",
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
  }
  for (const name of ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name)
    if (value !== undefined) env[name] = value
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--cached-only", fixture],
    cwd: root,
    clearEnv: true,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn()
  // A watchdog far past the 5 s default shutdown deadline: a hang fails the test instead of the run.
  let killed = false
  const watchdog = setTimeout(() => {
    killed = true
    child.kill("SIGKILL")
  }, 15_000)
  const [status, stdout, stderr] = await Promise.all([
    child.status,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ])
  clearTimeout(watchdog)
  return { status, stdout, stderr, killed }
}

Deno.test("Telemetry.layerFromEnv() with only the endpoint and protocol=grpc delivers everything once, parents intact", async () => {
  const receiver = await GrpcReceiver.start()
  try {
    const { status, stdout, stderr } = await runFixture(receiver.url)
    assert.equal(status.code, 0, stderr)
    assert.equal(stdout.trim().split("\n").at(-1), "done")
    assert.deepEqual(receiver.errors, [])

    const spans = receiver.spans()
    assert.equal(spans.length, 20 * 4, "20 requests of 1 + 3 spans")
    assert.equal(new Set(spans.map((s) => s.spanId)).size, spans.length, "exactly once")
    const byId = new Map(spans.map((s) => [s.spanId, s]))
    for (const job of spans.filter((s) => s.name === "job")) {
      assert.equal(job.parentSpanId, undefined)
      const children = spans.filter((s) => s.parentSpanId === job.spanId).map((s) => s.name).sort()
      assert.deepEqual(children, ["auth_check", "load"])
    }
    for (const read of spans.filter((s) => s.name === "cache_read")) {
      const load = byId.get(read.parentSpanId!)
      assert.equal(load?.name, "load", "the nested stage keeps its parent")
      assert.equal(load?.traceId, read.traceId)
    }

    const handled = receiver.metrics().get("fixture_handled")
    assert.equal(Number(handled?.sum.dataPoints[0].asInt ?? handled?.sum.dataPoints[0].asDouble), 20)
    const logs = receiver.logs().filter((l) => String(l.body).startsWith("handled "))
    assert.equal(logs.length, 20)
    assert.equal(new Set(logs.map((l) => l.body)).size, 20, "each log record once")
    assert.ok(logs.every((l) => l.traceId !== undefined && byId.size > 0))
  } finally {
    await receiver.close()
  }
})

Deno.test("Telemetry.layerFromEnv() with protocol=grpc exits within its shutdown deadline when the receiver is gone", async () => {
  const { status, stdout, stderr, killed } = await runFixture(await downUrl())
  assert.equal(killed, false, "the program did not hang")
  assert.equal(status.code, 0, stderr)
  assert.equal(stdout.trim().split("\n").at(-1), "done", "the program itself was not disturbed")
})
