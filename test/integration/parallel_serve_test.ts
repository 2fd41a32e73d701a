/**
 * `deno serve --parallel` for real: the test starts the fixture service (`fixtures/parallel_server.ts`)
 * with several worker isolates on a free 127.0.0.1 port, spreads requests over the workers (a new
 * connection per request, so the kernel picks a worker each time), and scrapes `/metrics` again and
 * again: with `aggregateIsolates` every scrape reports every request, whichever worker answers. Without
 * it, a scrape reports one worker's share (the problem being solved). A worker whose event loop is
 * blocked delays no scrape beyond the timeout and takes nothing away from the totals.
 *
 * Every process the test starts is killed (and awaited) before the test ends.
 */
import assert from "node:assert/strict"
import { findBinary, freePort, waitFor } from "./prometheus_helpers.ts"

const fixture = new URL("./fixtures/parallel_server.ts", import.meta.url).pathname
const root = new URL("../../", import.meta.url).pathname

interface Service {
  readonly url: string
  /** Kills the process (SIGTERM), waits for it, and returns what it printed. */
  readonly stop: () => Promise<string>
}

/** Starts the fixture under `deno serve --parallel` with `workers` isolates. */
const start = (workers: number, env: Record<string, string> = {}): Service => {
  const port = freePort()
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      "--parallel",
      "--allow-env=AGGREGATE,AGGREGATE_TIMEOUT",
      "--allow-net=127.0.0.1",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      fixture,
    ],
    cwd: root,
    env: { ...env, DENO_JOBS: String(workers), NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn()
  let log = ""
  const decoder = new TextDecoder()
  const drain = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeTo(
      new WritableStream({ write: (chunk) => void (log += decoder.decode(chunk, { stream: true })) }),
    )
  const draining = Promise.all([drain(child.stdout), drain(child.stderr)])
  let stopped: Promise<string> | undefined
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM")
      } catch {
        // already exited
      }
      // Every worker disposes its runtime on SIGTERM, and the process exits; should it not, kill it.
      let timer: ReturnType<typeof setTimeout> | undefined
      const exited = await Promise.race([
        child.status.then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 10_000))),
      ])
      clearTimeout(timer)
      if (!exited) {
        log += "\n[test] the service did not stop on SIGTERM within 10 s: killed\n"
        try {
          child.kill("SIGKILL")
        } catch {
          // exited meanwhile
        }
      }
      await child.status
      await draining.catch(() => {})
      return log
    })()
  return { url: `http://127.0.0.1:${port}`, stop }
}

/** One request on a new connection (so the kernel may hand it to any worker), failing after 20 s. */
const get = async (url: string): Promise<{ status: number; worker: string; body: string }> => {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 })
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(new Error(`${url} did not answer within 20 s`)), 20_000)
  try {
    const response = await fetch(url, { client, signal: abort.signal })
    const body = await response.text()
    return { status: response.status, worker: response.headers.get("x-worker") ?? "", body }
  } finally {
    clearTimeout(timer)
    client.close()
  }
}

const promtool = findBinary("promtool")

/** `promtool check metrics` on an exposition (Debian's `prometheus` package), when installed. */
const promtoolCheck = async (exposition: string): Promise<string | undefined> => {
  if (promtool === undefined) return undefined
  const child = new Deno.Command(promtool, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn()
  const writer = child.stdin.getWriter()
  await writer.write(new TextEncoder().encode(exposition))
  await writer.close()
  const { code, stdout, stderr } = await child.output()
  const decoder = new TextDecoder()
  return `${code === 0 ? "" : `exit ${code}: `}${decoder.decode(stdout)}${decoder.decode(stderr)}`
}

const value = (text: string, series: string): number | undefined => {
  const found = text.split("\n").find((l) => l.startsWith(series + " "))
  return found === undefined ? undefined : Number(found.slice(series.length + 1))
}

const served = 'http_requests_total{method="GET",route="/work",status="200"}'
const tracked = 'stagetrace_requests_total{request="GET /work",status="ok"}'
const staged = 'stagetrace_stage_duration_seconds_count{stage="answer",status="ok"}'
const timed = 'http_request_duration_seconds_count{method="GET",route="/work",status="200"}'
const fresh = 'stagetrace_metric_isolates{status="fresh"}'

/** Waits until a scrape hears from every worker (they start one by one). */
const ready = (service: Service, workers: number): Promise<void> =>
  waitFor(`${workers} workers answering`, 60_000, async () => {
    const scrape = await get(`${service.url}/metrics`)
    return value(scrape.body, fresh) === workers ? true : undefined
  }).then(() => {})

/** Sends `n` requests to /work; returns how many each worker served. */
const spread = async (service: Service, n: number): Promise<Map<string, number>> => {
  const workers = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const { status, worker } = await get(`${service.url}/work`)
    assert.equal(status, 200)
    workers.set(worker, (workers.get(worker) ?? 0) + 1)
  }
  return workers
}

