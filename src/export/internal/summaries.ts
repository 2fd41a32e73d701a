/**
 * Request-summary exporters: a bounded queue drained by one background fiber (the request's path only
 * enqueues), the console waterfall, and the JSONL daily-file writer (one append per line, partial lines
 * left by a crash isolated at the next start, retention by file date).
 *
 * @internal
 */
import { renderWaterfall } from "../../stage/internal/waterfall.ts"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import type * as Scope from "effect/Scope"
import { type SummaryLine, toSummaryLine } from "../../internal/jsonl.ts"
import type { ServiceDescription } from "../../internal/recorder.ts"
import type { RequestSummary } from "../../stage/Request.ts"
import * as daemon from "../../internal/daemon.ts"
import { BoundedQueue, type ExportStats } from "./stats.ts"

/** Whether a request's summary is exported: kept by the sampler, or sampled when no sampler is installed. */
export const isKept = (summary: RequestSummary): boolean =>
  summary.keptBecause !== undefined || summary.sampled

/**
 * The JSONL line of a summary, without the trailing newline. Summaries reach exporters redacted already
 * (once, when their request ended), so nothing is masked here.
 */
export const summaryLineText = (summary: RequestSummary, service: ServiceDescription): string => {
  const line: SummaryLine = toSummaryLine(summary, service)
  return JSON.stringify(line, (_key, value) => typeof value === "bigint" ? String(value) : value)
}

// ---------------------------------------------------------------------------------------------------------
// Background worker
// ---------------------------------------------------------------------------------------------------------

/** Drains a bounded queue of summaries with one fiber; every drop is counted under `summaries`. */
export class SummaryWorker {
  readonly queue: BoundedQueue<RequestSummary>
  private readonly wake: Latch.Latch = Latch.makeUnsafe(false)
  private closing = false
  private fiber: Fiber.Fiber<void> | undefined = undefined

  constructor(
    capacity: number,
    private readonly handle: (batch: ReadonlyArray<RequestSummary>) => Effect.Effect<void>,
    private readonly stats: ExportStats,
  ) {
    this.queue = new BoundedQueue(capacity)
    stats.queues.push(this.queue)
  }

  offer(summary: RequestSummary): void {
    if (this.closing && this.fiber === undefined) {
      this.stats.drop("summaries", "shutdown")
      return
    }
    if (!this.queue.offer(summary)) {
      this.stats.drop("summaries", "queue_full")
      return
    }
    if (this.queue.size === 1) this.wake.openUnsafe()
  }

  start(): Effect.Effect<void, never, Scope.Scope> {
    // deno-lint-ignore no-this-alias
    const self = this
    // One step per batch, on a succession of fibers (see daemon.ts); `false` ends the loop.
    const loop = daemon.loop(Effect.gen(function* () {
      if (self.queue.size === 0) {
        if (self.closing) return false
        yield* self.wake.await
        self.wake.closeUnsafe()
      }
      const batch = self.queue.take(64)
      if (batch.length > 0) yield* self.handleSafely(batch)
      return true
    }))
    return Effect.forkScoped(loop).pipe(Effect.map((fiber) => {
      self.fiber = fiber
    }))
  }

  /** Runs the handler; a defect (a throwing renderer) drops the batch, counted, and the worker goes on. */
  private handleSafely(batch: ReadonlyArray<RequestSummary>): Effect.Effect<void> {
    return Effect.catchDefect(this.handle(batch), (defect) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        this.stats.drop("summaries", "error", batch.length)
        this.stats.failed(`summaries: ${defect instanceof Error ? defect.message : String(defect)}`, now)
      }))
  }

  shutdown(timeoutMs: number): Effect.Effect<void> {
    // deno-lint-ignore no-this-alias
    const self = this
    return Effect.gen(function* () {
      self.closing = true
      self.wake.openUnsafe()
      const fiber = self.fiber
      if (fiber !== undefined) {
        const done = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(timeoutMs))
        if (done._tag === "None") yield* Fiber.interrupt(fiber)
      }
      self.fiber = undefined
      self.stats.drop("summaries", "shutdown", self.queue.clear())
    })
  }
}

