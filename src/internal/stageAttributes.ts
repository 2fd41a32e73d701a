/**
 * A stage's span attributes (`request.id`, `stage.id`, `stage.name`, then its metadata), deferred on the
 * spans stagetrace creates itself: most spans are never exported (no exporter, or dropped by sampling) and
 * never read, so building their attribute map is wasted. Such a span keeps the stage's spec and request id,
 * and writes the attributes into its map when the map is first read or written (so the map ends up as an
 * eager stage's would); encoders write them straight from the spec, so an exported span needs no map.
 *
 * The same spans may also defer the attributes written to them (`span.attribute`, the request attributes
 * above all) as key/value pairs in a flat array (`deferredPairs`): the map made when it is first read holds
 * them after the stage attributes, in the order written, exactly as if they had been set one by one.
 *
 * @internal
 */

/** What a stage span defers: the fields of a stage spec its attributes come from. */
export interface DeferredStage {
  readonly stageId: string
  readonly name: string
  readonly metadata: Readonly<Record<string, unknown>>
  readonly metadataKeys: ReadonlyArray<string>
}

/** A span that can defer its stage attributes. */
export interface DeferringSpan {
  /** The stage whose attributes are not in the attribute map yet. */
  deferredStage: DeferredStage | undefined
  /** The id of the stage's request, when it runs in one. */
  deferredRequestId: string | undefined
  /** The attribute map, created on first use. */
  _attributes: Map<string, unknown> | undefined
  /**
   * Attributes written while there was no map yet, as `key, value, key, value…` (spans that defer them):
   * they go into the map after the stage attributes.
   */
  deferredPairs?: Array<unknown> | undefined
}

/** Whether `span` is one of stagetrace's spans that defer their stage attributes. */
export const isDeferring = (span: object): span is DeferringSpan => "deferredStage" in span

/**
 * Defers `stage`'s attributes on `span` when nothing is in its attribute map yet (annotations set before
 * must stay first); returns whether it did.
 */
export const deferStageAttributes = (
  span: DeferringSpan,
  stage: DeferredStage,
  requestId: string | undefined,
): boolean => {
  if (span._attributes !== undefined || span.deferredPairs !== undefined) return false
  span.deferredStage = stage
  span.deferredRequestId = requestId
  return true
}

/** The attribute map of `span` with its deferred attributes written in first (created when needed). */
export const materializeStageAttributes = (span: DeferringSpan): Map<string, unknown> => {
  const stage = span.deferredStage
  const pairs = span.deferredPairs
  if (stage === undefined && pairs === undefined) return span._attributes ??= new Map()
  const map = new Map<string, unknown>()
  if (stage !== undefined) {
    span.deferredStage = undefined
    if (span.deferredRequestId !== undefined) map.set("request.id", span.deferredRequestId)
    map.set("stage.id", stage.stageId)
    map.set("stage.name", stage.name)
    const keys = stage.metadataKeys
    for (let i = 0; i < keys.length; i++) map.set(keys[i]!, stage.metadata[keys[i]!])
  }
  // Whatever reached the map without reading it first still comes after, as the encoders write it.
  const earlier = span._attributes
  if (earlier !== undefined) { for (const [key, value] of earlier) map.set(key, value) }
  if (pairs !== undefined) {
    span.deferredPairs = undefined
    for (let i = 0; i < pairs.length; i += 2) map.set(pairs[i] as string, pairs[i + 1])
  }
  span._attributes = map
  return map
}

/**
 * The most pairs a span defers: past them its map is made (a span whose attribute is written again and
 * again, a long stream's byte count say, would otherwise keep every write).
 */
export const maxDeferredPairs = 64

/**
 * Writes attribute `key` on `span`: into its map once there is one, else deferred (`deferredPairs`, at most
 * `maxDeferredPairs`) — the span's `attribute` for spans that defer what they are given.
 */
export const deferAttribute = (span: DeferringSpan, key: string, value: unknown): void => {
  const map = span._attributes
  if (map !== undefined && span.deferredStage === undefined) map.set(key, value)
  else {
    const pairs = span.deferredPairs
    if (pairs === undefined) span.deferredPairs = [key, value]
    else {
      pairs.push(key, value)
      if (pairs.length >= 2 * maxDeferredPairs) materializeStageAttributes(span)
    }
  }
}

/**
 * Makes `span`'s attribute map hold what it deferred, before encoders that read `_attributes` see it (they
 * write deferred stage attributes themselves): the written pairs go into the map, and when the stage
 * attributes are deferred as well, so do they (a pair may overwrite one of them).
 */
export const settleDeferredPairs = (span: DeferringSpan): void => {
  if (span.deferredPairs !== undefined) materializeStageAttributes(span)
}
