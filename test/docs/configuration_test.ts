/**
 * The configuration reference (`docs/configuration.md`) cannot drift from the code: its option tables
 * must list exactly the options of `TelemetryOptions` (and of the interfaces it extends, read with
 * `deno doc --json`, nested option objects included), with the defaults their `@default` tags give, and
 * its variable table exactly `Telemetry.environmentVariables`. A new option or variable fails here until
 * its row is added.
 *
 * Tables are recognised by their first header cell: `option` (options of `Telemetry.layer`),
 * `runtime option` (the options `Telemetry.makeRuntime` adds) and `variable`.
 */
import assert from "node:assert/strict"
import { Telemetry } from "../../mod.ts"
import { codeNames, type Table, tables } from "./_markdown.ts"

const root = new URL("../../", import.meta.url)
const page = await Deno.readTextFile(new URL("docs/configuration.md", root))
const pageTables = tables(page)

// ---------------------------------------------------------------------------------------------------------
// The option types, from `deno doc --json`
// ---------------------------------------------------------------------------------------------------------

interface DocType {
  readonly kind: string
  readonly value?: unknown
}
interface TypeRef {
  readonly typeName: string
  readonly resolution?: { readonly kind: string; readonly specifier?: string; readonly name?: string } | null
}
interface DocProperty {
  readonly name: string
  readonly optional?: boolean
  readonly tsType?: DocType | null
  readonly jsDoc?: {
    readonly tags?: ReadonlyArray<{ readonly kind: string; readonly value?: string; readonly doc?: string }>
  }
}
interface DocDeclaration {
  readonly kind: string
  readonly location: { readonly filename: string; readonly line: number }
  readonly def?: {
    readonly extends?: ReadonlyArray<{ readonly value: TypeRef }>
    readonly properties?: ReadonlyArray<DocProperty>
    readonly target?: { readonly filename: string; readonly line: number }
  }
}
interface DocModule {
  readonly symbols: ReadonlyArray<
    { readonly name: string; readonly declarations: ReadonlyArray<DocDeclaration> }
  >
}

const sourceFiles = async (dir: URL): Promise<Array<string>> => {
  const out: Array<string> = []
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir)
    if (entry.isDirectory) out.push(...await sourceFiles(url))
    else if (entry.name.endsWith(".ts")) out.push(url.pathname)
  }
  return out
}

const denoDoc = async (): Promise<Record<string, DocModule>> => {
  const files = await sourceFiles(new URL("src/", root))
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...files],
    cwd: root.pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output()
  if (!output.success) throw new Error(`deno doc --json failed: ${new TextDecoder().decode(output.stderr)}`)
  return (JSON.parse(new TextDecoder().decode(output.stdout)) as { nodes: Record<string, DocModule> }).nodes
}

const nodes = await denoDoc()

/** The interface `name` of `file`, following re-exports. */
const findInterface = (file: string, name: string): [string, DocDeclaration] | undefined => {
  const declaration = nodes[file]?.symbols.find((s) => s.name === name)?.declarations[0]
  if (declaration === undefined) return undefined
  if (declaration.kind === "reference" && declaration.def?.target !== undefined) {
    const target = declaration.def.target
    const symbol = nodes[target.filename]?.symbols.find((s) =>
      s.declarations.some((d) => d.location.line === target.line && d.kind !== "reference")
    )
    return symbol === undefined ? undefined : findInterface(target.filename, symbol.name)
  }
  return declaration.kind === "interface" ? [file, declaration] : undefined
}

/** Where a type reference points inside this package, if it does (npm types and globals do not). */
const resolve = (file: string, ref: TypeRef): [string, string] | undefined => {
  const resolution = ref.resolution
  if (resolution?.kind === "local") return [file, ref.typeName]
  if (resolution?.kind === "import" && resolution.specifier?.startsWith(".")) {
    // `Runtime.RuntimeOwnOptions` through `import * as Runtime`: the name is the last segment.
    return [new URL(resolution.specifier, file).href, resolution.name ?? ref.typeName.split(".").at(-1)!]
  }
  return undefined
}

/** Every property of an interface, those of the interfaces it extends first. */
const properties = (file: string, name: string): Array<[string, DocProperty]> => {
  const found = findInterface(file, name)
  if (found === undefined) throw new Error(`Cannot find the interface ${name} in ${file}`)
  const [at, declaration] = found
  const inherited = (declaration.def?.extends ?? []).flatMap((e) => {
    const target = resolve(at, e.value)
    if (target === undefined) throw new Error(`Cannot resolve ${e.value.typeName}, extended by ${name}`)
    return properties(...target)
  })
  return [...inherited, ...(declaration.def?.properties ?? []).map((p): [string, DocProperty] => [at, p])]
}

const typeRefs = (type: DocType | null | undefined): Array<TypeRef> =>
  type == null
    ? []
    : type.kind === "union"
    ? (type.value as ReadonlyArray<DocType>).flatMap(typeRefs)
    : type.kind === "typeRef"
    ? [type.value as TypeRef]
    : []

const defaultTag = (property: DocProperty): string | undefined => {
  for (const tag of property.jsDoc?.tags ?? []) {
    // `@default {…}` is read by deno doc as a type in braces: put the braces back.
    if (tag.kind === "default" && tag.value !== undefined) return `{${tag.value}}${tag.doc ?? ""}`.trim()
    if (tag.value?.startsWith("@default")) return tag.value.slice("@default".length).trim()
  }
  return undefined
}

