/**
 * Reads JSONL performance logs: one file, or every `*.jsonl` file of a directory (sorted by name), line
 * by line as a stream. Lines that are not summary lines (`stagetrace.summary.v1`) are skipped and
 * counted, so a log mixing other JSON records still works.
 *
 * @internal
 */
import { isSummaryLine, type SummaryLine } from "../../internal/jsonl.ts"

/** What was read. */
export interface ReadResult {
  readonly sources: ReadonlyArray<string>
  readonly lines: ReadonlyArray<SummaryLine>
  readonly skippedLines: number
}

/** The files a path stands for: the file itself, or the `.jsonl` files of a directory. */
export const sourcesOf = async (path: string): Promise<Array<string>> => {
  const info = await Deno.stat(path)
  if (!info.isDirectory) return [path]
  const files: Array<string> = []
  for await (const entry of Deno.readDir(path)) {
    if (entry.isFile && entry.name.endsWith(".jsonl")) files.push(`${path.replace(/\/+$/, "")}/${entry.name}`)
  }
  return files.sort()
}

/** Parses one file, calling `onLine` for each summary line; returns the number of skipped lines. */
export const readFile = async (path: string, onLine: (line: SummaryLine) => void): Promise<number> => {
  const file = await Deno.open(path, { read: true })
  let skipped = 0
  let rest = ""
  const handle = (text: string) => {
    const trimmed = text.trim()
    if (trimmed === "") return
    try {
      const value: unknown = JSON.parse(trimmed)
      if (isSummaryLine(value)) onLine(value)
      else skipped++
    } catch {
      skipped++
    }
  }
  const decoder = new TextDecoder()
  for await (const chunk of file.readable) {
    const text = rest + decoder.decode(chunk, { stream: true })
    const parts = text.split("\n")
    rest = parts.pop() ?? ""
    for (const part of parts) handle(part)
  }
  handle(rest + decoder.decode())
  return skipped
}

/** Reads every summary line under `path`. */
export const read = async (path: string): Promise<ReadResult> => {
  const sources = await sourcesOf(path)
  const lines: Array<SummaryLine> = []
  let skippedLines = 0
  for (const source of sources) skippedLines += await readFile(source, (line) => lines.push(line))
  return { sources, lines, skippedLines }
}
