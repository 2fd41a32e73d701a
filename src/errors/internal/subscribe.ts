/**
 * Alert handlers: a bounded queue per handler, fed synchronously when an alert is published (a full
 * queue drops the alert and counts it), drained by a background fiber running the handler. When the
 * scope closes, the queue is ended and the alerts still queued are handled before the fiber stops
 * (bounded by `shutdownTimeout`, then interrupted).
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { Recorder } from "../../internal/recorder.ts"
import * as daemon from "../../internal/daemon.ts"
import type { Alert } from "./alertsModel.ts"
import type { AlertState } from "./state.ts"

/** How long closing a subscription waits for queued alerts to be handled. */
export const shutdownTimeout = "5 seconds"

/** Subscribes `handler` to `state`'s alerts for the lifetime of the current scope. */
export const subscribeTo = (
  recorder: Pick<Recorder, "countDrop">,
  state: AlertState,
  handler: (alert: Alert) => Effect.Effect<void>,
  bufferSize: number,
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Queue.dropping<Alert, Cause.Done>(Math.max(1, bufferSize))
    const listener = (alert: Alert) => {
      if (Queue.offerUnsafe(queue, alert)) return true
      recorder.countDrop("alert_handler_full")
      return false
    }
    const run = (alert: Alert) =>
      Effect.suspend(() => handler(alert)).pipe(
        Effect.catchCause((cause) => Effect.logWarning("stagetrace: alert handler failed", cause)),
      )
    state.listeners.add(listener)
    const fiber = yield* Effect.forkDetach(
      daemon.forever(Effect.flatMap(Queue.take(queue), run)).pipe(Effect.ignore),
    )
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        state.listeners.delete(listener)
        Queue.endUnsafe(queue)
        const done = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(shutdownTimeout))
        if (done._tag === "None") yield* Fiber.interrupt(fiber)
      })
    )
  })
