/**
 * The bounded store of completed request summaries.
 *
 * Summaries are kept in columns (typed arrays and arrays of shared strings) rather than as object trees:
 * a summary retained for the last thousand requests would otherwise survive young-generation garbage
 * collection and be promoted, which costs more per request than the stages themselves. A summary is
 * turned back into objects only when it is read (`Summaries.recent`).
 *
 * Two rings: one of requests (`capacity`), one of stage executions (`capacity × stagesPerSummary`). A
 * request whose stages were overwritten by newer ones is evicted with them.
 *
 * @internal
 */
import { bottlenecksOf } from "./bottlenecks.ts"
import type { KeptBecause, RequestSummary } from "./requestModel.ts"
import type { StageError, StageExecution, StageOutcome } from "./stageModel.ts"

/** A live subscriber; returns `false` when it had to drop the summary. */
export type SummaryListener = (summary: RequestSummary) => boolean

/** Average stage slots reserved per retained summary. */
export const stagesPerSummary = 32

const outcomes: ReadonlyArray<StageOutcome> = ["ok", "error", "interrupted", "running", "unfinished"]
const keptReasons: ReadonlyArray<KeptBecause | undefined> = [
  undefined,
  "head",
  "forced",
  "error",
  "budget",
  "slow",
]
/** `outcomes.indexOf(status)` without the search. */
const outcomeIndex: Readonly<Record<StageOutcome, number>> = {
  ok: 0,
  error: 1,
  interrupted: 2,
  running: 3,
  unfinished: 4,
}
const emptyRecord: Readonly<Record<string, unknown>> = Object.freeze({})

// Stage flags: bits 0-2 outcome, 3 success, 4 recorded, 5 overBudget, 6 has budget.
const SUCCESS = 8
const RECORDED = 16
const OVER_BUDGET = 32
// Request flags: bits 0-2 outcome, 3 success, 4 truncated, 5 overBudget, 6 sampled, bits 8-10 keptBecause.
const TRUNCATED = 16
const SAMPLED = 64

type NumberColumn = Float64Array | Int32Array | Uint16Array | Uint8Array

/** A copy of `column` grown to `size` entries (the same kind of typed array). */
const grown = <T extends NumberColumn>(column: T, size: number): T => {
  const next = new (column.constructor as new (size: number) => T)(size)
  next.set(column)
  return next
}

/** Growable fixed-maximum columns. */
class StageColumns {
  stageId: Array<string> = []
  name: Array<string> = []
  metadata: Array<Readonly<Record<string, unknown>>> = []
  error: Array<StageError | undefined> = []
  startOffset: Float64Array
  duration: Float64Array
  budget: Float64Array
  parent: Int32Array
  flags: Uint8Array
  /** Heap deltas (`NaN`: not measured); allocated when the first measured stage is written. */
  memory: Float64Array | undefined = undefined

  constructor(size: number) {
    this.startOffset = new Float64Array(size)
    this.duration = new Float64Array(size)
    this.budget = new Float64Array(size)
    this.parent = new Int32Array(size)
    this.flags = new Uint8Array(size)
  }

  grow(size: number): void {
    this.startOffset = grown(this.startOffset, size)
    this.duration = grown(this.duration, size)
    this.budget = grown(this.budget, size)
    this.parent = grown(this.parent, size)
    this.flags = grown(this.flags, size)
    if (this.memory !== undefined) {
      const previous = this.memory.length
      this.memory = grown(this.memory, size)
      this.memory.fill(Number.NaN, previous)
    }
  }

  /** The heap-delta column, allocated (every slot unmeasured) on first use. */
  memoryColumn(): Float64Array {
    return this.memory ??= new Float64Array(this.startOffset.length).fill(Number.NaN)
  }
}

/** Ring of the last `capacity` summaries, newest overwriting oldest. */
export class SummaryStore {
  readonly capacity: number
  readonly stageCapacity: number
  /** Summaries ever added. */
  total = 0
  /** Summaries a slow stream subscriber could not take. */
  droppedByListeners = 0
  readonly listeners: Set<SummaryListener> = new Set()

