/**
 * Adoption: the outermost tracer of `Telemetry.layer` recognizes the spans Effect's own modules open and
 * makes each one a stagetrace request or stage, through the same `openRequest` / `openStage` /
 * `closeStage` / `closeRequest` as `Request.track` and `Stage.track`, so every hook (statistics, budgets,
 * errors, metrics, sampling, export) treats them alike. The span stays the one Effect asked for: the inner
 * tracers create it, and an adopted span is a thin proxy of it that closes the record when Effect ends it.
 *
 * What is recognized, and how (Effect 4.1):
 *
 * - a `server` span created in a fiber whose context holds an `HttpServerRequest` (`HttpMiddleware.tracer`,
 *   which `HttpRouter.toWebHandler` / `serve` apply to every request) and that is not inside another
 *   request → a request. Its proxy reports `sampled: true`, so Effect records the route (`http.route`,
 *   which `HttpRouter` sets on match) and the response attributes even when the head decision drops the
 *   trace; the spans under it are created under the real span with the real decision.
 * - `LanguageModel.generateText` / `generateObject` / `streamText` (client), `EmbeddingModel.embed` /
 *   `embedMany` and `sql.transaction` (internal) → a stage from the start, by name.
 * - any other `client` span → classified when it ends, by the attributes Effect set on it: `db.*` → a SQL
 *   statement stage, `http.request.method` → an `HttpClient` stage; anything else stays a plain span. The
 *   stage is opened and closed at once with the span's own start time (like `Stage.record`).
 *
 * Every other span pays one identity check of its annotations and a switch on its kind. stagetrace's own
 * request and stage spans carry marker annotations and are never adopted.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Tracer from "effect/Tracer"
import type { HttpServerRequest } from "effect/http"
import { disabledByEnvironment } from "../../internal/killSwitch.ts"
import {
  keepsNoOptions,
  MakesLocalSpans,
  OptionsNotKept,
  TakesSpanTimes,
  takesSpanTimes,
} from "../../internal/spanOptions.ts"
import {
  outcomeOf,
  ownerOf,
  type Recorder,
  type RequestRecord,
  requestSpanAnnotations,
  setOwner,
  type StageNode,
  stageSpanAnnotations,
} from "../../internal/recorder.ts"
import { Metrics } from "../../metrics/Metrics.ts"
import { recordServerRequest } from "../../http/internal/metrics.ts"
import { normalizeMethod, spanName } from "../../http/internal/semconv.ts"
import {
  closeRequest,
  closeStage,
  emptyAttributes,
  errorOf,
  generateRequestId,
  LocalSpan,
  makeSpec,
  openRequest,
  openStage,
  type StageSpec,
} from "../../stage/internal/tracking.ts"
import type { AiCall } from "../Instrument.ts"
import {
  costOf,
  recordDb,
  recordEmbedding,
  recordGenAi,
  recordHttpClient,
  recordLlm,
  secondsBetween,
  type TokenUsage,
} from "./metrics.ts"
import type { InstrumentConfig, StageIdFunction } from "./options.ts"
import { openRequestOf, requestIdOf, ServedRequestSpan } from "./server.ts"
import { ForwardingSpan } from "../../internal/forwardingSpan.ts"
import { operationOf, summarizeSql } from "./sql.ts"

type SpanOptions = Parameters<Tracer.Tracer["span"]>[0]

// Services of Effect's modules, looked up by their keys so that stagetrace does not load `effect/http` or
// `effect/ai` (hundreds of milliseconds) for programs that do not use them.
const ServerRequest = Context.Service<HttpServerRequest.HttpServerRequest>("effect/http/HttpServerRequest")
const ModelName = Context.Service<string>("effect/ai/Model/ModelName")
const ProviderName = Context.Service<string>("effect/ai/Model/ProviderName")

const str = (value: unknown): string | undefined =>
  typeof value === "string" && value.length > 0 ? value : undefined

const count = (value: unknown): number | undefined =>
  typeof value === "number" && value >= 0 && Number.isFinite(value) ? value : undefined

/** A bounded cache of stage specs per key; `null` when the user's `stageId` said "no stage". */
class SpecCache {
  private readonly entries = new Map<string, StageSpec | null>()
  constructor(private readonly limit: number) {}

  get(key: string, make: () => StageSpec | null): StageSpec | null {
    let spec = this.entries.get(key)
    if (spec === undefined) {
      spec = make()
      if (this.entries.size < this.limit) this.entries.set(key, spec)
    }
    return spec
  }
}

