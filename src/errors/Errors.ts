/**
 * Error classification: every failed stage and request is sorted into an `ErrorCategory` from its Effect
 * `Cause` — interruptions and defects are told apart by the cause itself, typed failures go through an
 * ordered rule list (your `_tag` and class rules, HTTP status codes, Deno and Node error names and codes,
 * and last the seeds' message patterns).
 *
 * With `Telemetry.layer` installed, each failure's category goes on its span (`error.type`,
 * `stagetrace.error.category`, `stagetrace.error.retryable`), into its summary (`error.category`,
 * `error.retryable`), into the counter `stagetrace_errors_total{category, stage}`, into a sliding window
 * read by `Errors.summary` and `Health.check`, and into the alert counters (`Alerts`).
 *
 * An error is counted once, where it happened: when a failure propagates from a stage to the stages
 * around it and to its request, the outer spans and summaries are classified too, but only the stage
 * where the error first appeared counts it. A request that fails outside any stage counts under its
 * name.
 *
 * This module classifies and summarises; it does not log each error and does not retry anything.
 *
 * Guide: [Budgets, errors, alerts and health](../../docs/budgets-errors-health.md#errors).
 *
 * @module
 */
import type * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { AlertOptions } from "./Alerts.ts"
import type { ErrorCategory } from "./ErrorCategory.ts"
import {
  classifyCause,
  classifyValue,
  compile,
  type Compiled,
  emptyRules,
  toCompiled,
} from "./internal/classify.ts"
import type { ErrorSummary } from "./internal/errorsModel.ts"
import { ErrorsSlot, summaryAt } from "./internal/state.ts"
import { windowSummary } from "../internal/window.ts"

// ---------------------------------------------------------------------------------------------------------
// Models (ErrorSummary and StageErrorSummary are declared in ./internal/errorsModel.ts, which the error
// state reads)
// ---------------------------------------------------------------------------------------------------------

export * from "./internal/errorsModel.ts"

/**
 * The outcome of classifying a failure.
 *
 * - `errorType`: the error's `_tag`, else its class name (`Interrupted` for an interruption);
 * - `retryable`: whether a retry may help — `true` for `transient`, unless a rule says otherwise.
 *
 * @category models
 * @since 0.1.0
 */
export interface Classification {
  /** The category the error falls in. */
  readonly category: ErrorCategory
  /** The error's `_tag`, else its class name (`Interrupted` for an interruption). */
  readonly errorType: string
  /** The error's message. */
  readonly message: string
  /** Whether retrying may succeed: a rule's `retryable`, else `ErrorCategory.isRetryable(category)`. */
  readonly retryable: boolean
}

/**
 * What a rule maps an error to: a category, or a category with an explicit `retryable` flag.
 *
 * @category models
 * @since 0.1.0
 */
export type RuleTarget =
  | ErrorCategory
  | { readonly category: ErrorCategory; readonly retryable?: boolean | undefined }

/**
 * A class that a rule maps to a category (any constructor, abstract ones included).
 *
 * @category models
 * @since 0.1.0
 */
// deno-lint-ignore no-explicit-any
export type ErrorClass = abstract new (...args: any) => unknown

/**
 * The `_tag`s of an error union (`never` when it has none).
 *
 * @category models
 * @since 0.1.0
 */
export type TagOf<E> = E extends { readonly _tag: infer T } ? (T extends string ? T : never) : never

/**
 * The tag map of `Errors.rules<E>`: only tags of `E` are allowed when `E` has tags, any string otherwise.
 *
 * @category models
 * @since 0.1.0
 */
export type TagRules<E> = [TagOf<E>] extends [never] ? { readonly [tag: string]: RuleTarget }
  : { readonly [K in TagOf<E>]?: RuleTarget }

/**
 * Input of `Errors.rules`.
 *
 * @category models
 * @since 0.1.0
 */
export interface RulesInput<E> {
  /** Categories by `_tag`, checked first. */
  readonly tags?: TagRules<E> | undefined
  /** Categories by class (`instanceof`), in order, checked after tags. */
  readonly classes?: ReadonlyArray<readonly [ErrorClass, RuleTarget]> | undefined
  /**
   * Custom matchers, in order, checked after classes: return a target to classify the error, `undefined`
   * to pass. A matcher that throws counts as passing.
   */
  readonly match?: ReadonlyArray<(error: unknown) => RuleTarget | undefined> | undefined
}

