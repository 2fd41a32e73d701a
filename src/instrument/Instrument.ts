/**
 * Effect's own modules as requests and stages. Under `Telemetry.layer`, the spans that `effect/http`,
 * `effect/ai` and `effect/sql` already open become stagetrace requests and stages, with no change to the
 * program and no second span:
 *
 * | Effect span | becomes | default stage id |
 * | --- | --- | --- |
 * | a request `HttpRouter` serves (its one server span; elsewhere `HttpMiddleware.tracer`'s) | a request (`GET /chat/:id`) | — |
 * | an `HttpClient` call | a stage | `http.client GET api.kb.local` |
 * | `LanguageModel.generateText` / `generateObject` / `streamText` | a stage | `llm.generateText gpt-4o` |
 * | `EmbeddingModel.embed` / `embedMany` | a stage | `embedding.embed text-embedding-3-small` |
 * | an `effect/sql` statement | a stage | `db SELECT users` |
 * | `sql.withTransaction` (`sql.transaction`) | a stage | `db.transaction` |
 *
 * Each kind is on by default and configured under `instrument` in `Telemetry.layer`: `false` turns a kind
 * off (its spans stay plain Effect spans), `stageId` renames its stages, `ai.prices` adds the cost of
 * language model calls. `instrument: false` (or `STAGETRACE_INSTRUMENT=false`) turns all adoption off.
 *
 * Guide: [Effect's own modules](../../docs/effect-modules.md).
 *
 * @example Renaming and switching off
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Layer } from "effect"
 * import { Telemetry } from "@stagetrace/stagetrace"
 *
 * const layer = Telemetry.layer({
 *   instrument: {
 *     sql: { stageId: (statement) => `postgres ${statement.summary}` },
 *     httpClient: false,
 *     ai: { prices: { "gpt-4o": { inputPer1k: 0.03, outputPer1k: 0.06 } } },
 *   },
 * })
 * await Effect.runPromise(Effect.scoped(Layer.build(layer)))
 *
 * const error = await Effect.runPromise(
 *   Effect.flip(Effect.scoped(Layer.build(Telemetry.layer({
 *     instrument: { ai: { prices: { "gpt-4o": { inputPer1k: -1, outputPer1k: 0.06 } } } },
 *   })))),
 * )
 * assert.equal(error.name, "instrument.ai.prices.gpt-4o.inputPer1k")
 * ```
 *
 * @module
 */
import { summarizeSql as summarize } from "./internal/sql.ts"

/**
 * What `Telemetry.layer({ instrument })` accepts: one entry per kind of Effect span, each `true` by default.
 *
 * @category configuration
 * @since 0.2.0
 */
export interface InstrumentOptions {
  /**
   * Requests served by `HttpRouter` (`HttpRouter.toWebHandler`, `HttpRouter.serve`) become requests, each
   * with one server span (Effect's own server span stays off); other `effect/http` server spans are adopted.
   * @default true
   */
  readonly httpServer?: boolean | HttpServerOptions | undefined
  /**
   * `HttpClient` calls become stages and feed `http_client_request_duration_seconds`.
   * @default true
   */
  readonly httpClient?: boolean | HttpClientOptions | undefined
  /**
   * `LanguageModel` and `EmbeddingModel` calls become stages and feed the LLM and embedding metrics.
   * @default true
   */
  readonly ai?: boolean | AiOptions | undefined
  /**
   * `effect/sql` statements and transactions become stages and feed the database metrics.
   * @default true
   */
  readonly sql?: boolean | SqlOptions | undefined
}

/**
 * Options of adopted HTTP server requests.
 *
 * @category configuration
 * @since 0.2.0
 */
export interface HttpServerOptions {
  /**
   * The header read as the request id (validated as `Http.middleware` does: 1–128 visible ASCII
   * characters, else counted as `invalid_request_id`); `false` always generates one.
   * @default "x-request-id"
   */
  readonly requestIdHeader?: string | false | undefined
  /**
   * Record `http_requests_total{method,route,status}` and `http_request_duration_seconds`, labelled by the
   * route template of `HttpRouter`.
   * @default true
   */
  readonly metrics?: boolean | undefined
}

/**
 * An `HttpClient` call, as `HttpClientOptions.stageId` sees it.
 *
 * @category models
 * @since 0.2.0
 */
export interface HttpClientCall {
  /** `http.request.method`. */
  readonly method: string
  /** `server.address` (the host name), when the URL has one. */
  readonly host: string | undefined
  /** `server.port`, when known. */
  readonly port: number | undefined
}

/**
 * Options of adopted `HttpClient` calls.
 *
 * @category configuration
 * @since 0.2.0
 */
