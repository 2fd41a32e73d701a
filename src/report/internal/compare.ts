/**
 * Comparing two sets of requests (two deployments): per stage, and for whole requests, are the durations
 * of the "after" set different from the "before" set, in which direction, and by how much at p50, p95 and
 * p99?
 *
 * - **Test: Mann-Whitney U** (two-sided, normal approximation with tie and continuity corrections) on
 *   the stage's durations. Latencies are skewed and heavy-tailed, so a t-test's normality assumption does
 *   not hold; Mann-Whitney needs none, is insensitive to outliers, and tests whether a duration drawn
 *   from one set tends to be larger than one drawn from the other. Its effect size is reported as the
 *   probability of superiority, P(after > before) + ½ P(tie). The p-values of all stages are adjusted
 *   with Holm's method (one comparison per stage would otherwise find "changes" by chance).
 * - **Shifts: bootstrap confidence intervals** of the difference after − before of each quantile
 *   (nearest rank, as in the report): 2000 percentile-bootstrap replicates, 95% intervals. Each replicate's
 *   quantile is drawn exactly, in constant time: the k-th smallest of n values resampled with replacement
 *   from sorted x is x[⌈n·U⌉] with U ~ Beta(k, n − k + 1). So the work is bounded by the replicate count,
 *   not by n; with a seeded generator the intervals are the same on every run.
 * - **Verdict:** a stage is *slower* (or *faster*) when its adjusted p-value is below α (0.05), the
 *   probability of superiority points that way, and its p50 or p95 moved that way by at least
 *   `minChange` (5%) with a confidence interval that excludes 0; otherwise *unchanged*, or *too few
 *   samples* under `minSamples` (20) per side.
 *
 * Memory and time are bounded: each side keeps at most `maxSamples` durations per stage (a seeded
 * reservoir sample past that), and the number of stages is bounded.
 *
 * @internal
 */
import type { SummaryLine } from "../../internal/jsonl.ts"
import type { StageExecution } from "../../stage/Stage.ts"
import { quantileOf } from "./analyze.ts"

/** The stage id under which whole requests are compared. */
export const requestRow = "(request)"

/** Options of `compare`. */
export interface CompareOptions {
  /** Significance level. @default 0.05 */
  readonly alpha?: number | undefined
  /** Smallest relative quantile shift that counts as a change. @default 0.05 */
  readonly minChange?: number | undefined
  /** Samples each side needs for a stage to be tested. @default 20 */
  readonly minSamples?: number | undefined
  /** Durations kept per stage and side (a reservoir sample past it). @default 20000 */
  readonly maxSamples?: number | undefined
  /** Bootstrap replicates. @default 2000 */
  readonly replicates?: number | undefined
  /** Seed of the random generator (reservoir and bootstrap). @default 1 */
  readonly seed?: number | undefined
  /** Labels of the two sides. @default "before", "after" */
  readonly labels?: readonly [string, string] | undefined
}

/** One quantile of one stage, before and after, with the bootstrap interval of the difference. */
export interface QuantileShift {
  readonly quantile: number
  readonly beforeMs: number
  readonly afterMs: number
  readonly deltaMs: number
  /** `deltaMs / beforeMs` (`0` when before is 0). */
  readonly relative: number
  readonly ciLowMs: number
  readonly ciHighMs: number
  /** The interval excludes 0. */
  readonly significant: boolean
}

/** The Mann-Whitney U test of one stage. */
export interface MannWhitney {
  /** U of the "after" sample. */
  readonly u: number
  readonly z: number
  readonly p: number
  /** Holm-adjusted over every tested stage. */
  readonly pAdjusted: number
  /** P(after > before) + ½ P(tie). */
  readonly probabilityOfSuperiority: number
}

/** What happened to a stage. */
export type Verdict = "slower" | "faster" | "unchanged" | "too few samples"

