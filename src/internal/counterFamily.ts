/**
 * A labelled Effect counter updated from the hot path: one `Metric.counter` object per label set, created
 * on first use and reused (its series key is computed once), updated with `updateUnsafe` against the
 * context the telemetry layer was built in (the metric registry the program uses). The number of label
 * sets is bounded: past `maxSeries`, updates go to one series whose labels are all `__overflow__`.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

/** The label value of the series that takes updates past the series bound. */
export const overflowLabel = "__overflow__"

/** A counter family: `increment(key, labels)` adds one to the series of `labels`. */
export class CounterFamily {
  readonly name: string
  readonly description: string
  readonly labelNames: ReadonlyArray<string>
  private readonly context: Context.Context<never>
  private readonly maxSeries: number
  private readonly series_: Map<string, Metric.Counter<number>> = new Map()
  private overflow: Metric.Counter<number> | undefined

  constructor(
    name: string,
    description: string,
    labelNames: ReadonlyArray<string>,
    context: Context.Context<never>,
    maxSeries: number,
  ) {
    this.name = name
    this.description = description
    this.labelNames = labelNames
    this.context = context
    this.maxSeries = maxSeries
  }

  /**
   * The series identified by `key` (a string unique to the label set), created with `labels()` the first
   * time the key is seen; past `maxSeries`, the overflow series. Keep it to update it with `add`.
   */
  series(key: string, labels: () => Record<string, string>): Metric.Counter<number> {
    let counter = this.series_.get(key)
    if (counter === undefined) {
      if (this.series_.size >= this.maxSeries) {
        return this.overflow ??= this.make(
          Object.fromEntries(this.labelNames.map((label) => [label, overflowLabel])),
        )
      }
      counter = this.make(labels())
      this.series_.set(key, counter)
    }
    return counter
  }

  /** Adds `amount` to a series obtained from `series`. */
  add(counter: Metric.Counter<number>, amount: number = 1): void {
    counter.updateUnsafe(amount, this.context)
  }

  /** Adds `amount` to the series identified by `key` (see `series`). */
  increment(key: string, labels: () => Record<string, string>, amount: number = 1): void {
    this.series(key, labels).updateUnsafe(amount, this.context)
  }

  /** Current value of the series identified by `key` (for tests and health), `0` when never updated. */
  value(key: string): number {
    const counter = this.series_.get(key)
    return counter === undefined ? 0 : counter.valueUnsafe(this.context).count
  }

  private make(labels: Record<string, string>): Metric.Counter<number> {
    return Metric.counter(this.name, { description: this.description, attributes: labels, incremental: true })
  }
}

/** A counter family updated against the context it is made in (the telemetry layer's). */
export const makeCounterFamily = (
  name: string,
  description: string,
  labelNames: ReadonlyArray<string>,
  maxSeries: number,
): Effect.Effect<CounterFamily> =>
  Effect.map(
    Effect.context<never>(),
    (context) => new CounterFamily(name, description, labelNames, context, maxSeries),
  )
