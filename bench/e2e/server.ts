/**
 * One set-up of the end-to-end benchmark app (`app.ts`), served on 127.0.0.1 (a port picked by the OS,
 * printed as `{"port":…}` on the first line of stdout). Started by `bench/e2e/main.ts`, one process per
 * set-up:
 *
 *     deno run -A bench/e2e/server.ts <variant> [--sink http://127.0.0.1:4318] [--soak]
 *
 * For the OTLP set-ups, a second listener (its port printed as `statsPort` on the same line) answers
 * `GET /` with stagetrace's own export counts (`ExportCounts` in `app.ts`): spans exported, dropped by
 * reason, queued. It is a separate port so the measured handler checks nothing per request.
 *
 * With `--soak`, `GET /__mem` runs a full garbage collection (needs `--v8-flags=--expose-gc`) and answers
 * the heap and RSS (checked before the app, so it is not instrumented).
 */
import { makeHandler } from "./app.ts"

const variant = Deno.args[0] ?? "bare"
const flag = (name: string): string | undefined => {
  const index = Deno.args.indexOf(name)
  return index < 0 ? undefined : Deno.args[index + 1]
}
const sink = flag("--sink") ?? "http://127.0.0.1:4318"
const soak = Deno.args.includes("--soak")

const { handler, dispose, exportCounts } = await makeHandler(variant, sink)

let statsPort: number | undefined
let statsServer: Deno.HttpServer | undefined
if (exportCounts !== undefined) {
  const listening = Promise.withResolvers<number>()
  statsServer = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => listening.resolve(port),
  }, async () => Response.json(await exportCounts()))
  statsPort = await listening.promise
}

const gc = (globalThis as { gc?: () => void }).gc
const served = soak
  ? (request: globalThis.Request, info: Deno.ServeHandlerInfo): Response | Promise<Response> => {
    if (request.url.endsWith("/__mem")) {
      gc?.()
      const memory = Deno.memoryUsage()
      return Response.json({ heapUsed: memory.heapUsed, rss: memory.rss, gc: gc !== undefined })
    }
    return handler(request, info)
  }
  : handler

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(JSON.stringify({ port, statsPort })),
}, served)

const stop = async () => {
  await server.shutdown()
  await dispose()
  await statsServer?.shutdown()
  Deno.exit(0)
}
Deno.addSignalListener("SIGTERM", () => void stop())
Deno.addSignalListener("SIGINT", () => void stop())