interface Option {
  readonly path: string
  readonly default: string | undefined
}

/**
 * The options of an interface: each property, and the properties of a property whose type is an option
 * object of this package (an interface whose properties are all optional), as `parent.child`.
 */
const optionsOf = (file: string, name: string, prefix = "", depth = 0): Array<Option> =>
  properties(file, name).flatMap(([at, property]) => {
    const path = prefix + property.name
    const nested = depth >= 3 ? [] : typeRefs(property.tsType).flatMap((ref) => {
      const target = resolve(at, ref)
      const found = target === undefined ? undefined : findInterface(...target)
      if (target === undefined || found === undefined) return []
      const all = properties(...target)
      return all.length > 0 && all.every(([, p]) => p.optional === true)
        ? optionsOf(target[0], target[1], path + ".", depth + 1)
        : []
    })
    return [{ path, default: defaultTag(property) }, ...nested]
  })

const telemetryFile = new URL("src/telemetry/Telemetry.ts", root).href
const layerOptions = optionsOf(telemetryFile, "TelemetryOptions")
const layerPaths = new Set(layerOptions.map((o) => o.path))
const runtimeOptions = optionsOf(telemetryFile, "RuntimeOptions").filter((o) => !layerPaths.has(o.path))

// ---------------------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------------------

const tablesNamed = (first: string): Array<Table> => pageTables.filter((t) => t.header[0] === first)

interface Row {
  readonly names: ReadonlyArray<string>
  readonly cells: Readonly<Record<string, string>>
  readonly where: string
}

const rowsOf = (first: string): Array<Row> =>
  tablesNamed(first).flatMap((table) =>
    table.rows.map((row) => ({
      names: codeNames(row[0] ?? ""),
      cells: Object.fromEntries(table.header.map((h, i) => [h, row[i] ?? ""])),
      where: `the table under "${table.heading}" (line ${table.line})`,
    }))
  )

const listed = (rows: ReadonlyArray<Row>): Array<string> => rows.flatMap((r) => r.names)

const assertSameSet = (documented: ReadonlyArray<string>, actual: ReadonlyArray<string>, what: string) => {
  const missing = [...new Set(actual)].filter((name) => !documented.includes(name))
  const unknown = [...new Set(documented)].filter((name) => !actual.includes(name))
  const repeated = documented.filter((name, i) => documented.indexOf(name) !== i)
  assert.deepEqual(
    { missing, unknown, repeated },
    { missing: [], unknown: [], repeated: [] },
    `docs/configuration.md and the code disagree on the ${what}: add a row for each missing one, remove ` +
      `each unknown one, keep one row per name`,
  )
}

// ---------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------

Deno.test("docs/configuration.md has an option table, a runtime option table and a variable table", () => {
  for (const first of ["option", "runtime option", "variable"]) {
    assert.ok(tablesNamed(first).length > 0, `no table whose first column is "${first}"`)
  }
  assert.ok(layerOptions.length > 30, `only ${layerOptions.length} options read from TelemetryOptions`)
})

Deno.test("docs/configuration.md lists every Telemetry.layer option, nested ones included, and no other", () => {
  assertSameSet(listed(rowsOf("option")), [...layerPaths], "options of Telemetry.layer (TelemetryOptions)")
})

Deno.test("docs/configuration.md lists the options Telemetry.makeRuntime adds", () => {
  assertSameSet(
    listed(rowsOf("runtime option")),
    runtimeOptions.map((o) => o.path),
    "options of Telemetry.makeRuntime (RuntimeOptions)",
  )
})

Deno.test("docs/configuration.md gives every option the default its @default tag documents", () => {
  const rows = [...rowsOf("option"), ...rowsOf("runtime option")]
  const wrong: Array<string> = []
  for (const option of [...layerOptions, ...runtimeOptions]) {
    const row = rows.find((r) => r.names.includes(option.path))
    if (row === undefined || option.default === undefined) continue
    const cell = (row.cells["default"] ?? "").replace(/`/g, "").trim()
    // A long default (a bucket list, a computed name) may be summarised in the table.
    const agrees = option.default.length > 40
      ? cell !== ""
      : cell === option.default || cell.startsWith(option.default + " ")
    if (!agrees) wrong.push(`${option.path}: the code says ${option.default}, ${row.where} says ${cell}`)
  }
  assert.deepEqual(wrong, [])
})

Deno.test("docs/configuration.md lists every variable of Telemetry.environmentVariables and no other", () => {
  assertSameSet(listed(rowsOf("variable")), Telemetry.environmentVariables, "environment variables")
})

Deno.test("Telemetry.environmentVariables names each variable once", () => {
  const list = Telemetry.environmentVariables
  assert.deepEqual(list.filter((name, i) => list.indexOf(name) !== i), [])
})

Deno.test("docs/configuration.md names only variables Telemetry.layerFromEnv reads in its option tables", () => {
  const named = [...rowsOf("option"), ...rowsOf("runtime option")].flatMap((row) =>
    codeNames(row.cells["variable"] ?? "").map((text) => text.replace(/=.*$/, ""))
  )
  const unknown = named.filter((name) => /^[A-Z][A-Z0-9_]+$/.test(name))
    .filter((name) => !Telemetry.environmentVariables.includes(name))
  assert.deepEqual(unknown, [])
})
