/**
 * The sampling concern of `Telemetry.layer`: validates `sampler`, `sampleRate`, `keepSlowerThan` and
 * `tailBufferSize` (or their environment variables), installs the head decision (`requestStart`) and the
 * tail decision (`requestEnd`) on the recorder, and wraps the tracer installed before it with the
 * tail-sampling tracer.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { RequestEndHook } from "../../internal/recorder.ts"
import {
  durationOption,
  type Env,
  envLiteral,
  envNumber,
  option,
  optionError,
  PositiveInt,
  type TelemetryConfigError,
  UnitInterval,
} from "../../internal/config.ts"
import type { Concern } from "../../internal/concern.ts"
import * as Sampler from "../Sampler.ts"
import type { SamplingOptions } from "../Sampler.ts"
import { issueOf } from "./issues.ts"
import { SamplingCounters, SamplingSlot, type SamplingState } from "./state.ts"
import { requestEndHook, requestStartHook, TailTracer } from "./tail.ts"

/** The default head sampler: OpenTelemetry's default, `ParentBased(root=AlwaysOn)`. */
export const defaultSampler: Sampler.Sampler = Sampler.parentBased(Sampler.alwaysOn)

/** The default tail buffer size (spans per request). */
export const defaultTailBufferSize = 512

const samplerNames = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const

/** `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, as the OpenTelemetry SDK configuration defines them. */
const otelSampler = (env: Env): Effect.Effect<Sampler.Sampler | undefined, TelemetryConfigError> =>
  Effect.gen(function* () {
    const name = yield* envLiteral(env, ["OTEL_TRACES_SAMPLER"], samplerNames)
    if (name === undefined) return undefined
    const ratio = () =>
      Effect.map(
        envNumber(env, ["OTEL_TRACES_SAMPLER_ARG"], UnitInterval),
        (rate) => Sampler.consistentRatio(rate ?? 1),
      )
    switch (name) {
      case "always_on":
        return Sampler.alwaysOn
      case "always_off":
        return Sampler.alwaysOff
      case "traceidratio":
        return yield* ratio()
      case "parentbased_always_on":
        return Sampler.parentBased(Sampler.alwaysOn)
      case "parentbased_always_off":
        return Sampler.parentBased(Sampler.alwaysOff)
      case "parentbased_traceidratio":
        return Sampler.parentBased(yield* ratio())
    }
  })

const fromEnv = (env: Env): Effect.Effect<Partial<SamplingOptions>, TelemetryConfigError> =>
  Effect.gen(function* () {
    const options: { -readonly [K in keyof SamplingOptions]: SamplingOptions[K] } = {}
    // Each rate variable is validated even when another one wins.
    const rate = yield* envNumber(env, ["STAGETRACE_SAMPLE_RATE"], UnitInterval)
    const seedRate = yield* envNumber(env, ["EXECUTION_TRACKING_SAMPLE_RATE"], UnitInterval)
    const otel = yield* otelSampler(env)
    const chosenRate = rate ?? seedRate
    if (chosenRate !== undefined) options.sampler = Sampler.parentBased(Sampler.consistentRatio(chosenRate))
    else if (otel !== undefined) options.sampler = otel
    const slowMs = yield* envNumber(env, ["STAGETRACE_KEEP_SLOWER_THAN_MS"], NonNegativeFinite)
    if (slowMs !== undefined) options.keepSlowerThan = slowMs
    const bufferSize = yield* envNumber(env, ["STAGETRACE_TAIL_BUFFER_SIZE"], PositiveInt)
    if (bufferSize !== undefined) options.tailBufferSize = bufferSize
    return options
  })

/** A finite number ≥ 0 (milliseconds). */
const NonNegativeFinite: Schema.Codec<number, unknown> = Schema.Finite.check(
  Schema.isGreaterThanOrEqualTo(0),
) as unknown as Schema.Codec<number, unknown>

const resolveSampler = (options: SamplingOptions): Effect.Effect<Sampler.Sampler, TelemetryConfigError> =>
  Effect.gen(function* () {
    if (options.sampleRate !== undefined) {
      const rate = yield* option("sampleRate", UnitInterval, options.sampleRate, 1)
      return Sampler.parentBased(Sampler.consistentRatio(rate))
    }
    const sampler = options.sampler
    if (sampler === undefined) return defaultSampler
    if (!Sampler.isSampler(sampler)) {
      return yield* Effect.fail(
        optionError("sampler", sampler, "Expected a Sampler (Sampler.consistentRatio, Sampler.rules…)"),
      )
    }
    const issue = issueOf(sampler)
    if (issue !== undefined) return yield* Effect.fail(optionError("sampler", issue.value, issue.reason))
    return sampler
  })

/** Without a sampler every request is exported when its span is sampled (the head decision is Effect's). */
const unsampledRequestEndHook = (state: SamplingState): RequestEndHook => (_record, summary) => {
  summary.keptBecause = summary.sampled ? "head" : undefined
  if (summary.sampled) state.counters.requestsKept.head++
  else state.counters.requestsDropped++
}

/** The sampling concern. Must come after the export concern: it wraps the exporting tracer. */
export const samplingConcern: Concern<SamplingOptions> = {
  name: "sampling",
  environmentVariables: [
    "STAGETRACE_SAMPLE_RATE",
    "EXECUTION_TRACKING_SAMPLE_RATE",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "STAGETRACE_KEEP_SLOWER_THAN_MS",
    "STAGETRACE_TAIL_BUFFER_SIZE",
  ],
  fromEnv,
  install: (recorder, options) =>
    Effect.gen(function* () {
      const sampler = yield* resolveSampler(options)
      const keepSlowerThanMs = yield* durationOption("keepSlowerThan", options.keepSlowerThan)
      const tailBufferSize = yield* option(
        "tailBufferSize",
        PositiveInt,
        options.tailBufferSize,
        defaultTailBufferSize,
      )
      const state: SamplingState = {
        sampler,
        counters: new SamplingCounters(),
        keepSlowerThanMs,
        tailBufferSize,
      }
      recorder.set(SamplingSlot, state)
      if (
        options.sampler === undefined && options.sampleRate === undefined && keepSlowerThanMs === undefined
      ) {
        // Nothing to sample: every request is exported as Effect decides (no tracestate is added, no span is
        // buffered, the tracer is left alone). Summaries still say why a request was exported.
        recorder.requestEnd.push(unsampledRequestEndHook(state))
        return {}
      }
      recorder.requestStart.push(requestStartHook(recorder, state))
      recorder.requestEnd.push(requestEndHook(recorder, state))
      return { tracer: (inner) => new TailTracer(inner, recorder, state) }
    }),
}
