/**
 * Per-stage heap deltas, off by default and free when off: `Stage.track(id, { memory: true })` wraps the
 * stage's effect (decided when the wrapper is built), `Telemetry.layer({ stageMemory: true })` installs a
 * stage start and end hook (only then). Either way the delta goes on the stage's execution
 * (`memoryDeltaBytes`, so summaries, JSONL lines and lifecycle records carry it) and on its span; the
 * metrics concern's stage-end hook, which runs after, puts it in `stagetrace_stage_memory_delta_bytes`.
 *
 * The heap is read with `v8.getHeapStatistics()` (0.3–1.2 µs): `Deno.memoryUsage()` also reads the RSS from
 * the operating system and costs ≈13 µs, too much around every stage.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Tracer from "effect/Tracer"
import v8 from "node:v8"
import { Bool, type Env, envBoolean, option } from "../../internal/config.ts"
import { OwnerKey, type StageNode } from "../../internal/recorder.ts"
import type { Concern } from "../../internal/concern.ts"
import type { StageMemoryOptions } from "../../internal/stageModel.ts"

/** The span attribute of a measured stage. */
export const memoryDeltaAttribute = "stagetrace.memory_delta_bytes"

/** The JavaScript heap in use, in bytes; `NaN` when it cannot be read. */
export const heapUsed = (): number => {
  try {
    return v8.getHeapStatistics().used_heap_size
  } catch {
    return Number.NaN
  }
}

/**
 * Puts a measured delta on the stage: its execution (unless its request has ended and its summary is
 * published already) and its span.
 */
export const recordMemoryDelta = (node: StageNode, deltaBytes: number): void => {
  if (!Number.isFinite(deltaBytes)) return
  if (node.request === undefined || !node.request.closed) node.exec.memoryDeltaBytes = deltaBytes
  node.span.attribute(memoryDeltaAttribute, deltaBytes)
}

/** The stage node that owns `span` itself (not an ancestor's), if it is the stage `stageId`. */
const stageOf = (span: Tracer.AnySpan | undefined, stageId: string): StageNode | undefined => {
  const owner = (span as { [OwnerKey]?: { _tag: string } } | undefined)?.[OwnerKey]
  return owner?._tag === "Stage" && (owner as StageNode).exec.stageId === stageId
    ? owner as StageNode
    : undefined
}

/**
 * Runs `self`, the effect of the stage `stageId` (inside it), and records the heap delta of its run on
 * the stage. Nothing is recorded when no stage owns the current span (telemetry turned off).
 */
export const measureMemory = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  stageId: string,
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => {
    const span = fiber.cache.span
    const start = heapUsed()
    return Effect.onExitPrimitive(self, () => {
      const node = stageOf(span, stageId)
      if (node !== undefined) recordMemoryDelta(node, heapUsed() - start)
      return undefined
    })
  })

/**
 * The layer-wide option (`stageMemory`, `STAGETRACE_STAGE_MEMORY`): a stage start hook reads the heap, the
 * stage end hook records the delta (unless the stage measured itself). Installed before the metrics and
 * lifecycle concerns, whose hooks read the delta. Stages in progress are kept in a map until they end
 * (every started stage ends, interrupted ones included), so it holds no more than the open stages.
 */
export const stageMemoryConcern: Concern<StageMemoryOptions> = {
  name: "stage-memory",
  environmentVariables: ["STAGETRACE_STAGE_MEMORY"],
  fromEnv: (env: Env) =>
    Effect.map(
      envBoolean(env, ["STAGETRACE_STAGE_MEMORY"]),
      (stageMemory) => (stageMemory === undefined ? {} : { stageMemory }),
    ),
  install: (recorder, options) =>
    Effect.map(option("stageMemory", Bool, options.stageMemory, false), (enabled) => {
      if (!enabled) return {}
      const starts = new Map<StageNode, number>()
      recorder.stageStart.push((node) => {
        starts.set(node, heapUsed())
      })
      recorder.stageEnd.push((node) => {
        const start = starts.get(node)
        if (start === undefined) return
        starts.delete(node)
        if (node.exec.memoryDeltaBytes === undefined) recordMemoryDelta(node, heapUsed() - start)
      })
      return {}
    }),
}
