/**
 * The dashboard concern of `Telemetry.layer` (`dashboard` option): keeps the live state on the recorder
 * (`DashboardSlot`), counts every finished request on the `summary` hook, adds the per-request log capture
 * to the loggers, runs the ticker (closes buckets, sends one event per interval to the open pages, only
 * when one is open) and, unless `serve: false`, serves the page.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import { type Env, envBoolean, envError, envString } from "../../internal/config.ts"
import { type Recorder, Slot } from "../../internal/recorder.ts"
import { CurrentSystemSource } from "../../health/internal/system.ts"
import type { Concern } from "../../internal/concern.ts"
import type { DashboardOptions, DashboardTelemetryOptions } from "./dashboardModel.ts"
import { makeHandler, makePage, type Page, serve, type ServerAddress, toJson } from "./http.ts"
import { LogCapture } from "./logs.ts"
import { validateDashboard } from "./options.ts"
import { formatEvent, SseHub } from "./sse.ts"
import { DashboardState } from "./state.ts"
import * as daemon from "../../internal/daemon.ts"

/** What the dashboard concern keeps on the recorder. */
export interface Installed {
  readonly state: DashboardState
  readonly page: Page
  /** Where the dashboard's own server listens, when it serves. */
  address: ServerAddress | undefined
}

/** Where the dashboard concern keeps its state. */
export const DashboardSlot: Slot<Installed> = new Slot<Installed>("dashboard")

/** Sends one tick to the open pages (nothing to build when none is open). */
export const tick = (state: DashboardState, nowMs: number): void => {
  state.ticks++
  try {
    if (state.hub.size === 0) {
      state.advance(nowMs)
      return
    }
    const bytes = formatEvent("tick", toJson(state.tick(nowMs)))
    state.bytesSent += bytes.length * state.hub.size
    state.hub.broadcast(bytes)
  } catch {
    // The dashboard must never stop the program, nor its own ticker: skip this update, count it.
    state.recorder.countDrop("dashboard_tick_failed")
  }
}

const install = (recorder: Recorder, value: boolean | DashboardOptions | undefined) =>
  Effect.gen(function* () {
    const config = yield* validateDashboard(value)
    if (config === undefined) return {}
    const clock = yield* Clock.Clock
    const hub = new SseHub(
      config.maxConnections,
      config.bufferBytes,
      () => recorder.countDrop("dashboard_slow_client"),
    )
    const logs = new LogCapture(config.logCapacity, config.logsPerRequest)
    const system = yield* CurrentSystemSource
    const state = new DashboardState(config, recorder, hub, logs, system, clock.currentTimeMillisUnsafe())
    const page = yield* makePage(config.path)
    const installed: Installed = { state, page, address: undefined }
    recorder.set(DashboardSlot, installed)
    recorder.summary.push(state.onSummary)
    yield* Effect.addFinalizer(() => Effect.sync(() => hub.closeAll()))
    yield* Effect.forkScoped(
      daemon.forever(
        Effect.sleep(config.intervalMs).pipe(
          Effect.andThen(Effect.sync(() => tick(state, clock.currentTimeMillisUnsafe()))),
        ),
      ),
    )
    if (config.serve) {
      const handle = makeHandler(state, config, page, () => clock.currentTimeMillisUnsafe())
      installed.address = yield* serve(state, config, handle)
      yield* Effect.addFinalizer(() => Effect.sync(() => (installed.address = undefined)))
    }
    // The capture logger joins the loggers in force at install (the log concern's, when installed).
    const loggers = yield* References.CurrentLoggers
    const withCapture = new Set(loggers)
    withCapture.add(logs.logger(recorder))
    return {
      layers: [Layer.succeed(References.CurrentLoggers, withCapture)],
    }
  })

/** The dashboard concern. */
export const dashboardConcern: Concern<DashboardTelemetryOptions> = {
  name: "dashboard",
  environmentVariables: [
    "STAGETRACE_DASHBOARD",
    "STAGETRACE_DASHBOARD_PORT",
    "STAGETRACE_DASHBOARD_HOSTNAME",
    "STAGETRACE_DASHBOARD_TOKEN",
  ],
  fromEnv: (env: Env) =>
    Effect.gen(function* () {
      const enabled = yield* envBoolean(env, ["STAGETRACE_DASHBOARD"])
      const portText = envString(env, ["STAGETRACE_DASHBOARD_PORT"])
      const hostname = envString(env, ["STAGETRACE_DASHBOARD_HOSTNAME"])
      const token = envString(env, ["STAGETRACE_DASHBOARD_TOKEN"])
      if (enabled === false) return { dashboard: false }
      if (
        enabled === undefined && portText === undefined && hostname === undefined && token === undefined
      ) return {}
      const options: { port?: number; hostname?: string; bearerToken?: string } = {}
      if (portText !== undefined) {
        const port = Number(portText)
        if (!/^\d+$/.test(portText.trim()) || port > 65535) {
          return yield* Effect.fail(
            envError("STAGETRACE_DASHBOARD_PORT", portText, "Expected a port in [0, 65535]"),
          )
        }
        options.port = port
      }
      if (hostname !== undefined) options.hostname = hostname
      if (token !== undefined) options.bearerToken = token
      return { dashboard: options }
    }),
  install: (recorder, options) => install(recorder, options.dashboard),
}