/**
 * Compiled classification rules, made by `Errors.rules` and given to `Errors.classify` or to
 * `Telemetry.layer({ errorRules })`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ErrorRules {
  /** Identifies compiled rules. */
  readonly _tag: "ErrorRules"
  /** Targets by `_tag`. */
  readonly tags: ReadonlyMap<string, { readonly category: ErrorCategory; readonly retryable: boolean }>
  /** Targets by class, in order. */
  readonly classes: ReadonlyArray<
    readonly [ErrorClass, { readonly category: ErrorCategory; readonly retryable: boolean }]
  >
  /** Custom matchers, in order. */
  readonly match: ReadonlyArray<(error: unknown) => RuleTarget | undefined>
  /** Rule targets that name no category, as `[path, value]` (a layer given them fails). */
  readonly invalid: ReadonlyArray<readonly [path: string, value: unknown]>
}

/**
 * Options of `Errors.summary`.
 *
 * @category models
 * @since 0.1.0
 */
export interface SummaryOptions {
  /**
   * The window to summarise, ending now. Counts are kept per bucket (1 s up to a minute, 1 min up to an
   * hour, 1 h up to a day), so the oldest bucket may reach one bucket width further back; longer windows
   * are clamped to 24 hours. An invalid window means the default (counted as an `invalid_window` drop).
   * @default "1 hour"
   */
  readonly window?: Duration.Input | undefined
}

/**
 * Error options of `Telemetry.layer`.
 *
 * @category configuration
 * @since 0.1.0
 */
export interface ErrorOptions {
  /**
   * Your classification rules (`Errors.rules`); several are merged, later ones winning for the same tag.
   * Built-in rules always apply after them.
   */
  readonly errorRules?: ErrorRules | ReadonlyArray<ErrorRules> | undefined
  /**
   * Error-frequency alerts; `false` turns them off.
   * @default on (the AlertOptions defaults)
   */
  readonly alerts?: AlertOptions | false | undefined
}

// ---------------------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------------------

const toRules = (compiled: ReturnType<typeof compile>): ErrorRules => ({
  _tag: "ErrorRules",
  tags: compiled.tags,
  classes: compiled.classes,
  match: compiled.match,
  invalid: compiled.invalid,
})

/**
 * Builds classification rules. Give the program's error union as `E` and the tag map only accepts its
 * tags: a misspelt or removed tag is a compile error.
 *
 * @example Typed tag rules
 * ```ts
 * import assert from "node:assert/strict"
 * import { Cause, Data } from "effect"
 * import { Errors } from "@stagetrace/stagetrace"
 *
 * class RateLimited extends Data.TaggedError("RateLimited") {}
 * class BadQuery extends Data.TaggedError("BadQuery") {}
 *
 * const rules = Errors.rules<RateLimited | BadQuery>({
 *   tags: { RateLimited: "transient", BadQuery: { category: "data", retryable: false } },
 * })
 * assert.equal(Errors.classify(Cause.fail(new RateLimited()), rules).category, "transient")
 * assert.equal(Errors.classify(Cause.fail(new BadQuery()), rules).category, "data")
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const rules = <E = never>(input: RulesInput<E>): ErrorRules =>
  toRules(
    compile([{
      tags: input.tags as Readonly<Record<string, unknown>> | undefined,
      classes: input.classes,
      match: input.match,
    }]),
  )

/**
 * Like `Errors.rules`, with the error union taken from an effect (only its type is used).
 *
 * @example Rules for the errors of a handler
 * ```ts
 * import assert from "node:assert/strict"
 * import { Cause, Data, Effect } from "effect"
 * import { Errors } from "@stagetrace/stagetrace"
 *
 * class Upstream extends Data.TaggedError("Upstream") {}
 * const handler = Effect.fail(new Upstream())
 *
 * const rules = Errors.rulesFor(handler, { tags: { Upstream: "transient" } })
 * assert.equal(Errors.classify(Cause.fail(new Upstream()), rules).retryable, true)
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const rulesFor = <A, E, R>(_effect: Effect.Effect<A, E, R>, input: RulesInput<E>): ErrorRules =>
  rules<E>(input)

// ---------------------------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------------------------

/**
 * Classifies a `Cause` (pure): interruption only → `interrupted`; otherwise its first failure or defect
 * goes through `rules` (when given), HTTP status codes (`status`, `statusCode`, `response.status`: 408,
 * 429, 502, 503, 504 transient; 401, 403 configuration; 400, 404, 409, 422 data; 413, 507 resource),
 * Deno / Node / web / Effect error names and codes (`TimedOut`, `ConnectionRefused`, `ECONNRESET`,
 * `PermissionDenied`, `NotFound`, `ENOSPC`, `AbortError`, `TimeoutError`…), the same on wrapped errors
 * (`reason`, `cause`), and last the message patterns of the seeds (timeout, connection, rate limit,
 * throttle → transient; authentication, permission, key, config → configuration; validation, format,
 * schema, parse → data; memory, disk, cpu, quota → resource). A typed failure nothing matches is
 * `unknown`. A defect is `defect` unless a rule or a known error name says more (status codes and
 * message patterns are not applied to defects).
 *
 * `rules` is what `Errors.rules` returns, or the plain `{ tags, classes, match }` object it takes (as
 * untyped and JavaScript callers write it; compiled on first use and cached per object, targets that name
 * no category skipped). Anything else throws a `TypeError` naming `Errors.rules`.
 *
 * @example Classifying causes
 * ```ts
 * import assert from "node:assert/strict"
 * import { Cause } from "effect"
 * import { Errors } from "@stagetrace/stagetrace"
 *
 * assert.equal(Errors.classify(Cause.fail({ status: 503 })).category, "transient")
 * assert.equal(Errors.classify(Cause.fail(new Deno.errors.PermissionDenied("no"))).category, "configuration")
 * assert.equal(Errors.classify(Cause.fail(new Error("schema mismatch"))).category, "data")
 * assert.equal(Errors.classify(Cause.die(new TypeError("x is undefined"))).category, "defect")
 * assert.equal(Errors.classify(Cause.interrupt()).category, "interrupted")
 * ```
 *
 * @category classification
 * @since 0.1.0
 */