const MAX_CACHED = 1024

/** The id a user's `stageId` gives, or the default; `null` for `false`. A throw is counted, not thrown. */
const chooseId = <I>(
  recorder: Recorder,
  f: StageIdFunction<I> | undefined,
  input: I,
  fallback: string,
): string | null => {
  if (f === undefined) return fallback
  try {
    const chosen = f(input)
    if (chosen === false) return null
    if (typeof chosen === "string" && chosen.length > 0) return chosen
    if (chosen !== undefined) recorder.countDrop("instrument_invalid_stage_id")
  } catch {
    recorder.countDrop("instrument_stage_id_failed")
  }
  return fallback
}

/** The tracer that adopts Effect's spans; installed last, around every other concern's tracer. */
export class AdoptingTracer implements Tracer.Tracer {
  readonly inner: Tracer.Tracer
  readonly recorder: Recorder
  readonly config: InstrumentConfig
  readonly context?: Tracer.Tracer["context"]
  private readonly aiSpecs = new SpecCache(MAX_CACHED)
  private readonly httpSpecs = new SpecCache(MAX_CACHED)
  private readonly sqlSpecs = new SpecCache(MAX_CACHED)
  private readonly summaries = new Map<string, string>()
  private readonly transactionSpec: StageSpec = makeSpec("db.transaction", { kind: "internal" })

  /**
   * stagetrace's own spans pass through to a tracer that keeps no options (or become `LocalSpan`s), so the
   * stage wrapper may reuse one options object (spanOptions.ts); other spans get their options as they are.
   */
  readonly [OptionsNotKept]: boolean
  /** Whether stagetrace's own spans become `LocalSpan`s made from their options (see `MakesLocalSpans`). */
  readonly [MakesLocalSpans]: boolean
  /** Passes the span times of stagetrace's own spans on when its inner tracer reads them (`TakesSpanTimes`). */
  readonly [TakesSpanTimes]: boolean

  constructor(inner: Tracer.Tracer, recorder: Recorder, config: InstrumentConfig) {
    this.inner = inner
    this.recorder = recorder
    this.config = config
    this[OptionsNotKept] = inner === Tracer.nativeTracer || keepsNoOptions(inner)
    this[MakesLocalSpans] = inner === Tracer.nativeTracer
    this[TakesSpanTimes] = takesSpanTimes(inner)
    if (inner.context !== undefined) this.context = inner.context
  }

  span(options: SpanOptions): Tracer.Span {
    const parent = options.parent
    if (parent._tag === "Some") {
      const value = parent.value
      // Under a request whose real span is not sampled, children get the real parent and decision (its
      // proxy says `sampled: true` only so that Effect records the route).
      if (value instanceof ServedRequestSpan || value instanceof AdoptedRequestSpan) {
        const inner = value.inner
        if (!inner.sampled) options = underUnsampled(options, inner)
      }
    }
    const annotations = options.annotations
    if (annotations === stageSpanAnnotations || annotations === requestSpanAnnotations) {
      // stagetrace's own spans: under Effect's native tracer, the span Stage.track would make itself.
      return this.inner === Tracer.nativeTracer ? new LocalSpan(options) : this.inner.span(options)
    }
    if (disabledByEnvironment) return this.inner.span(options)
    switch (options.kind) {
      case "server":
        return this.config.httpServer === undefined ? this.inner.span(options) : this.server(options)
      case "client":
        return this.client(options)
      case "internal":
        switch (options.name) {
          case "EmbeddingModel.embed":
            return this.config.ai === undefined ? this.inner.span(options) : this.ai(options, "embed")
          case "EmbeddingModel.embedMany":
            return this.config.ai === undefined ? this.inner.span(options) : this.ai(options, "embedMany")
          case "sql.transaction":
            return this.config.sql === undefined ? this.inner.span(options) : this.transaction(options)
        }
    }
    return this.inner.span(options)
  }

  // -------------------------------------------------------------------------------------------------------
  // Server requests
  // -------------------------------------------------------------------------------------------------------

