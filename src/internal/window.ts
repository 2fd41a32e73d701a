/**
 * Sliding windows in bounded memory: per-time-bucket aggregates, never lists of events. Shared by the
 * budget, error and health concerns.
 *
 * `WindowStore` keeps three rings of buckets (1 s × 60, 1 min × 60, 1 h × 24): every event is added to
 * one bucket of each ring, and a query for a window reads the finest ring that covers it. Each bucket
 * holds one small vector of numbers per key (a stage id, a category and stage…); the number of distinct
 * keys is bounded (past the bound, events are aggregated under `__overflow__`). A flood of a million
 * events therefore costs the same memory as ten: at most `buckets × keys` vectors.
 *
 * `CountRing` is the single-key form used by alerts: a fixed ring of counts over one window, so the
 * count inside the window is known at every event at a fixed cost.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { CurrentRecorder, type Slot } from "./recorder.ts"

/** One ring of buckets: `count` buckets of `widthMs` each cover `count × widthMs` of history. */
export interface Tier {
  readonly widthMs: number
  readonly count: number
}

/** The default rings: a minute by the second, an hour by the minute, a day by the hour. */
export const defaultTiers: ReadonlyArray<Tier> = [
  { widthMs: 1_000, count: 60 },
  { widthMs: 60_000, count: 60 },
  { widthMs: 3_600_000, count: 24 },
]

/** How a field of the per-key vector merges: summed, or the maximum. */
export type FieldKind = "sum" | "max"

/** The key under which events past the distinct-key bound are aggregated. */
export const overflowKey = "__overflow__"

class Ring {
  readonly widthMs: number
  readonly count: number
  /** Bucket number stored in each slot (`-Infinity` when empty). */
  readonly index: Float64Array
  readonly buckets: Array<Map<number, Float64Array>>

  constructor(tier: Tier) {
    this.widthMs = tier.widthMs
    this.count = tier.count
    // One extra slot: a window of exactly `count × widthMs` touches `count + 1` buckets.
    const size = tier.count + 1
    this.index = new Float64Array(size).fill(-Infinity)
    this.buckets = Array.from({ length: size }, () => new Map())
  }

  /**
   * The vectors of the bucket that holds `nowMs`, emptied first when its slot still holds an older bucket;
   * `undefined` when the slot already holds a newer one (the event is older than the ring).
   */
  bucketAt(nowMs: number): Map<number, Float64Array> | undefined {
    const bucket = Math.floor(nowMs / this.widthMs)
    const slot = mod(bucket, this.index.length)
    const stored = this.index[slot]!
    const map = this.buckets[slot]!
    if (stored !== bucket) {
      if (stored > bucket) return undefined
      this.index[slot] = bucket
      map.clear()
    }
    return map
  }
}

/** Per-key vectors of numbers aggregated over tiered time buckets. */
export class WindowStore {
  readonly kinds: ReadonlyArray<FieldKind>
  readonly maxKeys: number
  readonly rings: ReadonlyArray<Ring>
  /** The longest window the store answers (the coarsest ring's span). */
  readonly retentionMs: number
  private readonly keyIds: Map<string, number> = new Map()
  private readonly keyNames: Array<string> = []

  constructor(kinds: ReadonlyArray<FieldKind>, maxKeys: number, tiers: ReadonlyArray<Tier> = defaultTiers) {
    this.kinds = kinds
    this.maxKeys = Math.max(1, maxKeys)
    this.rings = tiers.map((tier) => new Ring(tier))
    const last = tiers[tiers.length - 1]!
    this.retentionMs = last.widthMs * last.count
  }

  /** The id of `key`, interned on first use; past `maxKeys` distinct keys, the overflow key's id. */
  keyId(key: string): number {
    let id = this.keyIds.get(key)
    if (id !== undefined) return id
    if (this.keyNames.length >= this.maxKeys) {
      id = this.keyIds.get(overflowKey)
      if (id !== undefined) return id
      key = overflowKey
    }
    id = this.keyNames.length
    this.keyNames.push(key)
    this.keyIds.set(key, id)
    return id
  }

  /** The key that `id` stands for. */
  keyName(id: number): string {
    return this.keyNames[id] ?? overflowKey
  }

  /** Adds one event's values under `keyId` at `nowMs`. Events older than a ring's oldest bucket are ignored there. */
  add(keyId: number, nowMs: number, values: ReadonlyArray<number>): void {
    const kinds = this.kinds
    for (const ring of this.rings) {
      const map = ring.bucketAt(nowMs)
      if (map === undefined) continue
      let vector = map.get(keyId)
      if (vector === undefined) {
        vector = new Float64Array(kinds.length)
        for (let i = 0; i < kinds.length; i++) vector[i] = values[i]!
        map.set(keyId, vector)
        continue
      }
      for (let i = 0; i < kinds.length; i++) {
        const v = values[i]!
        if (kinds[i] === "max") {
          if (v > vector[i]!) vector[i] = v
        } else vector[i]! += v
      }
    }
  }

  /** Adds `amount` to the `sum` field `field` of `keyId` at `nowMs` (the cheap form of `add` for counts). */
  addOne(keyId: number, nowMs: number, field: number, amount: number = 1): void {
    const width = this.kinds.length
    for (const ring of this.rings) {
      const map = ring.bucketAt(nowMs)
      if (map === undefined) continue
      let vector = map.get(keyId)
      if (vector === undefined) {
        vector = new Float64Array(width)
        map.set(keyId, vector)
      }
      vector[field]! += amount
    }
  }

  /** The window actually answered for a requested one: clamped to the retention, at least one bucket. */
  effectiveWindow(windowMs: number): number {
    if (!(windowMs > 0)) return this.rings[0]!.widthMs
    return Math.min(windowMs, this.retentionMs)
  }

