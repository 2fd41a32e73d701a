/**
 * Metric definitions: the validated, immutable description of one metric family (name, type, help, unit,
 * label names, buckets). Validation is a Schema whose checks each carry a rule id, so a bad definition
 * becomes a `MetricDefinitionError` naming the rule it broke.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"

/**
 * The metric types stagetrace defines: monotonic counters, gauges (set or moved up and down), and
 * histograms (observations counted into buckets).
 *
 * @category models
 * @since 0.1.0
 */
export type MetricType = "counter" | "gauge" | "histogram"

/**
 * Why a definition was rejected; one id per rule (`shape` when a field has the wrong type).
 *
 * @category errors
 * @since 0.1.0
 */
export type DefinitionRule =
  | "shape"
  | "name_syntax"
  | "name_reserved"
  | "counter_suffix"
  | "total_suffix"
  | "reserved_suffix"
  | "base_unit"
  | "unit_syntax"
  | "unit_suffix"
  | "description"
  | "label_syntax"
  | "label_reserved"
  | "label_duplicate"
  | "buckets_type"
  | "buckets_empty"
  | "buckets_finite"
  | "buckets_increasing"
  | "aggregation_type"

/** The fields of `MetricDefinitionError`. */
interface MetricDefinitionErrorFields {
  /** The metric name that was given (stringified when it was not a string). */
  readonly metric: string
  /** The rule the definition broke. */
  readonly rule: DefinitionRule
  /** The field the rule is about (`name`, `labels`, `buckets`…). */
  readonly field: string
  /** What is wrong, in words. */
  readonly reason: string
}

const MetricDefinitionErrorBase: new (
  args: MetricDefinitionErrorFields,
) =>
  & Cause.YieldableError
  & { readonly _tag: "MetricDefinitionError" }
  & Readonly<MetricDefinitionErrorFields> = Data.TaggedError("MetricDefinitionError")<
    MetricDefinitionErrorFields
  >

/**
 * A metric definition broke a naming or shape rule. `rule` says which one, `field` where, `reason` why.
 *
 * @example Catching a counter without `_total`
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Metrics } from "@stagetrace/stagetrace"
 *
 * const error = await Effect.runPromise(
 *   Effect.flip(Metrics.define({ name: "orders", type: "counter", description: "Orders placed" })),
 * )
 * assert.equal(error.rule, "counter_suffix")
 * assert.equal(error.field, "name")
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class MetricDefinitionError extends MetricDefinitionErrorBase {
  /** The rule, field and reason in one sentence. */
  override get message(): string {
    return `Invalid metric definition ${this.metric}: ${this.reason} (rule ${this.rule}, field ${this.field})`
  }
}

/**
 * The label values of one sample: every declared label, each a string (numbers and booleans are
 * converted).
 *
 * @category models
 * @since 0.1.0
 */
export type LabelValues<L extends string> = { readonly [K in L]: string | number | boolean }

/**
 * What `Metrics.define` accepts.
 *
 * @category models
 * @since 0.1.0
 */
export interface MetricSpec<T extends MetricType, L extends string> {
  /** The Prometheus name: snake_case, `_total` on counters, the unit as suffix (`_seconds`, `_bytes`). */
  readonly name: string
  readonly type: T
  /** The HELP text. */
  readonly description: string
  /**
   * The base unit (`seconds`, `bytes`, `dollars`, `ratio`…), which the name must end with.
   * @default undefined
   */
  readonly unit?: string | undefined
  /**
   * The label names every sample must give (snake_case, not `le`, `quantile`, `unit`, `__*`…).
   * @default []
   */
  readonly labels?: ReadonlyArray<L> | undefined
  /**
   * Upper bounds of a histogram's buckets, finite and strictly increasing (`+Inf` is implicit).
   * @default [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
   */
  readonly buckets?: ReadonlyArray<number> | undefined
  /**
   * How a gauge's values from several isolates combine when metrics are aggregated across isolates
   * (`aggregateIsolates`, for `deno serve --parallel`): `"sum"` for what each isolate holds on its own
   * (connections, queue lengths, requests in flight), `"max"` or `"min"` for a value every isolate
   * reads the same (a process-wide figure, a version). Counters and histograms always sum.
   * @default "sum"
   */
  readonly aggregation?: GaugeAggregation | undefined
}

/**
 * How the values of one gauge series from several isolates combine into one.
 *
 * @category models
 * @since 0.1.0
 */
