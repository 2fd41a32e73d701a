/**
 * Samplers: which requests' spans and summaries are exported. Statistics, metrics, budgets and error
 * counts always see every request; only export is sampled.
 *
 * A sampler makes the **head** decision when a request starts. Ratio decisions follow OpenTelemetry's
 * consistent probability sampling: the randomness R is the `rv` value of the `ot` tracestate entry when
 * present, else the low 56 bits of the trace id; the rejection threshold is T = round((1 - p) × 2^56); the
 * request is sampled when R ≥ T, and its spans carry `tracestate: ot=th:<T in hex, trailing zeros removed>`.
 * So every OpenTelemetry service of a trace that samples at rate p agrees with every other one, and a
 * service with a lower rate samples a subset of what a higher rate samples.
 *
 * After the request ends, **tail** sampling (installed by `Telemetry.layer`) still exports it when it was
 * forced, failed, exceeded a budget, or took at least `keepSlowerThan`; `RequestSummary.keptBecause` says
 * why. The [Sampling guide](../../docs/sampling.md#adjusted-counts-what-exported-spans-claim) explains
 * what the spans of tail-kept requests claim (their adjusted counts).
 *
 * This module only decides: the sampler in use is configured with `Telemetry.layer({ sampler })`,
 * `Telemetry.layer({ sampleRate })` or the `OTEL_TRACES_SAMPLER` variables.
 *
 * Guide: [Sampling](../../docs/sampling.md).
 *
 * @module
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { CurrentRecorder } from "../internal/recorder.ts"
import type { KeptBecause } from "../stage/Request.ts"
import {
  atLeast,
  fnv56,
  parseThreshold,
  readHex56,
  type Threshold,
  thresholdOf,
  toHex56,
} from "./internal/bits.ts"
import { type Issue, issueOf, setIssue } from "./internal/issues.ts"
import { type Sampler, type SamplingInput, type SamplingResult, TypeId } from "./internal/samplerModel.ts"
import { SamplingSlot } from "./internal/state.ts"
import { type OtValues, readOt, withThreshold } from "./internal/traceState.ts"

// ---------------------------------------------------------------------------------------------------------
// Models: TypeId, SamplingParent, SamplingInput, SamplingResult, Sampler (declared in
// ./internal/samplerModel.ts, which the sampling state reads), then the options below
// ---------------------------------------------------------------------------------------------------------

export * from "./internal/samplerModel.ts"

/**
 * Options of `Sampler.consistentRatio`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConsistentRatioOptions {
  /**
   * Where the randomness comes from: `"traceId"` (the `rv` tracestate value, else the low 56 bits of the
   * trace id, as OpenTelemetry specifies), or `"requestId"`: the low 56 bits of the FNV-1a 64-bit hash of
   * the request id's UTF-8 bytes, so one request id gets the same decision in every process and run. A
   * root request sampled by request id records that randomness as the trace's `rv`, so downstream
   * OpenTelemetry samplers agree with it; below a parent, a request-id decision is not consistent with the
   * trace's randomness and its spans carry no `th`. Spans outside any request use the trace id.
   * @default "traceId"
   */
  readonly by?: "traceId" | "requestId" | undefined
}

/**
 * Options of `Sampler.parentBased`: the sampler used for each kind of parent, as in OpenTelemetry's
 * `ParentBased` sampler. By default a sampled parent's decision is followed (its `th` is kept when it is
 * consistent with the randomness, erased otherwise) and an unsampled parent's decision too.
 *
 * @category models
 * @since 0.1.0
 */
export interface ParentBasedOptions {
  /**
   * Decides below a sampled remote parent.
   * @default follow the parent (sampled)
   */
  readonly remoteParentSampled?: Sampler | undefined
  /**
   * Decides below an unsampled remote parent.
   * @default Sampler.alwaysOff
   */
  readonly remoteParentNotSampled?: Sampler | undefined
  /**
   * Decides below a sampled local parent.
   * @default follow the parent (sampled)
   */
  readonly localParentSampled?: Sampler | undefined
  /**
   * Decides below an unsampled local parent.
   * @default Sampler.alwaysOff
   */
  readonly localParentNotSampled?: Sampler | undefined
}

