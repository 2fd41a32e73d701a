/**
 * The public models of `Stage`, declared below the concerns: every stage end produces one
 * `StageExecution`, which the recorder and every concern read. `Stage.ts` re-exports this module whole
 * (`export *`), so everything exported here is public as `Stage.<name>`.
 *
 * @module
 */
import type * as Duration from "effect/Duration"
import type * as Tracer from "effect/Tracer"

/**
 * How a stage ended: `ok`, `error` (a typed failure or a defect), `interrupted`; `running` while it runs
 * and `unfinished` when its request ended first.
 *
 * @category models
 * @since 0.1.0
 */
export type StageOutcome = "ok" | "error" | "interrupted" | "running" | "unfinished"

/**
 * The type and message of a stage's or request's failure. `type` is the error's `_tag`, else its class
 * name; `category` is filled when error classification is installed.
 *
 * @category models
 * @since 0.1.0
 */
export interface StageError {
  /** The error's `_tag`, else its class name. */
  readonly type: string
  /** The error's message. */
  readonly message: string
  /** The error category, when error classification is installed. */
  readonly category?: string | undefined
  /** Whether retrying may succeed, when error classification is installed. */
  readonly retryable?: boolean | undefined
}

/**
 * One execution of a stage, as it appears in a request summary.
 *
 * - `startOffsetMs`: when the stage started, relative to the start of its request.
 * - `durationMs`: wall time from start to end, sub-stages included.
 * - `metadata`: the stage's `metadata` option, also set as span attributes.
 * - `substages`: stages started inside this one, in start order.
 *
 * @category models
 * @since 0.1.0
 */
export interface StageExecution {
  /** The stage id. */
  readonly stageId: string
  /** The stage name (`name` option, else the stage id). */
  readonly name: string
  /** When the stage started, relative to the start of its request, in milliseconds. */
  readonly startOffsetMs: number
  /** Wall time from start to end, sub-stages included, in milliseconds. */
  readonly durationMs: number
  /** Whether the stage succeeded. */
  readonly success: boolean
  /** How the stage ended (`running` while it runs, `unfinished` when its request ended first). */
  readonly status: StageOutcome
  /** The failure's type and message. */
  readonly error?: StageError | undefined
  /** The stage's `metadata` option, also set as span attributes. */
  readonly metadata: Readonly<Record<string, unknown>>
  /** Stages started inside this one, in start order. */
  readonly substages: ReadonlyArray<StageExecution>
  /** `true` when the stage came from `Stage.record` rather than from running an effect. */
  readonly recorded?: boolean | undefined
  /** The budget that applied to this stage, in milliseconds, when one did. */
  readonly budgetMs?: number | undefined
  /** `true` when the stage took longer than its budget. */
  readonly overBudget?: boolean | undefined
  /**
   * How much the JavaScript heap in use grew while the stage ran, in bytes (negative when garbage
   * collection freed more than the stage allocated); only on stages measured with `memory: true` or
   * `Telemetry.layer({ stageMemory: true })`. Concurrent work in the same isolate counts too.
   */
  readonly memoryDeltaBytes?: number | undefined
}

/**
 * Options of `Stage.track` and `Stage.fn`.
 *
 * @category models
 * @since 0.1.0
 */
export interface StageOptions {
  /**
   * Human-readable name, used as the span name and in summaries.
   * @default the stage id
   */
  readonly name?: string | undefined
  /** Values kept in the summary and set as span attributes (for example `{ "kb.index": "docs" }`). */
  readonly metadata?: Readonly<Record<string, unknown>> | undefined
  /**
   * Latency budget of this stage (for example `"10 millis"`); wins over a `budgets` table entry. An invalid
   * one (negative, not a duration) is ignored and counted as the drop `invalid_budget`.
   */
  readonly budget?: Duration.Input | undefined
  /**
   * Span kind of the stage span.
   * @default "internal"
   */
  readonly kind?: Tracer.SpanKind | undefined
  /**
   * Measure the heap delta of the stage (V8's used heap at its end minus at its start, 0.3–1.2 µs per
   * read): `memoryDeltaBytes` in its summary, the span attribute `stagetrace.memory_delta_bytes` and the
   * histogram `stagetrace_stage_memory_delta_bytes{stage}`. Off, it costs nothing.
   * @default false (or `Telemetry.layer({ stageMemory })`)
   */
  readonly memory?: boolean | undefined
}

/**
 * The layer-wide memory option of `Telemetry.layer`.
 *
 * @category configuration
 * @since 0.2.0
 */
export interface StageMemoryOptions {
  /**
   * Measure the heap delta of every stage, as `Stage.track(id, { memory: true })` does for one
   * (`STAGETRACE_STAGE_MEMORY`). Stages recorded with `Stage.record` ran elsewhere and are not measured.
   * @default false
   */
  readonly stageMemory?: boolean | undefined
}