export type GaugeAggregation = "sum" | "max" | "min"

/**
 * A validated metric definition, made by `Metrics.define` or `Metrics.defineUnsafe`. It describes a metric;
 * its series live in the `Metrics` store of whichever layer records it.
 *
 * @category models
 * @since 0.1.0
 */
export interface MetricDefinition<T extends MetricType = MetricType, L extends string = string> {
  /** The Prometheus name. */
  readonly name: string
  /** Counter, gauge or histogram. */
  readonly type: T
  /** The HELP text. */
  readonly description: string
  /** The base unit, if any. */
  readonly unit: string | undefined
  /** The declared label names, in order. */
  readonly labels: ReadonlyArray<L>
  /** Bucket upper bounds of a histogram (without `+Inf`); `undefined` for counters and gauges. */
  readonly buckets: ReadonlyArray<number> | undefined
  /** How a gauge combines across isolates (`"sum"` for counters and histograms). */
  readonly aggregation: GaugeAggregation
}

/** Prometheus' default histogram buckets (seconds). */
export const defaultBuckets: ReadonlyArray<number> = Object.freeze([
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
])

/** The runtime class of every definition; also caches the family it resolved to in the last store. */
export class DefinitionImpl<T extends MetricType = MetricType, L extends string = string>
  implements MetricDefinition<T, L> {
  readonly name: string
  readonly type: T
  readonly description: string
  readonly unit: string | undefined
  readonly labels: ReadonlyArray<L>
  readonly buckets: ReadonlyArray<number> | undefined
  readonly aggregation: GaugeAggregation
  /** One-entry cache: the store this definition was last resolved in, and its family there. */
  cacheStore: unknown = undefined
  cacheFamily: unknown = undefined

  constructor(spec: MetricSpec<T, L>) {
    this.name = spec.name
    this.type = spec.type
    this.description = spec.description
    this.unit = spec.unit
    this.labels = Object.freeze([...(spec.labels ?? [])])
    this.buckets = spec.type === "histogram"
      ? Object.freeze([...(spec.buckets ?? defaultBuckets)])
      : undefined
    this.aggregation = spec.aggregation ?? "sum"
  }

  toJSON(): unknown {
    return {
      name: this.name,
      type: this.type,
      description: this.description,
      unit: this.unit,
      labels: this.labels,
      buckets: this.buckets,
    }
  }
}

/** Whether `u` is a definition made by `define`. */
export const isDefinition = (u: unknown): u is DefinitionImpl => u instanceof DefinitionImpl

// ---------------------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------------------

const snakeCase = /^[a-z_][a-z0-9_]*$/
const unitSyntax = /^[a-z][a-z0-9_]*$/

/** Label names that stagetrace or Prometheus use themselves. */
export const reservedLabels: ReadonlySet<string> = new Set([
  "le",
  "quantile",
  "otel_metric_overflow",
  "unit",
  "time_unit",
])

/** Non-base units and the base unit to use instead. */
const nonBaseUnits: ReadonlyMap<string, string> = new Map([
  ["nanoseconds", "seconds"],
  ["microseconds", "seconds"],
  ["milliseconds", "seconds"],
  ["millis", "seconds"],
  ["ns", "seconds"],
  ["us", "seconds"],
  ["ms", "seconds"],
  ["secs", "seconds"],
  ["sec", "seconds"],
  ["minutes", "seconds"],
  ["hours", "seconds"],
  ["days", "seconds"],
  ["weeks", "seconds"],
  ["kilobytes", "bytes"],
  ["megabytes", "bytes"],
  ["gigabytes", "bytes"],
  ["terabytes", "bytes"],
  ["kibibytes", "bytes"],
  ["mebibytes", "bytes"],
  ["gibibytes", "bytes"],
  ["kb", "bytes"],
  ["mb", "bytes"],
  ["gb", "bytes"],
  ["kib", "bytes"],
  ["mib", "bytes"],
  ["gib", "bytes"],
])

const reservedSuffixes = ["_bucket", "_count", "_sum", "_created"]

interface Rule {
  readonly id: DefinitionRule
  readonly field: string
  readonly test: (spec: DecodedSpec) => string | undefined
}

interface DecodedSpec {
  readonly name: string
  readonly type: MetricType
  readonly description: string
  readonly unit?: string | undefined
  readonly labels?: ReadonlyArray<string> | undefined
  readonly buckets?: ReadonlyArray<number> | undefined
  readonly aggregation?: GaugeAggregation | undefined
}