  private server(options: SpanOptions): Tracer.Span {
    const fiber = Fiber.getCurrent()
    const request = fiber === undefined ? undefined : Context.getOrUndefined(fiber.context, ServerRequest)
    const parent = options.parent._tag === "Some" ? options.parent.value : undefined
    if (
      fiber === undefined || request === undefined || options.annotations.mapUnsafe.size > 0 ||
      openRequestOf(parent) !== undefined
    ) return this.inner.span(options)
    const config = this.config.httpServer!
    const recorder = this.recorder
    const timing = timingOf(fiber)
    // The tail-sampling tracer recognizes a request span by these (empty) annotations.
    const inner = this.inner.span({
      name: options.name,
      parent: options.parent,
      annotations: requestSpanAnnotations,
      links: options.links,
      startTime: options.startTime,
      kind: options.kind,
      root: options.root,
      sampled: options.sampled,
    })
    const startNanos = startOf(timing, options)
    const headers = request.headers
    const requestId = requestIdOf(recorder, config, headers)
    const method = normalizeMethod(request.method)
    const url = request.url
    const query = url.indexOf("?")
    const attributes: Record<string, unknown> = {
      "http.request.method": method,
      "url.path": query < 0 ? url : url.slice(0, query),
    }
    const record = openRequest(
      recorder,
      inner,
      spanName(method, undefined),
      requestId ?? generateRequestId(),
      parent,
      parent !== undefined && parent._tag === "ExternalSpan" ? headers["tracestate"] : undefined,
      startNanos,
      attributes,
      false,
      undefined,
    )
    const span = new AdoptedRequestSpan(inner, timing, fiber.context, record, method, config.metrics)
    setOwner(span, record)
    return span
  }

  // -------------------------------------------------------------------------------------------------------
  // Stages opened at their start: language models, embeddings, transactions
  // -------------------------------------------------------------------------------------------------------

  private client(options: SpanOptions): Tracer.Span {
    const name = options.name
    if (name.startsWith("LanguageModel.")) {
      const operation = name.slice(14)
      if (
        this.config.ai !== undefined &&
        (operation === "generateText" || operation === "generateObject" || operation === "streamText")
      ) return this.ai(options, operation)
      return this.inner.span(options)
    }
    if (this.config.httpClient === undefined && this.config.sql === undefined) return this.inner.span(options)
    const fiber = Fiber.getCurrent()
    const inner = this.inner.span(options)
    if (fiber === undefined) return inner
    const timing = timingOf(fiber)
    return new AdoptedClientSpan(this, inner, timing, fiber.context, startOf(timing, options))
  }

  private ai(options: SpanOptions, operation: AiCall["operation"]): Tracer.Span {
    const fiber = Fiber.getCurrent()
    if (fiber === undefined) return this.inner.span(options)
    const model = str(Context.getOrUndefined(fiber.context, ModelName))
    const provider = str(Context.getOrUndefined(fiber.context, ProviderName))
    const ai = this.config.ai!
    const spec = this.aiSpecs.get(`${operation}\u0000${model ?? ""}\u0000${provider ?? ""}`, () => {
      const prefix = operation === "embed" || operation === "embedMany" ? "embedding" : "llm"
      const fallback = model === undefined ? `${prefix}.${operation}` : `${prefix}.${operation} ${model}`
      const id = chooseId(this.recorder, ai.stageId, { operation, model, provider }, fallback)
      return id === null ? null : makeSpec(id, { kind: options.kind })
    })
    if (spec === null) return this.inner.span(options)
    const inner = this.inner.span(options)
    const span = new AdoptedAiSpan(this, inner, timingOf(fiber), fiber.context, operation, model, provider)
    this.openAtStart(span, spec, options)
    return span
  }

  private transaction(options: SpanOptions): Tracer.Span {
    const fiber = Fiber.getCurrent()
    if (fiber === undefined) return this.inner.span(options)
    const inner = this.inner.span(options)
    const span = new AdoptedStageSpan(this.recorder, inner, timingOf(fiber), fiber.context)
    this.openAtStart(span, this.transactionSpec, options)
    return span
  }

  private openAtStart(span: AdoptedStageSpan, spec: StageSpec, options: SpanOptions): void {
    const recorder = this.recorder
    const startNanos = startOf(span.timing, options)
    const parent = options.parent._tag === "Some" ? options.parent.value : undefined
    const node = openStage(recorder, spec, span.inner, ownerOf(parent), startNanos)
    span.node = node
    setOwner(span, node)
    const hooks = recorder.stageStart
    for (let i = 0; i < hooks.length; i++) hooks[i]!(node)
  }