/**
 * One rule of `Sampler.rules`: when the request's name and attributes match, `sampler` decides.
 *
 * - `name`: the exact request name, or a regular expression tested against it.
 * - `attributes`: every listed attribute must match: equal to a string, number or boolean, or a string
 *   matching a regular expression.
 * - A rule with neither matches every request.
 *
 * @category models
 * @since 0.1.0
 */
export interface Rule {
  /** The exact request name, or a regular expression tested against it. */
  readonly name?: string | RegExp | undefined
  /** Attributes that must all match: equal values, or strings matching a regular expression. */
  readonly attributes?: Readonly<Record<string, string | number | boolean | RegExp>> | undefined
  /** The sampler deciding for the requests this rule matches. */
  readonly sampler: Sampler
}

/**
 * The sampling options of `Telemetry.layer` (and `Telemetry.layerFromEnv`).
 *
 * @category configuration
 * @since 0.1.0
 */
export interface SamplingOptions {
  /**
   * The head sampler (`STAGETRACE_SAMPLE_RATE`, `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` from
   * the environment).
   * @default Sampler.parentBased(Sampler.alwaysOn)
   */
  readonly sampler?: Sampler | undefined
  /**
   * Shorthand for `sampler: Sampler.parentBased(Sampler.consistentRatio(sampleRate))`, a rate in [0, 1];
   * when both are given, `sampleRate` wins.
   */
  readonly sampleRate?: number | undefined
  /**
   * Export every request that took at least this long, whatever the head decision
   * (`STAGETRACE_KEEP_SLOWER_THAN_MS`).
   * @default no slow rule
   */
  readonly keepSlowerThan?: Duration.Input | undefined
  /**
   * Finished spans one request that was not head-sampled holds until its tail decision
   * (`STAGETRACE_TAIL_BUFFER_SIZE`); past it spans are dropped, counted, and the summary says `truncated`.
   * @default 512
   */
  readonly tailBufferSize?: number | undefined
}

/**
 * Counters of the sampling concern under the current telemetry layer.
 *
 * - `requestsKept`: exported requests, by reason; `requestsDropped`: requests whose spans and summary were
 *   not exported (their summary is still in `Summaries` and they still fed statistics).
 * - `spansDropped`: spans not exported because their request (or, outside requests, the sampler) said so.
 * - `spansOverflowed`: spans that did not fit in a request's tail buffer (`tailBufferSize`); when that
 *   request is kept they are lost and also counted in the recorder's drops as `tail_buffer_full`.
 *
 * @category models
 * @since 0.1.0
 */
export interface SamplingStats {
  /** The installed sampler's description. */
  readonly sampler: string
  /** Exported requests, by reason. */
  readonly requestsKept: Readonly<Record<KeptBecause, number>>
  /** Requests whose spans and summary were not exported. */
  readonly requestsDropped: number
  /** Spans not exported because their request (or, outside requests, the sampler) said so. */
  readonly spansDropped: number
  /** Spans that did not fit in a request's tail buffer. */
  readonly spansOverflowed: number
}

// ---------------------------------------------------------------------------------------------------------
// Internals shared by the constructors
// ---------------------------------------------------------------------------------------------------------

const make = (
  description: string,
  shouldSample: (input: SamplingInput) => SamplingResult,
  issue?: Issue,
): Sampler => {
  const sampler: Sampler = {
    [TypeId]: TypeId,
    description,
    shouldSample,
    toString: () => description,
  } as Sampler
  if (issue !== undefined) setIssue(sampler, issue)
  return sampler
}

const notSampled: SamplingResult = { sampled: false, traceState: undefined }
const sampledWithoutState: SamplingResult = { sampled: true, traceState: undefined }
const alwaysOnRoot: SamplingResult = { sampled: true, traceState: "ot=th:0" }

// Scratch for 56-bit randomness: decisions are synchronous, so one is enough.
const scratch = { hi: 0, lo: 0 }

/** R for the trace: the `rv` value, else the low 56 bits of the trace id, else a hash of a malformed id. */
const traceRandomness = (input: SamplingInput, ot: OtValues): void => {
  const rv = ot.rv
  if (rv !== undefined && rv.length === 14 && readHex56(rv, 0, scratch)) return
  const id = input.traceId
  if (id.length === 32 && readHex56(id, 18, scratch)) return
  fnv56(id, scratch)
}

