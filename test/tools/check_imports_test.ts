import assert from "node:assert/strict"
import { type Edge, importGraph, violations } from "../../tools/check_imports.ts"

const edge = (from: string, to: string, typeOnly = false): Edge => ({ from, to, line: 1, typeOnly })

Deno.test("the house keeps its import rules (CONTRIBUTING.md, The house)", async () => {
  const found = violations(await importGraph())
  assert.deepEqual(found.map((v) => `${v.rule}: ${v.message}`), [])
})

Deno.test("importGraph() covers every file of src/, type-only imports and entry points outside mod.ts", async () => {
  const edges = await importGraph()
  const files = new Set(edges.flatMap((e) => [e.from, e.to]))
  const walk = (dir: string): Array<string> =>
    [...Deno.readDirSync(new URL(`../../${dir}`, import.meta.url))].flatMap((entry) =>
      entry.isDirectory ? walk(`${dir}/${entry.name}`) : [`${dir}/${entry.name}`]
    )
  assert.deepEqual(walk("src").filter((file) => !files.has(file)), [])
  const has = (from: string, to: string) => edges.find((e) => e.from === from && e.to === to)
  assert.equal(has("mod.ts", "src/stage/mod.ts")?.typeOnly, false)
  // `import type` and type-only re-exports are edges too.
  assert.equal(has("src/internal/recorder.ts", "src/internal/requestModel.ts")?.typeOnly, true)
  // src/report/cli.ts is not reached from mod.ts (it is the `./report` export).
  assert.ok(has("src/report/cli.ts", "src/report/Report.ts"))
})

Deno.test("violations() flags src/internal/ importing a concern, type-only or not", () => {
  const found = violations([
    edge("src/internal/recorder.ts", "src/stage/Request.ts", true),
    edge("src/internal/recorder.ts", "src/internal/requestModel.ts"),
    edge("src/stage/Request.ts", "src/internal/requestModel.ts"),
  ])
  assert.deepEqual(found.map((v) => v.rule), ["internal-imports-concern"])
  assert.match(
    found[0]!.message,
    /src\/internal\/recorder\.ts:1 imports \(type only\) src\/stage\/Request\.ts/,
  )
})

Deno.test("violations() flags a concern importing src/telemetry/, not telemetry importing a concern", () => {
  const found = violations([
    edge("src/budget/internal/concern.ts", "src/telemetry/Telemetry.ts", true),
    edge("src/telemetry/Telemetry.ts", "src/budget/internal/concern.ts"),
    edge("src/telemetry/Telemetry.ts", "src/internal/concern.ts", true),
  ])
  assert.deepEqual(found.map((v) => v.rule), ["concern-imports-telemetry", "cycle"])
  assert.match(found[0]!.message, /^src\/budget\/internal\/concern\.ts:1 imports/)
})

Deno.test("violations() flags a cycle closed by a type-only import and names the circle", () => {
  const found = violations([
    edge("src/budget/Budgets.ts", "src/budget/internal/state.ts"),
    edge("src/budget/internal/state.ts", "src/budget/internal/window.ts"),
    edge("src/budget/internal/window.ts", "src/budget/Budgets.ts", true),
    edge("src/budget/internal/concern.ts", "src/budget/Budgets.ts"),
  ])
  assert.equal(found.length, 1)
  assert.equal(found[0]!.rule, "cycle")
  assert.match(
    found[0]!.message,
    /^import cycle among src\/budget\/Budgets\.ts, src\/budget\/internal\/state\.ts, /,
  )
  assert.doesNotMatch(found[0]!.message, /concern\.ts/)
  assert.equal(found[0]!.message.split("\n").length, 4)
})

Deno.test("violations() accepts a graph without circles", () => {
  assert.deepEqual(
    violations([
      edge("src/a/A.ts", "src/a/internal/x.ts"),
      edge("src/a/internal/x.ts", "src/internal/model.ts", true),
      edge("src/b/B.ts", "src/a/A.ts"),
      edge("src/b/B.ts", "src/a/internal/x.ts"),
    ]),
    [],
  )
})