  // -------------------------------------------------------------------------------------------------------
  // Stages recognized when they end: SQL statements and HttpClient calls
  // -------------------------------------------------------------------------------------------------------

  /** Closes a client span as a SQL or HTTP client stage, if its attributes say it is one. */
  endClient(span: AdoptedClientSpan, exit: Exit.Exit<unknown, unknown>, endNanos: bigint): void {
    const attributes = span.inner.attributes
    if (
      this.config.sql !== undefined &&
      (attributes.has("db.query.text") || attributes.has("db.system.name") ||
        attributes.has("db.operation.name"))
    ) return this.endSql(span, attributes, exit, endNanos)
    if (this.config.httpClient !== undefined && attributes.has("http.request.method")) {
      return this.endHttpClient(span, attributes, exit, endNanos)
    }
  }

  private endSql(
    span: AdoptedClientSpan,
    attributes: ReadonlyMap<string, unknown>,
    exit: Exit.Exit<unknown, unknown>,
    endNanos: bigint,
  ): void {
    const text = attributes.get("db.query.text")
    let summary: string
    if (typeof text === "string") {
      const cached = this.summaries.get(text)
      if (cached !== undefined) summary = cached
      else {
        summary = summarizeSql(text) || "QUERY"
        if (this.summaries.size < MAX_CACHED) this.summaries.set(text, summary)
      }
    } else summary = str(attributes.get("db.operation.name"))?.toUpperCase() ?? "QUERY"
    const operation = operationOf(summary)
    if (!attributes.has("db.query.summary")) span.inner.attribute("db.query.summary", summary)
    const spec = this.sqlSpecs.get(summary, () => {
      const id = chooseId(this.recorder, this.config.sql!.stageId, {
        summary,
        operation,
        system: str(attributes.get("db.system.name")),
        namespace: str(attributes.get("db.namespace")),
      }, `db ${summary}`)
      return id === null ? null : makeSpec(id, { kind: "client" })
    })
    if (spec !== null) this.stageAtEnd(span, spec, exit, endNanos)
    recordDb(
      metricsOf(span.context),
      operation,
      exit._tag === "Success",
      secondsBetween(span.startNanos, endNanos),
    )
  }

  private endHttpClient(
    span: AdoptedClientSpan,
    attributes: ReadonlyMap<string, unknown>,
    exit: Exit.Exit<unknown, unknown>,
    endNanos: bigint,
  ): void {
    const method = str(attributes.get("http.request.method")) ?? "_OTHER"
    const host = str(attributes.get("server.address"))
    const port = count(attributes.get("server.port"))
    const status = attributes.get("http.response.status_code")
    const spec = this.httpSpecs.get(`${method}\u0000${host ?? ""}\u0000${port ?? ""}`, () => {
      const fallback = host === undefined ? `http.client ${method}` : `http.client ${method} ${host}`
      const id = chooseId(this.recorder, this.config.httpClient!.stageId, { method, host, port }, fallback)
      return id === null ? null : makeSpec(id, { kind: "client" })
    })
    if (spec !== null) this.stageAtEnd(span, spec, exit, endNanos)
    recordHttpClient(
      metricsOf(span.context),
      method,
      host ?? "",
      typeof status === "number" || typeof status === "string" ? String(status) : "error",
      secondsBetween(span.startNanos, endNanos),
    )
  }

  private stageAtEnd(
    span: AdoptedClientSpan,
    spec: StageSpec,
    exit: Exit.Exit<unknown, unknown>,
    endNanos: bigint,
  ): void {
    const inner = span.inner
    const parent = inner.parent
    const node = openStage(
      this.recorder,
      spec,
      inner,
      parent._tag === "Some" ? ownerOf(parent.value) : undefined,
      span.startNanos,
    )
    closeStage(this.recorder, node, exit, endNanos)
  }
}

/**
 * Span times come from the span (Effect reads the fiber's clock for them) unless span timing is off, when
 * they are 0: then the fiber's clock is read here, as `Stage.track` does.
 */
const timingOf = (fiber: Fiber.Fiber<unknown, unknown>): Clock.Clock | undefined =>
  fiber.getRef(References.TracerTimingEnabled) ? undefined : fiber.getRef(Clock.Clock)

const startOf = (timing: Clock.Clock | undefined, options: SpanOptions): bigint =>
  timing === undefined ? options.startTime : timing.currentTimeNanosUnsafe()

const metricsOf = (context: Context.Context<never>): Metrics => Context.get(context, Metrics)