const eraseThreshold = (traceState: string | undefined, sampled: boolean): SamplingResult =>
  traceState === undefined
    ? sampled ? sampledWithoutState : notSampled
    : { sampled, traceState: withThreshold(traceState, undefined) }

const describeRate = (rate: number): string => String(rate)

// ---------------------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------------------

/**
 * Samples everything, as a probability sampler with p = 1: spans carry `ot=th:0` (adjusted count 1).
 *
 * @example Every request, with adjusted count 1
 * ```ts
 * import assert from "node:assert/strict"
 * import { Sampler } from "@stagetrace/stagetrace"
 *
 * const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
 * assert.deepEqual(Sampler.shouldSample(Sampler.alwaysOn, { name: "chat", traceId }), { sampled: true, traceState: "ot=th:0" })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const alwaysOn: Sampler = make(
  "AlwaysOnSampler",
  (input) =>
    input.traceState === undefined
      ? alwaysOnRoot
      : { sampled: true, traceState: withThreshold(input.traceState, "0") },
)

/**
 * Samples nothing at the head (tail sampling may still keep a failed, slow, over-budget or forced
 * request).
 *
 * @example Nothing at the head
 * ```ts
 * import assert from "node:assert/strict"
 * import { Sampler } from "@stagetrace/stagetrace"
 *
 * const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
 * assert.equal(Sampler.shouldSample(Sampler.alwaysOff, { name: "chat", traceId }).sampled, false)
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const alwaysOff: Sampler = make(
  "AlwaysOffSampler",
  (input) => eraseThreshold(input.traceState, false),
)

/**
 * Samples a share `rate` in [0, 1] of traces, consistently with every OpenTelemetry service in the trace:
 * sampled when the randomness R ≥ T = round((1 - rate) × 2^56); the spans carry `ot=th:<T>`. It ignores
 * the parent's decision: wrap it in `Sampler.parentBased` to honour an upstream decision (that is what
 * `Telemetry.layer({ sampleRate })` does).
 *
 * A rate outside [0, 1] (or NaN) makes `Telemetry.layer` fail with a `TelemetryConfigError`.
 *
 * @example Threshold encodings
 * ```ts
 * import assert from "node:assert/strict"
 * import { Sampler } from "@stagetrace/stagetrace"
 *
 * const traceId = "4bf92f3577b34da6a3ce929d0e0e4736" // R = 0xce929d0e0e4736 ≥ 0xc0000000000000
 * assert.deepEqual(Sampler.shouldSample(Sampler.consistentRatio(0.25), { name: "chat", traceId }), {
 *   sampled: true,
 *   traceState: "ot=th:c",
 * })
 * assert.equal(Sampler.shouldSample(Sampler.consistentRatio(0.1), { name: "chat", traceId }).sampled, false)
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const consistentRatio = (rate: number, options?: ConsistentRatioOptions): Sampler => {
  const by = options?.by ?? "traceId"
  const description = by === "traceId"
    ? `ConsistentRatio{${describeRate(rate)}}`
    : `ConsistentRatio{${describeRate(rate)},by=${String(by)}}`
  if (typeof rate !== "number" || !(rate >= 0 && rate <= 1)) {
    return make(description, alwaysOff.shouldSample, {
      value: rate,
      reason: "Sampler.consistentRatio: expected a rate in [0, 1]",
    })
  }
  if (by !== "traceId" && by !== "requestId") {
    return make(description, alwaysOff.shouldSample, {
      value: by,
      reason: 'Sampler.consistentRatio: expected by to be "traceId" or "requestId"',
    })
  }
  const threshold: Threshold = thresholdOf(rate)
  if (!threshold.sampling) return make(description, alwaysOff.shouldSample)
  const th = threshold.th
  const rootSampled: SamplingResult = { sampled: true, traceState: `ot=th:${th}` }
  const byRequestId = by === "requestId"
  return make(description, (input) => {
    const traceState = input.traceState
    const ot = readOt(traceState)
    if (byRequestId && input.requestId !== undefined) {
      fnv56(input.requestId, scratch)
      const sampled = atLeast(scratch.hi, scratch.lo, threshold)
      if (input.parent === undefined && ot.rv === undefined) {
        // A root may set the trace's explicit randomness: downstream samplers then use the same R.
        const rv = toHex56(scratch.hi, scratch.lo)
        return { sampled, traceState: withThreshold(traceState, sampled ? th : undefined, rv) }
      }
      return eraseThreshold(traceState, sampled)
    }
    traceRandomness(input, ot)
    const sampled = atLeast(scratch.hi, scratch.lo, threshold)
    if (traceState === undefined) return sampled ? rootSampled : notSampled
    return { sampled, traceState: withThreshold(traceState, sampled ? th : undefined) }
  })
}

/** Follows a sampled parent: keeps its `th` when consistent with the randomness (R ≥ T), else erases it. */
const followParent: Sampler = make("FollowParent", (input) => {
  const traceState = input.traceState
  if (traceState === undefined) return sampledWithoutState
  const ot = readOt(traceState)
  if (ot.th === undefined) return { sampled: true, traceState }
  const threshold = parseThreshold(ot.th)
  if (threshold !== undefined) {
    traceRandomness(input, ot)
    if (atLeast(scratch.hi, scratch.lo, threshold)) return { sampled: true, traceState }
  }
  return eraseThreshold(traceState, true)
})

