/**
 * The instrument concern of `Telemetry.layer`: validates `instrument`, installs the adopting tracer around
 * every other concern's tracer (so it is the outermost) and, when a router app builds the layer, the router
 * middleware (`router.ts`). With `instrument.httpServer` the layer also provides Effect's
 * `HttpMiddleware.TracerDisabledWhen`, wrapping the predicate in force where it is built (`server.ts`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Concern } from "../../internal/concern.ts"
import type { InstrumentTelemetryOptions } from "../Instrument.ts"
import { anyOn, environmentVariables, fromEnv, validate } from "./options.ts"
import { attachToRouter } from "./router.ts"
import { ServerState, TracerDisabledWhen } from "./server.ts"
import { AdoptingTracer } from "./tracer.ts"

/** The instrument concern. Must come last: its tracer wraps every other one. */
export const instrumentConcern: Concern<InstrumentTelemetryOptions> = {
  name: "instrument",
  environmentVariables,
  fromEnv,
  install: (recorder, options) =>
    Effect.flatMap(validate(options.instrument), (config) =>
      Effect.withFiber((fiber) => {
        if (!anyOn(config)) return Effect.succeed({})
        const httpServer = config.httpServer
        const server = httpServer === undefined
          ? undefined
          : { config: httpServer, state: new ServerState(fiber.getRef(TracerDisabledWhen)) }
        return Effect.succeed({
          tracer: (inner) => new AdoptingTracer(inner, recorder, config),
          layers: server === undefined
            ? undefined
            : [Layer.succeed(TracerDisabledWhen, server.state.disabledWhen)],
          built: (context) => attachToRouter(context, recorder, server),
        })
      })),
}