/** The options of a child of an adopted request whose real span is not sampled. */
const underUnsampled = (options: SpanOptions, parent: Tracer.Span): SpanOptions => ({
  // Whatever else the options carry (a `LocalSpan`'s timeline and instant) carries on.
  ...options,
  parent: Option.some(parent),
  sampled: false,
})

// ---------------------------------------------------------------------------------------------------------
// Adopted spans
// ---------------------------------------------------------------------------------------------------------

/** A proxy of the span Effect asked for; `end` closes the stagetrace record first. */
abstract class AdoptedSpan extends ForwardingSpan {
  readonly recorder: Recorder
  private readonly target: Tracer.Span
  /** The fiber's clock when span timing is off (`Effect.withTracerTiming(false)`), else `undefined`. */
  readonly timing: Clock.Clock | undefined
  /** The context of the fiber that opened the span (metric registry, `Metrics`). */
  readonly context: Context.Context<never>
  ended = false

  constructor(
    recorder: Recorder,
    inner: Tracer.Span,
    timing: Clock.Clock | undefined,
    context: Context.Context<never>,
  ) {
    super()
    this.recorder = recorder
    this.target = inner
    this.timing = timing
    this.context = context
  }

  get inner(): Tracer.Span {
    return this.target
  }

  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.ended) return
    this.ended = true
    const endNanos = this.timing === undefined ? endTime : this.timing.currentTimeNanosUnsafe()
    try {
      this.close(exit, endNanos)
    } catch {
      // Telemetry never breaks the program: a hostile exit value or hook failure only loses this record.
      this.recorder.countDrop("instrument_close_failed")
    }
    this.inner.end(endTime, exit)
  }

  protected abstract close(exit: Exit.Exit<unknown, unknown>, endNanos: bigint): void
}

/** The status code an adopted server request answered with. */
const statusOf = (span: Tracer.Span, exit: Exit.Exit<unknown, unknown>): number => {
  const attribute = span.attributes.get("http.response.status_code")
  if (typeof attribute === "number") return attribute
  if (exit._tag === "Success") {
    const status = (exit.value as { status?: unknown } | undefined)?.status
    return typeof status === "number" ? status : 200
  }
  for (const reason of exit.cause.reasons) {
    if (reason._tag === "Interrupt") return 499
    const error = reason._tag === "Fail" ? reason.error : reason.defect
    const status = (error as { reason?: { response?: { status?: unknown } } } | undefined)?.reason?.response
      ?.status
    if (typeof status === "number") return status
  }
  return 500
}

/** An adopted `effect/http` server span: a request. */
export class AdoptedRequestSpan extends AdoptedSpan {
  readonly record: RequestRecord
  readonly method: string
  readonly metrics: boolean

  constructor(
    inner: Tracer.Span,
    timing: Clock.Clock | undefined,
    context: Context.Context<never>,
    record: RequestRecord,
    method: string,
    metrics: boolean,
  ) {
    super(record.recorder, inner, timing, context)
    this.record = record
    this.method = method
    this.metrics = metrics
  }

  /** Always `true`, so that Effect records the route and response attributes (see the module notes). */
  override get sampled(): boolean {
    return true
  }

  protected close(exit: Exit.Exit<unknown, unknown>, endNanos: bigint): void {
    const record = this.record
    const inner = this.inner
    const route = str(inner.attributes.get("http.route"))
    const status = statusOf(inner, exit)
    record.name = spanName(this.method, route)
    const attributes: Record<string, unknown> = record.attributes === emptyAttributes
      ? {}
      : { ...record.attributes }
    if (route !== undefined) attributes["http.route"] = route
    attributes["http.response.status_code"] = status
    record.attributes = attributes
    closeRequest(record.recorder, record, exit, endNanos)
    if (this.metrics) {
      recordServerRequest(
        this.context,
        this.method,
        route ?? "",
        status,
        secondsBetween(record.startNanos, endNanos),
      )
    }
  }
}

/** An adopted span that is a stage from its start (transactions; language models below). */
class AdoptedStageSpan extends AdoptedSpan {
  node: StageNode | undefined = undefined

  protected close(exit: Exit.Exit<unknown, unknown>, endNanos: bigint): void {
    closeStage(this.recorder, this.node!, exit, endNanos)
  }
}

