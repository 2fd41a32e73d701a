/**
 * Slots through which concerns read each other's state without importing each other's internals. A
 * concern that is not installed leaves its slot empty; readers treat that as "nothing to report".
 *
 * @internal
 */
import { Slot } from "./recorder.ts"

/**
 * Masks personal data and secrets before anything leaves the process. Installed by the log concern (on by
 * default) with the recorder's summary redaction (every summary, once, when its request ends); exporters
 * apply it to span attributes and events; metrics to label values; logs to every record. Never throws.
 */
export interface RedactorLike {
  /** Masks every match of the configured patterns in `text`. */
  readonly redactString: (text: string) => string
  /** Masks `value` when `key` is always-masked (`password`, `authorization`…), else masks strings inside it. */
  readonly redactValue: (key: string, value: unknown) => unknown
}

/** The redactor in use, if the log concern installed one. */
export const RedactorSlot: Slot<RedactorLike> = new Slot<RedactorLike>("redactor")

/** Counters of the export pipeline, read by `Health.check` and the self-metrics. */
export interface ExportStatsSnapshot {
  /** Items handed to exporters, by signal (`traces`, `metrics`, `logs`, `summaries`). */
  readonly exported: Readonly<Record<string, number>>
  /** Items dropped, by `signal:reason` (for example `traces:queue_full`). */
  readonly dropped: Readonly<Record<string, number>>
  /** Export requests that failed after their retries. */
  readonly failures: number
  /** Items waiting in the queues right now, and their total capacity. */
  readonly queued: number
  readonly capacity: number
  /** Epoch milliseconds of the last successful and the last failed export, if any. */
  readonly lastSuccessAt: number | undefined
  readonly lastFailureAt: number | undefined
  readonly lastError: string | undefined
}

/** How to read the export pipeline's counters, if the export concern is installed. */
export const ExportStatsSlot: Slot<() => ExportStatsSnapshot> = new Slot<() => ExportStatsSnapshot>(
  "export-stats",
)
