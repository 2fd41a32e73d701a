/**
 * SQL query summaries in the style of OpenTelemetry's `db.query.summary`: the operations and the tables
 * they work on, in the order they appear (`SELECT users`, `INSERT shipping_details SELECT orders`,
 * `SELECT songs artists`). Literals, parameters, comments and column names never appear in a summary, so it
 * is safe for stage ids and metric labels and stays low-cardinality.
 *
 * A small hand-written scanner, not a parser: it recognizes string literals (`'…'`, `E'…'`, dollar quotes),
 * quoted identifiers (`"…"`, `` `…` ``, `[…]`), comments and numbers, and reads tables after `FROM`, `JOIN`,
 * `INTO`, `UPDATE`, `TABLE` and `USING`.
 *
 * @internal
 */

/** Keywords that start an operation of the summary. */
const operations: ReadonlySet<string> = new Set([
  "SELECT",
  "INSERT",
  "UPDATE",
  "DELETE",
  "MERGE",
  "UPSERT",
  "REPLACE",
  "CREATE",
  "ALTER",
  "DROP",
  "TRUNCATE",
  "CALL",
  "EXEC",
  "EXECUTE",
  "BEGIN",
  "START",
  "COMMIT",
  "ROLLBACK",
  "SAVEPOINT",
  "RELEASE",
  "COPY",
  "GRANT",
  "REVOKE",
  "LISTEN",
  "NOTIFY",
  "UNLISTEN",
  "VACUUM",
  "ANALYZE",
  "LOCK",
  "SHOW",
  "SET",
  "EXPLAIN",
  "REFRESH",
  "REINDEX",
])

/** Keywords after which a table name follows. */
const tableKeywords: ReadonlySet<string> = new Set(["FROM", "JOIN", "INTO", "TABLE", "USING", "UPDATE"])

/** Keywords that may sit between a table keyword and the table itself. */
const skipBeforeTable: ReadonlySet<string> = new Set([
  "ONLY",
  "LATERAL",
  "IF",
  "NOT",
  "EXISTS",
  "TEMP",
  "TEMPORARY",
  "UNLOGGED",
  "TABLE",
])

/** Keywords that end a `FROM a, b` list (anything else after a comma is a table). */
const clauseKeywords: ReadonlySet<string> = new Set([
  "WHERE",
  "GROUP",
  "ORDER",
  "HAVING",
  "LIMIT",
  "OFFSET",
  "FETCH",
  "FOR",
  "WINDOW",
  "UNION",
  "INTERSECT",
  "EXCEPT",
  "RETURNING",
  "ON",
  "SET",
  "VALUES",
  "JOIN",
  "INNER",
  "LEFT",
  "RIGHT",
  "FULL",
  "CROSS",
  "NATURAL",
])

/** Longest summary, as OpenTelemetry advises; cut at a whole word. */
const maxSummaryLength = 255
/** Characters of query text scanned (a summary is complete long before, except for pathological text). */
const maxScan = 16_384

const isIdentStart = (c: number): boolean =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c > 0x7f

const isIdentPart = (c: number): boolean => isIdentStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x24

