/**
 * The spine of stagetrace: one `Recorder` per telemetry layer, one `RequestRecord` per request and one
 * `StageNode` per stage. Every concern (statistics, budgets, errors, metrics, sampling, export) plugs into
 * the recorder through hooks that run synchronously when a stage or a request ends, all reading the same
 * `StageExecution` value.
 *
 * Request and stage state is attached to the spans that Effect already keeps in fiber context
 * (`Tracer.ParentSpan`): a stage finds its parent stage and its request by walking the current span's
 * ancestors, so no extra context entry, global map or cleanup call is needed.
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as Exit from "effect/Exit"
import type * as Tracer from "effect/Tracer"
import type { Timeline } from "./clock.ts"
import type { RequestSummary } from "./requestModel.ts"
import type { StageExecution, StageOutcome } from "./stageModel.ts"
import { StatsStore } from "./stageStats.ts"
import { SummaryStore } from "./summaryStore.ts"

/** The property under which a span carries the stagetrace state that owns it. */
export const OwnerKey: unique symbol = Symbol.for("@stagetrace/stagetrace/owner")

/**
 * What end hooks cache on a stage's static description (its spec, shared by every run of a `Stage.track`
 * call site, and by every wrapper of an id built without options), so that a stage end skips their lookups
 * by stage id. Each value is valid only for the owner stored with it (a recorder's statistics, a metrics
 * store's series cache): a spec run under another recorder replaces them.
 */
export interface StageHandles {
  /** The statistics store whose entry `statsEntry` is. */
  statsStore: unknown
  /** The statistics entry of the stage's id in `statsStore`. */
  statsEntry: unknown
  /** The metrics series cache whose series `okSeries` is. */
  seriesOwner: unknown
  /** The stage-duration series of the stage's id with status `ok`, in `seriesOwner`. */
  okSeries: unknown
}

/** A stage in progress or finished; `exec` is the public value that ends up in the summary. */
export interface StageNode {
  readonly _tag: "Stage"
  readonly exec: MutableStageExecution
  /** The per-stage-id handles of the stage's spec (see `StageHandles`). */
  readonly handles: StageHandles
  readonly request: RequestRecord | undefined
  readonly parent: StageNode | undefined
  readonly span: Tracer.Span
  /** The timeline of the stage's times (see `clock.ts`). */
  readonly timeline: Timeline
  /** When the stage started, as an instant of `timeline`. */
  readonly startAt: number
  /** When the stage ended, as an instant of `timeline` (`NaN` until it has). */
  readonly endAt: number
  /** When the stage started, in clock nanoseconds (made when read). */
  readonly startNanos: bigint
  /** When the stage ended, in clock nanoseconds (made when read; only once it has ended). */
  readonly endNanos: bigint
  /** Budget from the stage's own options, in milliseconds (a table entry may still apply). */
  readonly budgetMs: number | undefined
  /** Whether the stage has ended. */
  readonly ended: boolean
  /** Whether the stage's execution object was attached to its request's summary tree. */
  readonly attached: boolean
}

/** The writable form of a `StageExecution`, owned by the recorder until the request ends. */
export type MutableStageExecution =
  & {
    -readonly [K in keyof StageExecution]: StageExecution[K]
  }
  & { substages: Array<StageExecution> }

/** Mutable per-request state; released with the request's fiber context. */
export interface RequestRecord {
  readonly _tag: "Request"
  readonly recorder: Recorder
  readonly requestId: string
  /** The request's name; an adopted HTTP server request learns its route (and so its name) when it ends. */
  name: string
  readonly span: Tracer.Span
  /** The span the request span was created under (remote or local), if any. */
  readonly parentSpan: Tracer.AnySpan | undefined
  /** The W3C tracestate received with a remote parent. */
  readonly parentTraceState: string | undefined
  /**
   * The W3C tracestate of this request's spans (set by the sampling concern, for example `ot=th:8`):
   * exporters put it on every span of the request and `Http.fetch` propagates it.
   */
  traceState: string | undefined
  /** The timeline of the request's times (see `clock.ts`). */
  readonly timeline: Timeline
  /** When the request started, as an instant of `timeline`. */
  readonly startAt: number
  /** When the request started, in clock nanoseconds (made when read). */
  readonly startNanos: bigint
  /** When the request started, in epoch milliseconds. */
  readonly startTime: number
  readonly stages: Array<StageExecution>
  /** The request's attributes; a shared empty object until the first one is added (copy on write). */
  attributes: Record<string, unknown>
  readonly force: boolean
  readonly budgetMs: number | undefined
  /** The head sampling decision (set by the sampling concern; `true` when there is none). */
  sampled: boolean
  /** Number of stage executions attached to the summary tree. */
  stageCount: number
  /** Stages of this request that started and have not ended yet. */
  openStages: number
  /** Stages that ended after the summary tree was full and were left out of it. */
  truncated: boolean
  /** End of the most recent stage of this request, an instant of `timeline` (`Stage.record` durations). */
  lastEndAt: number
  overBudget: boolean
  /** Set when the request has ended; later stage ends no longer touch the summary. */
  closed: boolean
  /** Free slots for concerns (sampling buffer…), keyed by the concern; created on first use. */
  slots: Map<string, unknown> | undefined
}

