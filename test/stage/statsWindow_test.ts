import assert from "node:assert/strict"
import { StatsStore } from "../../src/internal/stageStats.ts"
import { StatsWindow } from "../../src/internal/statsWindow.ts"

const near = (actual: number, expected: number, relative = 0.011) =>
  assert.ok(Math.abs(actual - expected) <= relative * Math.abs(expected) + 1e-9, `${actual} ≉ ${expected}`)

Deno.test("StatsWindow reads the same quantiles as the stage's sketch when the window holds every sample", () => {
  const store = new StatsStore(10)
  const window = new StatsWindow(store)
  const entry = store.entry("llm")
  for (let i = 1; i <= 1000; i++) entry.record(i / 10, i % 10 !== 0)
  const [stats] = window.peek()
  assert.equal(stats?.stageId, "llm")
  assert.equal(stats?.count, 1000)
  assert.equal(stats?.successes, 900)
  near(stats!.sumMs, 50050)
  near(stats!.p50Ms, entry.quantile(0.5))
  near(stats!.p95Ms, entry.quantile(0.95))
  near(stats!.p99Ms, entry.quantile(0.99))
  near(stats!.p95Ms, 95, 0.02)
})

Deno.test("StatsWindow.roll starts a new window: later quantiles see only later samples", () => {
  const store = new StatsStore(10)
  const entry = store.entry("kb")
  for (let i = 0; i < 500; i++) entry.record(10, true)
  const window = new StatsWindow(store)
  assert.deepEqual(window.peek(), [], "samples before the window are not in it")
  for (let i = 0; i < 100; i++) entry.record(100, true)
  const first = window.roll()
  assert.equal(first[0]?.count, 100)
  near(first[0]!.p50Ms, 100)
  near(first[0]!.minMs, 100)
  for (let i = 0; i < 50; i++) entry.record(i === 49 ? 0 : 5, false)
  const second = window.roll()
  assert.equal(second[0]?.count, 50)
  assert.equal(second[0]?.successes, 0)
  assert.equal(second[0]?.minMs, 0)
  near(second[0]!.p50Ms, 5)
  near(second[0]!.maxMs, 5)
  assert.deepEqual(window.roll(), [], "an idle stage has an empty window")
})

Deno.test("StatsWindow follows stages that appear after it was created", () => {
  const store = new StatsStore(10)
  const window = new StatsWindow(store)
  store.entry("late").record(3, true)
  const [stats] = window.roll()
  assert.equal(stats?.count, 1)
  near(stats!.p99Ms, 3)
})