  // Request columns, indexed by `total % capacity`.
  private requestId: Array<string> = []
  private name: Array<string> = []
  private traceId: Array<string> = []
  private spanId: Array<string> = []
  private attributes: Array<Readonly<Record<string, unknown>>> = []
  private error: Array<StageError | undefined> = []
  private startTime: Float64Array = new Float64Array(0)
  private durationMs: Float64Array = new Float64Array(0)
  private budgetMs: Float64Array = new Float64Array(0)
  private flags: Uint16Array = new Uint16Array(0)
  private stageSeq: Float64Array = new Float64Array(0)
  private stageCount: Int32Array = new Int32Array(0)
  private bottleneckShare: Float64Array = new Float64Array(0)

  // Stage ring, indexed by `seq % stageCapacity`.
  private stages: StageColumns = new StageColumns(0)
  private stageTotal = 0

  constructor(capacity: number) {
    this.capacity = capacity
    this.stageCapacity = capacity * stagesPerSummary
  }

  /** Stores a finished summary and hands it to live subscribers. */
  add(summary: RequestSummary, bottleneckShare: number): void {
    if (this.capacity > 0) this.write(summary, bottleneckShare)
    this.total++
    if (this.listeners.size > 0) {
      for (const listener of this.listeners) {
        if (!listener(summary)) this.droppedByListeners++
      }
    }
  }

  private ensureRequestColumns(): void {
    if (this.startTime.length === this.capacity) return
    const size = Math.min(this.capacity, Math.max(64, this.startTime.length * 2))
    this.startTime = grown(this.startTime, size)
    this.durationMs = grown(this.durationMs, size)
    this.budgetMs = grown(this.budgetMs, size)
    this.stageSeq = grown(this.stageSeq, size)
    this.bottleneckShare = grown(this.bottleneckShare, size)
    this.flags = grown(this.flags, size)
    this.stageCount = grown(this.stageCount, size)
  }

  private write(summary: RequestSummary, bottleneckShare: number): void {
    const slot = this.total % this.capacity
    if (slot >= this.startTime.length) this.ensureRequestColumns()
    this.requestId[slot] = summary.requestId
    this.name[slot] = summary.name
    this.traceId[slot] = summary.traceId
    this.spanId[slot] = summary.spanId
    this.attributes[slot] = summary.attributes
    this.error[slot] = summary.error
    this.startTime[slot] = summary.startTime
    this.durationMs[slot] = summary.durationMs
    this.budgetMs[slot] = summary.budgetMs ?? Number.NaN
    this.bottleneckShare[slot] = bottleneckShare
    this.flags[slot] = outcomeIndex[summary.status] |
      (summary.success ? SUCCESS : 0) |
      (summary.truncated ? TRUNCATED : 0) |
      (summary.overBudget ? OVER_BUDGET : 0) |
      (summary.sampled ? SAMPLED : 0) |
      (keptReasons.indexOf(summary.keptBecause) << 8)
    this.stageSeq[slot] = this.stageTotal
    const before = this.stageTotal
    this.writeStages(summary.stages, -1, before)
    this.stageCount[slot] = this.stageTotal - before
  }

  /**
   * Writes `stages` and their sub-stages in pre-order. `parent` is the parent's position within its request
   * (`seq - first`, -1 for top-level stages): small enough for an `Int32Array` however many stages the ring
   * has seen (absolute sequence numbers pass 2^31 in a long-running service).
   */
  private writeStages(stages: ReadonlyArray<StageExecution>, parent: number, first: number): void {
    for (let s = 0; s < stages.length; s++) {
      const stage = stages[s]!
      const seq = this.stageTotal++
      const i = seq % this.stageCapacity
      const columns = this.stages
      if (i >= columns.startOffset.length) {
        columns.grow(Math.min(this.stageCapacity, Math.max(256, columns.startOffset.length * 2)))
      }
      columns.stageId[i] = stage.stageId
      columns.name[i] = stage.name
      columns.metadata[i] = stage.metadata
      columns.error[i] = stage.error
      columns.startOffset[i] = stage.startOffsetMs
      columns.duration[i] = stage.durationMs
      columns.budget[i] = stage.budgetMs ?? Number.NaN
      columns.parent[i] = parent
      columns.flags[i] = outcomeIndex[stage.status] |
        (stage.success ? SUCCESS : 0) |
        (stage.recorded === true ? RECORDED : 0) |
        (stage.overBudget === true ? OVER_BUDGET : 0)
      const memory = stage.memoryDeltaBytes
      if (memory !== undefined) columns.memoryColumn()[i] = memory
      else if (columns.memory !== undefined) columns.memory[i] = Number.NaN
      if (stage.substages.length > 0) this.writeStages(stage.substages, seq - first, first)
    }
  }