/** The comparison of one stage (or of whole requests, `(request)`). */
export interface StageComparison {
  readonly stageId: string
  readonly beforeCount: number
  readonly afterCount: number
  readonly test: MannWhitney | undefined
  readonly shifts: ReadonlyArray<QuantileShift>
  readonly verdict: Verdict
}

/** A comparison of two sets of requests. */
export interface Comparison {
  readonly before: SideSummary
  readonly after: SideSummary
  readonly alpha: number
  readonly minChange: number
  readonly replicates: number
  /** Whole requests first, then stages by their p95 relative shift, largest first. */
  readonly stages: ReadonlyArray<StageComparison>
  readonly slower: ReadonlyArray<string>
  readonly faster: ReadonlyArray<string>
}

/** What one side holds. */
export interface SideSummary {
  readonly label: string
  readonly requests: number
  readonly versions: ReadonlyArray<string>
  readonly sources: ReadonlyArray<string>
}

// ---------------------------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------------------------

/** mulberry32: a small seedable generator in [0, 1). */
export const generator = (seed: number): () => number => {
  let state = seed | 0
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const normal = (random: () => number): number => {
  let u = random()
  while (u === 0) u = random()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random())
}

/** A Gamma(shape, 1) variate, shape ≥ 1 (Marsaglia and Tsang). */
const gamma = (shape: number, random: () => number): number => {
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number
    let v: number
    do {
      x = normal(random)
      v = 1 + c * x
    } while (v <= 0)
    v = v * v * v
    const u = random()
    if (u < 1 - 0.0331 * x * x * x * x) return d * v
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v
  }
}

/** A Beta(a, b) variate, a, b ≥ 1. */
export const beta = (a: number, b: number, random: () => number): number => {
  const x = gamma(a, random)
  const y = gamma(b, random)
  return x / (x + y)
}

// ---------------------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------------------

