/**
 * Where health checks read the machine: Deno's APIs, each guarded so a missing permission or runtime
 * feature degrades to "unavailable" instead of throwing — and never prompts: the `sys` permission is
 * queried first (`Deno.permissions.querySync`), and system memory and load average are read only when
 * it is granted.
 *
 * The source is a `Context.Reference`, so tests can provide a fixed one.
 *
 * @internal
 */
import * as Context from "effect/Context"
import process from "node:process"

/** Process memory in bytes. */
export interface ProcessMemory {
  readonly rss: number
  readonly heapTotal: number
  readonly heapUsed: number
  readonly external: number
}

/** What health checks read from the machine. */
export interface SystemSource {
  readonly memoryUsage: () => ProcessMemory
  /** Total and available system memory in bytes; `undefined` without `--allow-sys`. */
  readonly systemMemory: () => { readonly total: number; readonly available: number } | undefined
  /** 1, 5 and 15-minute load averages; `undefined` without `--allow-sys`. */
  readonly loadAverage: () => readonly [number, number, number] | undefined
  /** CPU time used by the process so far, in microseconds; `undefined` when unavailable. */
  readonly cpuUsage: () => { readonly user: number; readonly system: number } | undefined
  /** Seconds since the process started. */
  readonly uptimeSeconds: () => number
  /** Whether the `sys` permission is granted for `kind`. */
  readonly sysGranted: (kind: "systemMemoryInfo" | "loadavg") => boolean
}

interface DenoLike {
  memoryUsage?: () => ProcessMemory
  systemMemoryInfo?: () => { total: number; available: number }
  loadavg?: () => number[]
  permissions?: { querySync?: (descriptor: { name: "sys"; kind: string }) => { state: string } }
}

const deno = (globalThis as { Deno?: DenoLike }).Deno

const zeroMemory: ProcessMemory = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0 }

const granted = (kind: string): boolean => {
  try {
    return deno?.permissions?.querySync?.({ name: "sys", kind }).state === "granted"
  } catch {
    return false
  }
}

/** The real machine, through Deno (and `node:process` for CPU time and uptime). */
export const denoSource: SystemSource = {
  memoryUsage: () => {
    try {
      return deno?.memoryUsage?.() ?? process.memoryUsage()
    } catch {
      return zeroMemory
    }
  },
  systemMemory: () => {
    if (!granted("systemMemoryInfo")) return undefined
    try {
      const info = deno?.systemMemoryInfo?.()
      return info === undefined ? undefined : { total: info.total, available: info.available }
    } catch {
      return undefined
    }
  },
  loadAverage: () => {
    if (!granted("loadavg")) return undefined
    try {
      const load = deno?.loadavg?.()
      return load === undefined ? undefined : [load[0] ?? 0, load[1] ?? 0, load[2] ?? 0]
    } catch {
      return undefined
    }
  },
  cpuUsage: () => {
    try {
      return process.cpuUsage()
    } catch {
      return undefined
    }
  },
  uptimeSeconds: () => {
    try {
      return process.uptime()
    } catch {
      return 0
    }
  },
  sysGranted: granted,
}

/** The system source health checks use (tests provide their own). */
export const CurrentSystemSource: Context.Reference<SystemSource> = Context.Reference<SystemSource>(
  "@stagetrace/stagetrace/health/SystemSource",
  { defaultValue: () => denoSource },
)