/** The words of a query that matter to a summary: identifiers and keywords (upper-cased), `,` `(` `)`. */
const scan = (text: string): Array<string> => {
  const out: Array<string> = []
  const n = Math.min(text.length, maxScan)
  let i = 0
  while (i < n) {
    const c = text.charCodeAt(i)
    // whitespace
    if (c <= 0x20) {
      i++
      continue
    }
    // -- comment
    if (c === 0x2d && text.charCodeAt(i + 1) === 0x2d) {
      const end = text.indexOf("\n", i)
      i = end < 0 ? n : end + 1
      continue
    }
    // /* comment */
    if (c === 0x2f && text.charCodeAt(i + 1) === 0x2a) {
      const end = text.indexOf("*/", i + 2)
      i = end < 0 ? n : end + 2
      continue
    }
    // 'string' (with '' escapes; E'..' is an identifier E followed by a string, dropped below)
    if (c === 0x27) {
      i++
      while (i < n) {
        const d = text.charCodeAt(i)
        if (d === 0x5c && i + 1 < n) i += 2
        else if (d === 0x27) {
          if (text.charCodeAt(i + 1) === 0x27) i += 2
          else {
            i++
            break
          }
        } else i++
      }
      const before = out.length > 0 ? out[out.length - 1]!.toUpperCase() : ""
      if (before === "E" || before === "N" || before === "B" || before === "X" || before === "U&") out.pop()
      continue
    }
    // $1 parameter or $tag$ … $tag$ dollar quote
    if (c === 0x24) {
      let j = i + 1
      while (j < n && isIdentPart(text.charCodeAt(j)) && text.charCodeAt(j) !== 0x24) j++
      if (text.charCodeAt(j) === 0x24 && !/^\$[0-9]/.test(text.slice(i, i + 2))) {
        const tag = text.slice(i, j + 1)
        const end = text.indexOf(tag, j + 1)
        i = end < 0 ? n : end + tag.length
        continue
      }
      i = j
      continue
    }
    // "quoted identifier", `quoted`, [quoted]
    if (c === 0x22 || c === 0x60 || c === 0x5b) {
      const close = c === 0x5b ? "]" : String.fromCharCode(c)
      const end = text.indexOf(close, i + 1)
      const word = text.slice(i + 1, end < 0 ? n : end)
      i = end < 0 ? n : end + 1
      // `schema."table"` continues the previous word
      if (out.length > 0 && out[out.length - 1]!.endsWith(".")) out[out.length - 1] += word
      else out.push(word)
      continue
    }
    if (c === 0x2c || c === 0x28 || c === 0x29) {
      out.push(text[i]!)
      i++
      continue
    }
    // identifiers and keywords (with dots: schema.table)
    if (isIdentStart(c)) {
      let j = i + 1
      while (j < n) {
        const d = text.charCodeAt(j)
        if (isIdentPart(d) || d === 0x2e) j++
        else break
      }
      const word = text.slice(i, j)
      if (out.length > 0 && out[out.length - 1]!.endsWith(".")) out[out.length - 1] += word
      else out.push(word)
      i = j
      continue
    }
    // numbers, operators, `?`, `:name`, `;`…
    if (c === 0x3a) {
      // :name parameters (and ::casts): skip the name
      i++
      while (i < n && (text.charCodeAt(i) === 0x3a || isIdentPart(text.charCodeAt(i)))) i++
      continue
    }
    if (c >= 0x30 && c <= 0x39) {
      while (i < n && (isIdentPart(text.charCodeAt(i)) || text.charCodeAt(i) === 0x2e)) i++
      continue
    }
    i++
  }
  return out
}

/**
 * The summary of a SQL query: operations upper-cased, tables as written, in order of appearance, at most
 * 255 characters; the first word (upper-cased) when no operation is recognized; `""` for empty text.
 */
export const summarizeSql = (text: string): string => {
  const words = scan(text)
  const parts: Array<string> = []
  let expectTable = false
  let inFromList = false
  let depth = 0
  let fromDepth = -1
  let length = 0
  let full = false
  const push = (part: string): void => {
    if (full) return
    if (length + part.length + (parts.length > 0 ? 1 : 0) > maxSummaryLength) {
      full = true
      return
    }
    // `SELECT a JOIN a` or repeated operations in a row say nothing new
    if (parts.length > 0 && parts[parts.length - 1] === part) return
    length += part.length + (parts.length > 0 ? 1 : 0)
    parts.push(part)
  }
  for (let w = 0; w < words.length && !full; w++) {
    const word = words[w]!
    if (word === "(") {
      depth++
      expectTable = false
      continue
    }
    if (word === ")") {
      depth--
      if (depth < fromDepth) inFromList = false
      continue
    }
    if (word === ",") {
      expectTable = inFromList && depth === fromDepth
      continue
    }
    const upper = word.toUpperCase()
    if (expectTable) {
      if (skipBeforeTable.has(upper)) continue
      expectTable = false
      if (operations.has(upper) && upper !== "UPDATE") {
        push(upper)
        continue
      }
      push(word)
      continue
    }
    if (upper === "FROM") {
      expectTable = true
      inFromList = true
      fromDepth = depth
      continue
    }
    if (inFromList && depth === fromDepth && clauseKeywords.has(upper)) inFromList = false
    if (upper === "UPDATE") {
      // `ON CONFLICT … DO UPDATE SET …` and `FOR UPDATE` are not operations of their own
      const previous = w > 0 ? words[w - 1]!.toUpperCase() : ""
      if (previous === "DO" || previous === "FOR" || previous === "KEY") continue
      push(upper)
      expectTable = true
      continue
    }
    if (upper === "TRUNCATE") {
      push(upper)
      expectTable = true
      continue
    }
    if (tableKeywords.has(upper)) {
      expectTable = true
      continue
    }
    if (operations.has(upper)) {
      // `SET` and `START`/`BEGIN` inside statements are not operations (UPDATE … SET, CASE … END)
      if (upper === "SET" && parts.length > 0) continue
      if ((upper === "START" || upper === "BEGIN") && parts.length > 0) continue
      if (upper === "REPLACE" && parts[parts.length - 1] === "CREATE") continue
      push(upper)
    }
  }
  if (parts.length === 0) return words.length === 0 ? "" : words[0]!.toUpperCase().slice(0, maxSummaryLength)
  return parts.join(" ")
}

/** The operation of a summary (its first word), for metric labels. */
export const operationOf = (summary: string): string => {
  const space = summary.indexOf(" ")
  return space < 0 ? summary : summary.slice(0, space)
}
