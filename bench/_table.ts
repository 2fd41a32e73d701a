/**
 * Turns `deno bench --json` output into the README's Performance table: for every group, each bench's
 * average time and its ratio to the group's `baseline: true` bench, all from the same run.
 *
 *     deno bench -A --json bench/ > bench.json && deno run -A bench/_table.ts bench.json
 */

interface BenchResult {
  readonly ok?: { readonly avg: number; readonly p75: number }
}
interface Bench {
  readonly origin: string
  readonly group: string | null
  readonly name: string
  readonly baseline: boolean
  readonly results: ReadonlyArray<BenchResult>
}

const file = Deno.args[0]
const text = file === undefined
  ? await new Response(Deno.stdin.readable).text()
  : await Deno.readTextFile(file)
const report = JSON.parse(text) as {
  readonly runtime: string
  readonly cpu: string
  readonly benches: Bench[]
}

const time = (ns: number) =>
  ns >= 1e6
    ? `${(ns / 1e6).toFixed(2)} ms`
    : ns >= 1e3
    ? `${(ns / 1e3).toFixed(2)} µs`
    : `${ns.toFixed(1)} ns`

console.log(`${report.runtime}, ${report.cpu}\n`)
console.log("| file | group | bench | avg | ratio to baseline |")
console.log("| --- | --- | --- | --- | --- |")
const groups = new Map<string, Array<Bench>>()
for (const bench of report.benches) {
  const key = `${bench.origin.split("/").pop()}#${bench.group ?? ""}`
  groups.set(key, [...(groups.get(key) ?? []), bench])
}
for (const [key, benches] of groups) {
  const [origin, group] = key.split("#")
  const baseline = benches.find((b) => b.baseline)?.results[0]?.ok?.avg
  for (const bench of benches) {
    const avg = bench.results[0]?.ok?.avg
    if (avg === undefined) continue
    const ratio = baseline === undefined
      ? ""
      : bench.baseline
      ? "baseline"
      : `${(avg / baseline).toFixed(2)}×`
    console.log(`| ${origin} | ${group} | ${bench.name} | ${time(avg)} | ${ratio} |`)
  }
}