/** The complementary error function (Numerical Recipes' erfcc: fractional error below 1.2e-7). */
const erfc = (x: number): number => {
  const z = Math.abs(x)
  const t = 1 / (1 + 0.5 * z)
  const r = t * Math.exp(
    -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                      t *
                        (0.27886807 +
                          t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
  )
  return x >= 0 ? r : 2 - r
}

/** The two-sided p-value of a standard normal statistic. */
export const twoSidedP = (z: number): number => Math.min(1, erfc(Math.abs(z) / Math.SQRT2))

/** The Mann-Whitney U test of `after` against `before` (both sorted ascending). */
export const mannWhitney = (
  before: Float64Array,
  after: Float64Array,
): Omit<MannWhitney, "pAdjusted"> => {
  const n1 = before.length
  const n2 = after.length
  const n = n1 + n2
  // Merge the sorted samples, giving tied values their average rank.
  let i = 0
  let j = 0
  let rank = 1
  let afterRanks = 0
  let ties = 0
  while (i < n1 || j < n2) {
    const value = j >= n2 || (i < n1 && before[i]! <= after[j]!) ? before[i]! : after[j]!
    let inBefore = 0
    let inAfter = 0
    while (i < n1 && before[i] === value) {
      i++
      inBefore++
    }
    while (j < n2 && after[j] === value) {
      j++
      inAfter++
    }
    const t = inBefore + inAfter
    const average = rank + (t - 1) / 2
    afterRanks += inAfter * average
    if (t > 1) ties += t * t * t - t
    rank += t
  }
  const u = afterRanks - (n2 * (n2 + 1)) / 2
  const mean = (n1 * n2) / 2
  const variance = ((n1 * n2) / 12) * ((n + 1) - ties / (n * (n - 1)))
  if (!(variance > 0)) return { u, z: 0, p: 1, probabilityOfSuperiority: 0.5 }
  const diff = u - mean
  const z = (diff - Math.sign(diff) * 0.5) / Math.sqrt(variance)
  return { u, z, p: twoSidedP(z), probabilityOfSuperiority: u / (n1 * n2) }
}

/** Holm's step-down adjustment of `p` (in any order); returns the adjusted values in the same order. */
export const holm = (p: ReadonlyArray<number>): Array<number> => {
  const order = p.map((value, index) => [value, index] as const).sort((a, b) => a[0] - b[0])
  const adjusted = new Array<number>(p.length)
  let running = 0
  order.forEach(([value, index], k) => {
    running = Math.max(running, Math.min(1, (p.length - k) * value))
    adjusted[index] = running
  })
  return adjusted
}

/** A bootstrap replicate of the nearest-rank `q` quantile of sorted `x`, drawn in constant time. */
const replicateQuantile = (x: Float64Array, q: number, random: () => number): number => {
  const n = x.length
  const k = Math.min(n, Math.max(1, Math.ceil(q * n)))
  const u = beta(k, n - k + 1, random)
  return x[Math.min(n - 1, Math.max(0, Math.ceil(n * u) - 1))]!
}

/** The percentile-bootstrap 95% interval of Q_after(q) − Q_before(q). */
export const shiftInterval = (
  before: Float64Array,
  after: Float64Array,
  q: number,
  replicates: number,
  random: () => number,
): readonly [number, number] => {
  const deltas = new Float64Array(replicates)
  for (let b = 0; b < replicates; b++) {
    deltas[b] = replicateQuantile(after, q, random) - replicateQuantile(before, q, random)
  }
  deltas.sort()
  return [quantileOf(deltas, 0.025), quantileOf(deltas, 0.975)]
}

// ---------------------------------------------------------------------------------------------------------
// Collecting
// ---------------------------------------------------------------------------------------------------------

/** Distinct stage ids compared; later ones are ignored. */
const maxStages = 1000

/** Durations of one side, per stage, in bounded memory (reservoir sampling past `maxSamples`). */
export class Side {
  readonly label: string
  readonly samples: Map<string, { values: Array<number>; seen: number }> = new Map()
  readonly versions: Set<string> = new Set()
  readonly sources: Array<string> = []
  requests = 0
  private readonly maxSamples: number
  private readonly random: () => number

  constructor(label: string, maxSamples: number, seed: number) {
    this.label = label
    this.maxSamples = maxSamples
    this.random = generator(seed)
  }

  private push(stageId: string, value: number): void {
    if (!(value >= 0) || value === Infinity) return
    let entry = this.samples.get(stageId)
    if (entry === undefined) {
      if (this.samples.size >= maxStages) return
      this.samples.set(stageId, entry = { values: [], seen: 0 })
    }
    entry.seen++
    if (entry.values.length < this.maxSamples) entry.values.push(value)
    else {
      const slot = Math.floor(this.random() * entry.seen)
      if (slot < this.maxSamples) entry.values[slot] = value
    }
  }

  /** Adds one summary line: the request's duration and every stage execution's. */
  add(line: SummaryLine): void {
    this.requests++
    const version = line.service?.version
    if (version !== undefined) this.versions.add(String(version))
    this.push(requestRow, line.durationMs)
    const visit = (stages: ReadonlyArray<StageExecution>, depth: number) => {
      for (const stage of stages) {
        if (stage.status !== "running" && stage.status !== "unfinished") {
          this.push(String(stage.stageId), stage.durationMs)
        }
        if (Array.isArray(stage.substages) && depth < 16) visit(stage.substages, depth + 1)
      }
    }
    if (Array.isArray(line.stages)) visit(line.stages, 0)
  }

  summary(): SideSummary {
    return {
      label: this.label,
      requests: this.requests,
      versions: [...this.versions].sort(),
      sources: this.sources,
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------------------------------------

const quantiles = [0.5, 0.95, 0.99] as const

/** Compares two collected sides. */
export const compareSides = (before: Side, after: Side, options: CompareOptions = {}): Comparison => {
  const alpha = options.alpha ?? 0.05
  const minChange = options.minChange ?? 0.05
  const minSamples = Math.max(2, options.minSamples ?? 20)
  const replicates = Math.max(100, Math.floor(options.replicates ?? 2000))
  const random = generator((options.seed ?? 1) * 7919 + 17)

  const ids = [...before.samples.keys()].filter((id) => after.samples.has(id))
  const rows: Array<{
    stageId: string
    b: Float64Array
    a: Float64Array
    test: Omit<MannWhitney, "pAdjusted"> | undefined
    shifts: Array<QuantileShift>
  }> = []
  for (const stageId of ids) {
    const b = Float64Array.from(before.samples.get(stageId)!.values).sort()
    const a = Float64Array.from(after.samples.get(stageId)!.values).sort()
    const enough = b.length >= minSamples && a.length >= minSamples
    const shifts = quantiles.map((q): QuantileShift => {
      const beforeMs = quantileOf(b, q)
      const afterMs = quantileOf(a, q)
      const deltaMs = afterMs - beforeMs
      const [low, high] = enough ? shiftInterval(b, a, q, replicates, random) : [Number.NaN, Number.NaN]
      return {
        quantile: q,
        beforeMs,
        afterMs,
        deltaMs,
        relative: beforeMs > 0 ? deltaMs / beforeMs : 0,
        ciLowMs: low,
        ciHighMs: high,
        significant: enough && (low > 0 || high < 0),
      }
    })
    rows.push({ stageId, b, a, test: enough ? mannWhitney(b, a) : undefined, shifts })
  }
  const tested = rows.filter((row) => row.test !== undefined)
  const adjusted = holm(tested.map((row) => row.test!.p))
  const adjustedOf = new Map(tested.map((row, i) => [row, adjusted[i]!]))

  const stages: Array<StageComparison> = rows.map((row) => {
    let verdict: Verdict = "too few samples"
    let test: MannWhitney | undefined
    if (row.test !== undefined) {
      test = { ...row.test, pAdjusted: adjustedOf.get(row)! }
      verdict = "unchanged"
      const direction = test.probabilityOfSuperiority > 0.5 ? 1 : -1
      const moved = row.shifts.slice(0, 2).some((s) =>
        s.significant && Math.sign(s.deltaMs) === direction && Math.abs(s.relative) >= minChange
      )
      if (test.pAdjusted < alpha && moved) verdict = direction > 0 ? "slower" : "faster"
    }
    return {
      stageId: row.stageId,
      beforeCount: before.samples.get(row.stageId)!.seen,
      afterCount: after.samples.get(row.stageId)!.seen,
      test,
      shifts: row.shifts,
      verdict,
    }
  })
  stages.sort((x, y) =>
    (x.stageId === requestRow ? -1 : 0) - (y.stageId === requestRow ? -1 : 0) ||
    Math.abs(y.shifts[1]!.relative) - Math.abs(x.shifts[1]!.relative) ||
    (x.stageId < y.stageId ? -1 : 1)
  )
  const named = (verdict: Verdict) =>
    stages.filter((s) => s.verdict === verdict && s.stageId !== requestRow).map((s) => s.stageId)
  return {
    before: before.summary(),
    after: after.summary(),
    alpha,
    minChange,
    replicates,
    stages,
    slower: named("slower"),
    faster: named("faster"),
  }
}

/** Compares two sets of summary lines. */
export const compare = (
  before: Iterable<SummaryLine>,
  after: Iterable<SummaryLine>,
  options: CompareOptions = {},
): Comparison => {
  const [beforeLabel, afterLabel] = options.labels ?? ["before", "after"]
  const maxSamples = Math.max(10, Math.floor(options.maxSamples ?? 20_000))
  const seed = options.seed ?? 1
  const b = new Side(beforeLabel, maxSamples, seed)
  const a = new Side(afterLabel, maxSamples, seed + 1)
  for (const line of before) b.add(line)
  for (const line of after) a.add(line)
  return compareSides(b, a, options)
}
