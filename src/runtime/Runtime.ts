/**
 * The Promise API behind `Telemetry.makeRuntime`: the same requests, stages, statistics, budgets,
 * summaries and exports as the Effect API, for code that is not an Effect program (plain async functions,
 * framework handlers, the seeds' decorators and context managers).
 *
 * Every call runs the real `Request.track` / `Stage.track` / `Stage.record` on a runtime built from
 * `Telemetry.layer(options)`; the current request or stage is carried across `await` with
 * `AsyncLocalStorage`, so `stage` and `instrument` inside `request` are stages of that request and nested
 * ones are sub-stages.
 *
 * The manual lifecycle keyed by id (`startRequest` / `recordStage` / `timingScope` / `endRequest`) keeps
 * each open request in a bounded table (`recordStage` and `timingScope` also reach a request running in
 * `request(name, { requestId }, fn)`, by its id, while `fn` runs): beyond `maxOpenRequests` the oldest is ended, and a request not
 * ended within `openRequestTimeout` is ended too (both as interrupted, counted in `expiredRequests` and
 * as the drops `open_request_evicted` / `open_request_expired`), so a forgotten `endRequest` cannot leak.
 *
 * Guide: [The Promise API](../../docs/promise-api.md).
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { durationOption, option, PositiveInt, type TelemetryConfigError } from "../internal/config.ts"
import { CurrentRecorder, ownerOf, requestOf, type RequestRecord } from "../internal/recorder.ts"
import * as Request from "../stage/Request.ts"
import type { RequestOptions, RequestSummary } from "../stage/Request.ts"
import * as Stage from "../stage/Stage.ts"
import type { RecordOptions, StageOptions } from "../stage/Stage.ts"
import * as StageStats from "../stage/StageStats.ts"
import type { StageStatistics } from "../stage/StageStats.ts"
import * as Summaries from "../stage/Summaries.ts"
import * as daemon from "../internal/daemon.ts"

// ---------------------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------------------

/**
 * What `Telemetry.makeRuntime` adds to the `Telemetry.layer` options: the bounds of the manual lifecycle
 * and extra services. `Telemetry.RuntimeOptions` composes both.
 *
 * @category runtime
 * @since 0.1.0
 */
export interface RuntimeOwnOptions {
  /**
   * Requests opened with `startRequest` and not ended yet, at most; opening one more ends the oldest.
   * @default 10000
   */
  readonly maxOpenRequests?: number | undefined
  /**
   * A request opened with `startRequest` and not ended within this time is ended (as interrupted).
   * @default "5 minutes"
   */
  readonly openRequestTimeout?: Duration.Input | undefined
  /** Extra services for the runtime, merged under the telemetry layer (a `Clock` for tests, loggers…). */
  readonly layer?: Layer.Layer<never> | undefined
}

/**
 * Options of `TelemetryRuntime.endRequest`.
 *
 * @category runtime
 * @since 0.1.0
 */
export interface EndRequestOptions {
  /** Ends the request as failed with this error (its type and message go to the summary). */
  readonly error?: unknown
}

/**
 * A telemetry runtime for non-Effect code. Every method is safe to call at any time: after `dispose()`
 * the wrapped functions still run, untracked.
 *
 * @category runtime
 * @since 0.1.0
 */