const usageOf = (exit: Exit.Exit<unknown, unknown>): Record<string, Record<string, unknown>> | undefined => {
  if (exit._tag !== "Success") return undefined
  const usage = (exit.value as { usage?: unknown } | undefined)?.usage
  return typeof usage === "object" && usage !== null
    ? usage as Record<string, Record<string, unknown>>
    : undefined
}

/** An adopted `LanguageModel` or `EmbeddingModel` call. */
class AdoptedAiSpan extends AdoptedStageSpan {
  constructor(
    readonly tracer: AdoptingTracer,
    inner: Tracer.Span,
    timing: Clock.Clock | undefined,
    context: Context.Context<never>,
    readonly operation: AiCall["operation"],
    readonly model: string | undefined,
    readonly provider: string | undefined,
  ) {
    super(tracer.recorder, inner, timing, context)
  }

  protected override close(exit: Exit.Exit<unknown, unknown>, endNanos: bigint): void {
    const node = this.node!
    const inner = this.inner
    const attributes = inner.attributes
    const provider = str(attributes.get("gen_ai.provider.name")) ?? str(attributes.get("gen_ai.system")) ??
      this.provider ?? "unknown"
    const model = str(attributes.get("gen_ai.request.model")) ?? this.model ??
      str(attributes.get("gen_ai.response.model")) ?? "unknown"
    const response = usageOf(exit)
    const embedding = this.operation === "embed" || this.operation === "embedMany"
    const input = response?.["inputTokens"]
    const output = response?.["outputTokens"]
    const usage: TokenUsage = {
      input: count(attributes.get("gen_ai.usage.input_tokens")) ??
        (embedding ? count(input) : count(input?.["total"])),
      output: embedding
        ? undefined
        : count(attributes.get("gen_ai.usage.output_tokens")) ?? count(output?.["total"]),
      cached: embedding ? undefined : count(input?.["cacheRead"]) ??
        count(attributes.get("gen_ai.usage.cache_read.input_tokens")),
      reasoning: embedding ? undefined : count(output?.["reasoning"]),
    }
    const prices = this.tracer.config.ai!.prices
    const price = prices.size === 0
      ? undefined
      : prices.get(model) ?? (this.model === undefined ? undefined : prices.get(this.model))
    const cost = price === undefined ? undefined : costOf(usage, price)
    // Token counts (and cost) in the stage's summary metadata and on the span.
    const metadata: Record<string, unknown> = { ...node.exec.metadata }
    metadata["gen_ai.provider.name"] = provider
    metadata["gen_ai.request.model"] = model
    const put = (key: string, value: number | undefined) => {
      if (value === undefined) return
      metadata[key] = value
      if (!attributes.has(key)) inner.attribute(key, value)
    }
    put("gen_ai.usage.input_tokens", usage.input)
    put("gen_ai.usage.output_tokens", usage.output)
    put("gen_ai.usage.cache_read.input_tokens", usage.cached)
    put("gen_ai.usage.reasoning.output_tokens", usage.reasoning)
    put("llm.cost_usd", cost)
    node.exec.metadata = metadata
    closeStage(this.recorder, node, exit, endNanos)
    const seconds = secondsBetween(node.startNanos, endNanos)
    const metrics = metricsOf(this.context)
    let embeddings = 0
    if (embedding) {
      if (exit._tag === "Success") {
        const list = (exit.value as { embeddings?: unknown } | undefined)?.embeddings
        embeddings = this.operation === "embed" ? 1 : Array.isArray(list) ? list.length : 0
      }
      recordEmbedding(metrics, provider, model, embeddings, seconds, cost)
    } else recordLlm(metrics, provider, model, outcomeOf(exit), seconds, usage, cost)
    recordGenAi(this.context, {
      operation: embedding ? "embeddings" : "chat",
      provider,
      model,
      seconds,
      errorType: exit._tag === "Success" ? undefined : errorOf(exit.cause).type,
    }, usage)
  }
}

/** A client span that may turn out to be a SQL statement or an `HttpClient` call when it ends. */
export class AdoptedClientSpan extends AdoptedSpan {
  constructor(
    readonly tracer: AdoptingTracer,
    inner: Tracer.Span,
    timing: Clock.Clock | undefined,
    context: Context.Context<never>,
    readonly startNanos: bigint,
  ) {
    super(tracer.recorder, inner, timing, context)
  }

  protected close(exit: Exit.Exit<unknown, unknown>, endNanos: bigint): void {
    this.tracer.endClient(this, exit, endNanos)
  }
}
