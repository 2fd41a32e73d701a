/**
 * Cheaper span creation between stagetrace's own tracers and the stage wrapper: a tracer marked with
 * `OptionsNotKept` never keeps the options object it is given (so the wrapper may reuse one), and spans
 * created without links share one empty links array until their first `addLinks`.
 *
 * @internal
 */
import type * as Tracer from "effect/Tracer"

/** Set (to `true`) on a tracer whose `span(options)` reads the options object and never keeps it. */
export const OptionsNotKept: unique symbol = Symbol.for("@stagetrace/stagetrace/optionsNotKept")

/**
 * Set (to `true`) on a tracer that makes stagetrace's own spans `LocalSpan`s from the options it is given,
 * options object included (`instrument`'s tracer over Effect's native tracer): the wrapper may then give
 * it an instant of a timeline instead of a BigInt start time (`LocalSpanOptions`).
 */
export const MakesLocalSpans: unique symbol = Symbol.for("@stagetrace/stagetrace/makesLocalSpans")

/**
 * Set (to `true`) on a tracer that reads a span's times from the options it is given when they carry them
 * (`LocalSpanOptions.times`, the instant of a timeline, which a stage's span shares with its stage) but
 * must still be called to make the span (stagetrace's exporting tracer, and the tail sampler over it): the
 * wrapper then gives it no BigInt start time.
 */
export const TakesSpanTimes: unique symbol = Symbol.for("@stagetrace/stagetrace/takesSpanTimes")

/** Whether `tracer` reads span times from its options (see `TakesSpanTimes`). */
export const takesSpanTimes = (tracer: Tracer.Tracer): boolean =>
  (tracer as { readonly [TakesSpanTimes]?: boolean })[TakesSpanTimes] === true

/** Whether `tracer` makes stagetrace's own spans `LocalSpan`s (see `MakesLocalSpans`). */
export const makesLocalSpans = (tracer: Tracer.Tracer): boolean =>
  (tracer as { readonly [MakesLocalSpans]?: boolean })[MakesLocalSpans] === true

/** Whether `tracer` never keeps the options object it is given. */
export const keepsNoOptions = (tracer: Tracer.Tracer): boolean =>
  (tracer as { readonly [OptionsNotKept]?: boolean })[OptionsNotKept] === true

/**
 * The links of every span created without links, shared: only spans whose `addLinks` copies it first
 * (`ownLinks`) may be given it.
 */
export const noLinks: Array<Tracer.SpanLink> = []

/** Gives `span` its own links array before a first `addLinks` writes into the shared one. */
export const ownLinks = (span: { readonly links: Array<Tracer.SpanLink> }): void => {
  if (span.links === noLinks) (span as { links: Array<Tracer.SpanLink> }).links = []
}
