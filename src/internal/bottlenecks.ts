/**
 * Bottleneck detection, shared by live summaries and summaries read back from the store.
 *
 * @internal
 */
import type { Bottleneck } from "./requestModel.ts"
import type { StageExecution } from "./stageModel.ts"

/** Computes the stages whose own time (without their sub-stages) is at least `share` of the request. */
export const bottlenecksOf = (
  stages: ReadonlyArray<StageExecution>,
  requestMs: number,
  share: number,
): Array<Bottleneck> => {
  const out: Array<Bottleneck> = []
  if (!(requestMs > 0)) return out
  visit(stages, requestMs, share, out)
  return out.length < 2 ? out : out.sort((a, b) => b.selfMs - a.selfMs)
}

// Index loops and no closure: this runs for every request, and iterators allocate when not optimized.
const visit = (
  list: ReadonlyArray<StageExecution>,
  requestMs: number,
  share: number,
  out: Array<Bottleneck>,
): void => {
  for (let i = 0; i < list.length; i++) {
    const stage = list[i]!
    const substages = stage.substages
    let childMs = 0
    for (let j = 0; j < substages.length; j++) childMs += substages[j]!.durationMs
    const selfMs = Math.max(0, stage.durationMs - childMs)
    // A recorded stage may claim more time than its request has run: its share is at most the whole request.
    const fraction = Math.min(1, selfMs / requestMs)
    if (fraction >= share) {
      out.push({
        stageId: stage.stageId,
        name: stage.name,
        durationMs: stage.durationMs,
        selfMs,
        share: fraction,
      })
    }
    if (substages.length > 0) visit(substages, requestMs, share, out)
  }
}
