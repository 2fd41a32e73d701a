/**
 * Helpers of the Prometheus integration tests: locating the Debian `prometheus` / `promtool` binaries,
 * free ports on 127.0.0.1, a Prometheus server with a temporary config and data directory that only the
 * test owns (and stops), and polling.
 */
import * as Effect from "effect/Effect"
import { MetricCatalogue, Metrics } from "../../mod.ts"

/** The absolute path of an executable on `PATH`, or `undefined`. */
export const findBinary = (name: string): string | undefined => {
  const path = Deno.env.get("PATH") ?? ""
  for (const dir of path.split(":")) {
    if (dir === "") continue
    const candidate = `${dir}/${name}`
    try {
      const info = Deno.statSync(candidate)
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/** Says why a test is skipped (printed once per binary). */
export const skipBecauseMissing = (binary: string): boolean => {
  console.warn(
    `SKIPPED: the \`${binary}\` binary is not installed (Debian package \`prometheus\`; .ci/run installs it).`,
  )
  return true
}

/** A port that was free on 127.0.0.1 a moment ago. */
export const freePort = (): number => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 })
  const port = (listener.addr as Deno.NetAddr).port
  listener.close()
  return port
}

/** Polls `check` every 200 ms until it returns a value, or fails after `timeoutMs` with `what`. */
export const waitFor = async <A>(
  what: string,
  timeoutMs: number,
  check: () => Promise<A | undefined>,
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(
    `Timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? "" : `: ${last}`}`,
  )
}

/** A Prometheus server started by a test. */
export interface PrometheusProcess {
  readonly url: string
  /** Stops the server (SIGTERM, then waits for it) and deletes its directory. Returns its log. */
  readonly stop: () => Promise<string>
}

/** Starts `prometheus` on a free 127.0.0.1 port with `config` (YAML) in a temporary directory. */
export const startPrometheus = async (binary: string, config: string): Promise<PrometheusProcess> => {
  const dir = await Deno.makeTempDir({ prefix: "stagetrace-prometheus-" })
  await Deno.writeTextFile(`${dir}/prometheus.yml`, config)
  const port = freePort()
  const child = new Deno.Command(binary, {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn()
  let log = ""
  const decoder = new TextDecoder()
  const draining = child.stderr.pipeTo(
    new WritableStream({ write: (chunk) => void (log += decoder.decode(chunk, { stream: true })) }),
  )
  let stopped: Promise<string> | undefined
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM")
      } catch {
        // already exited
      }
      await child.status
      await draining.catch(() => {})
      await Deno.remove(dir, { recursive: true }).catch(() => {})
      return log
    })()
  return { url: `http://127.0.0.1:${port}`, stop }
}

/** GETs JSON from Prometheus' HTTP API. */
export const getJson = async (url: string): Promise<unknown> => {
  const response = await fetch(url)
  const body = await response.json()
  if (!response.ok) throw new Error(`${url}: ${response.status} ${JSON.stringify(body)}`)
  return body
}

/** Label values for every declared label of a definition (`v_<label>`). */
export const sampleLabels = (labels: ReadonlyArray<string>): Record<string, string> =>
  Object.fromEntries(labels.map((label) => [label, `v_${label}`]))

/** Records one sample into every metric of the catalogue. */
export const recordWholeCatalogue: Effect.Effect<void> = Effect.gen(function* () {
  const metrics = yield* Metrics.Metrics
  for (const def of Object.values(MetricCatalogue)) {
    const labels = sampleLabels(def.labels)
    // deno-lint-ignore no-explicit-any
    const loose = metrics as any
    if (def.type === "counter") loose.increment(def, labels, 2)
    else if (def.type === "gauge") loose.set(def, labels, 3)
    else loose.observe(def, labels, 0.5)
  }
})
