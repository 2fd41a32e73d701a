/**
 * The import rules of the house (see CONTRIBUTING.md, "The house"):
 *
 * 1. `src/internal/` is the floor every concern stands on: a file there imports only from `src/internal/`
 *    (and packages), never from a concern folder.
 * 2. No concern imports `src/telemetry/`: `Telemetry` composes the concerns, not the other way round.
 * 3. No import cycle among the files of `src/`.
 *
 * Every import counts, `import type` and `export … from` included: a type-only arrow is still an arrow in
 * the design (a model file and its `internal/state.ts` importing each other's types is the circle rule 3 is
 * about), and it costs nothing to point it the right way. The graph comes from `deno info --json`, which
 * resolves specifiers exactly as Deno does (dynamic imports included).
 *
 * Run with `deno run --allow-read --allow-run tools/check_imports.ts` (part of `deno task check`); it
 * prints each violation and exits with 1 when there is one.
 *
 * @module
 */

/** One import: `from` imports `to`, both paths relative to the repository root (`src/…`). */
export interface Edge {
  readonly from: string
  readonly to: string
  /** 1-based line of the specifier in `from`. */
  readonly line: number
  readonly typeOnly: boolean
}

/** A broken rule, with a message naming the files and lines. */
export interface Violation {
  readonly rule: "internal-imports-concern" | "concern-imports-telemetry" | "cycle"
  readonly message: string
}

interface Span {
  readonly specifier: string
  readonly span: { readonly start: { readonly line: number } }
}

interface InfoModule {
  readonly specifier: string
  readonly dependencies?: ReadonlyArray<{
    readonly code?: Span
    readonly type?: Span
  }>
}

const root = new URL("../", import.meta.url)

const relative = (specifier: string): string | undefined =>
  specifier.startsWith(root.href) ? decodeURIComponent(specifier.slice(root.href.length)) : undefined

const info = async (file: string): Promise<ReadonlyArray<InfoModule>> => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", file],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output()
  if (!out.success) throw new Error(`deno info ${file} failed: ${new TextDecoder().decode(out.stderr)}`)
  return (JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: ReadonlyArray<InfoModule> }).modules
}

const sourceFiles = async (dir: string): Promise<Array<string>> => {
  const files: Array<string> = []
  for await (const entry of Deno.readDir(new URL(dir, root))) {
    const path = `${dir}/${entry.name}`
    if (entry.isDirectory) files.push(...await sourceFiles(path))
    else if (/\.(ts|tsx|js|mjs)$/.test(entry.name)) files.push(path)
  }
  return files.sort()
}

/**
 * The imports among the files of `src/` (and `mod.ts`): `deno info` from `mod.ts`, then from every file
 * of `src/` that graph did not reach (entry points such as `src/report/cli.ts`).
 */
export const importGraph = async (): Promise<Array<Edge>> => {
  const edges = new Map<string, Edge>()
  const seen = new Set<string>()
  const add = (modules: ReadonlyArray<InfoModule>) => {
    for (const module of modules) {
      const from = relative(module.specifier)
      if (from === undefined || seen.has(from)) continue
      seen.add(from)
      for (const dependency of module.dependencies ?? []) {
        // A `code` entry means a value import (`import type` and type-only re-exports only have `type`).
        const target = dependency.code ?? dependency.type
        if (target === undefined) continue
        const to = relative(target.specifier)
        if (to === undefined) continue
        edges.set(`${from}\0${to}`, {
          from,
          to,
          line: target.span.start.line + 1,
          typeOnly: dependency.code === undefined,
        })
      }
    }
  }
  add(await info("mod.ts"))
  for (const file of await sourceFiles("src")) {
    if (!seen.has(file)) add(await info(file))
  }
  return [...edges.values()]
}

/** `src/<folder>/…` → `<folder>`; `undefined` outside `src/` or for a file directly in it. */
const folderOf = (path: string): string | undefined => /^src\/([^/]+)\//.exec(path)?.[1]

const where = (edge: Edge): string =>
  `${edge.from}:${edge.line} imports ${edge.typeOnly ? "(type only) " : ""}${edge.to}`

/** Strongly connected components with more than one file (or a file importing itself), by Tarjan. */
const cycles = (edges: ReadonlyArray<Edge>): Array<Array<string>> => {
  const next = new Map<string, Array<string>>()
  for (const edge of edges) {
    if (!edge.from.startsWith("src/") || !edge.to.startsWith("src/")) continue
    const list = next.get(edge.from) ?? []
    list.push(edge.to)
    next.set(edge.from, list)
  }
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: Array<string> = []
  const onStack = new Set<string>()
  const components: Array<Array<string>> = []
  const visit = (node: string) => {
    index.set(node, index.size)
    low.set(node, index.get(node)!)
    stack.push(node)
    onStack.add(node)
    for (const to of next.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to)
        low.set(node, Math.min(low.get(node)!, low.get(to)!))
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!))
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: Array<string> = []
      let member: string
      do {
        member = stack.pop()!
        onStack.delete(member)
        component.push(member)
      } while (member !== node)
      if (component.length > 1 || (next.get(node) ?? []).includes(node)) components.push(component.sort())
    }
  }
  for (const node of [...next.keys()].sort()) if (!index.has(node)) visit(node)
  return components
}

/** One shortest circle through `start` inside `component`, as the edges that make it. */
const circleThrough = (start: string, component: ReadonlySet<string>, edges: ReadonlyArray<Edge>) => {
  const previous = new Map<string, Edge>()
  const queue = [start]
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!
    for (const edge of edges) {
      if (edge.from !== node || !component.has(edge.to)) continue
      if (edge.to === start) {
        const path = [edge]
        for (let at = node; at !== start; at = previous.get(at)!.from) path.unshift(previous.get(at)!)
        return path
      }
      if (!previous.has(edge.to)) {
        previous.set(edge.to, edge)
        queue.push(edge.to)
      }
    }
  }
  return []
}

/** Every broken rule in `edges`. */
export const violations = (edges: ReadonlyArray<Edge>): Array<Violation> => {
  const found: Array<Violation> = []
  for (const edge of edges) {
    const from = folderOf(edge.from)
    const to = folderOf(edge.to)
    if (from === "internal" && to !== "internal" && edge.to.startsWith("src/")) {
      found.push({
        rule: "internal-imports-concern",
        message: `${where(edge)}: src/internal/ must not import from a concern folder`,
      })
    }
    if (from !== undefined && from !== "telemetry" && from !== "internal" && to === "telemetry") {
      found.push({
        rule: "concern-imports-telemetry",
        message: `${where(edge)}: a concern must not import src/telemetry/ (Telemetry composes the concerns)`,
      })
    }
  }
  for (const component of cycles(edges)) {
    const circle = circleThrough(component[0]!, new Set(component), edges)
    found.push({
      rule: "cycle",
      message: `import cycle among ${component.join(", ")}:\n${
        circle.map((e) => `    ${where(e)}`).join("\n")
      }`,
    })
  }
  return found
}

if (import.meta.main) {
  const found = violations(await importGraph())
  for (const violation of found) console.error(`${violation.rule}: ${violation.message}`)
  if (found.length > 0) {
    console.error(`${found.length} import rule violation(s); see CONTRIBUTING.md, "The house"`)
    Deno.exit(1)
  }
}
