/**
 * Per-stage statistics in bounded memory: one DDSketch (1% relative accuracy, at most 2048 bins) per
 * stage id, plus a success counter. Never keeps individual samples.
 *
 * @internal
 */
import { LogCollapsingLowestDenseDDSketch } from "@datadog/sketches-js"

/**
 * Where a stage's spec caches its statistics entry: the fields of `StageHandles` (`recorder.ts`, which
 * imports this module) that `StatsStore.entryFor` uses.
 */
export interface EntryHandles {
  statsStore: unknown
  statsEntry: unknown
}

/** Relative accuracy of every quantile reported by `StageStats`. */
export const relativeAccuracy = 0.01

/** Upper bound on the number of sketch bins per stage (about 16 KiB). */
export const binLimit = 2048

/** The stage id under which stages past `maxStageIds` distinct ids are aggregated. */
export const overflowStageId = "__overflow__"

/** The fields of the library's `LogarithmicMapping` its `key` reads. */
interface LogarithmicKeyMapping {
  readonly minPossible: number
  readonly _multiplier: number
  readonly _offset: number
}

/**
 * Durations an entry holds before folding them into its sketch. Inserting one at a time on the hot path
 * costs a cold walk through the sketch's objects per stage; a batch folds in one warm loop.
 */
export const pendingLimit = 64

/**
 * Statistics of one stage id.
 *
 * `record` appends to a small fixed buffer; the buffer is folded into the sketch when full and before
 * any read of `sketch`, so every reader sees every value. Folding computes each key with the sketch's own
 * mapping (`ceil(log2(v) * multiplier) + offset`, what `LogarithmicMapping.key` does) and increments the
 * bin in place when the key is inside the store's current range; anything else (a key outside the range,
 * zero, a negative value) goes through the sketch's own `accept`, so growth, collapsing past `binLimit`
 * and the zero count stay the library's.
 */
export class StageStatsEntry {
  readonly stageId: string
  readonly #sketch: LogCollapsingLowestDenseDDSketch = new LogCollapsingLowestDenseDDSketch({
    relativeAccuracy,
    binLimit,
  })
  readonly #pending: Float64Array = new Float64Array(pendingLimit)
  #pendingCount = 0
  successes = 0

  constructor(stageId: string) {
    this.stageId = stageId
  }

  /** The stage's sketch, with every recorded duration in it. */
  get sketch(): LogCollapsingLowestDenseDDSketch {
    if (this.#pendingCount > 0) this.flush()
    return this.#sketch
  }

  record(durationMs: number, success: boolean): void {
    this.#pending[this.#pendingCount] = durationMs
    if (++this.#pendingCount === pendingLimit) this.flush()
    if (success) this.successes++
  }

  /** Folds the pending durations into the sketch, in the order they were recorded. */
  private flush(): void {
    const sketch = this.#sketch
    const pending = this.#pending
    const n = this.#pendingCount
    this.#pendingCount = 0
    // `LogarithmicMapping.key(v)` is `ceil(log2(v) * _multiplier) + _offset` (public fields of the library's
    // `KeyMapping`, not of its `Mapping` interface); the tests compare the sketch with the library's inserts.
    const mapping = sketch.mapping as unknown as LogarithmicKeyMapping
    const minPossible = mapping.minPossible
    const multiplier = mapping._multiplier
    const keyOffset = mapping._offset
    const store = sketch.store
    let bins = store.bins
    let minKey = store.minKey
    let maxKey = store.maxKey
    let binOffset = store.offset
    for (let i = 0; i < n; i++) {
      const value = pending[i]!
      const key = value > minPossible ? Math.ceil(Math.log2(value) * multiplier) + keyOffset : NaN
      if (key >= minKey && key <= maxKey) {
        // What `accept` does for a key inside the store's range.
        bins[key - binOffset]! += 1
        store.count++
        sketch.count++
        sketch.sum += value
        if (value < sketch.min) sketch.min = value
        if (value > sketch.max) sketch.max = value
      } else {
        // The library's own insert (growing, shifting or collapsing the bins).
        sketch.accept(value)
        bins = store.bins
        minKey = store.minKey
        maxKey = store.maxKey
        binOffset = store.offset
      }
    }
  }

  /**
   * The value at quantile `q`, interpolated linearly between the two closest ranks (the definition of
   * numpy's default and of most dashboards), each read from the sketch within its relative accuracy, and
   * clamped to the observed [min, max].
   */
  quantile(q: number): number {
    const sketch = this.sketch
    const n = sketch.count
    if (n === 0) return 0
    if (n === 1) return sketch.min
    const rank = q * (n - 1)
    const lo = Math.floor(rank)
    const low = this.valueAtIndex(lo)
    const value = rank === lo ? low : low + (this.valueAtIndex(lo + 1) - low) * (rank - lo)
    return Math.min(sketch.max, Math.max(sketch.min, value))
  }

  /** The estimated `index`-th smallest sample (0-based). */
  private valueAtIndex(index: number): number {
    const sketch = this.sketch
    const n = sketch.count
    if (index <= 0) return sketch.min
    if (index >= n - 1) return sketch.max
    // Rank `index + 0.5` falls inside the bin holding the `index`-th sample, away from float edges.
    return sketch.getValueAtQuantile((index + 0.5) / (n - 1))
  }
}

/** All stage statistics of one recorder, with a bound on the number of distinct stage ids. */
export class StatsStore {
  readonly entries: Map<string, StageStatsEntry> = new Map()
  readonly maxStageIds: number

  constructor(maxStageIds: number) {
    this.maxStageIds = maxStageIds
  }

  /**
   * `entry(stageId)`, cached on `handles` (the spec of a stage of that id): an id's entry never changes once
   * it is made, so a stage end skips the lookup by id.
   */
  entryFor(handles: EntryHandles, stageId: string): StageStatsEntry {
    if (handles.statsStore === this) return handles.statsEntry as StageStatsEntry
    const entry = this.entry(stageId)
    handles.statsEntry = entry
    handles.statsStore = this
    return entry
  }

  /** The entry for `stageId`, created on first use; past the bound, the shared overflow entry. */
  entry(stageId: string): StageStatsEntry {
    let entry = this.entries.get(stageId)
    if (entry === undefined) {
      if (this.entries.size >= this.maxStageIds) {
        entry = this.entries.get(overflowStageId)
        if (entry === undefined) {
          entry = new StageStatsEntry(overflowStageId)
          this.entries.set(overflowStageId, entry)
        }
        return entry
      }
      entry = new StageStatsEntry(stageId)
      this.entries.set(stageId, entry)
    }
    return entry
  }
}
