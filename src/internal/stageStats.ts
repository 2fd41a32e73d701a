/**
 * Per-stage statistics in bounded memory: one DDSketch (1% relative accuracy, at most 2048 bins) per
 * stage id, plus a success counter. Never keeps individual samples.
 *
 * @internal
 */
import { LogCollapsingLowestDenseDDSketch } from "@datadog/sketches-js"

/** Relative accuracy of every quantile reported by `StageStats`. */
export const relativeAccuracy = 0.01

/** Upper bound on the number of sketch bins per stage (about 16 KiB). */
export const binLimit = 2048

/** The stage id under which stages past `maxStageIds` distinct ids are aggregated. */
export const overflowStageId = "__overflow__"

/** Statistics of one stage id. */
export class StageStatsEntry {
  readonly stageId: string
  readonly sketch: LogCollapsingLowestDenseDDSketch = new LogCollapsingLowestDenseDDSketch({
    relativeAccuracy,
    binLimit,
  })
  successes = 0

  constructor(stageId: string) {
    this.stageId = stageId
  }

  record(durationMs: number, success: boolean): void {
    this.sketch.accept(durationMs)
    if (success) this.successes++
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
