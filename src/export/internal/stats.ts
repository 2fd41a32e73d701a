/**
 * Counters of the export pipeline: items exported and dropped (by signal and reason), failed export
 * requests, and how full the queues are. Read by `Health.check` (through `ExportStatsSlot`) and by the
 * `stagetrace_export_*` self-metrics.
 *
 * @internal
 */
import type { ExportStatsSnapshot } from "../../internal/slots.ts"

/** The signals the pipeline carries. */
export type Signal = "traces" | "metrics" | "logs" | "summaries"

/** Why items were dropped. */
export type DropReason =
  /** The exporter's queue was full when the item arrived. */
  | "queue_full"
  /** The export request kept failing until its retries (or its time) ran out. */
  | "export_failed"
  /**
   * The receiver answered with a status that is not retried (400, 401, 404, 413, 500…), or accepted the
   * request but rejected these items (an OTLP partial success).
   */
  | "rejected"
  /** The item was still queued when the shutdown deadline passed. */
  | "shutdown"
  /** The item could not be encoded or written (for example a JSONL write error). */
  | "error"
  /**
   * OTLP/gRPC: the receiver answered a status that is not retried; the reason names it
   * (`rejected_unauthenticated`, `rejected_invalid_argument`…).
   */
  | GrpcRejection

/** The gRPC status codes the OTLP specification does not retry, as drop reasons. */
export const grpcRejections = [
  "rejected_unknown",
  "rejected_invalid_argument",
  "rejected_not_found",
  "rejected_already_exists",
  "rejected_permission_denied",
  "rejected_resource_exhausted",
  "rejected_failed_precondition",
  "rejected_unimplemented",
  "rejected_internal",
  "rejected_unauthenticated",
] as const

/** A drop reason naming a gRPC status that is not retried. */
export type GrpcRejection = typeof grpcRejections[number]

/** Every signal and reason, so the self-metrics expose all series from the start. */
export const signals: ReadonlyArray<Signal> = ["traces", "metrics", "logs", "summaries"]
export const dropReasons: ReadonlyArray<DropReason> = [
  "queue_full",
  "export_failed",
  "rejected",
  "shutdown",
  "error",
]

/** A bounded queue whose fill level is reported. */
export interface Gauged {
  readonly size: number
  readonly capacity: number
}

/** The mutable counters shared by every exporter of one telemetry layer. */
export class ExportStats {
  readonly exported: Map<Signal, number> = new Map()
  readonly dropped: Map<string, number> = new Map()
  failures = 0
  lastSuccessAt: number | undefined = undefined
  lastFailureAt: number | undefined = undefined
  lastError: string | undefined = undefined
  readonly queues: Array<Gauged> = []

  drop(signal: Signal, reason: DropReason, count = 1): void {
    if (count <= 0) return
    const key = `${signal}:${reason}`
    this.dropped.set(key, (this.dropped.get(key) ?? 0) + count)
  }

  droppedCount(signal: Signal, reason: DropReason): number {
    return this.dropped.get(`${signal}:${reason}`) ?? 0
  }

  exportedOk(signal: Signal, count: number, nowMs: number): void {
    this.exported.set(signal, (this.exported.get(signal) ?? 0) + count)
    this.lastSuccessAt = nowMs
  }

  failed(error: string, nowMs: number): void {
    this.failures++
    this.lastFailureAt = nowMs
    this.lastError = error
  }

  snapshot(): ExportStatsSnapshot {
    let queued = 0
    let capacity = 0
    for (const queue of this.queues) {
      queued += queue.size
      capacity += queue.capacity
    }
    return {
      exported: Object.fromEntries(this.exported),
      dropped: Object.fromEntries(this.dropped),
      failures: this.failures,
      queued,
      capacity,
      lastSuccessAt: this.lastSuccessAt,
      lastFailureAt: this.lastFailureAt,
      lastError: this.lastError,
    }
  }
}

/** A fixed-capacity FIFO ring; `offer` refuses when full (the caller counts the drop). */
export class BoundedQueue<T> implements Gauged {
  private readonly items: Array<T | undefined>
  private head = 0
  size = 0
  readonly capacity: number

  constructor(capacity: number) {
    this.capacity = capacity
    this.items = new Array(capacity)
  }

  offer(item: T): boolean {
    if (this.size >= this.capacity) return false
    let index = this.head + this.size
    if (index >= this.capacity) index -= this.capacity
    this.items[index] = item
    this.size++
    return true
  }

  /** Removes and returns up to `max` items, oldest first. */
  take(max: number): Array<T> {
    const count = Math.min(max, this.size)
    const out = new Array<T>(count)
    for (let i = 0; i < count; i++) {
      out[i] = this.items[this.head] as T
      this.items[this.head] = undefined
      this.head = this.head + 1 === this.capacity ? 0 : this.head + 1
    }
    this.size -= count
    return out
  }

  clear(): number {
    const count = this.size
    this.take(count)
    return count
  }
}
