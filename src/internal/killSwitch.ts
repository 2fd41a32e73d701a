/**
 * The process-wide kill switch: `STAGETRACE_ENABLED=false` (or the seeds' `EXECUTION_TRACKING_ENABLED=false`)
 * and `OTEL_SDK_DISABLED=true`, read once when stagetrace is loaded. When it is set, `Stage.track`,
 * `Stage.fn`, `Stage.record` and `Request.track` return the effect they were given (or `Effect.void`): no
 * wrapper exists at all, so a stage costs exactly what its effect costs.
 *
 * Variables are only read when the permission is already granted (`--allow-env`, or the names listed in
 * `Telemetry.environmentVariables`): loading stagetrace never prompts. `Telemetry.layer({ enabled: false })`
 * is the same switch for code; it is checked when each wrapper runs.
 *
 * @internal
 */

const readGranted = (name: string): string | undefined => {
  const deno = (globalThis as {
    Deno?: {
      permissions?: { querySync?: (descriptor: { name: "env"; variable: string }) => { state: string } }
      env?: { get(name: string): string | undefined }
    }
  }).Deno
  try {
    if (deno !== undefined) {
      const query = deno.permissions?.querySync
      if (query === undefined || query({ name: "env", variable: name }).state !== "granted") return undefined
      return deno.env?.get(name)
    }
    return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name]
  } catch {
    return undefined
  }
}

const flag = (name: string): boolean | undefined => {
  const value = readGranted(name)?.trim().toLowerCase()
  return value === "true" || value === "1" ? true : value === "false" || value === "0" ? false : undefined
}

/**
 * Whether the environment turned stagetrace off for this process. Wrappers read it when they are built
 * (a live binding: `setDisabledByEnvironment` exists for benchmarks and tests only).
 */
export let disabledByEnvironment: boolean = flag("OTEL_SDK_DISABLED") === true ||
  (flag("STAGETRACE_ENABLED") ?? flag("EXECUTION_TRACKING_ENABLED")) === false

/** Overrides the environment kill switch for wrappers built from now on (benchmarks and tests). */
export const setDisabledByEnvironment = (disabled: boolean): void => {
  disabledByEnvironment = disabled
}

/**
 * Whether Deno's built-in OpenTelemetry instruments `fetch` in this process (`OTEL_DENO=true`): Deno then
 * writes its own `traceparent` on every request, parented by the active span, so `Http.fetch` must not add a
 * second one (two `traceparent` values make the receiver restart the trace).
 */
export const denoTracesFetch: boolean = flag("OTEL_DENO") === true && flag("OTEL_SDK_DISABLED") !== true