const baseName = (spec: DecodedSpec): string =>
  spec.type === "counter" && spec.name.endsWith("_total") ? spec.name.slice(0, -"_total".length) : spec.name

const rules: ReadonlyArray<Rule> = [
  {
    id: "name_syntax",
    field: "name",
    test: (s) =>
      !snakeCase.test(s.name)
        ? "a metric name is snake_case: lowercase letters, digits and underscores, not starting with a digit " +
          "(colons are reserved for recording rules)"
        : s.name === "_total"
        ? "a counter needs a name before _total (OpenMetrics names the family without it)"
        : undefined,
  },
  {
    id: "name_reserved",
    field: "name",
    test: (s) => (s.name.startsWith("__") ? "names starting with __ are reserved by Prometheus" : undefined),
  },
  {
    id: "counter_suffix",
    field: "name",
    test: (s) =>
      s.type === "counter" && !s.name.endsWith("_total") ? "a counter name must end with _total" : undefined,
  },
  {
    id: "total_suffix",
    field: "name",
    test: (s) =>
      s.type !== "counter" && s.name.endsWith("_total")
        ? `only counters end with _total, not a ${s.type}`
        : undefined,
  },
  {
    id: "reserved_suffix",
    field: "name",
    test: (s) => {
      const name = baseName(s)
      const suffix = reservedSuffixes.find((x) => name.endsWith(x))
      return suffix === undefined
        ? undefined
        : `${suffix} is a suffix Prometheus generates itself (histogram and summary samples)`
    },
  },
  {
    id: "base_unit",
    field: "name",
    test: (s) => {
      for (const token of s.name.split("_")) {
        const base = nonBaseUnits.get(token)
        if (base !== undefined) return `use the base unit ${base} instead of ${token}`
      }
      return undefined
    },
  },
  {
    id: "unit_syntax",
    field: "unit",
    test: (s) =>
      s.unit === undefined || unitSyntax.test(s.unit)
        ? undefined
        : "a unit is lowercase letters, digits and underscores (seconds, bytes, ratio…)",
  },
  {
    id: "base_unit",
    field: "unit",
    test: (s) => {
      const base = s.unit === undefined ? undefined : nonBaseUnits.get(s.unit)
      return base === undefined ? undefined : `use the base unit ${base} instead of ${s.unit}`
    },
  },
  {
    id: "unit_suffix",
    field: "name",
    test: (s) =>
      s.unit === undefined || baseName(s).endsWith(`_${s.unit}`)
        ? undefined
        : `the name must end with _${s.unit}${
          s.type === "counter" ? "_total" : ""
        } when the unit is ${s.unit}`,
  },
  {
    id: "description",
    field: "description",
    test: (s) => (s.description.trim() === "" ? "a description (HELP text) is required" : undefined),
  },
  {
    id: "label_syntax",
    field: "labels",
    test: (s) => {
      const bad = (s.labels ?? []).find((l) => !snakeCase.test(l))
      return bad === undefined
        ? undefined
        : `label ${JSON.stringify(bad)} is not snake_case (lowercase letters, digits, underscores)`
    },
  },
  {
    id: "label_reserved",
    field: "labels",
    test: (s) => {
      const bad = (s.labels ?? []).find((l) => l.startsWith("__") || reservedLabels.has(l))
      return bad === undefined ? undefined : `label ${JSON.stringify(bad)} is reserved`
    },
  },
  {
    id: "label_duplicate",
    field: "labels",
    test: (s) => {
      const labels = s.labels ?? []
      const bad = labels.find((l, i) => labels.indexOf(l) !== i)
      return bad === undefined ? undefined : `label ${JSON.stringify(bad)} is declared twice`
    },
  },
  {
    id: "buckets_type",
    field: "buckets",
    test: (
      s,
    ) => (s.buckets !== undefined && s.type !== "histogram" ? "only histograms have buckets" : undefined),
  },
  {
    id: "buckets_empty",
    field: "buckets",
    test: (s) => (s.buckets !== undefined && s.buckets.length === 0 ? "give at least one bucket" : undefined),
  },
  {
    id: "buckets_finite",
    field: "buckets",
    test: (s) =>
      s.buckets !== undefined && s.buckets.some((b) => !Number.isFinite(b))
        ? "buckets must be finite numbers (+Inf is added automatically)"
        : undefined,
  },
  {
    id: "buckets_increasing",
    field: "buckets",
    test: (s) =>
      s.buckets !== undefined && s.buckets.some((b, i) => i > 0 && !(b > s.buckets![i - 1]!))
        ? "buckets must be sorted in strictly increasing order"
        : undefined,
  },
  {
    id: "aggregation_type",
    field: "aggregation",
    test: (s) =>
      s.aggregation !== undefined && s.aggregation !== "sum" && s.type !== "gauge"
        ? "only gauges choose how isolates combine (counters and histograms always sum)"
        : undefined,
  },
]

