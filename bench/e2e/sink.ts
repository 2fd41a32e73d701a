/**
 * A cheap OTLP/HTTP sink for the end-to-end benchmark: accepts every export (`/v1/traces`, `/v1/metrics`,
 * `/v1/logs`, protobuf or JSON), reads the body and answers an empty success; `GET /stats` answers the
 * number of export requests, bytes and (for OTLP/protobuf traces) spans received per path. Prints
 * `{"port":…}` when listening.
 *
 *     deno run -A bench/e2e/sink.ts
 */
const received = new Map<string, { requests: number; bytes: number; spans: number }>()

/** Reads a varint at `pos`: [value, next position], or [-1, -1] when malformed. */
const varint = (bytes: Uint8Array, pos: number): [number, number] => {
  let value = 0
  let scale = 1
  while (pos < bytes.length) {
    const byte = bytes[pos++]!
    value += (byte & 0x7f) * scale
    if (byte < 0x80) return [value, pos]
    scale *= 128
    if (scale > 2 ** 56) break
  }
  return [-1, -1]
}

/**
 * Calls `each(start, end)` for every length-delimited field `field` of the message in `bytes[start, end)`,
 * skipping the others by their wire type; `false` when the message is malformed.
 */
const eachField = (
  bytes: Uint8Array,
  start: number,
  end: number,
  field: number,
  each: (start: number, end: number) => boolean,
): boolean => {
  let pos = start
  while (pos < end) {
    const [key, afterKey] = varint(bytes, pos)
    if (afterKey < 0) return false
    pos = afterKey
    const wire = key & 7
    if (wire === 0) {
      const [, next] = varint(bytes, pos)
      if (next < 0) return false
      pos = next
    } else if (wire === 1) pos += 8
    else if (wire === 5) pos += 4
    else if (wire === 2) {
      const [length, next] = varint(bytes, pos)
      if (next < 0 || next + length > end) return false
      if (Math.floor(key / 8) === field && !each(next, next + length)) return false
      pos = next + length
    } else return false
  }
  return pos === end
}

/**
 * The spans of an `ExportTraceServiceRequest` (protobuf): resource_spans (1) → scope_spans (2) → spans (2),
 * walked by field lengths without decoding the spans themselves; -1 when the body is malformed.
 */
export const countSpans = (bytes: Uint8Array): number => {
  let spans = 0
  const ok = eachField(
    bytes,
    0,
    bytes.length,
    1,
    (rs, re) =>
      eachField(bytes, rs, re, 2, (ss, se) =>
        eachField(bytes, ss, se, 2, () => {
          spans++
          return true
        })),
  )
  return ok ? spans : -1
}

if (import.meta.main) {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: Number(Deno.args[0] ?? 0),
    onListen: ({ port }) => console.log(JSON.stringify({ port })),
  }, async (request) => {
    const path = new URL(request.url).pathname
    if (request.method === "GET" && path === "/stats") return Response.json(Object.fromEntries(received))
    if (path === "/reset") {
      received.clear()
      return new Response(null, { status: 204 })
    }
    const body = await request.bytes()
    const entry = received.get(path) ?? { requests: 0, bytes: 0, spans: 0 }
    entry.requests++
    entry.bytes += body.byteLength
    const json = request.headers.get("content-type")?.includes("json") === true
    if (path === "/v1/traces" && !json) {
      const spans = countSpans(body)
      if (spans < 0) return new Response("malformed ExportTraceServiceRequest", { status: 400 })
      entry.spans += spans
    }
    received.set(path, entry)
    return new Response(json ? "{}" : new Uint8Array(0), {
      headers: { "content-type": json ? "application/json" : "application/x-protobuf" },
    })
  })

  Deno.addSignalListener("SIGTERM", () => void server.shutdown().then(() => Deno.exit(0)))
}