/**
 * Follows the parent's decision when there is a parent, else asks `root`, as OpenTelemetry's
 * `ParentBased` sampler. A sampled parent's `th` is kept when it is consistent with the trace's randomness
 * and erased otherwise (a parent sampled without a `th` gives spans without one: their probability is
 * unknown).
 *
 * @example Honouring an upstream decision
 * ```ts
 * import assert from "node:assert/strict"
 * import { Sampler } from "@stagetrace/stagetrace"
 *
 * const sampler = Sampler.parentBased(Sampler.consistentRatio(1))
 * const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
 * assert.equal(sampler.shouldSample({ name: "chat", traceId, parent: { sampled: false, remote: true } }).sampled, false)
 * assert.deepEqual(
 *   sampler.shouldSample({ name: "chat", traceId, parent: { sampled: true, remote: true }, traceState: "ot=th:8" }),
 *   { sampled: true, traceState: "ot=th:8" },
 * )
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const parentBased = (root: Sampler, options?: ParentBasedOptions): Sampler => {
  const parts: Array<[string, unknown]> = [
    ["root", root],
    ["remoteParentSampled", options?.remoteParentSampled],
    ["remoteParentNotSampled", options?.remoteParentNotSampled],
    ["localParentSampled", options?.localParentSampled],
    ["localParentNotSampled", options?.localParentNotSampled],
  ]
  let issue: Issue | undefined
  for (const [name, value] of parts) {
    if (value === undefined) continue
    if (!isSampler(value)) {
      issue ??= { value, reason: `Sampler.parentBased: ${name} is not a Sampler` }
    } else issue ??= issueOf(value)
  }
  const description = `ParentBased{${
    parts.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${isSampler(v) ? v.description : "?"}`)
      .join(",")
  }}`
  if (issue !== undefined) return make(description, alwaysOff.shouldSample, issue)
  const remoteSampled = options?.remoteParentSampled ?? followParent
  const remoteNotSampled = options?.remoteParentNotSampled ?? alwaysOff
  const localSampled = options?.localParentSampled ?? followParent
  const localNotSampled = options?.localParentNotSampled ?? alwaysOff
  return make(description, (input) => {
    const parent = input.parent
    if (parent === undefined) return root.shouldSample(input)
    const sampler = parent.remote
      ? parent.sampled ? remoteSampled : remoteNotSampled
      : parent.sampled
      ? localSampled
      : localNotSampled
    return sampler.shouldSample(input)
  })
}

type Matcher = string | number | boolean | RegExp

interface CompiledRule {
  readonly name: string | RegExp | undefined
  readonly attributes: ReadonlyArray<readonly [string, Matcher]>
  readonly sampler: Sampler
}

/** A copy of `pattern` without the stateful `g` and `y` flags. */
const stateless = (pattern: RegExp): RegExp =>
  pattern.global || pattern.sticky ? new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, "")) : pattern

