/** An inner tracer for tail-sampling tests: records every span it creates and every span that ends. */
import * as Tracer from "effect/Tracer"

/** A span as the exporting tracer sees it, with the tracestate the sampling concern sets. */
export type RecordedSpan = Tracer.NativeSpan & { traceState?: string }

export interface Recording {
  readonly tracer: Tracer.Tracer
  /** Spans created on the inner tracer. */
  readonly started: Array<RecordedSpan>
  /** Spans ended on the inner tracer (what an exporter would export), in end order. */
  readonly ended: Array<RecordedSpan>
  /** Names of the ended spans. */
  readonly names: () => Array<string>
}

export const recording = (): Recording => {
  const started: Array<RecordedSpan> = []
  const ended: Array<RecordedSpan> = []
  class Span extends Tracer.NativeSpan {
    override end(endTime: bigint, exit: Parameters<Tracer.NativeSpan["end"]>[1]): void {
      if (this.status._tag === "Ended") return
      super.end(endTime, exit)
      ended.push(this)
    }
  }
  const tracer = Tracer.make({
    span: (options) => {
      const span = new Span(options)
      started.push(span)
      return span
    },
  })
  return { tracer, started, ended, names: () => ended.map((span) => span.name) }
}
