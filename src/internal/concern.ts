/**
 * How a concern (sampling, budgets, errors, metrics, export, logs…) plugs into `Telemetry.layer`.
 *
 * A concern validates its own options, installs its hooks on the recorder, and returns what it adds:
 * layers to merge, and optionally a transformation of the tracer (the export concern creates the tracer
 * that records spans for export; the sampling concern wraps it with the tail-sampling tracer).
 *
 * A concern is generic over its own options type (`BudgetOptions`, `SamplingOptions`…): it never sees
 * `TelemetryOptions`, which extends every concern's options and is composed in `src/telemetry/`.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import type { TelemetryConfigError } from "./config.ts"
import type { Recorder } from "./recorder.ts"
import type { Env } from "./config.ts"

/** What a concern adds to the telemetry layer. */
export interface Installed {
  /** Layers merged into the telemetry layer (loggers, servers, background fibers…). */
  readonly layers?: ReadonlyArray<Layer.Layer<never>> | undefined
  /**
   * Transforms the tracer installed so far (Effect's current tracer to begin with). Applied in concern
   * order, so a later concern wraps what an earlier one produced.
   */
  readonly tracer?: ((inner: Tracer.Tracer) => Tracer.Tracer) | undefined
  /**
   * Provides something (loggers, log level) to the installation of every later concern, so the background
   * fibers they fork at install see it.
   */
  readonly provide?: (<A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) | undefined
  /**
   * Runs once the telemetry layer is built, with the services it provides, in the context it is built in
   * (the instrument concern registers its `HttpRouter` middleware there).
   */
  readonly built?: ((telemetry: Context.Context<never>) => Effect.Effect<void>) | undefined
}

/** One concern of the telemetry layer, reading its own `Options` (a part of `TelemetryOptions`). */
export interface Concern<Options> {
  readonly name: string
  /** Environment variables the concern reads (so `--allow-env` can be narrowed to them). */
  readonly environmentVariables: ReadonlyArray<string>
  /** Options from environment variables; only the fields that are set. */
  readonly fromEnv: (env: Env) => Effect.Effect<Partial<Options>, TelemetryConfigError>
  /**
   * Validates options and installs the concern on the recorder. Runs in the layer's scope: background
   * fibers and finalizers (flush on shutdown) belong there.
   */
  readonly install: (
    recorder: Recorder,
    options: Options,
  ) => Effect.Effect<Installed, TelemetryConfigError, Scope.Scope>
}
