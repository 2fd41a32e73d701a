/**
 * Effect's own modules against real parts, on 127.0.0.1 only: `HttpRouter` apps served by `Deno.serve`
 * (through `HttpRouter.toWebHandler`) calling each other with `HttpClient`, a PostgreSQL server from
 * Debian's `postgresql` package reached through `@effect/sql-pg`, a simulated model provider built with
 * effect/ai's constructors, and the loopback OTLP receiver.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { LanguageModel } from "effect/ai"
import { FetchHttpClient, HttpClient, HttpRouter, HttpServerResponse } from "effect/http"
import { SqlClient } from "effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Exporter, Request, Telemetry } from "../../mod.ts"
import { simulatedModel } from "../instrument/_models.ts"
import { startReceiver } from "./_otlp_receiver.ts"
import { type Postgres, postgresBin, startPostgres } from "./_postgres.ts"

const bin = postgresBin()
if (bin === undefined) {
  console.warn("PostgreSQL is not installed (/usr/lib/postgresql/*/bin): the PostgreSQL tests are skipped")
}

/** Serves `layer` (an `HttpRouter` app) on a free loopback port; `close` stops the server and the app. */
// deno-lint-ignore no-explicit-any
const serve = (layer: any) => {
  const app = HttpRouter.toWebHandler(layer, { disableLogger: true })
  const handler = app.handler as (request: Request) => Promise<Response>
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => handler(request),
  )
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    close: async () => {
      await server.shutdown()
      await app.dispose()
    },
  }
}

const freshRegistry = () => Layer.succeed(Metric.MetricRegistry, new Map())

Deno.test("two HttpRouter services on Deno.serve: one trace across both, parents intact", async () => {
  const kbMemory = Exporter.memory()
  const kb = serve(
    HttpRouter.add("GET", "/search", Effect.succeed(HttpServerResponse.text("doc-1"))).pipe(
      Layer.provideMerge(Telemetry.layer({ serviceName: "kb", exporters: [kbMemory] })),
      Layer.provideMerge(freshRegistry()),
    ),
  )
  const chatMemory = Exporter.memory()
  const chat = serve(
    HttpRouter.add(
      "GET",
      "/chat/:id",
      Effect.gen(function* () {
        const client = yield* HttpClient.HttpClient
        const docs = yield* client.get(`${kb.url}/search?q=refund`).pipe(Effect.flatMap((r) => r.text))
        return HttpServerResponse.text(docs)
      }),
    ).pipe(
      Layer.provideMerge(FetchHttpClient.layer),
      Layer.provideMerge(Telemetry.layer({ serviceName: "chat", exporters: [chatMemory] })),
      Layer.provideMerge(freshRegistry()),
    ),
  )
  try {
    const response = await fetch(`${chat.url}/chat/9`, { headers: { "x-request-id": "trace-me" } })
    assert.equal(await response.text(), "doc-1")
  } finally {
    await chat.close()
    await kb.close()
  }
  const [chatSummary] = chatMemory.summaries()
  const [kbSummary] = kbMemory.summaries()
  assert.equal(chatSummary?.name, "GET /chat/:id")
  assert.equal(chatSummary?.requestId, "trace-me")
  const port = new URL(kb.url).port
  assert.deepEqual(chatSummary?.stages.map((s) => s.stageId), ["http.client GET 127.0.0.1"])
  assert.equal(kbSummary?.name, "GET /search")
  assert.equal(kbSummary?.traceId, chatSummary?.traceId, "one trace across both services")

  const chatSpans = chatMemory.spans()
  const kbSpans = kbMemory.spans()
  assert.equal(chatSpans.length, 2)
  assert.equal(kbSpans.length, 1)
  const chatServer = chatSpans.find((s) => s.kind === "server")!
  const call = chatSpans.find((s) => s.kind === "client")!
  const kbServer = kbSpans[0]!
  assert.equal(call.parentSpanId, chatServer.spanId)
  assert.equal(
    kbServer.parentSpanId,
    call.spanId,
    "the callee's server span is the caller's client span's child",
  )
  assert.equal(call.attributes["server.port"], Number(port))
  assert.equal(kbServer.attributes["http.route"], "/search")
})

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------------------

