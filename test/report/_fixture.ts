/**
 * Generates a JSONL performance log with the real toolkit: `Request.track` / `Stage.track` /
 * `Stage.record` under `Telemetry.layer`, a deterministic clock and random generator, every summary turned
 * into a line with `toSummaryLine` (and redacted with the installed redactor, as the JSONL exporter does).
 *
 * The workload is a chat pipeline (auth → routing → cache → knowledge base → LLM → formatting) with a
 * built-in story for the report to find: the `large` model and the `archive` index are slow, an incident
 * slows the LLM in the middle of the run, the LLM sometimes hits a rate limit, and formatting sometimes
 * fails on bad input.
 *
 * Budgets and error categories are marked here the way the budgets and errors concerns mark them (those
 * concerns live on other branches): a stage over its budget gets `overBudget` and `budgetMs`, an error
 * gets a `category`.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Request, Stage, Telemetry } from "../../mod.ts"
import { toSummaryLine } from "../../src/internal/jsonl.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { manualClock } from "../_harness.ts"
import { RedactorSlot } from "../../src/internal/slots.ts"
import type { RequestSummary } from "../../src/stage/Request.ts"
import type { StageExecution } from "../../src/stage/Stage.ts"

const mulberry32 = (seed: number) => () => {
  seed |= 0
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const budgets: Record<string, number> = { auth_check: 10, kb_access: 150, llm_request: 1200, request: 1500 }

class RateLimited extends Error {
  override readonly name = "RateLimited"
}
class InvalidMarkdown extends Error {
  override readonly name = "InvalidMarkdown"
}
const categories: Record<string, string> = { RateLimited: "transient", InvalidMarkdown: "data" }

const markStage = (stage: StageExecution): StageExecution => {
  const budgetMs = budgets[stage.stageId]
  return {
    ...stage,
    ...(budgetMs !== undefined ? { budgetMs, overBudget: stage.durationMs > budgetMs } : {}),
    ...(stage.error !== undefined
      ? { error: { ...stage.error, category: categories[stage.error.type] } }
      : {}),
    substages: stage.substages.map(markStage),
  }
}

const mark = (summary: RequestSummary): RequestSummary => {
  const stages = summary.stages.map(markStage)
  const anyStageOver = JSON.stringify(stages).includes('"overBudget":true')
  return {
    ...summary,
    stages,
    budgetMs: budgets.request,
    overBudget: anyStageOver || summary.durationMs > budgets.request!,
    ...(summary.error !== undefined
      ? { error: { ...summary.error, category: categories[summary.error.type] } }
      : {}),
  }
}

/** `count` JSONL lines (one per request, one request per second of virtual time). */
export const generateLog = async (count: number, seed = 7): Promise<Array<string>> => {
  const random = mulberry32(seed)
  const time = manualClock(Date.UTC(2026, 10, 24, 9, 0, 0), () => Effect.void)
  const advance = time.advance
  const work = (ms: number) => Effect.sync(() => advance(ms))
  const between = (lo: number, hi: number) => lo + random() * (hi - lo)

  const handle = (i: number) => {
    const model = random() < 0.3 ? "large" : "small"
    const index = random() < 0.25 ? "archive" : "docs"
    const tier = random() < 0.4 ? "pro" : "free"
    const region = random() < 0.5 ? "eu" : "us"
    const incident = i > count * 0.45 && i < count * 0.6 ? 1.8 : 1
    const cacheHit = random() < 0.3
    return Effect.gen(function* () {
      yield* work(between(2, 7)).pipe(Stage.track("auth_check"))
      advance(between(1, 3))
      yield* Stage.record("routing_analysis", {
        metadata: { route: tier === "pro" ? "priority" : "default" },
      })
      yield* work(between(1, 4)).pipe(Stage.track("redis_cache", { metadata: { hit: cacheHit } }))
      if (!cacheHit) {
        const slow = index === "archive" ? 3 : 1
        yield* Effect.gen(function* () {
          yield* work(between(15, 45) * slow).pipe(Stage.track("kb_search"))
          yield* work(between(5, 20)).pipe(Stage.track("kb_rerank"))
        }).pipe(Stage.track("kb_access", { metadata: { index } }))
      }
      const llm = between(180, 650) * (model === "large" ? 2.1 : 1) * incident
      const rateLimited = random() < 0.03
      yield* (rateLimited
        ? Effect.andThen(
          work(llm / 3),
          Effect.fail(new RateLimited("rate limit exceeded for user bob@example.com")),
        )
        : work(llm)).pipe(Stage.track("llm_request", { metadata: { model } }))
      const badInput = random() < 0.015
      yield* (badInput
        ? Effect.andThen(work(2), Effect.fail(new InvalidMarkdown("unclosed code fence")))
        : work(between(3, 9))).pipe(Stage.track("response_formatting"))
    }).pipe(
      Request.track("chat", {
        requestId: `req-${String(i).padStart(5, "0")}`,
        attributes: { model, tier, region },
      }),
      Effect.ignore,
    )
  }

  const lines: Array<string> = []
  await Effect.runPromise(
    Effect.gen(function* () {
      const recorder = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
      const redactor = recorder.get(RedactorSlot)!
      recorder.summary.push((summary) => {
        lines.push(
          JSON.stringify(redactor.redactValue("", toSummaryLine(mark(summary), recorder.config.service))),
        )
      })
      const start = time.nanos
      for (let i = 0; i < count; i++) {
        time.nanos = start + BigInt(i) * 1_000_000_000n
        yield* handle(i)
      }
    }).pipe(
      Effect.provide(
        Layer.provideMerge(
          Telemetry.layer({ serviceName: "chat", environment: "staging", serviceVersion: "1.4.2" }),
          time.layer,
        ),
      ),
    ),
  )
  return lines
}

/** Writes a generated log to `path`. */
export const writeLog = async (path: string, count: number, seed?: number): Promise<void> => {
  const lines = await generateLog(count, seed)
  await Deno.writeTextFile(path, lines.join("\n") + "\n")
}

if (import.meta.main) {
  const [path = "perf.jsonl", count = "3000"] = Deno.args
  await writeLog(path, Number(count))
  console.log(`wrote ${count} requests to ${path}`)
}
