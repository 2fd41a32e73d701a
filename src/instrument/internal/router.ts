/**
 * The global `HttpRouter` middleware of the instrument concern, registered when the telemetry layer is built
 * with an `HttpRouter` in context (`Telemetry.layer` provided to a router app's layer, with
 * `Layer.provideMerge` as well as `Layer.provide`: both build it so).
 *
 * - With `instrument.httpServer`, it serves each request as a stagetrace request with its own server span
 *   (`server.ts`), and from then on the telemetry layer's `TracerDisabledWhen` keeps Effect from opening a
 *   second one (Effect's server span costs about as much as the router itself).
 * - With `Layer.provide`, a router's request fibers run in the app layer's output, which then does not hold
 *   the telemetry services: the middleware provides them to each request (so the calls inside handlers are
 *   still adopted), whether or not it opens the request.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { HttpRouter } from "effect/http"
import { CurrentRecorder, type Recorder } from "../../internal/recorder.ts"
import type { HttpServerConfig } from "./options.ts"
import { serverMiddleware, type ServerState } from "./server.ts"

// Looked up by key: stagetrace loads `effect/http` only when the program already uses a router.
const Router = Context.Service<HttpRouter.HttpRouter>("effect/http/HttpRouter")

type App = Effect.Effect<unknown, unknown, never>

/** Registers the middleware on the `HttpRouter` in context, if there is one. */
export const attachToRouter = (
  telemetry: Context.Context<never>,
  recorder: Recorder,
  server: { readonly config: HttpServerConfig; readonly state: ServerState } | undefined,
): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    const router = Context.getOrUndefined(fiber.context, Router)
    if (router === undefined) return Effect.void
    if (server === undefined) {
      const provide = (context: Context.Context<never>) => Context.merge(context, telemetry)
      return router.addGlobalMiddleware(
        ((app: App): App =>
          Effect.withFiber((requestFiber) =>
            requestFiber.getRef(CurrentRecorder) === recorder ? app : Effect.updateContext(app, provide)
          )) as never,
      ) as Effect.Effect<void>
    }
    return Effect.flatMap(
      Effect.promise(() => import("effect/http")),
      (http) =>
        Effect.map(
          // The middleware requires and handles nothing the router tracks in its types.
          router.addGlobalMiddleware(
            serverMiddleware(http, recorder, server.config, server.state, telemetry) as never,
          ) as Effect.Effect<void>,
          () => {
            server.state.owned = true
          },
        ),
    )
  })