export interface TelemetryRuntime {
  /**
   * Runs `fn` as one request named `name`; `stage` and `instrument` called inside it (across `await`)
   * are its stages, and so are `recordStage` / `timingScope` calls naming its id while it runs. Resolves
   * with `fn`'s result, rejects with what `fn` threw. An id already in use by a running or open request
   * is counted as `duplicate_request_id` (the request still runs, but calls by id go to the first one).
   */
  readonly request: <A>(
    name: string,
    options: RequestOptions | undefined,
    fn: () => A | PromiseLike<A>,
  ) => Promise<A>
  /** Runs `fn` as the stage `stageId` of the current request (a sub-stage inside a stage). */
  readonly stage: <A>(stageId: string, fn: () => A | PromiseLike<A>, options?: StageOptions) => Promise<A>
  /** Wraps an async function so that every call runs as the stage `stageId`. */
  readonly instrument: <Args extends ReadonlyArray<unknown>, A>(
    stageId: string,
    fn: (...args: Args) => A | PromiseLike<A>,
    options?: StageOptions,
  ) => (...args: Args) => Promise<A>
  /**
   * Opens a request kept by id until `endRequest`. Returns `false` (and counts the drop
   * `duplicate_request_id`) when a request with this id is already open.
   */
  readonly startRequest: (
    requestId: string,
    name: string,
    options?: Omit<RequestOptions, "requestId">,
  ) => boolean
  /**
   * Records a stage of the request `requestId` that ends now, like `Stage.record`: the duration in
   * milliseconds as the third argument (`recordStage(id, "llm_call", 120)`, the seeds' call) or as
   * `durationMs`; without one, the time since the request's previous stage ended (or it started).
   *
   * The request is one opened with `startRequest`, or one running in `request(name, { requestId }, fn)`
   * (while `fn` runs). An unknown id counts the drop `unknown_request_id`; a duration that is not a
   * finite number ≥ 0 counts `invalid_duration`.
   */
  readonly recordStage: {
    (requestId: string, stageId: string, options?: RecordOptions): void
    (
      requestId: string,
      stageId: string,
      durationMs: number,
      options?: Omit<RecordOptions, "durationMs">,
    ): void
  }
  /**
   * Runs `fn` as the stage `scopeName` of the request `requestId` (opened with `startRequest`, or running
   * in `request`); untracked, and counted as `unknown_request_id`, when there is none.
   */
  readonly timingScope: <A>(requestId: string, scopeName: string, fn: () => A | PromiseLike<A>) => Promise<A>
  /**
   * Ends the request `requestId` opened with `startRequest` and resolves with its summary (`undefined`,
   * counted as `unknown_request_id`, when it is not open: a `request` ends when its function does).
   */
  readonly endRequest: (requestId: string, options?: EndRequestOptions) => Promise<RequestSummary | undefined>
  /** Requests opened with `startRequest` and not ended yet. */
  readonly openRequests: () => number
  /** Open requests ended because they expired or the table was full. */
  readonly expiredRequests: () => number
  /** Statistics of one stage (`undefined` when it never ran). */
  readonly stageStats: (stageId: string) => StageStatistics | undefined
  /** Statistics of every stage, sorted by stage id. */
  readonly allStageStats: () => ReadonlyArray<StageStatistics>
  /** Summaries of the most recently completed requests, newest first. */
  readonly recentSummaries: (limit?: number) => ReadonlyArray<RequestSummary>
  /** Runs an effect on this runtime (inside the current request or stage, if any). */
  readonly runPromise: <A, E>(effect: Effect.Effect<A, E>) => Promise<A>
  /** Ends the open requests, flushes every exporter and stops the runtime. Idempotent. */
  readonly dispose: () => Promise<void>
}

// ---------------------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------------------

interface OpenRequest {
  readonly requestId: string
  readonly context: Context.Context<never>
  readonly record: RequestRecord | undefined
  readonly deferred: Deferred.Deferred<void, unknown>
  readonly fiber: Fiber.Fiber<unknown, unknown>
  readonly openedAt: number
}

const rethrow = <A>(exit: Exit.Exit<A, unknown>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}

const fromPromise = <A>(
  fn: () => A | PromiseLike<A>,
  run: (fn: () => A | PromiseLike<A>) => A | PromiseLike<A>,
): Effect.Effect<A, unknown> =>
  Effect.tryPromise({ try: () => Promise.resolve(run(fn)), catch: (error) => error })

/**
 * Builds a runtime around `layer` (the telemetry layer for `options`). Rejects with
 * `TelemetryConfigError` when an option is invalid.
 *
 * @internal
 */
