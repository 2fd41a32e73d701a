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
  const visit = (list: ReadonlyArray<StageExecution>) => {
    for (const stage of list) {
      let childMs = 0
      for (const sub of stage.substages) childMs += sub.durationMs
      const selfMs = Math.max(0, stage.durationMs - childMs)
      const fraction = selfMs / requestMs
      if (fraction >= share) {
        out.push({
          stageId: stage.stageId,
          name: stage.name,
          durationMs: stage.durationMs,
          selfMs,
          share: fraction,
        })
      }
      if (stage.substages.length > 0) visit(stage.substages)
    }
  }
  visit(stages)
  return out.sort((a, b) => b.selfMs - a.selfMs)
}