export interface HttpClientOptions {
  /**
   * The stage id of a call: a string renames it, `undefined` keeps the default
   * (`http.client {method} {host}`), `false` leaves the call a plain span. Called once per distinct
   * method and host.
   * @default undefined
   */
  readonly stageId?: ((call: HttpClientCall) => string | false | undefined) | undefined
}

/**
 * A `LanguageModel` or `EmbeddingModel` call, as `AiOptions.stageId` sees it. `model` and `provider` come
 * from the `Model.make` layer in context (`ModelName`, `ProviderName`) when there is one.
 *
 * @category models
 * @since 0.2.0
 */
export interface AiCall {
  /** The `LanguageModel` or `EmbeddingModel` operation. */
  readonly operation: "generateText" | "generateObject" | "streamText" | "embed" | "embedMany"
  /** The model name (`ModelName` of the `Model.make` layer), when there is one. */
  readonly model: string | undefined
  /** The provider name (`ProviderName` of the `Model.make` layer), when there is one. */
  readonly provider: string | undefined
}

/**
 * Prices of one model in US dollars per 1,000 tokens.
 *
 * @category configuration
 * @since 0.2.0
 */
export interface ModelPrice {
  /** US dollars per 1,000 input (prompt) tokens. */
  readonly inputPer1k: number
  /** US dollars per 1,000 output (completion) tokens. */
  readonly outputPer1k: number
}

/**
 * Options of adopted `LanguageModel` and `EmbeddingModel` calls.
 *
 * @category configuration
 * @since 0.2.0
 */
export interface AiOptions {
  /**
   * Prices per model name (the `gen_ai.request.model` of the call, else the `ModelName` of its
   * `Model.make` layer): each priced call adds to `llm_cost_dollars_total{provider,model}`. Negative or
   * non-finite prices fail the layer with a `TelemetryConfigError`.
   * @default {}
   */
  readonly prices?: Readonly<Record<string, ModelPrice>> | undefined
  /**
   * The stage id of a call: a string renames it, `undefined` keeps the default
   * (`llm.{operation} {model}`, `embedding.{operation} {model}`), `false` leaves the call a plain span.
   * Called once per distinct operation, model and provider.
   * @default undefined
   */
  readonly stageId?: ((call: AiCall) => string | false | undefined) | undefined
}

/**
 * An `effect/sql` statement, as `SqlOptions.stageId` sees it. Never its parameters, never its text.
 *
 * @category models
 * @since 0.2.0
 */
export interface SqlStatement {
  /** The query summary (`SELECT users`), see `Instrument.summarizeSql`. */
  readonly summary: string
  /** The first word of the summary (`SELECT`), the `operation` label of the database metrics. */
  readonly operation: string
  /** `db.system.name` of the client (`postgresql`), when it sets one. */
  readonly system: string | undefined
  /** `db.namespace` of the client (the database), when it sets one. */
  readonly namespace: string | undefined
}

/**
 * Options of adopted `effect/sql` statements.
 *
 * @category configuration
 * @since 0.2.0
 */
export interface SqlOptions {
  /**
   * The stage id of a statement: a string renames it, `undefined` keeps the default (`db {summary}`),
   * `false` leaves the statement a plain span. Called once per distinct summary.
   * @default undefined
   */
  readonly stageId?: ((statement: SqlStatement) => string | false | undefined) | undefined
}

/**
 * The `instrument` option of `Telemetry.layer`.
 *
 * @category configuration
 * @since 0.2.0
 */
export interface InstrumentTelemetryOptions {
  /**
   * Adopt the spans of Effect's own modules (`effect/http`, `effect/ai`, `effect/sql`) as requests and
   * stages; `false` turns all adoption off (environment: `STAGETRACE_INSTRUMENT=false`).
   * @default true
   */
  readonly instrument?: boolean | InstrumentOptions | undefined
}

/**
 * The summary of a SQL query in the style of OpenTelemetry's `db.query.summary`: its operations and the
 * tables they work on, in order (`SELECT users`, `INSERT shipping_details SELECT orders`). Literals,
 * parameters, comments and column names never appear in it. What adopted statements use for their stage
 * ids and metric labels.
 *
 * @example Summaries
 * ```ts
 * import assert from "node:assert/strict"
 * import { Instrument } from "@stagetrace/stagetrace"
 *
 * assert.equal(Instrument.summarizeSql("SELECT id, email FROM users WHERE email = 'a@b.c'"), "SELECT users")
 * assert.equal(
 *   Instrument.summarizeSql("INSERT INTO shipping_details (id) SELECT id FROM orders"),
 *   "INSERT shipping_details SELECT orders",
 * )
 * ```
 *
 * @category sql
 * @since 0.2.0
 */
export const summarizeSql = (text: string): string => summarize(text)