const pgLayer = (pg: Postgres) =>
  PgClient.layer({ host: pg.host, port: pg.port, username: pg.user, database: pg.database })

Deno.test({
  name:
    "effect/sql statements on a real PostgreSQL are stages; parameters are never recorded, text is redacted",
  ignore: bin === undefined,
  fn: async () => {
    await using pg = await startPostgres(bin!)
    const memory = Exporter.memory()
    const program = Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE users (id serial primary key, email text not null)`
      yield* sql`INSERT INTO users ${sql.insert({ email: "param-secret@example.com" })}`
      yield* sql.withTransaction(sql`UPDATE users SET email = ${"other-secret@example.com"} WHERE id = 1`)
      // A literal in the query text (not a parameter): the text on the span goes through the redactor.
      yield* sql.unsafe(`SELECT id FROM users WHERE email <> 'literal.person@example.com'`)
      yield* sql`SELECT * FROM missing_table`.pipe(Effect.ignore)
    }).pipe(Request.track("migrate"))
    await Effect.runPromise(
      program.pipe(
        Effect.provide(pgLayer(pg)),
        Effect.provide(Telemetry.layer({ exporters: [memory] })),
        Effect.provide(freshRegistry()),
      ),
    )
    const [summary] = memory.summaries()
    assert.deepEqual(summary?.stages.map((s) => [s.stageId, s.status, s.substages.map((c) => c.stageId)]), [
      ["db CREATE users", "ok", []],
      ["db INSERT users", "ok", []],
      ["db.transaction", "ok", ["db BEGIN", "db UPDATE users", "db COMMIT"]],
      ["db SELECT users", "ok", []],
      ["db SELECT missing_table", "error", []],
    ])
    const exported = JSON.stringify(
      { spans: memory.spans(), summaries: memory.summaries() },
      (_, value) => typeof value === "bigint" ? String(value) : value,
    )
    assert.ok(!exported.includes("param-secret"), "parameters are never recorded")
    assert.ok(!exported.includes("other-secret"), "parameters are never recorded")
    assert.ok(!exported.includes("literal.person@example.com"), "the query text is redacted")
    const select = memory.spans().find((s) => s.attributes["stage.id"] === "db SELECT users")!
    assert.equal(select.attributes["db.query.summary"], "SELECT users")
    assert.equal(select.attributes["db.system.name"], "postgresql")
    assert.match(String(select.attributes["db.query.text"]), /^SELECT id FROM users WHERE email <> '/)
    const insert = memory.spans().find((s) => s.attributes["stage.id"] === "db INSERT users")!
    assert.equal(insert.attributes["db.query.text"], 'INSERT INTO users ("email") VALUES ($1)')

    const metrics = memory.metrics()
    const count = (operation: string, status: string) =>
      metrics.find((m) => {
        const a = m.attributes as Record<string, string> | undefined
        return m.id === "db_queries_total" && a?.["operation"] === operation && a?.["status"] === status
      })?.state as { count: number } | undefined
    assert.equal(count("SELECT", "ok")?.count, 1)
    assert.equal(count("SELECT", "error")?.count, 1)
    assert.equal(count("BEGIN", "ok")?.count, 1)
  },
})

/** Every data point of `name` the receiver got: `[attributes, value]`. */
const points = (
  receiver: ReturnType<typeof startReceiver>,
  name: string,
): Array<[Record<string, unknown>, number]> => {
  const out: Array<[Record<string, unknown>, number]> = []
  for (const request of receiver.requests) {
    if (request.status !== 200 || !request.path.endsWith("/v1/metrics")) continue
    for (const rm of request.message.resourceMetrics ?? []) {
      for (const sm of rm.scopeMetrics ?? []) {
        for (const metric of sm.metrics ?? []) {
          if (metric.name !== name) continue
          for (const point of metric.sum?.dataPoints ?? metric.histogram?.dataPoints ?? []) {
            const attributes: Record<string, unknown> = {}
            // deno-lint-ignore no-explicit-any
            for (const kv of point.attributes ?? []) attributes[kv.key] = Object.values(kv.value as any)[0]
            out.push([attributes, Number(point.asDouble ?? point.asInt ?? point.sum)])
          }
        }
      }
    }
  }
  return out
}

Deno.test({
  name: "done when: HttpClient, LanguageModel and SQL in one HttpRouter request, at a real OTLP receiver",
  ignore: bin === undefined,
  fn: async () => {
    await using pg = await startPostgres(bin!)
    await Effect.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE documents (id serial primary key, body text)`
        yield* sql`INSERT INTO documents ${sql.insert({ body: "refunds take 5 days" })}`
      }).pipe(Effect.provide(pgLayer(pg))),
    )
    const receiver = startReceiver()
    const kb = serve(HttpRouter.add("GET", "/search", Effect.succeed(HttpServerResponse.text("doc-1"))))
    const memory = Exporter.memory()
    const chat = serve(
      HttpRouter.add(
        "GET",
        "/chat/:id",
        Effect.gen(function* () {
          const client = yield* HttpClient.HttpClient
          const sql = yield* SqlClient.SqlClient
          yield* client.get(`${kb.url}/search`).pipe(Effect.flatMap((r) => r.text))
          const rows = yield* sql<{ body: string }>`SELECT body FROM documents WHERE id = ${1}`
          const answer = yield* LanguageModel.generateText({ prompt: rows[0]!.body })
          return HttpServerResponse.text(answer.text)
        }),
      ).pipe(
        Layer.provideMerge(Layer.mergeAll(FetchHttpClient.layer, pgLayer(pg), simulatedModel("gpt-4o"))),
        Layer.provideMerge(Telemetry.layer({
          serviceName: "chat",
          exporters: [
            memory,
            Exporter.otlp({
              endpoint: receiver.url,
              scheduleDelay: "10 millis",
              metricExportInterval: "1 hour",
            }),
          ],
          instrument: { ai: { prices: { "gpt-4o": { inputPer1k: 0.03, outputPer1k: 0.06 } } } },
        })),
        Layer.provideMerge(freshRegistry()),
      ),
    )
    try {
      const response = await fetch(`${chat.url}/chat/1`)
      assert.equal(response.status, 200)
      await response.text()
    } finally {
      // Closing the app flushes the exporters (the last metric snapshot included).
      await chat.close()
      await kb.close()
      await receiver.close()
    }
    assert.deepEqual(receiver.errors, [])

    const summaries = memory.summaries()
    assert.equal(summaries.length, 1, "one summary")
    assert.deepEqual(summaries[0]!.stages.map((s) => s.stageId), [
      "http.client GET 127.0.0.1",
      "db SELECT documents",
      "llm.generateText gpt-4o",
    ])

    const llm = { provider: "simulated", model: "gpt-4o" }
    const tokens = points(receiver, "llm_tokens_used_total")
    assert.deepEqual(tokens.find(([a]) => a["type"] === "prompt"), [{ ...llm, type: "prompt" }, 100])
    assert.deepEqual(tokens.find(([a]) => a["type"] === "completion"), [{ ...llm, type: "completion" }, 50])
    assert.deepEqual(points(receiver, "llm_cost_dollars_total"), [[llm, 0.006]])
    assert.deepEqual(points(receiver, "db_queries_total"), [[{ operation: "SELECT", status: "ok" }, 1]])
    assert.ok(points(receiver, "gen_ai.client.token.usage").length === 2, "OpenTelemetry's GenAI metrics too")

    // Exactly one exported span per Effect span: the server span, the HTTP call, the query, the model call.
    const spans = receiver.spans()
    assert.equal(new Set(spans.map((s) => s.spanId)).size, spans.length, "no span twice")
    assert.deepEqual(spans.map((s) => s.name).sort(), [
      "GET",
      "GET /chat/:id",
      "LanguageModel.generateText",
      "postgres",
    ])
    const server = spans.find((s) => s.kind === 2)!
    assert.equal(server.attributes["http.route"], "/chat/:id")
    for (const span of spans.filter((s) => s !== server)) {
      assert.equal(span.parentSpanId, server.spanId, `${span.name} is a child of the request`)
      assert.equal(span.traceId, server.traceId)
    }
  },
})