const compileRule = (rule: Rule, index: number): CompiledRule | Issue => {
  const where = `Sampler.rules: rule ${index}`
  if (typeof rule !== "object" || rule === null) return { value: rule, reason: `${where} is not an object` }
  if (!isSampler(rule.sampler)) return { value: rule.sampler, reason: `${where}: sampler is not a Sampler` }
  const nested = issueOf(rule.sampler)
  if (nested !== undefined) return nested
  const name = rule.name
  if (name !== undefined && typeof name !== "string" && !(name instanceof RegExp)) {
    return { value: name, reason: `${where}: name must be a string or a RegExp` }
  }
  const attributes: Array<readonly [string, Matcher]> = []
  if (rule.attributes !== undefined) {
    if (typeof rule.attributes !== "object" || rule.attributes === null) {
      return { value: rule.attributes, reason: `${where}: attributes must be an object` }
    }
    for (const [key, value] of Object.entries(rule.attributes)) {
      const ok = typeof value === "string" || typeof value === "number" || typeof value === "boolean" ||
        value instanceof RegExp
      if (!ok) {
        return { value, reason: `${where}: attribute ${key} must be a string, number, boolean or RegExp` }
      }
      attributes.push([key, value instanceof RegExp ? stateless(value) : value])
    }
  }
  return { name: name instanceof RegExp ? stateless(name) : name, attributes, sampler: rule.sampler }
}

const matches = (rule: CompiledRule, input: SamplingInput): boolean => {
  const name = rule.name
  if (name !== undefined && (typeof name === "string" ? name !== input.name : !name.test(input.name))) {
    return false
  }
  const attributes = rule.attributes
  if (attributes.length > 0) {
    const given = input.attributes
    if (given === undefined) return false
    for (const [key, matcher] of attributes) {
      const value = given[key]
      if (matcher instanceof RegExp ? typeof value !== "string" || !matcher.test(value) : value !== matcher) {
        return false
      }
    }
  }
  return true
}

/**
 * The first rule whose name and attributes match decides; requests no rule matches go to `otherwise`.
 * Rules look only at the request (never at the randomness), so their decisions stay consistent.
 *
 * @example Drop health checks, always keep checkout, 10% of the rest
 * ```ts
 * import assert from "node:assert/strict"
 * import { Sampler } from "@stagetrace/stagetrace"
 *
 * const sampler = Sampler.rules([
 *   { name: "health", sampler: Sampler.alwaysOff },
 *   { attributes: { "http.route": "/checkout" }, sampler: Sampler.alwaysOn },
 * ], Sampler.parentBased(Sampler.consistentRatio(0.1)))
 *
 * const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
 * assert.equal(sampler.shouldSample({ name: "health", traceId }).sampled, false)
 * assert.equal(
 *   sampler.shouldSample({ name: "http", traceId, attributes: { "http.route": "/checkout" } }).sampled,
 *   true,
 * )
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const rules = (
  rules: ReadonlyArray<Rule>,
  otherwise: Sampler = parentBased(alwaysOn),
): Sampler => {
  const compiled: Array<CompiledRule> = []
  let issue: Issue | undefined
  if (!Array.isArray(rules)) issue = { value: rules, reason: "Sampler.rules: expected an array of rules" }
  else {
    for (let i = 0; i < rules.length && issue === undefined; i++) {
      const result = compileRule(rules[i]!, i)
      if ("reason" in result) issue = result
      else compiled.push(result)
    }
  }
  if (issue === undefined && !isSampler(otherwise)) {
    issue = { value: otherwise, reason: "Sampler.rules: otherwise is not a Sampler" }
  }
  issue ??= issueOf(otherwise)
  const description = `Rules{${
    compiled.map((rule) =>
      `${rule.name === undefined ? "*" : String(rule.name)}${
        rule.attributes.map(([k, v]) => `[${k}=${String(v)}]`).join("")
      }->${rule.sampler.description}`
    ).join(",")
  };otherwise=${isSampler(otherwise) ? otherwise.description : "?"}}`
  if (issue !== undefined) return make(description, alwaysOff.shouldSample, issue)
  return make(description, (input) => {
    for (let i = 0; i < compiled.length; i++) {
      const rule = compiled[i]!
      if (matches(rule, input)) return rule.sampler.shouldSample(input)
    }
    return otherwise.shouldSample(input)
  })
}

// ---------------------------------------------------------------------------------------------------------
// Utilities
// ---------------------------------------------------------------------------------------------------------

/**
 * Whether `u` is a `Sampler`.
 *
 * @example Recognising a sampler
 * ```ts
 * import assert from "node:assert/strict"
 * import { Sampler } from "@stagetrace/stagetrace"
 *
 * const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
 * assert.equal(Sampler.isSampler(Sampler.alwaysOn), true)
 * assert.equal(Sampler.isSampler({ shouldSample: () => ({ sampled: true }) }), false)
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isSampler = (u: unknown): u is Sampler =>
  typeof u === "object" && u !== null && (u as { [TypeId]?: unknown })[TypeId] === TypeId

/**
 * Runs `sampler` on `input`: the decision and the tracestate the spans would carry. Useful to check a
 * configuration; `Telemetry.layer` calls the sampler itself when each request starts.
 *
 * @example Checking a configuration
 * ```ts
 * import assert from "node:assert/strict"
 * import { Sampler } from "@stagetrace/stagetrace"
 *
 * const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
 * const sampler = Sampler.parentBased(Sampler.consistentRatio(0.5))
 * // Below a sampled remote parent, the parent's decision is followed.
 * const result = Sampler.shouldSample(sampler, { name: "chat", traceId, parent: { sampled: true, remote: true } })
 * assert.equal(result.sampled, true)
 * ```
 *
 * @category utilities
 * @since 0.1.0
 */
