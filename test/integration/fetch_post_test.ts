/**
 * The default OTLP/HTTP transport (`fetchPost`) against a real local server: the answer's body is read
 * whole when it declares a small length, and at most about `maxResponseBytes` of it otherwise (streamed
 * without a length, or declaring a larger one).
 */
import assert from "node:assert/strict"
import { fetchPost, maxResponseBytes } from "../../src/export/internal/channel.ts"

const chunk = new Uint8Array(16 * 1024).fill(0x61)

Deno.test("fetchPost() reads a declared small answer whole and a large or endless one only up to its bound", async () => {
  const controller = new AbortController()
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
    async (request) => {
      await request.arrayBuffer()
      const path = new URL(request.url).pathname
      if (path === "/small") {
        return new Response(new Uint8Array([8, 1]), {
          status: 200,
          headers: { "content-type": "application/x-protobuf" },
        })
      }
      if (path === "/large") {
        return new Response(new Uint8Array(4 * maxResponseBytes).fill(0x62), {
          status: 200,
        })
      }
      // Streamed without a length, and longer than anyone should read.
      let sent = 0
      const body = new ReadableStream<Uint8Array>({
        pull: (stream) => {
          if (sent++ < 64) stream.enqueue(chunk)
          else stream.close()
        },
      })
      return new Response(body, { status: 503, headers: { "retry-after": "7" } })
    },
  )
  try {
    const url = (path: string) => `http://127.0.0.1:${server.addr.port}${path}`
    const post = (path: string) =>
      fetchPost(url(path), new Uint8Array([1, 2, 3]), {}, new AbortController().signal)
    const small = await post("/small")
    assert.equal(small.status, 200)
    assert.deepEqual(small.body, new Uint8Array([8, 1]))
    assert.equal(small.contentType, "application/x-protobuf")
    const large = await post("/large")
    assert.ok(large.body !== undefined && large.body.length >= maxResponseBytes)
    assert.ok(large.body.length < 4 * maxResponseBytes)
    const endless = await post("/endless")
    assert.equal(endless.status, 503)
    assert.equal(endless.retryAfter, "7")
    assert.ok(endless.body !== undefined && endless.body.length >= maxResponseBytes)
    assert.ok(endless.body.length < maxResponseBytes + 2 * chunk.length)
  } finally {
    controller.abort()
    await server.finished
  }
})