export const make = async (
  telemetry: Layer.Layer<never, TelemetryConfigError>,
  options: RuntimeOwnOptions,
): Promise<TelemetryRuntime> => {
  const bounds = await Effect.runPromise(
    Effect.all({
      maxOpen: option("maxOpenRequests", PositiveInt, options.maxOpenRequests, 10_000),
      timeoutMs: Effect.map(
        durationOption("openRequestTimeout", options.openRequestTimeout),
        (ms) => ms ?? 5 * 60_000,
      ),
    }),
  )
  const layer = options.layer === undefined ? telemetry : Layer.provideMerge(telemetry, options.layer)
  const runtime = ManagedRuntime.make(layer)
  const base = await runtime.context()
  const recorder = Context.get(base, CurrentRecorder)
  const clock = Effect.runSyncWith(base)(Clock.clockWith(Effect.succeed))
  const storage = new AsyncLocalStorage<Context.Context<never>>()
  const summaries = new WeakMap<RequestRecord, RequestSummary>()
  const open = new Map<string, OpenRequest>()
  // Requests running in `request(…)`, by id, while their function runs: as many as run concurrently.
  const running = new Map<string, Context.Context<never>>()
  const contextOf = (requestId: string): Context.Context<never> | undefined =>
    open.get(requestId)?.context ?? running.get(requestId)
  let expired = 0
  let disposed = false

  // The summaries of manual requests, handed to `endRequest` (a WeakMap: nothing outlives the record).
  recorder.summary.push((summary, record) => {
    if (record.slots?.has(manualKey) === true) summaries.set(record, summary)
  })

  const current = (): Context.Context<never> => storage.getStore() ?? base
  const run = <A>(effect: Effect.Effect<A, unknown>, context: Context.Context<never>): Promise<A> =>
    Effect.runPromiseExitWith(context)(effect).then(rethrow)

  // Runs `fn` inside the fiber that the wrapper created, with that fiber's context as the current one.
  const inside = <A>(fn: () => A | PromiseLike<A>): Effect.Effect<A, unknown> =>
    Effect.withFiber((fiber) => fromPromise(fn, (f) => storage.run(fiber.context, f)))

  const expire = (entry: OpenRequest, reason: string) => {
    open.delete(entry.requestId)
    expired++
    recorder.countDrop(reason)
    entry.fiber.interruptUnsafe()
  }

  const sweep = () => {
    if (open.size === 0) return
    const now = clock.currentTimeMillisUnsafe()
    // Insertion order is opening order: stop at the first request still in time.
    for (const entry of open.values()) {
      if (now - entry.openedAt < bounds.timeoutMs) break
      expire(entry, "open_request_expired")
    }
  }
  const sweepInterval = Math.min(Math.max(bounds.timeoutMs / 4, 10), 60_000)
  const sweeper = runtime.runFork(
    daemon.forever(Effect.andThen(Effect.sleep(sweepInterval), Effect.sync(sweep))),
  )

  const stage = <A>(stageId: string, fn: () => A | PromiseLike<A>, stageOptions?: StageOptions): Promise<A> =>
    disposed ? Promise.resolve().then(fn) : run(Stage.track(inside(fn), stageId, stageOptions), current())

  // The body of a `request`: registers the request by id while `fn` runs, so calls by id reach it.
  const registered = <A>(fn: () => A | PromiseLike<A>): Effect.Effect<A, unknown> =>
    Effect.withFiber((fiber) => {
      const requestId = requestOf(ownerOf(fiber.cache.span))?.requestId
      if (requestId === undefined) return inside(fn)
      if (open.has(requestId) || running.has(requestId)) {
        recorder.countDrop("duplicate_request_id")
        return inside(fn)
      }
      running.set(requestId, fiber.context)
      return Effect.ensuring(inside(fn), Effect.sync(() => running.delete(requestId)))
    })

  const handle: TelemetryRuntime = {
    request: (name, requestOptions, fn) =>
      disposed
        ? Promise.resolve().then(fn)
        : run(Request.track(registered(fn), name, requestOptions), current()),
    stage,
    instrument: (stageId, fn, stageOptions) => (...args) => stage(stageId, () => fn(...args), stageOptions),
    startRequest: (requestId, name, requestOptions) => {
      if (disposed) return false
      sweep()
      if (open.has(requestId) || running.has(requestId)) {
        recorder.countDrop("duplicate_request_id")
        return false
      }
      if (open.size >= bounds.maxOpen) {
        const oldest = open.values().next().value
        if (oldest !== undefined) expire(oldest, "open_request_evicted")
      }
      const deferred = Deferred.makeUnsafe<void, unknown>()
      let context: Context.Context<never> = base
      let record: RequestRecord | undefined
      const body = Effect.withFiber((fiber) => {
        context = fiber.context
        record = requestOf(ownerOf(fiber.cache.span))
        if (record !== undefined) (record.slots ??= new Map()).set(manualKey, true)
        return Deferred.await(deferred)
      })
      // The fiber starts synchronously, so `context` and `record` are set when `runForkWith` returns.
      const fiber = Effect.runForkWith(base)(
        Request.track(body, name, { ...requestOptions, requestId }),
      )
      open.set(requestId, {
        requestId,
        context,
        record,
        deferred,
        fiber,
        openedAt: clock.currentTimeMillisUnsafe(),
      })
      return true
    },
    recordStage: (requestId: string, stageId: string, third?: unknown, fourth?: RecordOptions) => {
      if (disposed) return
      const context = contextOf(requestId)
      if (context === undefined) {
        recorder.countDrop("unknown_request_id")
        return
      }
      let recordOptions: RecordOptions | undefined
      if (typeof third === "number") recordOptions = { ...fourth, durationMs: third }
      else if (third === undefined || (typeof third === "object" && third !== null)) {
        recordOptions = third as RecordOptions | undefined
      } else {
        // A duration given as something else than a number (`"120"` from untyped code).
        recorder.countDrop("invalid_duration")
        return
      }
      Effect.runSyncWith(context)(Stage.record(stageId, recordOptions))
    },
    timingScope: (requestId, scopeName, fn) => {
      if (disposed) return Promise.resolve().then(fn)
      const context = contextOf(requestId)
      if (context === undefined) {
        recorder.countDrop("unknown_request_id")
        return Promise.resolve().then(fn)
      }
      return run(Stage.track(inside(fn), scopeName), context)
    },
    endRequest: async (requestId, endOptions) => {
      const entry = open.get(requestId)
      if (entry === undefined) {
        if (!disposed) recorder.countDrop("unknown_request_id")
        return undefined
      }
      open.delete(requestId)
      Deferred.doneUnsafe(
        entry.deferred,
        endOptions?.error === undefined ? Effect.void : Effect.fail(endOptions.error),
      )
      await Effect.runPromise(Fiber.await(entry.fiber))
      return entry.record === undefined ? undefined : summaries.get(entry.record)
    },
    openRequests: () => open.size,
    expiredRequests: () => expired,
    stageStats: (stageId) => Effect.runSyncWith(base)(StageStats.get(stageId)),
    allStageStats: () => Effect.runSyncWith(base)(StageStats.all),
    recentSummaries: (limit = 1000) => Effect.runSyncWith(base)(Summaries.recent(limit)),
    runPromise: (effect) => run(effect, current()),
    dispose: async () => {
      if (disposed) return
      disposed = true
      const pending = [...open.values()]
      open.clear()
      for (const entry of pending) entry.fiber.interruptUnsafe()
      await Promise.all(pending.map((entry) => Effect.runPromise(Fiber.await(entry.fiber))))
      await Effect.runPromise(Fiber.interrupt(sweeper))
      await runtime.dispose()
    },
  }
  return handle
}

/** Marks a request record as opened by `startRequest` (its summary is kept for `endRequest`). */
const manualKey = "@stagetrace/runtime/manual"