export const classify = (
  cause: Cause.Cause<unknown>,
  rules?: ErrorRules | RulesInput<unknown>,
): Classification => classifyCause(cause, rulesOf(rules, "Errors.classify"))

/**
 * Classifies one error value as a typed failure (or as a defect with `{ defect: true }`); `rules` as for
 * `Errors.classify`.
 *
 * @example Classifying one error value
 * ```ts
 * import assert from "node:assert/strict"
 * import { Data } from "effect"
 * import { Errors } from "@stagetrace/stagetrace"
 *
 * class QuotaExceeded extends Data.TaggedError("QuotaExceeded") {}
 * const rules = Errors.rules<QuotaExceeded>({ tags: { QuotaExceeded: "resource" } })
 *
 * assert.equal(Errors.classifyError(new QuotaExceeded(), { rules }).category, "resource")
 * assert.equal(Errors.classifyError({ status: 429 }).category, "transient")
 * assert.equal(Errors.classifyError(new TypeError("x"), { defect: true }).category, "defect")
 * ```
 *
 * @category classification
 * @since 0.1.0
 */
export const classifyError = (
  error: unknown,
  options?: {
    readonly rules?: ErrorRules | RulesInput<unknown> | undefined
    readonly defect?: boolean | undefined
  },
): Classification =>
  classifyValue(error, options?.defect === true, rulesOf(options?.rules, "Errors.classifyError"))

/** The compiled rules of `classify`'s argument; a `TypeError` naming `Errors.rules` for anything else. */
const rulesOf = (rules: unknown, fn: string): Compiled => {
  if (rules === undefined) return emptyRules
  const compiled = toCompiled(rules)
  if (compiled !== undefined) return compiled
  throw new TypeError(
    `${fn}: cannot use ${
      typeof rules === "object" ? "this object" : JSON.stringify(rules) ?? String(rules)
    } as rules: expected rules made by Errors.rules (or the plain { tags, classes, match } object it takes)`,
  )
}

// ---------------------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------------------

const hourMs = 3_600_000

/**
 * Errors counted in the window ending now (default one hour), by category and by stage. Empty when the
 * telemetry layer is not installed.
 *
 * @example Counting errors by category
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Errors, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const call = Effect.fail({ status: 429 }).pipe(Stage.track("llm_request"), Request.track("chat"), Effect.ignore)
 *
 * const summary = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* call
 *     yield* call
 *     return yield* Errors.summary({ window: "5 minutes" })
 *   }).pipe(Effect.provide(Telemetry.layer())),
 * )
 * assert.equal(summary.totalErrors, 2)
 * assert.equal(summary.byCategory.transient, 2)
 * assert.equal(summary.byStage["llm_request"]?.total, 2)
 * ```
 *
 * @category summaries
 * @since 0.1.0
 */
export const summary = (options?: SummaryOptions): Effect.Effect<ErrorSummary> =>
  windowSummary(ErrorsSlot, options?.window, hourMs, summaryAt)
