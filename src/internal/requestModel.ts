/**
 * The public models of `Request`, declared below the concerns: every request end produces one
 * `RequestSummary`, which the recorder and every concern read. `Request.ts` re-exports this module whole
 * (`export *`), so everything exported here is public as `Request.<name>`.
 *
 * @module
 */
import type * as Duration from "effect/Duration"
import type * as Tracer from "effect/Tracer"
import type { StageError, StageExecution, StageOutcome } from "./stageModel.ts"

/**
 * A stage whose own time (its duration minus its sub-stages) is at least the configured share of the
 * request (`bottleneckShare`, default 0.3).
 *
 * @category models
 * @since 0.1.0
 */
export interface Bottleneck {
  /** The stage id. */
  readonly stageId: string
  /** The stage name. */
  readonly name: string
  /** The stage's duration, sub-stages included, in milliseconds. */
  readonly durationMs: number
  /** The stage's own time (its duration minus its sub-stages), in milliseconds. */
  readonly selfMs: number
  /** `selfMs` divided by the request's duration. */
  readonly share: number
}

/**
 * Why a request's spans and summary were exported: head-sampled, forced, failed, over a budget, or slow.
 * `undefined` when they were not exported.
 *
 * @category models
 * @since 0.1.0
 */
export type KeptBecause = "head" | "forced" | "error" | "budget" | "slow"

/**
 * The summary of one request.
 *
 * - `startTime`: epoch milliseconds; `durationMs`: wall time of the whole request.
 * - `stages`: top-level stages in start order (recorded stages in recording order), sub-stages nested.
 * - `stageCount`: stage executions in `stages`, nested ones included.
 * - `bottlenecks`: stages whose own time is at least `bottleneckShare` of the request, slowest first.
 * - `truncated`: the request had more stages than `maxStagesPerRequest` (or more spans than the tail
 *   buffer holds); the extra ones still fed statistics.
 * - `sampled`: the head sampling decision; `keptBecause`: why the request was exported, if it was.
 *
 * @category models
 * @since 0.1.0
 */
export interface RequestSummary {
  /** The request id (`requestId` option, `x-request-id`, or a random UUID). */
  readonly requestId: string
  /** The request name. */
  readonly name: string
  /** The trace id of the request span, 32 hex digits. */
  readonly traceId: string
  /** The span id of the request span, 16 hex digits. */
  readonly spanId: string
  /** When the request started, in epoch milliseconds. */
  readonly startTime: number
  /** Wall time of the whole request, in milliseconds. */
  readonly durationMs: number
  /** Whether the request succeeded. */
  readonly success: boolean
  /** How the request ended (`running` in `Request.summary`). */
  readonly status: StageOutcome
  /** The failure's type and message (and category, with error classification installed). */
  readonly error?: StageError | undefined
  /** Stage executions in `stages`, nested ones included. */
  readonly stageCount: number
  /** Top-level stages in start order (recorded stages in recording order), sub-stages nested. */
  readonly stages: ReadonlyArray<StageExecution>
  /** Stages whose own time is at least `bottleneckShare` of the request, slowest first. */
  readonly bottlenecks: ReadonlyArray<Bottleneck>
  /** The request's attributes (`attributes` option, `Request.annotate`). */
  readonly attributes: Readonly<Record<string, unknown>>
  /** Whether stages (past `maxStagesPerRequest`) or spans (past the tail buffer) were left out. */
  readonly truncated: boolean
  /** Whether the request took longer than its own budget. */
  readonly overBudget: boolean
  /** The request's own budget, in milliseconds, when one applied. */
  readonly budgetMs?: number | undefined
  /** The head sampling decision. */
  readonly sampled: boolean
  /** Why the request was exported; `undefined` when it was not. */
  readonly keptBecause: KeptBecause | undefined
}

/**
 * A parent from another process: W3C trace context fields.
 *
 * @category models
 * @since 0.1.0
 */
export interface RemoteParent {
  /** The upstream trace id, 32 lowercase hex digits. */
  readonly traceId: string
  /** The upstream span id, 16 lowercase hex digits. */
  readonly spanId: string
  /** The upstream sampled flag. @default true */
  readonly sampled?: boolean | undefined
  /** The upstream W3C `tracestate` header value. */
  readonly traceState?: string | undefined
}

/**
 * Options of `Request.track`.
 *
 * @category models
 * @since 0.1.0
 */
export interface RequestOptions {
  /**
   * The request id, for example from an `x-request-id` header.
   * @default a random UUID
   */
  readonly requestId?: string | undefined
  /** Attributes of the request: set on its span and kept in its summary. */
  readonly attributes?: Readonly<Record<string, unknown>> | undefined
  /**
   * Latency budget of the whole request; wins over a `budgets` table entry for its name. An invalid one
   * (negative, not a duration) is ignored and counted as the drop `invalid_budget`.
   */
  readonly budget?: Duration.Input | undefined
  /**
   * Always export this request, whatever the sampler decides (its children and outgoing calls see it as
   * sampled).
   * @default false
   */
  readonly force?: boolean | undefined
  /**
   * The parent of the request span: a span, or a remote parent (usually from `Propagation.extract`) whose
   * sampled flag and tracestate parent-based sampling honours. By default the current span. A remote parent
   * whose ids are not valid W3C ids (lowercase hex, not all zero) is ignored and counted as the drop
   * `invalid_parent`.
   */
  readonly parent?: Tracer.AnySpan | RemoteParent | undefined
  /**
   * Span kind of the request span (`"server"` for incoming HTTP requests).
   * @default "internal"
   */
  readonly kind?: Tracer.SpanKind | undefined
}