  /**
   * Merged vectors per key over the buckets that overlap `(nowMs - windowMs, nowMs]`, read from the finest
   * ring that covers the window (so the oldest bucket may reach up to one bucket width further back).
   */
  query(windowMs: number, nowMs: number): Map<string, Float64Array> {
    const window = this.effectiveWindow(windowMs)
    let ring = this.rings[this.rings.length - 1]!
    for (const candidate of this.rings) {
      if (candidate.widthMs * candidate.count >= window) {
        ring = candidate
        break
      }
    }
    const lo = Math.floor((nowMs - window) / ring.widthMs)
    const hi = Math.floor(nowMs / ring.widthMs)
    const out = new Map<string, Float64Array>()
    const kinds = this.kinds
    for (let slot = 0; slot < ring.index.length; slot++) {
      const bucket = ring.index[slot]!
      if (bucket < lo || bucket > hi) continue
      for (const [keyId, vector] of ring.buckets[slot]!) {
        const key = this.keyName(keyId)
        const merged = out.get(key)
        if (merged === undefined) {
          out.set(key, Float64Array.from(vector))
          continue
        }
        for (let i = 0; i < kinds.length; i++) {
          if (kinds[i] === "max") merged[i] = Math.max(merged[i]!, vector[i]!)
          else merged[i]! += vector[i]!
        }
      }
    }
    return out
  }

  /** Vectors currently held across every ring, and distinct keys interned (for memory-bound tests). */
  size(): { readonly vectors: number; readonly keys: number } {
    let vectors = 0
    for (const ring of this.rings) for (const map of ring.buckets) vectors += map.size
    return { vectors, keys: this.keyNames.length }
  }
}

/**
 * Counts events of one key over a sliding window of `buckets` buckets of `windowMs / buckets` each (the
 * window moves one bucket at a time). Also keeps the time of the first event of every bucket, so the
 * first event still inside the window is known.
 */
export class CountRing {
  readonly widthMs: number
  readonly windowMs: number
  private readonly index: Float64Array
  private readonly counts: Float64Array
  private readonly firstAt: Float64Array
  /** Whether a crossing may fire (re-armed once the count falls below the threshold). */
  armed = true

  constructor(windowMs: number, buckets: number) {
    this.windowMs = windowMs
    this.widthMs = windowMs / buckets
    this.index = new Float64Array(buckets).fill(-Infinity)
    this.counts = new Float64Array(buckets)
    this.firstAt = new Float64Array(buckets)
  }

  /** Events inside the window that ends at `nowMs` (the current bucket and the `buckets - 1` before it). */
  count(nowMs: number): number {
    const hi = Math.floor(nowMs / this.widthMs)
    const lo = hi - this.index.length + 1
    let total = 0
    for (let slot = 0; slot < this.index.length; slot++) {
      const bucket = this.index[slot]!
      if (bucket >= lo && bucket <= hi) total += this.counts[slot]!
    }
    return total
  }

  /** The time of the first event still inside the window ending at `nowMs`, if any. */
  firstInWindow(nowMs: number): number | undefined {
    const hi = Math.floor(nowMs / this.widthMs)
    const lo = hi - this.index.length + 1
    let first: number | undefined
    for (let slot = 0; slot < this.index.length; slot++) {
      const bucket = this.index[slot]!
      if (bucket >= lo && bucket <= hi && this.counts[slot]! > 0) {
        const at = this.firstAt[slot]!
        if (first === undefined || at < first) first = at
      }
    }
    return first
  }

  /** Adds one event at `nowMs`; an event older than the ring's oldest bucket is ignored. */
  add(nowMs: number): void {
    const bucket = Math.floor(nowMs / this.widthMs)
    const slot = mod(bucket, this.index.length)
    const stored = this.index[slot]!
    if (stored !== bucket) {
      if (stored > bucket) return
      this.index[slot] = bucket
      this.counts[slot] = 0
      this.firstAt[slot] = nowMs
    } else if (nowMs < this.firstAt[slot]!) this.firstAt[slot] = nowMs
    this.counts[slot]!++
  }
}

const mod = (n: number, m: number): number => ((n % m) + m) % m

/**
 * A `Duration.Input` window in milliseconds: `fallback` when absent; when invalid or not positive,
 * `fallback` too, and the drop is counted on `recorder` as `invalid_window`.
 */
export const windowMillis = (
  window: Duration.Input | undefined,
  fallback: number,
  recorder: { countDrop: (reason: string) => void },
): number => {
  if (window === undefined) return fallback
  const decoded = Duration.fromInput(window)
  const ms = Option.isNone(decoded) ? Number.NaN : Duration.toMillis(decoded.value)
  if (ms > 0) return ms
  recorder.countDrop("invalid_window")
  return fallback
}

/**
 * A summary of the windowed state a concern keeps under `slot` (`undefined` when the telemetry layer is
 * not installed), over the window ending now: `summaryAt(state, windowMs, nowMs)` with the current fiber's
 * recorder and clock, and `window` read by `windowMillis` (default `defaultMs`).
 */
export const windowSummary = <S, A>(
  slot: Slot<S>,
  window: Duration.Input | undefined,
  defaultMs: number,
  summaryAt: (state: S | undefined, windowMs: number, nowMs: number) => A,
): Effect.Effect<A> =>
  Effect.withFiber((fiber) => {
    const recorder = fiber.getRef(CurrentRecorder)
    const state = recorder.get(slot)
    const nowMs = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
    return Effect.succeed(summaryAt(state, windowMillis(window, defaultMs, recorder), nowMs))
  })
