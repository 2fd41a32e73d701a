/**
 * The sampling concern's state on the recorder: the sampler in use and the counters behind
 * `Sampler.stats`.
 *
 * @internal
 */
import { Slot } from "../../internal/recorder.ts"
import type { KeptBecause } from "../../stage/Request.ts"
import type { Sampler } from "./samplerModel.ts"

/** Mutable counters, incremented on the hot path (plain fields, no maps). */
export class SamplingCounters {
  readonly requestsKept: Record<KeptBecause, number> = { head: 0, forced: 0, error: 0, budget: 0, slow: 0 }
  requestsDropped = 0
  spansDropped = 0
  spansOverflowed = 0
}

/** What the sampling concern keeps on the recorder. */
export interface SamplingState {
  readonly sampler: Sampler
  readonly counters: SamplingCounters
  /** Requests at least this long (milliseconds) are kept; `undefined`: no slow rule. */
  readonly keepSlowerThanMs: number | undefined
  readonly tailBufferSize: number
}

/** The slot of the sampling concern. */
export const SamplingSlot: Slot<SamplingState> = new Slot<SamplingState>("sampling")
