/**
 * Statistics of a time window read from the cumulative `StageStats` sketches, at no cost on the hot path.
 *
 * A DDSketch keeps one count per logarithmic bin, so the samples recorded between two moments are the
 * difference of the sketch's bins at those moments. `StatsWindow` keeps a copy of every stage's bin counts
 * (its "mark"); `peek` reads what was recorded since the mark (count, successes, sum, interpolated
 * quantiles within the sketch's 1% relative accuracy), `roll` does the same and moves the mark. Stages keep
 * feeding their one sketch; nothing is recorded twice, and the cost is paid by whoever reads the window (a
 * dashboard tick, the anomaly detector), proportional to the bins in use.
 *
 * @internal
 */
import type { StageStatsEntry, StatsStore } from "./stageStats.ts"

/** What one stage recorded during a window. Durations in milliseconds. */
export interface WindowStats {
  readonly stageId: string
  readonly count: number
  readonly successes: number
  readonly sumMs: number
  /** Estimated smallest and largest durations (their bins' values, clamped to the sketch's range). */
  readonly minMs: number
  readonly maxMs: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
}

/** A stage's cumulative state at the mark. */
interface Mark {
  count: number
  zeros: number
  successes: number
  sum: number
  /** Key of `bins[0]`. */
  minKey: number
  bins: Float64Array
}

const emptyMark = (): Mark => ({
  count: 0,
  zeros: 0,
  successes: 0,
  sum: 0,
  minKey: 0,
  bins: new Float64Array(0),
})

const markOf = (entry: StageStatsEntry, into: Mark | undefined): Mark => {
  const sketch = entry.sketch
  const store = sketch.store
  const mark = into ?? emptyMark()
  mark.count = sketch.count
  mark.zeros = sketch.zeroCount + sketch.negativeStore.count
  mark.successes = entry.successes
  mark.sum = sketch.sum
  if (store.count === 0 || !(store.maxKey >= store.minKey)) {
    mark.minKey = 0
    mark.bins = new Float64Array(0)
    return mark
  }
  const length = store.maxKey - store.minKey + 1
  const bins = mark.bins.length === length ? mark.bins : new Float64Array(length)
  const from = store.minKey - store.offset
  for (let i = 0; i < length; i++) bins[i] = store.bins[from + i] ?? 0
  mark.minKey = store.minKey
  mark.bins = bins
  return mark
}

/** Scratch arrays reused by every diff (windows are read from one fiber at a time). */
let scratchKeys = new Float64Array(256)
let scratchCounts = new Float64Array(256)

/** The samples `entry` recorded since `mark` (`undefined` when none). */
const diff = (entry: StageStatsEntry, mark: Mark | undefined): WindowStats | undefined => {
  const sketch = entry.sketch
  const before = mark ?? emptyMark()
  if (sketch.count - before.count <= 0) return undefined
  const store = sketch.store
  const zeros = Math.max(0, sketch.zeroCount + sketch.negativeStore.count - before.zeros)
  // Bin deltas, ascending by key. A bin that lost counts (the sketch collapsed its lowest bins past its
  // bin limit) contributes nothing: the counts it lost reappear in the bin they moved to.
  let used = 0
  let total = zeros
  if (store.count > 0 && store.maxKey >= store.minKey) {
    const length = store.maxKey - store.minKey + 1
    if (scratchKeys.length < length) {
      scratchKeys = new Float64Array(length)
      scratchCounts = new Float64Array(length)
    }
    const from = store.minKey - store.offset
    const markFrom = store.minKey - before.minKey
    for (let i = 0; i < length; i++) {
      const j = markFrom + i
      const previous = j >= 0 && j < before.bins.length ? before.bins[j]! : 0
      const delta = (store.bins[from + i] ?? 0) - previous
      if (delta > 0) {
        scratchKeys[used] = store.minKey + i
        scratchCounts[used] = delta
        used++
        total += delta
      }
    }
  }
  if (total <= 0) return undefined
  const mapping = sketch.mapping
  const lo = Math.max(0, sketch.min)
  const hi = sketch.max
  const clamp = (value: number) => Math.min(hi, Math.max(lo, value))
  /** The estimated `index`-th smallest sample of the window (0-based). */
  const valueAt = (index: number): number => {
    if (index < zeros) return 0
    let seen = zeros
    for (let i = 0; i < used; i++) {
      seen += scratchCounts[i]!
      if (index < seen) return clamp(mapping.value(scratchKeys[i]!))
    }
    return used === 0 ? 0 : clamp(mapping.value(scratchKeys[used - 1]!))
  }
  const quantile = (q: number): number => {
    if (total === 1) return valueAt(0)
    const rank = q * (total - 1)
    const low = Math.floor(rank)
    const a = valueAt(low)
    return rank === low ? a : a + (valueAt(low + 1) - a) * (rank - low)
  }
  return {
    stageId: entry.stageId,
    count: total,
    successes: Math.max(0, entry.successes - before.successes),
    sumMs: Math.max(0, sketch.sum - before.sum),
    minMs: zeros > 0 || used === 0 ? 0 : clamp(mapping.value(scratchKeys[0]!)),
    maxMs: used === 0 ? 0 : clamp(mapping.value(scratchKeys[used - 1]!)),
    p50Ms: quantile(0.5),
    p95Ms: quantile(0.95),
    p99Ms: quantile(0.99),
  }
}

/** Windows over every stage of a `StatsStore`; see the module documentation. */
export class StatsWindow {
  readonly store: StatsStore
  private readonly marks: Map<StageStatsEntry, Mark> = new Map()

  /** Starts the first window now: what the stages recorded before is not part of it. */
  constructor(store: StatsStore) {
    this.store = store
    for (const entry of store.entries.values()) this.marks.set(entry, markOf(entry, undefined))
  }

  /** What each stage recorded since the mark, stages without samples left out; the mark stays. */
  peek(): Array<WindowStats> {
    const out: Array<WindowStats> = []
    for (const entry of this.store.entries.values()) {
      const stats = diff(entry, this.marks.get(entry))
      if (stats !== undefined) out.push(stats)
    }
    return out
  }

  /** Like `peek`, then moves the mark to now: the next window starts here. */
  roll(): Array<WindowStats> {
    const out: Array<WindowStats> = []
    for (const entry of this.store.entries.values()) {
      const mark = this.marks.get(entry)
      const stats = diff(entry, mark)
      if (stats === undefined) continue
      out.push(stats)
      this.marks.set(entry, markOf(entry, mark))
    }
    return out
  }
}
