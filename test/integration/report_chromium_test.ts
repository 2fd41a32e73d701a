/**
 * Opens the HTML report of a generated 3000-request log in headless Chromium (Debian's
 * `/usr/bin/chromium`, installed by `.ci/run` from `.ci/debian-packages`), driven over the DevTools
 * protocol: the page must load from `file://` with no console error, no exception and no network request,
 * its charts must be drawn, its script must work (legend toggling), and a full-page screenshot is saved.
 * `STAGETRACE_UPDATE_SCREENSHOT=1` also writes it to `docs/report.png`.
 */
import assert from "node:assert/strict"
import { generate } from "../../src/report/Report.ts"
import { writeLog } from "../report/_fixture.ts"

const chromium = "/usr/bin/chromium"

/** A minimal DevTools protocol client over one WebSocket. */
class Cdp {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  readonly events: Array<{ method: string; params: Record<string, unknown> }> = []
  private readonly waiters: Array<{ method: string; resolve: () => void }> = []

  private constructor(private readonly socket: WebSocket) {
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data))
      if (typeof message.id === "number") {
        const entry = this.pending.get(message.id)
        this.pending.delete(message.id)
        if (message.error !== undefined) entry?.reject(new Error(JSON.stringify(message.error)))
        else entry?.resolve(message.result)
      } else {
        this.events.push({ method: message.method, params: message.params ?? {} })
        for (let i = this.waiters.length - 1; i >= 0; i--) {
          if (this.waiters[i]!.method === message.method) this.waiters.splice(i, 1)[0]!.resolve()
        }
      }
    }
  }

  static connect(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url)
      socket.onopen = () => resolve(new Cdp(socket))
      socket.onerror = () => reject(new Error(`cannot connect to ${url}`))
    })
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.socket.send(JSON.stringify({ id, method, params }))
    })
  }

  waitFor(method: string): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ method, resolve }))
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.readyState === WebSocket.CLOSED) return resolve()
      this.socket.onclose = () => resolve()
      this.socket.close()
    })
  }
}

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/** Reads Chromium's stderr until it prints its DevTools endpoint; keeps draining it afterwards. */
const devToolsPort = async (
  stderr: ReadableStream<Uint8Array>,
): Promise<{ port: number; drained: Promise<void> }> => {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader()
  let text = ""
  while (true) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`chromium exited before listening:\n${text}`)
    text += value
    const match = text.match(/DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//)
    if (match !== null) {
      const drained = (async () => {
        while (!(await reader.read()).done) { /* discard */ }
      })()
      return { port: Number(match[1]), drained }
    }
  }
}

