/**
 * The live dashboard in headless Chromium (Debian's `/usr/bin/chromium`, installed by `.ci/run` from
 * `.ci/debian-packages`), driven by `puppeteer-core` (pinned in `deno.json`, pointed at the system binary;
 * it never downloads a browser): the token is enforced, the page loads with no console error, live updates
 * arrive while requests run, a click opens a request's waterfall, errors, trace link and log records, the
 * request search works, and a screenshot is saved (`STAGETRACE_UPDATE_SCREENSHOT=1` also writes it to
 * `docs/dashboard.png`).
 */
import assert from "node:assert/strict"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as ManagedRuntime from "effect/ManagedRuntime"
import puppeteer from "puppeteer-core"
import { Dashboard, Errors, Request, Stage, Telemetry } from "../../mod.ts"

const chromium = "/usr/bin/chromium"
const token = "t0ken-for-tests"

class RateLimited extends Data.TaggedError("RateLimited")<{ readonly message: string }> {}

/** mulberry32, so the workload is the same on every run. */
const random = (state: number) => () => {
  state = (state + 0x6d2b79f5) | 0
  let t = Math.imul(state ^ (state >>> 15), 1 | state)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const waitFor = async (what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> => {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

Deno.test({
  name:
    "dashboard in headless Chromium: token enforced, live updates, waterfall on click, search, screenshot",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    assert.ok(
      await Deno.stat(chromium).then(() => true, () => false),
      `${chromium} is missing: install Debian's chromium (apt-get install chromium; .ci/run does it)`,
    )
    const runtime = ManagedRuntime.make(
      Telemetry.layer({
        serviceName: "chat-demo",
        serviceVersion: "1.4.0",
        environment: "test",
        dashboard: {
          port: 0,
          bearerToken: token,
          bucket: "1 second",
          buckets: 60,
          interval: "250 millis",
          traceUrl: "http://127.0.0.1:16686/trace/{traceId}",
        },
        budgets: { llm_request: "40 millis", chat: "120 millis" },
        errorRules: Errors.rules<RateLimited>({ tags: { RateLimited: "transient" } }),
        alerts: {
          thresholds: { transient: 3 },
          latencyAnomaly: { window: "1 second", minBaselineWindows: 3, minSamples: 5 },
        },
      }).pipe(
        // No console output: the dashboard's log capture is the only logger.
        Layer.provide(Logger.layer([])),
      ),
    )
    const rng = random(11)
    let slow = false
    let n = 0
    const request = () => {
      const id = `req-${String(n++).padStart(4, "0")}`
      const fail = rng() < 0.08
      const ms = (median: number) => Math.max(0.5, median * (0.6 + rng() * 0.8))
      return Effect.gen(function* () {
        yield* Effect.sleep(`${ms(2)} millis`).pipe(Stage.track("auth_check"))
        yield* Effect.logWarning("cache miss", { key: id })
        yield* Effect.gen(function* () {
          yield* Effect.sleep(`${ms(6)} millis`).pipe(Stage.track("kb_embed"))
          yield* Effect.sleep(`${ms(slow ? 45 : 12)} millis`).pipe(Stage.track("kb_search"))
        }).pipe(Stage.track("kb_access", { metadata: { index: "docs" } }))
        yield* Effect.sleep(`${ms(30)} millis`).pipe(
          Effect.andThen(
            fail ? Effect.fail(new RateLimited({ message: "LLM rate limit exceeded" })) : Effect.void,
          ),
          Stage.track("llm_request", { metadata: { model: rng() < 0.3 ? "large" : "small" } }),
        )
        yield* Effect.sleep(`${ms(2)} millis`).pipe(Stage.track("response_formatting"))
      }).pipe(Request.track("chat", { requestId: id, attributes: { route: "/chat" } }), Effect.ignore)
    }
    // Traffic until stopped: about 60 requests/s, 4 at a time.
    const traffic = runtime.runFork(
      Effect.forever(
        Effect.suspend(() => Effect.all(Array.from({ length: 4 }, request), { concurrency: 4 })),
      ),
    )
    const profile = await Deno.makeTempDir({ prefix: "stagetrace-chromium-" })
    const out = await Deno.makeTempDir({ prefix: "stagetrace-dashboard-" })
    const browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      userDataDir: profile,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    })
    try {
      const address = await runtime.runPromise(Dashboard.serverAddress)
      assert.ok(address !== undefined)
      const url = address.url
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/dashboard\/$/)

      // The token is enforced: nothing without it, or with a wrong one.
      for (const headers of [{}, { authorization: "Bearer wrong" }]) {
        const response = await fetch(`${url}api/snapshot`, { headers })
        assert.equal(response.status, 401)
        await response.body?.cancel()
      }
      const wrong = await fetch(`${url}?token=wrong`, { redirect: "manual" })
      assert.equal(wrong.status, 401)
      await wrong.body?.cancel()

      const page = await browser.newPage()
      await page.setViewport({ width: 1440, height: 1000 })
      const problems: Array<string> = []
      const debug: Array<string> = []
      page.on("console", (message) => {
        debug.push(`${message.type()}: ${message.text()}`)
        if (message.type() === "error" || message.type() === "warn") {
          problems.push(`${message.type()}: ${message.text()}`)
        }
      })
      page.on("pageerror", (error) => problems.push(`pageerror: ${error}`))
      const requested: Array<string> = []
      page.on("request", (r) => requested.push(r.url()))
      page.on("response", (r) => {
        if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`)
      })

      const denied = await page.goto(url)
      assert.equal(denied?.status(), 401)
      problems.length = 0 // the 401 itself is logged as a failed resource load
      const opened = await page.goto(`${url}?token=${token}`)
      assert.equal(opened?.status(), 200)
      assert.equal(new URL(page.url()).search, "", "the token is not left in the address bar")

      // Live updates arrive while requests run.
      /** Evaluates `expression` in the page (the test itself has no DOM types). */
      const evaluate = <T>(expression: string): Promise<T> => page.evaluate(expression) as Promise<T>
      const until = (expression: string, timeout = 20_000) =>
        page.waitForFunction(expression, { timeout, polling: 100 })
      await until(`document.documentElement.dataset.ready === "true"`, 20_000).catch(async (error) => {
        const live = await evaluate<string>(
          `document.getElementById("live").textContent + " " + document.cookie + " " + location.href`,
        )
          .catch(() => "?")
        throw new Error(`the page never rendered (${live}): ${problems.join("; ")} ${debug.join("; ")}`, {
          cause: error,
        })
      })
      const read = () =>
        evaluate<{
          ticks: number
          total: number
          live: string
          rows: number
          stageSeries: number
          bars: number
          stageRows: number
          service: string
        }>(`({
          ticks: Number(document.documentElement.dataset.ticks),
          total: Number(document.getElementById("kpi-total").textContent),
          live: document.getElementById("live").textContent,
          rows: document.querySelectorAll("#requests tbody tr").length,
          stageSeries: document.querySelectorAll("#stage-chart .series path").length,
          bars: document.querySelectorAll("#throughput rect.bar").length,
          stageRows: document.querySelectorAll("#stage-table tbody tr").length,
          service: document.getElementById("service").textContent,
        })`)
      const first = await read()
      await waitFor("more requests on the page", async () => {
        const now = await read()
        return now.ticks > first.ticks + 3 && now.total > first.total + 20
      })
      const live = await read()
      assert.equal(live.live, "live")
      assert.equal(live.service, "chat-demo 1.4.0 · test")
      assert.ok(live.rows >= 10, `request rows: ${live.rows}`)
      assert.ok(live.bars >= 2, `throughput bars: ${live.bars}`)
      assert.equal(live.stageRows, 6)
      await waitFor("stage series", async () => (await read()).stageSeries >= 5)

      // A slower kb_search: the anomaly detector alerts, and the page shows it.
      slow = true
      await waitFor(
        "a latency anomaly on the page",
        () => evaluate<boolean>(`document.querySelectorAll("#alerts .alert.latency_anomaly").length > 0`),
        45_000,
      )
      slow = false

      // Click a failed request: its waterfall, errors, trace link and log records open.
      await page.click('#request-tabs button[data-tab="failed"]')
      await until(`document.querySelector("#requests tbody tr.click") !== null`, 30_000)
      const failedId = await evaluate<string>(`document.querySelector("#requests tbody tr.click").dataset.id`)
      // Rows are redrawn on every update: click in the page, in one step.
      await evaluate(`document.querySelector("#requests tbody tr.click").click()`)
      await until(`document.documentElement.dataset.detail === ${JSON.stringify(failedId)}`)
      const detail = await evaluate<
        {
          hidden: boolean
          bars: number
          errors: Array<string>
          logs: Array<string>
          trace: string | undefined
        }
      >(`({
        hidden: document.getElementById("detail").hidden,
        bars: document.querySelectorAll("#detail svg.waterfall rect.bar").length,
        errors: [...document.querySelectorAll("#detail tr.error-row td")].map((td) => td.textContent),
        logs: [...document.querySelectorAll("#detail tr.log-row")].map((tr) => tr.textContent),
        trace: document.querySelector("#trace-link")?.href,
      })`)
      assert.equal(detail.hidden, false)
      assert.equal(detail.bars, 5, "the failed request stopped at llm_request")
      assert.deepEqual(detail.errors.slice(0, 4), ["llm_request", "RateLimited", "transient", "true"])
      assert.equal(detail.logs.length, 1)
      assert.match(detail.logs[0]!, /cache miss/)
      assert.match(detail.trace ?? "", /^http:\/\/127\.0\.0\.1:16686\/trace\/[0-9a-f]{32}$/)

      // Search by request id.
      // A request the dashboard still holds (the summary ring keeps the last 1000).
      const held =
        await (await fetch(`${url}api/snapshot`, { headers: { authorization: `Bearer ${token}` } }))
          .json()
      const target: string = held.requests.newest[5].id
      await page.type("#search-input", target)
      await page.click('#search button[type="submit"]')
      await until(`document.documentElement.dataset.detail === ${JSON.stringify(target)}`)
      const found = await evaluate<Record<string, string>>(`({
        search: document.documentElement.dataset.search,
        tab: document.querySelector("#request-tabs button.on")?.textContent,
        first: document.querySelector("#requests tbody tr.click")?.dataset.id,
      })`)
      assert.deepEqual(found, { search: "1", tab: "Search", first: target })

      // Back to the overview for the screenshot, with the failed request open.
      await page.click('#request-tabs button[data-tab="newest"]')
      await page.click("#detail-close")
      await page.click('#request-tabs button[data-tab="failed"]')
      // Rows are redrawn on every update: click in the page, in one step.
      await evaluate(`document.querySelector("#requests tbody tr.click").click()`)
      await until(`document.documentElement.dataset.detail !== undefined`)
      await new Promise((resolve) => setTimeout(resolve, 600))
      const png = await page.screenshot({ fullPage: true, type: "png" })
      assert.deepEqual([...png.slice(0, 4)], [0x89, 0x50, 0x4e, 0x47])
      assert.ok(png.length > 50_000, "the screenshot looks empty")
      await Deno.writeFile(`${out}/dashboard.png`, png)
      if (Deno.env.get("STAGETRACE_UPDATE_SCREENSHOT") === "1") {
        await Deno.writeFile(new URL("../../docs/dashboard.png", import.meta.url), png)
      }

      assert.deepEqual(problems, [])
      const origin = new URL(url).origin
      assert.deepEqual(
        requested.filter((r) => !r.startsWith(origin)),
        [],
        "the page fetched nothing elsewhere",
      )
      await page.close()
    } finally {
      await browser.close()
      await runtime.runPromise(Fiber.interrupt(traffic))
      await runtime.dispose()
      await Deno.remove(profile, { recursive: true }).catch(() => {})
      await Deno.remove(out, { recursive: true })
    }
  },
})
