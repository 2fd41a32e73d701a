/**
 * A chat service written the way an Effect user writes it — `HttpRouter` routes, `HttpClient` to a
 * knowledge-base service (a second `HttpRouter` app), `LanguageModel` / `EmbeddingModel` from a simulated
 * provider — turned into a web handler with `HttpRouter.toWebHandler` under `Telemetry.layer`. Requests
 * are served in process (no socket); the knowledge base is reached through `FetchHttpClient` with its
 * `fetch` pointed at the second app's handler. Metrics go to a fresh registry per app.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { EmbeddingModel, LanguageModel } from "effect/ai"
import { FetchHttpClient, HttpClient, HttpRouter, HttpServerResponse } from "effect/http"
import { Exporter, Telemetry } from "../../mod.ts"
import { CurrentRecorder, type Recorder } from "../../src/internal/recorder.ts"
import { simulatedModel, type SimulatedOptions } from "./_models.ts"

/** The knowledge-base service: `GET /search?q=` answers documents; `GET /broken` answers 503. */
export const KnowledgeBase = Layer.mergeAll(
  HttpRouter.add("GET", "/search", Effect.succeed(HttpServerResponse.text("doc-1 doc-2"))),
  HttpRouter.add("GET", "/broken", Effect.succeed(HttpServerResponse.text("down", { status: 503 }))),
)

const chat = Effect.gen(function* () {
  const client = yield* HttpClient.HttpClient
  const docs = yield* client.get("http://kb.local/search?q=refunds").pipe(Effect.flatMap((r) => r.text))
  const answer = yield* LanguageModel.generateText({ prompt: `Answer from ${docs}` })
  return HttpServerResponse.text(answer.text)
})

/** The chat service's routes. */
export const ChatRoutes = Layer.mergeAll(
  HttpRouter.add("GET", "/chat/:id", chat),
  HttpRouter.add(
    "GET",
    "/fail",
    Effect.gen(function* () {
      yield* LanguageModel.generateText({ prompt: "FAIL" })
      return HttpServerResponse.text("unreachable")
    }),
  ),
  HttpRouter.add(
    "GET",
    "/kb-down",
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      const response = yield* client.get("http://kb.local/broken")
      return HttpServerResponse.text(response.status === 503 ? "kb down" : "kb up")
    }),
  ),
  HttpRouter.add(
    "GET",
    "/stream",
    Effect.gen(function* () {
      const parts = yield* LanguageModel.streamText({ prompt: "stream" }).pipe(Stream.runCollect)
      return HttpServerResponse.text(String(parts.length))
    }),
  ),
  HttpRouter.add(
    "GET",
    "/stream-cut",
    Effect.gen(function* () {
      const parts = yield* LanguageModel.streamText({ prompt: "stream" }).pipe(
        Stream.take(2),
        Stream.runCollect,
      )
      return HttpServerResponse.text(String(parts.length))
    }),
  ),
  HttpRouter.add(
    "GET",
    "/object",
    Effect.gen(function* () {
      const result = yield* LanguageModel.generateObject({
        prompt: "object",
        schema: Schema.Struct({ answer: Schema.String }),
      })
      return HttpServerResponse.text(result.value.answer)
    }),
  ),
  HttpRouter.add(
    "GET",
    "/embed",
    Effect.gen(function* () {
      const model = yield* EmbeddingModel.EmbeddingModel
      yield* model.embed("refunds")
      const many = yield* model.embedMany(["a", "b", "c"])
      return HttpServerResponse.text(String(many.embeddings.length))
    }),
  ),
)

/** A running chat app and what it recorded. */
export interface ChatApp {
  readonly memory: Exporter.MemoryExporter
  readonly fetch: (path: string, headers?: Record<string, string>) => Promise<Response>
  /** The app's metric snapshots (the telemetry store and Effect metrics of its registry). */
  readonly metrics: () => ReadonlyArray<Metric.Metric.Snapshot>
  /** The app's recorder (read through a probe route, itself a request). */
  readonly recorder: () => Promise<Recorder>
  readonly dispose: () => Promise<void>
}

