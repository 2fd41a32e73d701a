import assert from "node:assert/strict"
import type { Health } from "../../mod.ts"

const root = new URL("../../", import.meta.url)

/** Runs `Health.check` in a child Deno with only `--allow-read` (no --allow-sys, no --allow-env). */
const probe = async (permissions: ReadonlyArray<string>): Promise<Health.HealthReport> => {
  const dir = await Deno.makeTempDir()
  try {
    const script = `${dir}/probe.ts`
    await Deno.writeTextFile(
      script,
      `import { Effect } from "effect"
import { Health, Telemetry } from ${JSON.stringify(new URL("mod.ts", root).href)}
const report = await Effect.runPromise(Health.check.pipe(Effect.provide(Telemetry.layer({ health: { rssLimit: 1e12 } }))))
console.log(JSON.stringify(report))
`,
    )
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--config", new URL("deno.json", root).pathname, ...permissions, script],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output()
    const stderr = new TextDecoder().decode(output.stderr)
    assert.equal(output.code, 0, stderr)
    return JSON.parse(new TextDecoder().decode(output.stdout))
  } finally {
    await Deno.remove(dir, { recursive: true })
  }
}

Deno.test("Health.check without --allow-sys degrades gracefully and says so", async () => {
  const report = await probe(["--allow-read"])
  assert.equal(report.status, "healthy")
  assert.equal(report.metrics.system.systemMemory, undefined)
  assert.equal(report.metrics.system.loadAverage, undefined)
  assert.ok(report.metrics.system.rssBytes > 0)
  assert.deepEqual(report.metrics.system.notes, [
    "system memory unavailable: run with --allow-sys to check it",
    "load average unavailable: run with --allow-sys to report it",
  ])
  assert.equal(report.checks.memory.status, "healthy")
  assert.match(report.checks.memory.message, /process RSS/)
})

Deno.test("Health.check with --allow-sys reads system memory and load average", async () => {
  const report = await probe(["--allow-read", "--allow-sys"])
  assert.ok(report.metrics.system.systemMemory!.totalBytes > 0)
  assert.equal(report.metrics.system.loadAverage?.length, 3)
  assert.deepEqual(report.metrics.system.notes, [])
})
