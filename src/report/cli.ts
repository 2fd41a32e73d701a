/**
 * The report command: writes the HTML report of JSONL performance logs and prints a text summary.
 * `deno task report <dir-or-file> [--out report.html] [--title text]` in this repository, or from JSR:
 * `deno run -R -W jsr:@stagetrace/stagetrace/report ./logs/performance`.
 *
 * Guide: [Logs, redaction and the report](../../docs/logs-redaction-report.md#the-performance-report).
 *
 * @module
 */
import { generate } from "./Report.ts"

const usage = "usage: deno task report <dir-or-file.jsonl> [--out report.html] [--title text]"

/**
 * Runs the report command with `args` (as on the command line); resolves to the exit code.
 *
 * @example Running the command from code
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Exporter, Report, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 * import { main } from "@stagetrace/stagetrace/report"
 *
 * // A JSONL performance log, as Exporter.jsonl writes it.
 * const dir = await Deno.makeTempDir()
 * await Effect.runPromise(
 *   Effect.void.pipe(Stage.track("llm_request"), Request.track("chat"), Effect.provide(Telemetry.layer({ exporters: [Exporter.jsonl({ dir })] }))),
 * )
 *
 * const code = await main([dir, "--out", `${dir}/out.html`])
 * assert.equal(code, 0)
 * assert.ok((await Deno.stat(`${dir}/out.html`)).isFile)
 * await Deno.remove(dir, { recursive: true })
 * ```
 *
 * @category report
 * @since 0.1.0
 */
const main = async (args: ReadonlyArray<string>): Promise<number> => {
  let path: string | undefined
  let out: string | undefined
  let title: string | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--out" || arg === "-o") out = args[++i]
    else if (arg === "--title") title = args[++i]
    else if (arg === "--help" || arg === "-h") {
      console.log(usage)
      return 0
    } else if (path === undefined) path = arg
    else {
      console.error(`unexpected argument ${JSON.stringify(arg)}\n${usage}`)
      return 2
    }
  }
  if (path === undefined) {
    console.error(usage)
    return 2
  }
  try {
    const result = await generate(path, { out, title })
    console.log(result.text)
    console.log(`\nwrote ${result.out}`)
    return result.analysis.requests === 0 ? 1 : 0
  } catch (error) {
    console.error(`cannot report ${path}: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args))

export { main }
