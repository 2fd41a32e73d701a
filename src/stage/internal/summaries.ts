/**
 * The bounded store of completed request summaries: a ring of the most recent ones and a set of live
 * listeners (one per `Summaries.stream` subscriber).
 *
 * @internal
 */
import type { RequestSummary } from "../Request.ts"

/** A live subscriber; returns `false` when it had to drop the summary. */
export type SummaryListener = (summary: RequestSummary) => boolean

/** Ring buffer of the last `capacity` summaries, newest overwriting oldest. */
export class SummaryStore {
  readonly capacity: number
  private readonly ring: Array<RequestSummary | undefined>
  private next = 0
  /** Summaries ever added. */
  total = 0
  /** Summaries a slow stream subscriber could not take. */
  droppedByListeners = 0
  readonly listeners: Set<SummaryListener> = new Set()

  constructor(capacity: number) {
    this.capacity = capacity
    this.ring = new Array(capacity)
  }

  add(summary: RequestSummary): void {
    if (this.capacity > 0) {
      this.ring[this.next] = summary
      this.next = (this.next + 1) % this.capacity
    }
    this.total++
    if (this.listeners.size > 0) {
      for (const listener of this.listeners) {
        if (!listener(summary)) this.droppedByListeners++
      }
    }
  }

  /** Up to `limit` summaries, newest first. */
  recent(limit: number): Array<RequestSummary> {
    const count = Math.min(Math.max(0, Math.floor(limit)), this.capacity, this.total)
    const out: Array<RequestSummary> = []
    for (let i = 1; i <= count; i++) {
      const summary = this.ring[(this.next - i + this.capacity) % this.capacity]
      if (summary !== undefined) out.push(summary)
    }
    return out
  }

  /** Number of summaries currently held. */
  get size(): number {
    return Math.min(this.total, this.capacity)
  }
}
