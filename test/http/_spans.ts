/**
 * A tracer that keeps every span it creates, for assertions on names, kinds, parents and attributes.
 */
import * as Layer from "effect/Layer"
import * as Tracer from "effect/Tracer"

/** The spans created so far, and the tracer and layer that record them. */
export interface SpanRecorder {
  readonly spans: Array<Tracer.NativeSpan>
  readonly tracer: Tracer.Tracer
  readonly layer: Layer.Layer<never>
  /** The one span named `name` (fails when there are none or several). */
  readonly byName: (name: string) => Tracer.NativeSpan
}

export const recordSpans = (): SpanRecorder => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    },
  })
  return {
    spans,
    tracer,
    layer: Layer.succeed(Tracer.Tracer, tracer),
    byName: (name) => {
      const found = spans.filter((span) => span.name === name)
      if (found.length !== 1) throw new Error(`expected one span named ${name}, got ${found.length}`)
      return found[0]!
    },
  }
}

/** The parent span id of `span`, if it has a parent. */
export const parentIdOf = (span: Tracer.Span): string | undefined =>
  span.parent._tag === "Some" ? span.parent.value.spanId : undefined
