/**
 * The PostgreSQL variant of the demo: the chat service retrieves its documents with `effect/sql` through
 * `@effect/sql-pg` and answers with a `LanguageModel` — no stagetrace wrapper anywhere. Under
 * `Telemetry.layer` each SQL statement is a stage named after its summary (`db SELECT documents`), the
 * transaction that records the conversation is a `db.transaction` stage with its statements inside, and
 * `db_queries_total` / `db_query_duration_seconds` count them by operation. Statement parameters are never
 * recorded; the statement text on spans goes through the redactor.
 *
 * Run it against a server of yours:
 *
 *     DATABASE_URL=postgres://user:password@127.0.0.1:5432/db deno run -A examples/postgres.ts
 *
 * or, without `DATABASE_URL`, it starts a throwaway server from Debian's `postgresql` package on a free
 * loopback port in a temp dir (the test suite's helper) and removes it at the end.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { LanguageModel, Model, Telemetry as AiTelemetry } from "effect/ai"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { SqlClient } from "effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Exporter, Summaries, Telemetry } from "../mod.ts"
import { postgresBin, startPostgres } from "../test/integration/_postgres.ts"

// A PostgreSQL server: DATABASE_URL, or a throwaway one.
const url = Deno.env.get("DATABASE_URL")
const bin = url === undefined ? postgresBin() : undefined
if (url === undefined && bin === undefined) {
  console.error("Set DATABASE_URL, or install Debian's postgresql package for a throwaway server.")
  Deno.exit(1)
}
const server = url === undefined ? await startPostgres(bin!) : undefined
const Database = PgClient.layer(
  server === undefined
    ? { url: Redacted.make(url!) }
    : { host: server.host, port: server.port, username: server.user, database: server.database },
)

// A simulated model that reports its token usage like a real provider.
const Llm = Model.make(
  "simulated",
  "gpt-4o",
  Layer.effect(
    LanguageModel.LanguageModel,
    LanguageModel.make({
      generateText: (request) =>
        Effect.as(
          Effect.sync(() =>
            AiTelemetry.addGenAIAnnotations(request.span, {
              provider: { name: "simulated" },
              request: { model: "gpt-4o" },
              usage: { inputTokens: 420, outputTokens: 90 },
            })
          ),
          [{ type: "text", text: "Refunds take 5 business days." }, {
            type: "finish",
            reason: "stop",
            usage: {
              inputTokens: { uncached: undefined, total: 420, cacheRead: undefined, cacheWrite: undefined },
              outputTokens: { total: 90, text: undefined, reasoning: undefined },
            },
          }] as Array<never>,
        ),
      streamText: () => Stream.empty,
    }),
  ),
)

/** `GET /chat/:conversation?q=…`: retrieve, answer, record the exchange. */
const Chat = HttpRouter.add(
  "GET",
  "/chat/:conversation",
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const question = new URL(request.url, "http://local").searchParams.get("q") ?? ""
    const sql = yield* SqlClient.SqlClient
    const documents = yield* sql<{ body: string }>`
      SELECT body FROM documents WHERE body ILIKE ${"%" + question + "%"} ORDER BY id LIMIT 3`
    const answer = yield* LanguageModel.generateText({
      prompt: `${documents.map((d) => d.body).join("\n")}\n\nQuestion: ${question}`,
    })
    yield* sql.withTransaction(Effect.gen(function* () {
      yield* sql`INSERT INTO messages ${sql.insert({ role: "user", body: question })}`
      yield* sql`INSERT INTO messages ${sql.insert({ role: "assistant", body: answer.text })}`
    }))
    return HttpServerResponse.text(answer.text)
  }),
)

const memory = Exporter.memory()
const TelemetryLive = Telemetry.layer({
  serviceName: "chat-postgres",
  exporters: [memory],
  instrument: { ai: { prices: { "gpt-4o": { inputPer1k: 0.0025, outputPer1k: 0.01 } } } },
  budgets: { "db SELECT documents": "50 millis" },
})

const setup = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS documents (id serial PRIMARY KEY, body text NOT NULL)`
  yield* sql`CREATE TABLE IF NOT EXISTS messages (id serial PRIMARY KEY, role text NOT NULL, body text NOT NULL)`
  yield* sql`INSERT INTO documents ${
    sql.insert([
      { body: "Refunds are paid back within 5 business days." },
      { body: "Refunds need the order number." },
      { body: "Shipping takes 2 days." },
    ])
  }`
})

try {
  await Effect.runPromise(Effect.provide(setup, Database))
  const app = HttpRouter.toWebHandler(
    Chat.pipe(Layer.provideMerge(Layer.merge(Database, Llm)), Layer.provideMerge(TelemetryLive)),
    { disableLogger: true },
  )
  for (const question of ["refund", "shipping", "refund"]) {
    const response = await app.handler(new Request(`http://local/chat/c-1?q=${question}`))
    console.log(`GET /chat/c-1?q=${question} → ${response.status} ${await response.text()}`)
  }
  await app.dispose()

  const [first] = memory.summaries()
  if (first !== undefined) console.log(`\n${Summaries.waterfall(first, { width: 40 })}`)
  console.log("\nThe statements as exported (text redacted, parameters never recorded):")
  for (
    const span of memory.spans().filter((s) => s.attributes["db.query.summary"] !== undefined).slice(0, 6)
  ) {
    console.log(
      `  ${String(span.attributes["stage.id"]).padEnd(22)} ${span.attributes["db.query.text"] ?? ""}`,
    )
  }
  const snapshots = memory.metrics()
  console.log("\ndb_queries_total:")
  for (const m of snapshots.filter((m) => m.id === "db_queries_total")) {
    console.log(`  ${JSON.stringify(m.attributes)} ${(m.state as { count: number }).count}`)
  }
} finally {
  await server?.[Symbol.asyncDispose]()
}
