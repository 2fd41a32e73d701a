/**
 * The report command: writes the HTML report of JSONL performance logs and prints a text summary.
 * `deno task report <dir-or-file> [--out report.html] [--title text]` in this repository;
 * `deno task report --compare <before> <after>` (or `--compare <dir-or-file>`, split by `service.version`)
 * compares two deployments stage by stage instead. From JSR:
 * `deno run -R -W jsr:@stagetrace/stagetrace/report ./logs/performance`.
 *
 * Guide: [Logs, redaction and the report](../../docs/logs-redaction-report.md#the-performance-report).
 *
 * @module
 */
import { generate, generateComparison } from "./Report.ts"

const usage = "usage: deno task report <dir-or-file.jsonl> [--out report.html] [--title text]\n" +
  "       deno task report --compare <before> <after> [--out compare.html] [--title text]\n" +
  "       deno task report --compare <dir-or-file> [--versions <before>,<after>] (split by service.version)"

/** `--compare <before> [<after>]`: compares two deployments instead of reporting one. */
const compareMain = async (args: ReadonlyArray<string>): Promise<number> => {
  const paths: Array<string> = []
  let out: string | undefined
  let title: string | undefined
  let versions: [string, string] | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--compare") continue
    if (arg === "--out" || arg === "-o") out = args[++i]
    else if (arg === "--title") title = args[++i]
    else if (arg === "--versions") {
      const parts = (args[++i] ?? "").split(",").map((v) => v.trim())
      if (parts.length !== 2 || parts.some((v) => v === "")) {
        console.error(`--versions takes two versions: --versions 1.2.0,1.3.0\n${usage}`)
        return 2
      }
      versions = [parts[0]!, parts[1]!]
    } else if (arg.startsWith("-")) {
      console.error(`unexpected argument ${JSON.stringify(arg)}\n${usage}`)
      return 2
    } else paths.push(arg)
  }
  if (paths.length < 1 || paths.length > 2 || (paths.length === 2 && versions !== undefined)) {
    console.error(usage)
    return 2
  }
  try {
    const result = await generateComparison(paths[0]!, paths[1], { out, title, versions })
    console.log(result.text)
    console.log(`\nwrote ${result.out}`)
    return result.comparison.stages.length === 0 ? 1 : 0
  } catch (error) {
    console.error(
      `cannot compare ${paths.join(" and ")}: ${error instanceof Error ? error.message : String(error)}`,
    )
    return 1
  }
}

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
  if (args.includes("--compare")) return compareMain(args)
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
