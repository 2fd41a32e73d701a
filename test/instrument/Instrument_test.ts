/**
 * Adoption of Effect's own spans: an `HttpRouter` app (served in process) whose handlers call `HttpClient`,
 * `LanguageModel` and `EmbeddingModel`, under `Telemetry.layer`.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { LanguageModel, Model } from "effect/ai"
import { Instrument, MetricCatalogue, Metrics, Sampler, Stage, StageStats, Telemetry } from "../../mod.ts"
import { effectTest, runFor } from "../_harness.ts"
import { histogramSum, metricValue, startChatApp } from "./_app.ts"
import { simulatedModel } from "./_models.ts"

const prices = { "gpt-4o": { inputPer1k: 0.03, outputPer1k: 0.06 } }

const withApp = async (
  options: Parameters<typeof startChatApp>[0],
  f: (app: ReturnType<typeof startChatApp>) => Promise<void>,
) => {
  const app = startChatApp(options)
  try {
    await f(app)
  } finally {
    await app.dispose()
  }
}

Deno.test("an HttpRouter request is one request with its HttpClient and LanguageModel stages, one span each", async () => {
  await withApp({ telemetry: { instrument: { ai: { prices } } } }, async (app) => {
    const response = await app.fetch("/chat/7", { "x-request-id": "req-42" })
    assert.equal(response.status, 200)
    assert.equal(await response.text(), "The answer is 42.")

    const [summary] = app.memory.summaries()
    assert.ok(summary)
    assert.equal(summary.requestId, "req-42")
    assert.equal(summary.name, "GET /chat/:id")
    assert.equal(summary.status, "ok")
    assert.equal(summary.attributes["http.route"], "/chat/:id")
    assert.equal(summary.attributes["http.response.status_code"], 200)
    assert.deepEqual(summary.stages.map((s) => [s.stageId, s.status]), [
      ["http.client GET kb.local", "ok"],
      ["llm.generateText gpt-4o", "ok"],
    ])
    const llm = summary.stages[1]!
    assert.equal(llm.metadata["gen_ai.usage.input_tokens"], 100)
    assert.equal(llm.metadata["gen_ai.usage.output_tokens"], 50)
    assert.equal(llm.metadata["llm.cost_usd"], 0.006)

    // Exactly one exported span per Effect span: the server span, the client call, the model call.
    const spans = app.memory.spans()
    assert.deepEqual(spans.map((s) => `${s.kind} ${s.name}`).sort(), [
      "client GET",
      "client LanguageModel.generateText",
      "server GET /chat/:id",
    ])
    assert.equal(new Set(spans.map((s) => s.spanId)).size, 3)
    const server = spans.find((s) => s.kind === "server")!
    assert.equal(server.spanId, summary.spanId)
    assert.equal(server.attributes["request.id"], "req-42")
    assert.equal(server.attributes["http.route"], "/chat/:id")
    for (const span of spans.filter((s) => s.kind === "client")) {
      assert.equal(span.parentSpanId, server.spanId, `${span.name} is a child of the server span`)
      assert.equal(span.traceId, server.traceId)
      assert.equal(span.attributes["request.id"], "req-42")
    }
    const model = spans.find((s) => s.name === "LanguageModel.generateText")!
    assert.equal(model.attributes["stage.id"], "llm.generateText gpt-4o")
    assert.equal(model.attributes["gen_ai.usage.input_tokens"], 100)

    const metrics = app.metrics()
    assert.equal(
      metricValue(metrics, "http_requests_total", { method: "GET", route: "/chat/:id", status: "200" }),
      1,
    )
    assert.equal(
      metricValue(metrics, "http_request_duration_seconds", {
        method: "GET",
        route: "/chat/:id",
        status: "200",
      }),
      1,
    )
    const llmLabels = { provider: "simulated", model: "gpt-4o" }
    assert.equal(metricValue(metrics, "llm_requests_total", { ...llmLabels, status: "ok" }), 1)
    assert.equal(metricValue(metrics, "llm_tokens_used_total", { ...llmLabels, type: "prompt" }), 100)
    assert.equal(metricValue(metrics, "llm_tokens_used_total", { ...llmLabels, type: "completion" }), 50)
    assert.equal(metricValue(metrics, "llm_cost_dollars_total", llmLabels), 0.006)
    assert.equal(metricValue(metrics, "llm_request_duration_seconds", llmLabels), 1)
    assert.equal(
      metricValue(metrics, "http_client_request_duration_seconds", {
        method: "GET",
        server_address: "kb.local",
        status: "200",
      }),
      1,
    )
    const genAi = {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "simulated",
      "gen_ai.request.model": "gpt-4o",
    }
    assert.equal(
      histogramSum(metrics, "gen_ai.client.token.usage", { ...genAi, "gen_ai.token.type": "input" }),
      100,
    )
    assert.equal(
      histogramSum(metrics, "gen_ai.client.token.usage", { ...genAi, "gen_ai.token.type": "output" }),
      50,
    )
    assert.equal(metricValue(metrics, "gen_ai.client.operation.duration", genAi), 1)
    assert.equal(metricValue(metrics, "stagetrace_requests_in_flight", {}), 0)
  })
})

Deno.test("Layer.provide and Layer.provideMerge of Telemetry.layer give the same requests", async () => {
  const seen: Array<unknown> = []
  for (const compose of ["provideMerge", "provide"] as const) {
    await withApp({ compose, telemetry: { instrument: { ai: { prices } } } }, async (app) => {
      assert.equal((await app.fetch("/chat/1")).status, 200)
      const [summary] = app.memory.summaries()
      assert.ok(summary, `${compose}: a summary`)
      seen.push({
        name: summary.name,
        stages: summary.stages.map((s) => s.stageId),
        spans: app.memory.spans().length,
        cost: metricValue(app.metrics(), "llm_cost_dollars_total", {
          provider: "simulated",
          model: "gpt-4o",
        }),
      })
    })
  }
  assert.deepEqual(seen[0], {
    name: "GET /chat/:id",
    stages: ["http.client GET kb.local", "llm.generateText gpt-4o"],
    spans: 3,
    cost: 0.006,
  })
  assert.deepEqual(seen[1], seen[0])
})

Deno.test("a request id that is not valid is counted and replaced; without the header one is generated", async () => {
  await withApp({}, async (app) => {
    await app.fetch("/chat/1", { "x-request-id": "has space" })
    await app.fetch("/chat/2")
    const [first, second] = app.memory.summaries()
    assert.notEqual(first?.requestId, "has space")
    assert.match(first!.requestId, /^[0-9a-f-]{36}$/)
    assert.notEqual(second?.requestId, first?.requestId)
    assert.equal((await app.recorder()).drops.get("invalid_request_id"), 1)
  })
  await withApp(
    { telemetry: { instrument: { httpServer: { requestIdHeader: "x-correlation-id" } } } },
    async (app) => {
      await app.fetch("/chat/1", { "x-correlation-id": "corr-1", "x-request-id": "ignored" })
      assert.equal(app.memory.summaries()[0]?.requestId, "corr-1")
    },
  )
})

Deno.test("a failing model call fails its stage and the request (5xx), classified and counted", async () => {
  await withApp({}, async (app) => {
    const response = await app.fetch("/fail")
    assert.equal(response.status, 500)
    const [summary] = app.memory.summaries()
    assert.equal(summary?.status, "error")
    assert.equal(summary?.attributes["http.response.status_code"], 500)
    const stage = summary?.stages[0]
    assert.equal(stage?.stageId, "llm.generateText gpt-4o")
    assert.equal(stage?.status, "error")
    assert.equal(stage?.error?.type, "AiError")
    const metrics = app.metrics()
    assert.equal(
      metricValue(metrics, "llm_requests_total", { provider: "simulated", model: "gpt-4o", status: "error" }),
      1,
    )
    assert.equal(
      metricValue(metrics, "http_requests_total", { method: "GET", route: "/fail", status: "500" }),
      1,
    )
    assert.equal(
      metricValue(metrics, "gen_ai.client.operation.duration", {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "simulated",
        "gen_ai.request.model": "gpt-4o",
        "error.type": "AiError",
      }),
      1,
    )
  })
})

Deno.test("an HttpClient call answered 503 is a failed stage; the request that handles it succeeds", async () => {
  await withApp({}, async (app) => {
    assert.equal(await (await app.fetch("/kb-down")).text(), "kb down")
    const [summary] = app.memory.summaries()
    assert.equal(summary?.status, "ok")
    assert.equal(summary?.stages[0]?.stageId, "http.client GET kb.local")
    assert.equal(summary?.stages[0]?.status, "error")
    assert.equal(
      metricValue(app.metrics(), "http_client_request_duration_seconds", {
        method: "GET",
        server_address: "kb.local",
        status: "503",
      }),
      1,
    )
  })
})

Deno.test("streamText counts its tokens when the stream ends, and what it used when the consumer stops early", async () => {
  await withApp({ telemetry: { instrument: { ai: { prices } } } }, async (app) => {
    assert.equal(await (await app.fetch("/stream")).text(), "6")
    assert.equal(await (await app.fetch("/stream-cut")).text(), "2")
    const [full, cut] = app.memory.summaries()
    assert.equal(full?.stages[0]?.stageId, "llm.streamText gpt-4o")
    assert.equal(full?.stages[0]?.metadata["gen_ai.usage.output_tokens"], 50)
    assert.equal(cut?.stages[0]?.metadata["gen_ai.usage.input_tokens"], 100)
    assert.equal(cut?.stages[0]?.metadata["gen_ai.usage.output_tokens"], undefined)
    const labels = { provider: "simulated", model: "gpt-4o" }
    const metrics = app.metrics()
    assert.equal(metricValue(metrics, "llm_tokens_used_total", { ...labels, type: "prompt" }), 200)
    assert.equal(metricValue(metrics, "llm_tokens_used_total", { ...labels, type: "completion" }), 50)
    // $0.006 for the whole stream, $0.003 for the input of the cut one.
    assert.ok(Math.abs(metricValue(metrics, "llm_cost_dollars_total", labels)! - 0.009) < 1e-12)
    assert.equal(metricValue(metrics, "llm_requests_total", { ...labels, status: "ok" }), 2)
  })
})

Deno.test("an interrupted streamText call records the tokens reported before the interruption", async () => {
  const labels = { provider: "simulated", model: "gpt-4o" }
  const [exit, prompt, completion, interrupted, stage] = await Effect.runPromise(
    Effect.gen(function* () {
      const exit = yield* LanguageModel.streamText({ prompt: "stream" }).pipe(
        Stream.mapEffect((part) => part.type === "text-delta" ? Effect.interrupt : Effect.succeed(part)),
        Stream.runDrain,
        Effect.exit,
      )
      const metrics = yield* Metrics.Metrics
      return [
        exit._tag,
        metrics.value(MetricCatalogue.llmTokensUsedTotal, { ...labels, type: "prompt" }),
        metrics.value(MetricCatalogue.llmTokensUsedTotal, { ...labels, type: "completion" }),
        metrics.value(MetricCatalogue.llmRequestsTotal, { ...labels, status: "interrupted" }),
        yield* StageStats.get("llm.streamText gpt-4o"),
      ] as const
    }).pipe(Effect.provide(simulatedModel("gpt-4o")), Effect.provide(Telemetry.layer())),
  )
  assert.equal(exit, "Failure")
  assert.equal(prompt, 100)
  assert.equal(completion, undefined)
  assert.equal(interrupted, 1)
  assert.equal(stage?.count, 1)
})

Deno.test("generateObject and embeddings are stages with their metrics", async () => {
  await withApp({
    telemetry: { instrument: { ai: { prices: { "gpt-4o": { inputPer1k: 1, outputPer1k: 0 } } } } },
  }, async (app) => {
    assert.equal(await (await app.fetch("/object")).text(), "42")
    assert.equal(await (await app.fetch("/embed")).text(), "3")
    const [object, embed] = app.memory.summaries()
    assert.deepEqual(object?.stages.map((s) => s.stageId), ["llm.generateObject gpt-4o"])
    assert.deepEqual(embed?.stages.map((s) => s.stageId), [
      "embedding.embed gpt-4o",
      "embedding.embedMany gpt-4o",
    ])
    assert.equal(embed?.stages[1]?.metadata["gen_ai.usage.input_tokens"], 9)
    const metrics = app.metrics()
    assert.equal(metricValue(metrics, "embeddings_generated_total", { model: "gpt-4o" }), 4)
    assert.equal(metricValue(metrics, "embedding_generation_duration_seconds", { model: "gpt-4o" }), 2)
    // embedMany's 9 input tokens at $1 per 1k, and generateObject's 100.
    assert.equal(
      metricValue(metrics, "llm_cost_dollars_total", { provider: "simulated", model: "gpt-4o" }),
      0.109,
    )
  })
})

Deno.test("stageId renames and switches off single calls; false switches a kind off", async () => {
  await withApp({
    telemetry: {
      instrument: {
        httpClient: { stageId: (call) => call.host === "kb.local" ? "kb_search" : undefined },
        ai: { stageId: (call) => call.operation === "generateText" ? false : undefined },
      },
    },
  }, async (app) => {
    await app.fetch("/chat/1")
    const [summary] = app.memory.summaries()
    assert.deepEqual(summary?.stages.map((s) => s.stageId), ["kb_search"])
    // Not a stage, but still one span and still counted.
    assert.equal(app.memory.spans().length, 3)
    assert.equal(
      metricValue(app.metrics(), "llm_requests_total", {
        provider: "simulated",
        model: "gpt-4o",
        status: "ok",
      }),
      undefined,
    )
  })
  await withApp({ telemetry: { instrument: { httpClient: false, ai: false } } }, async (app) => {
    await app.fetch("/chat/1")
    const [summary] = app.memory.summaries()
    assert.equal(summary?.name, "GET /chat/:id")
    assert.deepEqual(summary?.stages, [])
    const spans = app.memory.spans()
    assert.equal(spans.length, 3)
    assert.ok(spans.every((s) => s.attributes["stage.id"] === undefined))
  })
})

Deno.test("instrument: false leaves Effect's spans alone", async () => {
  await withApp({ telemetry: { instrument: false } }, async (app) => {
    assert.equal((await app.fetch("/chat/1")).status, 200)
    assert.deepEqual(app.memory.summaries(), [])
    assert.equal(
      metricValue(app.metrics(), "http_requests_total", { method: "GET", route: "/chat/:id", status: "200" }),
      undefined,
    )
  })
  const options = await Effect.runPromise(Telemetry.optionsFromEnv({ STAGETRACE_INSTRUMENT: "false" }))
  assert.equal(options.instrument, false)
  assert.ok(Telemetry.environmentVariables.includes("STAGETRACE_INSTRUMENT"))
})

Deno.test("bad instrument options fail the layer with a TelemetryConfigError naming them", async () => {
  const cases: Array<[unknown, string]> = [
    [
      { ai: { prices: { "gpt-4o": { inputPer1k: -1, outputPer1k: 0 } } } },
      "instrument.ai.prices.gpt-4o.inputPer1k",
    ],
    [
      { ai: { prices: { "gpt-4o": { inputPer1k: 1, outputPer1k: Infinity } } } },
      "instrument.ai.prices.gpt-4o.outputPer1k",
    ],
    [{ ai: { prices: { "gpt-4o": 3 } } }, "instrument.ai.prices.gpt-4o"],
    [{ sql: { stageId: "db" } }, "instrument.sql.stageId"],
    [{ httpServer: { requestIdHeader: "bad header" } }, "instrument.httpServer.requestIdHeader"],
    [{ httpClient: "yes" }, "instrument.httpClient"],
    ["all", "instrument"],
  ]
  for (const [instrument, name] of cases) {
    const error = await Effect.runPromise(
      Effect.flip(Effect.scoped(Layer.build(Telemetry.layer({ instrument: instrument as never })))),
    )
    assert.equal(error._tag, "TelemetryConfigError")
    assert.equal(error.name, name)
  }
})

Deno.test("a model call outside any request still feeds statistics and metrics", async () => {
  const [stats, tokens] = await Effect.runPromise(
    Effect.gen(function* () {
      yield* LanguageModel.generateText({ prompt: "hello" })
      const metrics = yield* Metrics.Metrics
      return [
        yield* StageStats.get("llm.generateText gpt-4o"),
        metrics.value(MetricCatalogue.llmTokensUsedTotal, {
          provider: "simulated",
          model: "gpt-4o",
          type: "prompt",
        }),
      ] as const
    }).pipe(Effect.provide(simulatedModel("gpt-4o")), Effect.provide(Telemetry.layer())),
  )
  assert.equal(stats?.count, 1)
  assert.equal(tokens, 100)
})

Deno.test("spans that are not Effect's modules' stay plain: a nested server span, a bare client span", async () => {
  const Extra = HttpRouter.add(
    "GET",
    "/nested",
    Effect.gen(function* () {
      yield* Effect.void.pipe(Effect.withSpan("inner-server", { kind: "server" }))
      yield* Effect.void.pipe(Effect.withSpan("rpc-call", { kind: "client" }))
      return HttpServerResponse.text("ok")
    }),
  )
  await withApp({ routes: Extra }, async (app) => {
    await app.fetch("/nested")
    const summaries = app.memory.summaries()
    assert.equal(summaries.length, 1)
    assert.deepEqual(summaries[0]?.stages, [])
    const names = app.memory.spans().map((s) => s.name).sort()
    assert.deepEqual(names, ["GET /nested", "inner-server", "rpc-call"])
  })
})

Deno.test("tail sampling: a dropped request exports nothing, a failed one keeps its route and every span", async () => {
  await withApp({ telemetry: { sampler: Sampler.alwaysOff } }, async (app) => {
    await app.fetch("/chat/1")
    await app.fetch("/fail")
    const spans = app.memory.spans()
    const kept = app.memory.summaries()
    assert.deepEqual(kept.map((s) => [s.name, s.keptBecause]), [["GET /fail", "error"]])
    assert.deepEqual(spans.map((s) => `${s.kind} ${s.name}`).sort(), [
      "client LanguageModel.generateText",
      "server GET /fail",
    ])
    const server = spans.find((s) => s.kind === "server")!
    assert.equal(server.attributes["http.route"], "/fail")
    assert.equal(server.attributes["http.response.status_code"], 500)
    assert.equal(spans.find((s) => s.kind === "client")?.parentSpanId, server.spanId)
    // Metrics still see every request.
    assert.equal(
      metricValue(app.metrics(), "http_requests_total", { method: "GET", route: "/chat/:id", status: "200" }),
      1,
    )
  })
})

Deno.test("budgets apply to adopted requests and stages by name and stage id", async () => {
  await withApp({
    telemetry: { budgets: { "GET /chat/:id": "1 nanos", "llm.generateText gpt-4o": "1 nanos" } },
  }, async (app) => {
    await app.fetch("/chat/1")
    const [summary] = app.memory.summaries()
    assert.equal(summary?.overBudget, true)
    assert.equal(summary?.stages[1]?.overBudget, true)
    assert.equal(summary?.stages[0]?.overBudget, undefined)
  })
})

Deno.test("Instrument.summarizeSql is exported", () => {
  assert.equal(Instrument.summarizeSql("select * from users"), "SELECT users")
})

Deno.test("a remote parent is continued; one that is not sampled still gives a summary and metrics, no spans", async () => {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
  await withApp({}, async (app) => {
    await app.fetch("/chat/1", { traceparent: `00-${traceId}-00f067aa0ba902b7-01` })
    await app.fetch("/chat/2", { traceparent: `00-${"1".repeat(32)}-00f067aa0ba902b7-00` })
    const [sampled, unsampled] = app.memory.summaries().length === 2
      ? app.memory.summaries()
      : [app.memory.summaries()[0], undefined]
    assert.equal(sampled?.traceId, traceId)
    const spans = app.memory.spans()
    assert.equal(spans.length, 3, "only the sampled request's spans")
    assert.ok(spans.every((s) => s.traceId === traceId))
    assert.equal(spans.find((s) => s.kind === "server")?.parentSpanId, "00f067aa0ba902b7")
    assert.equal(unsampled, undefined, "the unsampled request is not exported")
    const recorder = await app.recorder()
    const names = recorder.summaries.recent(10).map((s) => [s.name, s.sampled, s.stages.length])
    assert.deepEqual(names.slice(1), [["GET /chat/:id", false, 2], ["GET /chat/:id", true, 2]])
    assert.equal(
      metricValue(app.metrics(), "http_requests_total", { method: "GET", route: "/chat/:id", status: "200" }),
      2,
    )
  })
})

Deno.test("Stage.track inside a handler is a stage of the adopted request", async () => {
  const Extra = HttpRouter.add(
    "GET",
    "/mixed",
    Effect.gen(function* () {
      yield* Effect.void.pipe(Stage.track("rerank"))
      yield* LanguageModel.generateText({ prompt: "x" }).pipe(Stage.track("answer"))
      return HttpServerResponse.text("ok")
    }),
  )
  await withApp({ routes: Extra }, async (app) => {
    await app.fetch("/mixed")
    const [summary] = app.memory.summaries()
    assert.deepEqual(summary?.stages.map((s) => [s.stageId, s.substages.map((c) => c.stageId)]), [
      ["rerank", []],
      ["answer", ["llm.generateText gpt-4o"]],
    ])
    const spans = app.memory.spans()
    const answer = spans.find((s) => s.name === "answer")!
    assert.equal(spans.find((s) => s.name === "LanguageModel.generateText")?.parentSpanId, answer.spanId)
  })
})

Deno.test("cached and reasoning tokens the provider reports are counted as their own types", async () => {
  await withApp({ simulated: { cachedTokens: 20, reasoningTokens: 7 } }, async (app) => {
    await app.fetch("/chat/1")
    const labels = { provider: "simulated", model: "gpt-4o" }
    const metrics = app.metrics()
    assert.equal(metricValue(metrics, "llm_tokens_used_total", { ...labels, type: "cached" }), 20)
    assert.equal(metricValue(metrics, "llm_tokens_used_total", { ...labels, type: "reasoning" }), 7)
    const stage = app.memory.summaries()[0]?.stages[1]
    assert.equal(stage?.metadata["gen_ai.usage.cache_read.input_tokens"], 20)
    assert.equal(stage?.metadata["gen_ai.usage.reasoning.output_tokens"], 7)
  })
  await withApp({}, async (app) => {
    await app.fetch("/chat/1")
    const labels = { provider: "simulated", model: "gpt-4o" }
    assert.equal(
      metricValue(app.metrics(), "llm_tokens_used_total", { ...labels, type: "cached" }),
      undefined,
    )
  })
})

const slowModel = Model.make(
  "simulated",
  "slow",
  Layer.effect(
    LanguageModel.LanguageModel,
    LanguageModel.make({
      generateText: () =>
        Effect.as(Effect.sleep("100 millis"), [{ type: "text", text: "ok" }] as Array<never>),
      streamText: () => Stream.empty,
    }),
  ),
)

effectTest(
  "an adopted stage lasts what its span lasts, on Effect's clock (span timing on or off)",
  () =>
    Effect.gen(function* () {
      for (const timing of [true, false]) {
        yield* runFor(
          LanguageModel.generateText({ prompt: "x" }).pipe(Effect.withTracerTiming(timing)),
          "100 millis",
        )
      }
      const stats = yield* StageStats.get("llm.generateText slow")
      assert.equal(stats?.count, 2)
      assert.equal(stats?.minMs, 100)
      assert.equal(stats?.maxMs, 100)
      const metrics = yield* Metrics.Metrics
      const duration = metrics.value(MetricCatalogue.llmRequestDuration, {
        provider: "simulated",
        model: "slow",
      })
      assert.equal(duration?.sum, 0.2)
    }).pipe(Effect.provide(slowModel), Effect.provide(Telemetry.layer())),
)

Deno.test("with Layer.provide and httpServer off, the calls inside handlers are still adopted", async () => {
  await withApp({ compose: "provide", telemetry: { instrument: { httpServer: false } } }, async (app) => {
    await app.fetch("/chat/1")
    assert.deepEqual(app.memory.summaries(), [])
    assert.equal(
      metricValue(app.metrics(), "llm_requests_total", {
        provider: "simulated",
        model: "gpt-4o",
        status: "ok",
      }),
      1,
    )
    assert.equal(
      metricValue(app.metrics(), "http_requests_total", { method: "GET", route: "/chat/:id", status: "200" }),
      undefined,
    )
  })
})