/**
 * What a stage end hook receives. `node.exec` is already filled (duration, success, error) unless the
 * stage outlived its request; `durationMs` is always the stage's own duration; `node.endAt` (or
 * `node.endNanos`) is when it ended.
 */
export type StageEndHook = (
  node: StageNode,
  exit: Exit.Exit<unknown, unknown>,
  durationMs: number,
) => void

/**
 * Runs when a stage starts, after its node exists and before its effect runs (not for `Stage.record`,
 * whose stages start and end at once). Must be synchronous and cheap, like every hook.
 */
export type StageStartHook = (node: StageNode) => void

/** Runs when a request starts, after its record exists and before its effect runs. */
export type RequestStartHook = (record: RequestRecord) => void

/**
 * Runs when a request ends, before the summary is stored and published. Hooks may write summary fields
 * (budgets set `overBudget`, sampling sets `keptBecause`): the summary is still private to the recorder.
 */
export type RequestEndHook = (
  record: RequestRecord,
  summary: { -readonly [K in keyof RequestSummary]: RequestSummary[K] },
  exit: Exit.Exit<unknown, unknown>,
) => void

/** Runs after the summary is final and stored, for sinks (export, JSONL, console). */
export type SummaryHook = (summary: RequestSummary, record: RequestRecord) => void

/**
 * Masks, in place, what a summary carries from user code (attributes, stage metadata, error messages)
 * before anything outside the recorder sees it: run once when a request ends, after the `requestEnd` hooks
 * and before the summary is stored and published, and on each `Request.summary` snapshot. It replaces
 * objects by redacted copies (only those where something changed) and never writes user-owned objects.
 */
export type SummaryRedaction = (
  summary: { -readonly [K in keyof RequestSummary]: RequestSummary[K] },
) => void

/**
 * A typed key under which a concern keeps its runtime state on the recorder (budget windows, error
 * windows, export statistics…), so other concerns and public accessors can find it without the recorder
 * knowing every concern.
 */
export class Slot<T> {
  declare readonly _T: T
  readonly key: string
  constructor(key: string) {
    this.key = key
  }
}

/** The service this recorder reports for (from `Telemetry.layer` options or `OTEL_*` variables). */
export interface ServiceDescription {
  readonly serviceName: string
  readonly serviceVersion: string | undefined
  readonly environment: string | undefined
  /** Extra resource attributes (`OTEL_RESOURCE_ATTRIBUTES`). */
  readonly resourceAttributes: Readonly<Record<string, string>>
}

/** Tunables of the recorder itself, already validated. */
export interface RecorderConfig {
  readonly enabled: boolean
  readonly bottleneckShare: number
  readonly summaryCapacity: number
  readonly maxStagesPerRequest: number
  readonly maxStageIds: number
  readonly service: ServiceDescription
}

/** The defaults of `RecorderConfig`. */
export const defaultRecorderConfig: RecorderConfig = {
  enabled: true,
  bottleneckShare: 0.3,
  summaryCapacity: 1000,
  maxStagesPerRequest: 512,
  maxStageIds: 1000,
  service: {
    serviceName: "unknown_service",
    serviceVersion: undefined,
    environment: undefined,
    resourceAttributes: {},
  },
}

/** One recorder per telemetry layer: configuration, stores and the hooks that concerns installed. */
export class Recorder {
  readonly config: RecorderConfig
  readonly enabled: boolean
  readonly stats: StatsStore
  readonly summaries: SummaryStore
  readonly stageStart: Array<StageStartHook> = []
  readonly stageEnd: Array<StageEndHook> = []
  readonly requestStart: Array<RequestStartHook> = []
  readonly requestEnd: Array<RequestEndHook> = []
  readonly summary: Array<SummaryHook> = []
  /** The summary redaction (installed with the redactor; none means summaries are kept as recorded). */
  redactSummary: SummaryRedaction | undefined = undefined
  /** Requests currently running under this recorder. */
  inFlight = 0
  /** Stage executions left out of summaries because their request hit `maxStagesPerRequest`. */
  droppedStageExecutions = 0
  /** Samples and records that were dropped instead of recorded, by reason. */
  readonly drops: Map<string, number> = new Map()
  private readonly slotValues: Map<Slot<unknown>, unknown> = new Map()

