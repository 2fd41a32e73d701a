/**
 * Holding a finished span's export until its request's tail decision, without a proxy span: the protocol
 * between the sampling concern (which decides) and the export concern's recording tracer (which records).
 * A tracer whose spans support it lets the tail sampler attach a gate to a span it created (`GateKey`);
 * when such a span ends, the gate admits it (export now), holds it (until the decision releases or drops
 * it) or drops it. Spans of other tracers (OpenTelemetry's) are still wrapped by the tail sampler.
 *
 * @internal
 */
import type * as Tracer from "effect/Tracer"

/** Decides, when a gated span ends, whether it is exported now. */
export interface SpanGate {
  /** `true`: export `span` now. `false`: the gate holds it (and later releases or discards it) or dropped it. */
  admit(span: GatedSpan): boolean
}

/** A finished span a gate can hold, linked into the gate's buffer through `heldNext`. */
export interface GatedSpan {
  heldNext: GatedSpan | undefined
  /** Exports the span (the gate kept it). */
  release(): void
  /** Forgets the span (the gate dropped it). */
  discard(): void
}

/**
 * The method by which a gate is attached to a span of a tracer that supports gates, with the sampling
 * decision the span reports (`sampled`) and its W3C tracestate.
 */
export const GateKey: unique symbol = Symbol.for("@stagetrace/stagetrace/gate")

/** A span that accepts a gate. */
export interface Gatable {
  [GateKey](gate: SpanGate, sampled: boolean, traceState: string | undefined): void
  /** The gate attached to the span, if any. */
  readonly gate: SpanGate | undefined
}

/** Whether `span` accepts a gate. */
export const isGatable = (span: Tracer.Span): span is Tracer.Span & Gatable => GateKey in span