export const shouldSample = (sampler: Sampler, input: SamplingInput): SamplingResult =>
  sampler.shouldSample(input)

/**
 * The sampler in use under the current telemetry layer; `None` without one (or with `enabled: false`).
 *
 * @example Reading the configured sampler
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Option } from "effect"
 * import { Sampler, Telemetry } from "@stagetrace/stagetrace"
 *
 * const sampler = await Effect.runPromise(
 *   Sampler.current.pipe(Effect.provide(Telemetry.layer({ sampleRate: 0.1 }))),
 * )
 * assert.equal(Option.getOrThrow(sampler).description, "ParentBased{root=ConsistentRatio{0.1}}")
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const current: Effect.Effect<Option.Option<Sampler>> = Effect.withFiber((fiber) =>
  Effect.succeed(Option.fromNullishOr(fiber.getRef(CurrentRecorder).get(SamplingSlot)?.sampler))
)

/**
 * The sampling counters under the current telemetry layer: requests kept (by reason) and dropped, spans
 * dropped and overflowed. All zero without a telemetry layer.
 *
 * @example Counting kept and dropped requests
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Sampler, Telemetry } from "@stagetrace/stagetrace"
 *
 * const program = Effect.gen(function* () {
 *   yield* Effect.void.pipe(Request.track("ok"))
 *   yield* Effect.fail("boom").pipe(Request.track("failing"), Effect.ignore)
 *   return yield* Sampler.stats
 * })
 * const stats = await Effect.runPromise(
 *   program.pipe(Effect.provide(Telemetry.layer({ sampler: Sampler.alwaysOff }))),
 * )
 * assert.equal(stats.requestsDropped, 1)
 * assert.equal(stats.requestsKept.error, 1)
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const stats: Effect.Effect<SamplingStats> = Effect.withFiber((fiber) => {
  const state = fiber.getRef(CurrentRecorder).get(SamplingSlot)
  if (state === undefined) {
    return Effect.succeed({
      sampler: "none",
      requestsKept: { head: 0, forced: 0, error: 0, budget: 0, slow: 0 },
      requestsDropped: 0,
      spansDropped: 0,
      spansOverflowed: 0,
    })
  }
  const counters = state.counters
  return Effect.succeed({
    sampler: state.sampler.description,
    requestsKept: { ...counters.requestsKept },
    requestsDropped: counters.requestsDropped,
    spansDropped: counters.spansDropped,
    spansOverflowed: counters.spansOverflowed,
  })
})