  /** Up to `limit` summaries, newest first. */
  recent(limit: number): Array<RequestSummary> {
    const out: Array<RequestSummary> = []
    const count = Math.min(Math.max(0, Math.floor(limit)), this.capacity, this.total)
    for (let n = 1; n <= this.total && out.length < count && n <= this.capacity; n++) {
      const summary = this.read((this.total - n) % this.capacity)
      if (summary !== undefined) out.push(summary)
    }
    return out
  }

  /** Number of summaries currently held (requests whose stages were not overwritten). */
  get size(): number {
    let held = 0
    for (let n = 1; n <= Math.min(this.total, this.capacity); n++) {
      if (this.isHeld((this.total - n) % this.capacity)) held++
    }
    return held
  }

  /** Whether none of the stages of the summary in `slot` were overwritten (one without stages always is). */
  private isHeld(slot: number): boolean {
    return this.stageCount[slot] === 0 || this.stageSeq[slot]! >= this.stageTotal - this.stageCapacity
  }

  private read(slot: number): RequestSummary | undefined {
    if (!this.isHeld(slot)) return undefined
    const flags = this.flags[slot]!
    const first = this.stageSeq[slot]!
    const stages = this.readStages(first, this.stageCount[slot]!)
    const durationMs = this.durationMs[slot]!
    const budgetMs = this.budgetMs[slot]!
    const error = this.error[slot]
    const summary: Record<string, unknown> = {
      requestId: this.requestId[slot]!,
      name: this.name[slot]!,
      traceId: this.traceId[slot]!,
      spanId: this.spanId[slot]!,
      startTime: this.startTime[slot]!,
      durationMs,
      success: (flags & SUCCESS) !== 0,
      status: outcomes[flags & 7]!,
      stageCount: this.stageCount[slot]!,
      stages,
      bottlenecks: bottlenecksOf(stages, durationMs, this.bottleneckShare[slot]!),
      attributes: this.attributes[slot] ?? emptyRecord,
      truncated: (flags & TRUNCATED) !== 0,
      overBudget: (flags & OVER_BUDGET) !== 0,
      sampled: (flags & SAMPLED) !== 0,
      keptBecause: keptReasons[(flags >> 8) & 7],
    }
    if (error !== undefined) summary.error = error
    if (!Number.isNaN(budgetMs)) summary.budgetMs = budgetMs
    return summary as unknown as RequestSummary
  }

  private readStages(first: number, count: number): Array<StageExecution> {
    const roots: Array<StageExecution> = []
    const bySeq = new Map<number, { substages: Array<StageExecution> }>()
    const columns = this.stages
    for (let seq = first; seq < first + count; seq++) {
      const i = seq % this.stageCapacity
      const flags = columns.flags[i]!
      const stage: Record<string, unknown> & { substages: Array<StageExecution> } = {
        stageId: columns.stageId[i]!,
        name: columns.name[i]!,
        startOffsetMs: columns.startOffset[i]!,
        durationMs: columns.duration[i]!,
        success: (flags & SUCCESS) !== 0,
        status: outcomes[flags & 7]!,
        metadata: columns.metadata[i]!,
        substages: [],
      }
      const error = columns.error[i]
      if (error !== undefined) stage.error = error
      if ((flags & RECORDED) !== 0) stage.recorded = true
      const budget = columns.budget[i]!
      if (!Number.isNaN(budget)) {
        stage.budgetMs = budget
        stage.overBudget = (flags & OVER_BUDGET) !== 0
      }
      const memory = columns.memory?.[i]
      if (memory !== undefined && !Number.isNaN(memory)) stage.memoryDeltaBytes = memory
      bySeq.set(seq, stage)
      const parent = columns.parent[i]!
      const parentStage = parent < 0 ? undefined : bySeq.get(first + parent)
      if (parentStage === undefined) roots.push(stage as unknown as StageExecution)
      else parentStage.substages.push(stage as unknown as StageExecution)
    }
    return roots
  }
}