/** Options of `startChatApp`. */
export interface ChatAppOptions {
  readonly telemetry?: Telemetry.TelemetryOptions
  /** How the telemetry layer is composed with the routes. */
  readonly compose?: "provideMerge" | "provide"
  readonly model?: string
  readonly simulated?: SimulatedOptions
  /** Extra routes. */
  // deno-lint-ignore no-explicit-any
  readonly routes?: Layer.Layer<never, never, any>
}

/** Builds the chat app (and its knowledge base) under `Telemetry.layer(options.telemetry)`. */
export const startChatApp = (options: ChatAppOptions = {}): ChatApp => {
  const memory = Exporter.memory()
  const kb = HttpRouter.toWebHandler(KnowledgeBase, { disableLogger: true })
  const fetchKb =
    ((input: RequestInfo | URL, init?: RequestInit) =>
      kb.handler(new Request(input, init))) as typeof globalThis.fetch
  const client = FetchHttpClient.layer.pipe(Layer.provide(Layer.succeed(FetchHttpClient.Fetch, fetchKb)))
  const services = Layer.merge(client, simulatedModel(options.model ?? "gpt-4o", options.simulated))
  const telemetry = Telemetry.layer({ exporters: [memory], ...options.telemetry })
  let recorder: Recorder | undefined
  const probe = HttpRouter.add(
    "GET",
    "/__probe",
    Effect.withFiber((fiber) => {
      recorder = fiber.getRef(CurrentRecorder)
      return Effect.succeed(HttpServerResponse.empty())
    }),
  )
  const base = Layer.merge(ChatRoutes, probe)
  const routes = options.routes === undefined ? base : Layer.merge(base, options.routes)
  const withServices = routes.pipe(Layer.provideMerge(services))
  const app =
    (options.compose === "provide"
      ? withServices.pipe(Layer.provide(telemetry))
      : withServices.pipe(Layer.provideMerge(telemetry))).pipe(
        // One registry for the telemetry layer and the request fibers, fresh per app.
        Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map())),
      )
  const web = HttpRouter.toWebHandler(app, { disableLogger: true })
  const handler = web.handler as (request: Request) => Promise<Response>
  const dispose = web.dispose
  return {
    memory,
    fetch: (path, headers) => handler(new Request(`http://chat.local${path}`, { headers: headers ?? {} })),
    metrics: () => memory.metrics(),
    recorder: async () => {
      await handler(new Request("http://chat.local/__probe"))
      return recorder!
    },
    dispose: async () => {
      await dispose()
      await kb.dispose()
    },
  }
}

/** The series of `name` with exactly these attributes (the unit aside). */
const seriesOf = (
  snapshots: ReadonlyArray<Metric.Metric.Snapshot>,
  name: string,
  attributes: Record<string, string>,
): Metric.Metric.Snapshot | undefined => {
  const wanted = Object.entries(attributes)
  return snapshots.find((snapshot) => {
    if (snapshot.id !== name) return false
    const got = (snapshot.attributes ?? {}) as Record<string, string>
    const keys = Object.keys(got).filter((key) => key !== "unit")
    return keys.length === wanted.length && wanted.every(([key, value]) => got[key] === value)
  })
}

/** The value of a counter or the count of a histogram series with exactly these attributes. */
export const metricValue = (
  snapshots: ReadonlyArray<Metric.Metric.Snapshot>,
  name: string,
  attributes: Record<string, string>,
): number | undefined => {
  const state = seriesOf(snapshots, name, attributes)?.state as
    | { count?: number | bigint; value?: number }
    | undefined
  return state === undefined ? undefined : Number(state.count ?? state.value)
}

/** The sum of a histogram series with exactly these attributes. */
export const histogramSum = (
  snapshots: ReadonlyArray<Metric.Metric.Snapshot>,
  name: string,
  attributes: Record<string, string>,
): number | undefined => {
  const series = seriesOf(snapshots, name, attributes)
  return series?.type === "Histogram" ? series.state.sum : undefined
}
