/**
 * The `Sampler` interface and what it decides on, declared below the public module so that the sampling
 * state reads them without importing `Sampler.ts` back. `Sampler.ts` re-exports this module whole
 * (`export *`), so everything exported here is public as `Sampler.<name>`.
 *
 * @module
 */

/**
 * The identifier of `Sampler` values.
 *
 * @category symbols
 * @since 0.1.0
 */
export const TypeId = "~@stagetrace/stagetrace/Sampler" as const

/**
 * The type of `TypeId`.
 *
 * @category symbols
 * @since 0.1.0
 */
export type TypeId = typeof TypeId

/**
 * The parent of the span being sampled: whether it was sampled, and whether it came from another process
 * (a remote parent, for example from a `traceparent` header).
 *
 * @category models
 * @since 0.1.0
 */
export interface SamplingParent {
  /** Whether the parent was sampled. */
  readonly sampled: boolean
  /** Whether the parent came from another process. */
  readonly remote: boolean
}

/**
 * What a sampler decides on. For a request: its name, trace id, request id, attributes (from
 * `Request.track` options) and parent. For a span outside any request only `name`, `traceId` and `parent`
 * are known.
 *
 * @category models
 * @since 0.1.0
 */
export interface SamplingInput {
  /** The request name (or span name). */
  readonly name: string
  /** The 32-hex-digit trace id. */
  readonly traceId: string
  /** The request id, when sampling a request. */
  readonly requestId?: string | undefined
  /** The request's attributes. */
  readonly attributes?: Readonly<Record<string, unknown>> | undefined
  /** The parent span, absent for a root. */
  readonly parent?: SamplingParent | undefined
  /** The W3C `tracestate` received with the parent (or the parent request's), absent for a root. */
  readonly traceState?: string | undefined
}

/**
 * A sampling decision: whether the request is sampled, and the W3C `tracestate` its spans carry (the
 * parent's, with the `ot` entry's `th` set when the decision is probabilistic and erased otherwise).
 *
 * @category models
 * @since 0.1.0
 */
export interface SamplingResult {
  /** Whether the request (or span) is sampled. */
  readonly sampled: boolean
  /** The W3C `tracestate` its spans carry. */
  readonly traceState: string | undefined
}

/**
 * A head sampler. Build one with `Sampler.consistentRatio`, `Sampler.alwaysOn`, `Sampler.alwaysOff`,
 * `Sampler.parentBased` or `Sampler.rules`, and give it to `Telemetry.layer({ sampler })`.
 *
 * `shouldSample` is synchronous and cheap (no allocation for a root with no tracestate); it must not
 * throw.
 *
 * @category models
 * @since 0.1.0
 */
export interface Sampler {
  /** Marks `Sampler` values (see `Sampler.isSampler`). */
  readonly [TypeId]: TypeId
  /** The sampler and its configuration, for example `ParentBased{root=ConsistentRatio{0.01}}`. */
  readonly description: string
  /** Decides for one request (or span outside any request). */
  readonly shouldSample: (input: SamplingInput) => SamplingResult
}