for (const workers of [2, 3]) {
  Deno.test({
    name: `with ${workers} workers every scrape reports every request, whichever worker answers it`,
    sanitizeOps: true,
    sanitizeResources: true,
    fn: async () => {
      const service = start(workers)
      try {
        await ready(service, workers)
        const requests = 30
        const perWorker = await spread(service, requests)
        assert.ok(perWorker.size >= 2, `requests reached ${perWorker.size} worker(s): ${[...perWorker]}`)
        for (const [, share] of perWorker) assert.ok(share < requests)
        const answeredBy = new Set<string>()
        for (let i = 0; i < 8; i++) {
          const scrape = await get(`${service.url}/metrics`)
          answeredBy.add(scrape.worker)
          assert.equal(scrape.status, 200)
          for (const series of [served, tracked, staged, timed]) {
            assert.equal(value(scrape.body, series), requests, `${series} in scrape ${i} by ${scrape.worker}`)
          }
          assert.equal(value(scrape.body, fresh), workers)
          assert.equal(value(scrape.body, "stagetrace_requests_in_flight"), 0)
          // The merged exposition is as valid as a single isolate's.
          if (i === 0) assert.equal(await promtoolCheck(scrape.body) ?? "", "")
        }
      } catch (error) {
        console.error(await service.stop())
        throw error
      } finally {
        await service.stop()
      }
    },
  })
}

Deno.test({
  name: "without aggregateIsolates a scrape reports one worker's share only (the problem solved above)",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    const service = start(2, { AGGREGATE: "false" })
    try {
      const requests = 30
      // Without aggregation the workers cannot be counted: wait until both served a request.
      const perWorker = new Map<string, number>()
      let total = 0
      await waitFor("both workers serving", 60_000, async () => {
        for (const [worker, n] of await spread(service, requests)) {
          perWorker.set(worker, (perWorker.get(worker) ?? 0) + n)
          total += n
        }
        return perWorker.size === 2 ? true : undefined
      })
      for (let i = 0; i < 4; i++) {
        const scrape = await get(`${service.url}/metrics`)
        assert.equal(value(scrape.body, served), perWorker.get(scrape.worker))
        assert.ok(value(scrape.body, served)! < total)
      }
    } finally {
      await service.stop()
    }
  },
})

Deno.test({
  name: "a worker with a blocked event loop delays no scrape beyond the timeout and loses no count",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    const workers = 3
    const service = start(workers, { AGGREGATE_TIMEOUT: "300 millis" })
    try {
      await ready(service, workers)
      const requests = 24
      await spread(service, requests)
      // One full scrape: every worker's answer is now known to every worker.
      assert.equal(value((await get(`${service.url}/metrics`)).body, served), requests)

      const busy = get(`${service.url}/busy?ms=3000`)
      await new Promise((resolve) => setTimeout(resolve, 300))
      const scrapes = await Promise.all(Array.from({ length: 8 }, () => get(`${service.url}/metrics`)))
      const blocked = (await busy).worker
      for (const scrape of scrapes) {
        assert.equal(value(scrape.body, served), requests, `scrape by ${scrape.worker} (blocked: ${blocked})`)
      }
      const others = scrapes.filter((s) => s.worker !== blocked)
      assert.ok(others.length > 0, "no scrape reached a worker that was not blocked")
      for (const scrape of others) {
        assert.equal(value(scrape.body, 'stagetrace_metric_isolates{status="stale"}'), 1)
        assert.ok(value(scrape.body, "stagetrace_metric_isolate_timeouts_total")! >= 1)
      }
      // Once free, the worker answers again and scrapes hear from everyone.
      await waitFor("the blocked worker answering again", 30_000, async () => {
        const scrape = await get(`${service.url}/metrics`)
        return value(scrape.body, fresh) === workers ? true : undefined
      })
      assert.equal(value((await get(`${service.url}/metrics`)).body, served), requests)
    } catch (error) {
      console.error(await service.stop())
      throw error
    } finally {
      await service.stop()
    }
  },
})
