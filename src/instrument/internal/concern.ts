/**
 * The instrument concern of `Telemetry.layer`: validates `instrument`, installs the adopting tracer around
 * every other concern's tracer (so it is the outermost), and, when a router app builds the layer, the
 * `Layer.provide` fallback.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { Concern } from "../../internal/concern.ts"
import type { InstrumentTelemetryOptions } from "../Instrument.ts"
import { anyOn, environmentVariables, fromEnv, validate } from "./options.ts"
import { attachToRouter } from "./router.ts"
import { AdoptingTracer } from "./tracer.ts"

/** The instrument concern. Must come last: its tracer wraps every other one. */
export const instrumentConcern: Concern<InstrumentTelemetryOptions> = {
  name: "instrument",
  environmentVariables,
  fromEnv,
  install: (recorder, options) =>
    Effect.map(validate(options.instrument), (config) => {
      if (!anyOn(config)) return {}
      return {
        tracer: (inner) => new AdoptingTracer(inner, recorder, config),
        built: (context) => attachToRouter(context, recorder, config.httpServer !== undefined),
      }
    }),
}
