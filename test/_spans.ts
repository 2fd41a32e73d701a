/**
 * A tracer that records Effect native spans, for assertions on names, kinds, parents, attributes, events
 * and the tracestate the sampling concern sets: every span it creates (`spans`, in creation order) and
 * every span that ends (`ended`, in end order, each once). Provide `layer` (or `Effect.withTracer(tracer)`)
 * around `Telemetry.layer`: it is the inner tracer the telemetry layer wraps.
 */
import * as Layer from "effect/Layer"
import * as Tracer from "effect/Tracer"

/** A recorded span, with the W3C tracestate the sampling concern sets on exported spans. */
export type RecordedSpan = Tracer.NativeSpan & { traceState?: string }

/** The spans recorded so far, and the tracer and layer that record them. */
export interface SpanRecorder {
  readonly tracer: Tracer.Tracer
  readonly layer: Layer.Layer<never>
  /** Spans created, in creation order. */
  readonly spans: Array<RecordedSpan>
  /** Spans ended (what an exporter would export), in end order. */
  readonly ended: Array<RecordedSpan>
  /** The one span named `name` (fails when there are none or several). */
  readonly byName: (name: string) => RecordedSpan
  /** Names of the ended spans, in end order. */
  readonly names: () => Array<string>
}

export const recordSpans = (): SpanRecorder => {
  const spans: Array<RecordedSpan> = []
  const ended: Array<RecordedSpan> = []
  class RecordingSpan extends Tracer.NativeSpan {
    override end(endTime: bigint, exit: Parameters<Tracer.NativeSpan["end"]>[1]): void {
      if (this.status._tag === "Ended") return
      super.end(endTime, exit)
      ended.push(this)
    }
  }
  const tracer = Tracer.make({
    span(options) {
      const span = new RecordingSpan(options)
      spans.push(span)
      return span
    },
  })
  return {
    tracer,
    layer: Layer.succeed(Tracer.Tracer, tracer),
    spans,
    ended,
    byName: (name) => {
      const found = spans.filter((span) => span.name === name)
      if (found.length !== 1) throw new Error(`expected one span named ${name}, got ${found.length}`)
      return found[0]!
    },
    names: () => ended.map((span) => span.name),
  }
}

/** The parent span id of `span`, if it has a parent. */
export const parentIdOf = (span: Tracer.Span): string | undefined =>
  span.parent._tag === "Some" ? span.parent.value.spanId : undefined

/** The events of a recorded span. */
export const eventsOf = (
  span: Tracer.Span,
): ReadonlyArray<[name: string, time: bigint, attributes: Record<string, unknown>]> =>
  (span as unknown as { events: Array<[string, bigint, Record<string, unknown>]> }).events