Deno.test({
  name: "report renders in headless Chromium: charts drawn, no console errors, screenshot saved",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    assert.ok(
      await Deno.stat(chromium).then(() => true, () => false),
      `${chromium} is missing: install Debian's chromium (apt-get install chromium; .ci/run does it)`,
    )
    const dir = await Deno.makeTempDir({ prefix: "stagetrace-report-" })
    const profile = await Deno.makeTempDir({ prefix: "stagetrace-chromium-" })
    const log = `${dir}/perf.jsonl`
    await writeLog(log, 3000)
    const { out, analysis } = await generate(log)
    assert.equal(analysis.requests, 3000)

    const child = new Deno.Command(chromium, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "--window-size=1280,900",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn()
    let cdp: Cdp | undefined
    let drained: Promise<void> = Promise.resolve()
    try {
      const endpoint = await withTimeout(devToolsPort(child.stderr), 30_000, "chromium to start")
      drained = endpoint.drained
      const targets = await (await fetch(`http://127.0.0.1:${endpoint.port}/json/list`)).json() as Array<
        { type: string; webSocketDebuggerUrl: string }
      >
      const page = targets.find((t) => t.type === "page")
      assert.ok(page !== undefined, "no page target")
      cdp = await Cdp.connect(page.webSocketDebuggerUrl)
      await cdp.send("Page.enable")
      await cdp.send("Runtime.enable")
      await cdp.send("Log.enable")
      await cdp.send("Network.enable")
      const loaded = cdp.waitFor("Page.loadEventFired")
      await cdp.send("Page.navigate", { url: `file://${out}` })
      await withTimeout(loaded, 30_000, "the report to load")

      const evaluate = async <T>(expression: string): Promise<T> => {
        const result = await cdp!.send<{ result: { value: T }; exceptionDetails?: unknown }>(
          "Runtime.evaluate",
          {
            expression,
            returnByValue: true,
          },
        )
        assert.equal(result.exceptionDetails, undefined, JSON.stringify(result.exceptionDetails))
        return result.result.value
      }
      const checks = await evaluate<Record<string, unknown>>(`({
        ready: document.documentElement.dataset.ready,
        charts: Number(document.documentElement.dataset.charts),
        stageRows: document.querySelectorAll("#stage-table tbody tr").length,
        series: document.querySelectorAll("#latency-chart .series").length,
        polylines: document.querySelectorAll("#latency-chart polyline").length,
        waterfalls: document.querySelectorAll("#waterfalls .waterfall").length,
        waterfallBars: document.querySelectorAll("#waterfalls rect.bar").length,
        bottleneckBars: document.querySelectorAll("#bottleneck-chart rect").length,
        budgetRows: document.querySelectorAll("#budget-table tbody tr").length,
        errorBars: document.querySelectorAll("#error-chart rect").length,
        slowRows: document.querySelectorAll("#slow-table tbody tr").length,
        latencyWidth: document.querySelector("#latency-chart").getBoundingClientRect().width,
        title: document.title,
      })`)
      assert.equal(checks.ready, "true")
      assert.equal(checks.title, "stagetrace performance report")
      assert.equal(checks.charts, 3 + analysis.slowest.length)
      assert.equal(checks.stageRows, analysis.stages.length)
      assert.equal(checks.series, analysis.timeline.series.length)
      assert.ok(Number(checks.polylines) >= analysis.timeline.series.length)
      assert.equal(checks.waterfalls, 6)
      assert.ok(Number(checks.waterfallBars) >= 6 * 5)
      assert.ok(Number(checks.bottleneckBars) >= 1)
      assert.ok(Number(checks.budgetRows) >= 2)
      assert.equal(checks.errorBars, 2)
      assert.ok(Number(checks.slowRows) >= 1)
      assert.ok(Number(checks.latencyWidth) > 800)

      // The script works: a legend click hides its series, a header click sorts the table.
      const toggled = await evaluate<number>(`(() => {
        document.querySelector("#latency-legend .legend-item").click()
        return document.querySelectorAll("#latency-chart .series.hidden").length
      })()`)
      assert.equal(toggled, 1)
      await evaluate<number>(
        `(() => { document.querySelector("#latency-legend .legend-item").click(); return 0 })()`,
      )
      const sorted = await evaluate<Array<string>>(`(() => {
        document.querySelectorAll("#stage-table th")[1].click()
        return Array.from(document.querySelectorAll("#stage-table tbody tr td:nth-child(2)")).map((td) => td.textContent)
      })()`)
      assert.deepEqual(sorted, [...sorted].sort((a, b) => Number(b) - Number(a)))

      const metrics = await cdp.send<{ cssContentSize: { width: number; height: number } }>(
        "Page.getLayoutMetrics",
      )
      const shot = await cdp.send<{ data: string }>("Page.captureScreenshot", {
        format: "png",
        captureBeyondViewport: true,
        clip: {
          x: 0,
          y: 0,
          width: 1280,
          height: Math.min(Math.ceil(metrics.cssContentSize.height), 8000),
          scale: 1,
        },
      })
      const png = Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0))
      assert.deepEqual([...png.slice(0, 4)], [0x89, 0x50, 0x4e, 0x47])
      assert.ok(png.length > 50_000, "the screenshot looks empty")
      await Deno.writeFile(`${dir}/report.png`, png)
      if (Deno.env.get("STAGETRACE_UPDATE_SCREENSHOT") === "1") {
        await Deno.writeFile(new URL("../../docs/report.png", import.meta.url), png)
      }

      const problems = cdp.events.filter((e) =>
        e.method === "Runtime.exceptionThrown" ||
        (e.method === "Runtime.consoleAPICalled" &&
          (e.params.type === "error" || e.params.type === "warning")) ||
        (e.method === "Log.entryAdded" && (e.params.entry as { level?: string })?.level === "error")
      )
      assert.deepEqual(problems, [])
      const requests = cdp.events.filter((e) => e.method === "Network.requestWillBeSent")
        .map((e) => (e.params.request as { url: string }).url)
      assert.deepEqual(requests, [`file://${out}`])
    } finally {
      await cdp?.close()
      child.kill("SIGTERM")
      await child.status
      await drained.catch(() => {})
      await Deno.remove(dir, { recursive: true })
      await Deno.remove(profile, { recursive: true }).catch(() => {})
    }
  },
})
