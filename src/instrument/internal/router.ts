/**
 * `Telemetry.layer` provided to an `HttpRouter` app with `Layer.provide` (rather than `Layer.provideMerge`):
 * the router builds with the telemetry services, but its request fibers run in the app layer's output, which
 * then does not contain them, so Effect opens no server span through our tracer and the handlers see no
 * recorder. When the telemetry layer is built with an `HttpRouter` in context (both compositions build it
 * so), it registers a global router middleware: for a request whose fiber already has this recorder
 * (`Layer.provideMerge`) it does nothing; otherwise it provides the telemetry services to the request and
 * applies Effect's own `HttpMiddleware.tracer` under them, so the server span is Effect's and is adopted as
 * with `Layer.provideMerge`.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"
import type { HttpRouter } from "effect/http"
import { CurrentRecorder, type Recorder } from "../../internal/recorder.ts"

// Looked up by key: stagetrace loads `effect/http` only when the program already uses a router.
const Router = Context.Service<HttpRouter.HttpRouter>("effect/http/HttpRouter")

type App = Effect.Effect<unknown, unknown, never>

/**
 * Registers the fallback middleware on the `HttpRouter` in context, if there is one. With `serverSpans`
 * (`instrument.httpServer`) it also opens Effect's server span; otherwise it only provides the telemetry
 * services, so the calls inside handlers are still adopted.
 */
export const attachToRouter = (
  telemetry: Context.Context<never>,
  recorder: Recorder,
  serverSpans: boolean,
): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    const router = Context.getOrUndefined(fiber.context, Router)
    if (router === undefined) return Effect.void
    const provide = (context: Context.Context<never>) => Context.merge(context, telemetry)
    if (!serverSpans) {
      return router.addGlobalMiddleware(
        ((app: App): App =>
          Effect.withFiber((requestFiber) =>
            requestFiber.getRef(CurrentRecorder) === recorder ? app : Effect.updateContext(app, provide)
          )) as never,
      ) as Effect.Effect<void>
    }
    return Effect.flatMap(
      Effect.promise(() => import("effect/http")),
      (http) => {
        const tracer = http.HttpMiddleware.tracer as unknown as (app: App) => App
        // A span Effect opened without our tracer (the native one) must not become the parent.
        const withoutParent = Context.omit(Tracer.ParentSpan)
        const middleware = (app: App): App => {
          const traced = tracer(app)
          return Effect.withFiber((requestFiber) =>
            requestFiber.getRef(CurrentRecorder) === recorder
              ? app
              : Effect.updateContext(traced, (context) => withoutParent(provide(context)))
          )
        }
        // The middleware requires and handles nothing the router tracks in its types.
        return router.addGlobalMiddleware(middleware as never) as Effect.Effect<void>
      },
    )
  })
