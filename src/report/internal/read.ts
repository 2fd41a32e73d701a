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

/** Lines longer than this are skipped (and counted) without being held: a summary line is far shorter. */
export const maxLineLength = 16 * 1024 * 1024

/**
 * Parses one file, calling `onLine` for each summary line; returns the number of skipped lines. Memory holds
 * one line at a time, at most `maxLength` characters of it: a longer line (a file that is not JSONL) is
 * skipped as it streams past.
 */
export const readFile = async (
  path: string,
  onLine: (line: SummaryLine) => void,
  maxLength: number = maxLineLength,
): Promise<number> => {
  const file = await Deno.open(path, { read: true })
  let skipped = 0
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
  // The current line's text so far, in pieces (joined once, when its end arrives).
  let pieces: Array<string> = []
  let length = 0
  let tooLong = false
  const endLine = (last: string) => {
    if (tooLong || length + last.length > maxLength) skipped++
    else handle(pieces.length === 0 ? last : pieces.join("") + last)
    pieces = []
    length = 0
    tooLong = false
  }
  const take = (text: string) => {
    let from = 0
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", from)) {
      endLine(text.slice(from, nl))
      from = nl + 1
    }
    if (from < text.length && !tooLong) {
      const rest = text.slice(from)
      length += rest.length
      if (length > maxLength) {
        tooLong = true
        pieces = []
      } else pieces.push(rest)
    }
  }
  const decoder = new TextDecoder()
  for await (const chunk of file.readable) take(decoder.decode(chunk, { stream: true }))
  take(decoder.decode())
  if (length > 0 || tooLong) endLine("")
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