/** Prints summaries through Effect's `Console`. */
export const consoleHandler = (
  format: "pretty" | "json",
  width: number,
  service: ServiceDescription,
  stats: ExportStats,
  clock: Clock.Clock,
) =>
(batch: ReadonlyArray<RequestSummary>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const text = batch.map((summary) =>
      format === "json" ? summaryLineText(summary, service) : renderWaterfall(summary, { width })
    ).join("\n")
    stats.exportedOk("summaries", batch.length, clock.currentTimeMillisUnsafe())
    return Console.log(text)
  })

// ---------------------------------------------------------------------------------------------------------
// JSONL files
// ---------------------------------------------------------------------------------------------------------

const filePattern = /^stagetrace-(\d{4}-\d{2}-\d{2})\.jsonl$/
const encoder = new TextEncoder()
const newline = encoder.encode("\n")

/** `YYYY-MM-DD` (UTC) of an epoch-milliseconds time. */
export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/** The daily file name of a day. */
export const fileNameOf = (day: string): string => `stagetrace-${day}.jsonl`

/** Writes JSONL lines to daily files; every method runs on the writer's fiber only. */
export class JsonlFiles {
  private file: Deno.FsFile | undefined = undefined
  private day: string | undefined = undefined
  /** The latest day written: retention runs when it advances, not when a late request goes back a day. */
  private latestDay: string | undefined = undefined

  constructor(
    readonly dir: string,
    readonly retentionDays: number,
    private readonly clock: Clock.Clock,
  ) {}

  /** Deletes daily files older than the retention; returns the names deleted. */
  async cleanup(): Promise<Array<string>> {
    if (this.retentionDays <= 0) return []
    const cutoff = dayOf(this.clock.currentTimeMillisUnsafe() - this.retentionDays * 86_400_000)
    const deleted: Array<string> = []
    for await (const entry of Deno.readDir(this.dir)) {
      const match = entry.isFile ? filePattern.exec(entry.name) : null
      if (match === null || match[1]! >= cutoff) continue
      try {
        await Deno.remove(`${this.dir}/${entry.name}`)
        deleted.push(entry.name)
      } catch {
        // Already gone or not ours to delete: retention retries at the next day.
      }
    }
    return deleted
  }

  private async open(day: string): Promise<Deno.FsFile> {
    if (this.file !== undefined && this.day === day) return this.file
    this.close()
    const file = await Deno.open(`${this.dir}/${fileNameOf(day)}`, { read: true, append: true, create: true })
    // A line cut short by a crash would glue the next record to it: end it first.
    const size = (await file.stat()).size
    if (size > 0) {
      const last = new Uint8Array(1)
      await file.seek(-1, Deno.SeekMode.End)
      await file.read(last)
      if (last[0] !== 10) await writeAll(file, newline)
    }
    // Requests that straddle midnight end out of order: only a new latest day runs the retention.
    const newDay = this.latestDay !== undefined && day > this.latestDay
    if (this.latestDay === undefined || day > this.latestDay) this.latestDay = day
    this.file = file
    this.day = day
    if (newDay) await this.cleanup()
    return file
  }

  /** Appends one line (newline added) in a single write. */
  async append(day: string, text: string): Promise<void> {
    const file = await this.open(day)
    await writeAll(file, encoder.encode(text + "\n"))
  }

  close(): void {
    if (this.file !== undefined) {
      try {
        this.file.close()
      } catch {
        // Closed already.
      }
    }
    this.file = undefined
  }
}

const writeAll = async (file: Deno.FsFile, bytes: Uint8Array): Promise<void> => {
  let offset = 0
  while (offset < bytes.length) offset += await file.write(bytes.subarray(offset))
}

/** Writes each summary as one JSONL line to its day's file. */
export const jsonlHandler = (
  files: JsonlFiles,
  service: ServiceDescription,
  stats: ExportStats,
  clock: Clock.Clock,
) =>
(batch: ReadonlyArray<RequestSummary>): Effect.Effect<void> =>
  Effect.promise(async () => {
    for (const summary of batch) {
      try {
        await files.append(dayOf(summary.startTime), summaryLineText(summary, service))
        stats.exportedOk("summaries", 1, clock.currentTimeMillisUnsafe())
      } catch (error) {
        stats.drop("summaries", "error")
        stats.failed(
          `jsonl: ${error instanceof Error ? error.message : String(error)}`,
          clock.currentTimeMillisUnsafe(),
        )
      }
    }
  })