  constructor(config: RecorderConfig) {
    this.config = config
    this.enabled = config.enabled
    this.stats = new StatsStore(config.maxStageIds)
    this.summaries = new SummaryStore(config.summaryCapacity)
  }

  /** The state a concern stored under `slot`, if it is installed. */
  get<T>(slot: Slot<T>): T | undefined {
    return this.slotValues.get(slot) as T | undefined
  }

  /** Stores a concern's state under `slot`. */
  set<T>(slot: Slot<T>, value: T): void {
    this.slotValues.set(slot, value)
  }

  /** Counts one dropped sample or record under `reason`. */
  countDrop(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1)
  }
}

/**
 * The recorder in use. Its default is one process-wide recorder, so stages run without any layer still
 * produce spans and statistics; `Telemetry.layer` provides a fresh one.
 */
export const CurrentRecorder: Context.Reference<Recorder> = Context.Reference<Recorder>(
  "@stagetrace/stagetrace/Recorder",
  { defaultValue: () => globalRecorder },
)

/** The process-wide recorder, used where no telemetry layer provides one. */
export const globalRecorder: Recorder = new Recorder(defaultRecorderConfig)

/**
 * Something a layer puts in the fiber's context that installs itself on the recorder of every request or
 * stage run in that context: `Log.layer`'s lifecycle records, since that layer is built apart from (and
 * may not see) the `Telemetry.layer` whose recorder runs the stages. `attachTo` is called once per context
 * the hot path resolves (not per stage) and must be idempotent and cheap.
 */
export interface Attachment {
  readonly attachTo: (recorder: Recorder) => void
}

/** The attachment of the current context, if a layer provided one. */
export const CurrentAttachment: Context.Reference<Attachment | undefined> = Context.Reference<
  Attachment | undefined
>("@stagetrace/stagetrace/Attachment", { defaultValue: () => undefined })

/** The stage or request that owns `span`, looking through spans that stagetrace did not create. */
export const ownerOf = (span: Tracer.AnySpan | undefined): StageNode | RequestRecord | undefined => {
  let current = span
  // Bounded walk: user spans between two stages are rare and shallow.
  for (let depth = 0; current !== undefined && depth < 32; depth++) {
    const owner = (current as { [OwnerKey]?: StageNode | RequestRecord })[OwnerKey]
    if (owner !== undefined) return owner
    if (current._tag !== "Span" || current.parent._tag === "None") return undefined
    current = current.parent.value
  }
  return undefined
}

/**
 * The (empty) annotations every request span is created with. The tail-sampling tracer recognizes a request
 * span by them and leaves its head decision to the sampling concern's `requestStart` hook, which runs right
 * after the span exists and knows the request id and attributes (a second decision would call the sampler
 * twice per request).
 */
export const requestSpanAnnotations: Context.Context<never> = Context.makeUnsafe(new Map())

/**
 * The (empty) annotations every stage span is created with (and the other spans stagetrace opens itself,
 * such as `Http.fetch`'s client span outside a request), so that a tracer can tell stagetrace's own spans
 * from the spans other code creates: the adoption of Effect's own spans leaves them alone.
 */
export const stageSpanAnnotations: Context.Context<never> = Context.makeUnsafe(new Map())

/**
 * The method by which a span of a tracer that tracks open spans (the export concern's recording tracer)
 * forgets a span that will never end: sampling dropped it, so it must neither hold a slot of the open-span
 * registry nor be ended (and exported) as interrupted at shutdown.
 */
export const DiscardKey: unique symbol = Symbol.for("@stagetrace/stagetrace/discard")

/** Tells the tracer that created `span` that it will never end (see `DiscardKey`); a no-op for others. */
export const discardSpan = (span: Tracer.Span): void => {
  const discard = (span as { [DiscardKey]?: () => void })[DiscardKey]
  if (discard !== undefined) discard.call(span)
}

/** Attaches stagetrace state to a span created by whatever tracer is installed. */
export const setOwner = (span: Tracer.Span, owner: StageNode | RequestRecord): void => {
  ;(span as { [OwnerKey]?: StageNode | RequestRecord })[OwnerKey] = owner
}

/** The request that `owner` belongs to. */
export const requestOf = (owner: StageNode | RequestRecord | undefined): RequestRecord | undefined =>
  owner === undefined ? undefined : owner._tag === "Request" ? owner : owner.request

/** Converts a nanosecond interval to milliseconds. */
export const nanosToMillis = (nanos: bigint): number => Number(nanos) / 1_000_000

/** A short description of the outcome of an `Exit`, used for the `status` of stages and requests. */
export const outcomeOf = (exit: Exit.Exit<unknown, unknown>): StageOutcome =>
  exit._tag === "Success"
    ? "ok"
    : exit.cause.reasons.length > 0 && exit.cause.reasons.every((r) => r._tag === "Interrupt")
    ? "interrupted"
    : "error"
