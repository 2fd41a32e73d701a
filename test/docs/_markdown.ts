/**
 * Just enough Markdown for the documentation tests: the tables of a page (header cells, body rows, the
 * heading they sit under), the backticked names of a cell with `{a,b}` alternatives expanded, the links of
 * a page and GitHub's heading anchors.
 */

/** One Markdown table: its header cells (lowercase), its rows, the heading above it and its line. */
export interface Table {
  readonly heading: string
  readonly line: number
  readonly header: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
}

/** Splits a table row into cells (a `|` inside backticks or escaped as `\|` does not split). */
export const cells = (line: string): Array<string> => {
  const out: Array<string> = []
  let current = ""
  let code = false
  const body = line.trim().replace(/^\|/, "").replace(/\|$/, "")
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!
    if (c === "\\" && body[i + 1] === "|") {
      current += "|"
      i++
    } else if (c === "`") {
      code = !code
      current += c
    } else if (c === "|" && !code) {
      out.push(current.trim())
      current = ""
    } else current += c
  }
  out.push(current.trim())
  return out
}

/** Lines of `text` outside fenced code blocks, with their 1-based numbers. */
const proseLines = (text: string): Array<[number, string]> => {
  const out: Array<[number, string]> = []
  let fence = false
  text.split("\n").forEach((line, i) => {
    if (/^\s*(```|~~~)/.test(line)) fence = !fence
    else if (!fence) out.push([i + 1, line])
  })
  return out
}

/** Every table of a Markdown page, in order. */
export const tables = (text: string): Array<Table> => {
  const out: Array<Table> = []
  const lines = proseLines(text)
  let heading = ""
  for (let i = 0; i < lines.length; i++) {
    const [number, line] = lines[i]!
    const h = /^#{1,6}\s+(.*)$/.exec(line)
    if (h !== null) heading = h[1]!.trim()
    const separator = lines[i + 1]?.[1]
    if (line.trim().startsWith("|") && separator !== undefined && /^\s*\|[\s:|-]+\|\s*$/.test(separator)) {
      const header = cells(line).map((c) => c.toLowerCase())
      const rows: Array<Array<string>> = []
      let j = i + 2
      while (j < lines.length && lines[j]![1].trim().startsWith("|")) rows.push(cells(lines[j++]![1]))
      out.push({ heading, line: number, header, rows })
      i = j - 1
    }
  }
  return out
}

/** `a{b,c}d` → `abd`, `acd` (nested alternatives too). */
export const expandBraces = (text: string): Array<string> => {
  const open = text.indexOf("{")
  if (open < 0) return [text]
  let depth = 0
  for (let i = open; i < text.length; i++) {
    if (text[i] === "{") depth++
    else if (text[i] === "}" && --depth === 0) {
      const inner = text.slice(open + 1, i)
      const parts: Array<string> = []
      let level = 0
      let start = 0
      for (let k = 0; k < inner.length; k++) {
        if (inner[k] === "{") level++
        else if (inner[k] === "}") level--
        else if (inner[k] === "," && level === 0) {
          parts.push(inner.slice(start, k))
          start = k + 1
        }
      }
      parts.push(inner.slice(start))
      const rest = text.slice(i + 1)
      return parts.flatMap((part) => expandBraces(text.slice(0, open) + part + rest))
    }
  }
  return [text]
}

/** The backticked spans of a cell, each with its `{a,b}` alternatives expanded. */
export const codeNames = (cell: string): Array<string> =>
  [...cell.matchAll(/`([^`]+)`/g)].flatMap((m) => expandBraces(m[1]!.trim()))

/** The anchor GitHub gives a heading: lowercase, punctuation removed, spaces to `-`. */
export const anchor = (heading: string): string =>
  heading
    .toLowerCase()
    .replace(/`/g, "")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .trim()
    .replace(/\s/g, "-")

/** The anchors of every heading of a page (a repeated heading gets `-1`, `-2`… as on GitHub). */
export const anchors = (text: string): Set<string> => {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const [, line] of proseLines(text)) {
    const h = /^#{1,6}\s+(.*)$/.exec(line)
    if (h === null) continue
    const base = anchor(h[1]!)
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

/** The targets of the inline links and images of a page outside code, with their line numbers. */
export const links = (text: string): Array<{ readonly line: number; readonly target: string }> => {
  const out: Array<{ line: number; target: string }> = []
  for (const [number, line] of proseLines(text)) {
    const withoutCode = line.replace(/`[^`]*`/g, "")
    for (const m of withoutCode.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      out.push({ line: number, target: m[1]! })
    }
  }
  return out
}
