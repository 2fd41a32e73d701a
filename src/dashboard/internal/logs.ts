/**
 * The dashboard's per-request log capture: a logger added to the telemetry layer's loggers keeps the
 * structured records (the same redacted records the log concern writes: `Log.LogRecord`) of log calls made
 * inside a request, so a request's waterfall can show its own logs next to it, as the Aspire dashboard
 * correlates logs with traces.
 *
 * Bounded twice: one ring of `capacity` records for the whole process (the oldest are overwritten), and
 * at most `perRequest` records per request (later ones are counted as the drop
 * `dashboard_log_capture_full`). Records of log calls outside any request are not kept.
 *
 * @internal
 */
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import { ownerOf, type Recorder, requestOf } from "../../internal/recorder.ts"
import { buildRecord } from "../../log/internal/record.ts"

const perRequestSlot = "dashboard.logs"

/** Longest message kept, in characters. */
const maxMessage = 4096

/** A ring of the most recent log records made inside requests. */
export class LogCapture {
  readonly capacity: number
  readonly perRequest: number
  private readonly ids: Array<string> = []
  private readonly records: Array<Record<string, unknown>> = []
  private next = 0
  /** Records ever captured. */
  total = 0

  constructor(capacity: number, perRequest: number) {
    this.capacity = capacity
    this.perRequest = perRequest
  }

  add(requestId: string, record: Record<string, unknown>): void {
    if (this.capacity === 0) return
    const message = record.message
    if (typeof message === "string" && message.length > maxMessage) {
      record.message = message.slice(0, maxMessage) + "…"
    }
    this.ids[this.next] = requestId
    this.records[this.next] = record
    this.next = (this.next + 1) % this.capacity
    this.total++
  }

  /** The records of `requestId`, oldest first. */
  of(requestId: string): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = []
    const held = Math.min(this.total, this.capacity)
    for (let n = held; n >= 1; n--) {
      const i = (this.next - n + this.capacity) % this.capacity
      if (this.ids[i] === requestId) out.push(this.records[i]!)
    }
    return out
  }

  /** The logger that captures into this ring for `recorder`'s requests. */
  logger(recorder: Recorder): Logger.Logger<unknown, void> {
    return Logger.make((options) => {
      try {
        const fiber = options.fiber
        const span = fiber.cache.span
        const request = span === undefined ? undefined : requestOf(ownerOf(span))
        if (request !== undefined) {
          // Inside the request: at most `perRequest` records each.
          if (request.recorder !== recorder) return
          const slots = request.slots ??= new Map()
          const count = (slots.get(perRequestSlot) as number | undefined) ?? 0
          if (count >= this.perRequest) return recorder.countDrop("dashboard_log_capture_full")
          slots.set(perRequestSlot, count + 1)
          this.add(request.requestId, buildRecord(options, "installed"))
          return
        }
        // Lifecycle records are written from a background fiber and carry the request id as an annotation.
        if (typeof fiber.getRef(References.CurrentLogAnnotations)["request_id"] !== "string") return
        const record = buildRecord(options, "installed")
        const requestId = record.request_id
        if (typeof requestId === "string") this.add(requestId, record)
      } catch {
        // A logger must never fail the program it observes.
      }
    })
  }
}
