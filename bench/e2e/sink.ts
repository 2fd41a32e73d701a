/**
 * A cheap OTLP/HTTP sink for the end-to-end benchmark: accepts every export (`/v1/traces`, `/v1/metrics`,
 * `/v1/logs`, protobuf or JSON), reads the body and answers an empty success; `GET /stats` answers the
 * number of export requests and bytes received per path. Prints `{"port":…}` when listening.
 *
 *     deno run -A bench/e2e/sink.ts
 */
const received = new Map<string, { requests: number; bytes: number }>()

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
  const body = await request.arrayBuffer()
  const entry = received.get(path) ?? { requests: 0, bytes: 0 }
  entry.requests++
  entry.bytes += body.byteLength
  received.set(path, entry)
  const json = request.headers.get("content-type")?.includes("json") === true
  return new Response(json ? "{}" : new Uint8Array(0), {
    headers: { "content-type": json ? "application/json" : "application/x-protobuf" },
  })
})

Deno.addSignalListener("SIGTERM", () => void server.shutdown().then(() => Deno.exit(0)))