const SpecSchema = Schema.Struct({
  name: Schema.String,
  type: Schema.Literals(["counter", "gauge", "histogram"]),
  description: Schema.String,
  unit: Schema.optional(Schema.UndefinedOr(Schema.String)),
  labels: Schema.optional(Schema.UndefinedOr(Schema.Array(Schema.String))),
  buckets: Schema.optional(Schema.UndefinedOr(Schema.Array(Schema.Number))),
  aggregation: Schema.optional(Schema.UndefinedOr(Schema.Literals(["sum", "max", "min"]))),
}).check(
  ...(rules.map((rule) =>
    Schema.makeFilter<DecodedSpec>(
      (spec) => {
        const issue = rule.test(spec)
        return issue === undefined ? undefined : { path: [rule.field], issue }
      },
      { ruleId: rule.id, ruleField: rule.field },
      true,
    )
  ) as unknown as [SchemaAST.Check<DecodedSpec>]),
)

interface IssueLike {
  readonly _tag: string
  readonly filter?: { readonly annotations?: { readonly ruleId?: unknown; readonly ruleField?: unknown } }
  readonly issues?: ReadonlyArray<IssueLike>
  readonly issue?: IssueLike
  readonly path?: ReadonlyArray<PropertyKey>
}

/** The first rule check that failed in an issue tree, if any. */
const findRule = (issue: IssueLike | undefined): { rule: DefinitionRule; field: string } | undefined => {
  if (issue === undefined) return undefined
  const rule = issue.filter?.annotations?.ruleId
  if (issue._tag === "Filter" && typeof rule === "string") {
    return { rule: rule as DefinitionRule, field: String(issue.filter?.annotations?.ruleField ?? "") }
  }
  for (const child of issue.issues ?? []) {
    const found = findRule(child)
    if (found !== undefined) return found
  }
  return findRule(issue.issue)
}

const firstPath = (issue: IssueLike | undefined): string | undefined => {
  if (issue === undefined) return undefined
  if (issue.path !== undefined && issue.path.length > 0) return String(issue.path[0])
  for (const child of issue.issues ?? []) {
    const found = firstPath(child)
    if (found !== undefined) return found
  }
  return firstPath(issue.issue)
}

/** Validates a spec: the definition, or the error naming the first rule it broke. */
export const validate = <T extends MetricType, L extends string>(
  spec: MetricSpec<T, L>,
): Exit.Exit<DefinitionImpl<T, L>, MetricDefinitionError> => {
  const exit = Schema.decodeUnknownExit(SpecSchema)(spec)
  if (Exit.isSuccess(exit)) return Exit.succeed(new DefinitionImpl<T, L>(spec))
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail")
  const schemaError = reason?._tag === "Fail" ? reason.error : undefined
  const issue = (schemaError as { issue?: IssueLike } | undefined)?.issue
  const found = findRule(issue)
  const text = String((schemaError as { message?: unknown } | undefined)?.message ?? "Invalid definition")
    .split("\n")[0]!.trim()
  const name = typeof (spec as { name?: unknown } | null)?.name === "string" ? spec.name : String(
    (spec as { name?: unknown } | null)?.name,
  )
  return Exit.fail(
    new MetricDefinitionError({
      metric: name,
      rule: found?.rule ?? "shape",
      field: found?.field ?? firstPath(issue) ?? "",
      reason: text,
    }),
  )
}

/** Validates a spec and throws the `MetricDefinitionError` when it breaks a rule. */
export const defineUnsafe = <const T extends MetricType, const L extends string = never>(
  spec: MetricSpec<T, L>,
): DefinitionImpl<T, L> => {
  const exit = validate(spec)
  if (Exit.isSuccess(exit)) return exit.value
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail")
  throw reason?._tag === "Fail" ? reason.error : new Error("Invalid metric definition")
}
