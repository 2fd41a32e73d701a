/**
 * W3C Trace Context (Level 2) and W3C Baggage propagation.
 *
 * - `Propagation.extract(headers)` reads `traceparent`, `tracestate` and `baggage` from incoming headers
 *   into a `RemoteContext` that `Request.track(name, { parent })` accepts, plus the baggage. Malformed
 *   headers are ignored as the specifications say (a bad `traceparent` restarts the trace, a bad
 *   `tracestate` is discarded whole, bad baggage members are dropped one by one), never thrown, and each
 *   drop is counted on the telemetry's drop counters.
 * - `Propagation.inject(headers)` writes the current span's `traceparent` (sampled flag from the
 *   request's head decision, random-trace-id flag), the current request's `tracestate` (its own entries,
 *   such as the sampling concern's `ot=th:…`, before the caller's) and the current baggage.
 * - Baggage lives in the fiber context (`Propagation.CurrentBaggage`): `Propagation.withBaggage` adds
 *   entries for an effect and everything it forks; `Http.fetch` sends them on.
 *
 * Limits: a propagated `tracestate` keeps at most 32 members and 512 characters (entries over 128
 * characters are removed first, then entries from the right); baggage keeps at most 180 members and 8192
 * bytes, dropping whole members.
 *
 * Guide: [HTTP and propagation](../../docs/http.md#propagation-w3c-trace-context-level-2-w3c-baggage).
 *
 * @module
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import { CurrentRecorder } from "../internal/recorder.ts"
import { CurrentBaggage as CurrentBaggageRef, injectInto, withRemoteContext } from "./internal/context.ts"
import { countIssues, parseHeaders } from "./internal/extract.ts"
import type {
  HeadersCarrier as HeadersCarrierInternal,
  HeadersInput as HeadersInputInternal,
} from "./internal/headers.ts"
import type { Baggage, BaggageEntry, Extracted } from "./internal/propagationModel.ts"

// ---------------------------------------------------------------------------------------------------------
// Models: HeadersInput, HeadersCarrier, then BaggageProperty, BaggageEntry, Baggage, RemoteContext, Issue,
// Extracted (declared in ./internal/propagationModel.ts, which the propagation machinery reads)
// ---------------------------------------------------------------------------------------------------------

export * from "./internal/propagationModel.ts"

/**
 * Headers to read from: web `Headers`, or a record of values whose keys may be in any case (Node's
 * `IncomingHttpHeaders`, Effect's `Headers`). Fields of the same name are combined as HTTP says.
 *
 * @category models
 * @since 0.1.0
 */
export type HeadersInput = HeadersInputInternal

/**
 * Headers to write into: web `Headers` or a mutable record of strings (keys of the same name in another
 * case are replaced).
 *
 * @category models
 * @since 0.1.0
 */
export type HeadersCarrier = HeadersCarrierInternal

// ---------------------------------------------------------------------------------------------------------
// Extract
// ---------------------------------------------------------------------------------------------------------

/**
 * Reads the W3C trace context and baggage from incoming headers, without counting drops (a pure
 * function, for code outside Effect). Prefer `Propagation.extract`, which also counts them.
 *
 * @example Reading a traceparent
 * ```ts
 * import assert from "node:assert/strict"
 * import { Propagation } from "@stagetrace/stagetrace"
 *
 * const { parent, issues } = Propagation.parse(
 *   new Headers({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }),
 * )
 * assert.equal(parent?.traceId, "4bf92f3577b34da6a3ce929d0e0e4736")
 * assert.equal(parent?.sampled, true)
 * assert.deepEqual(issues, [])
 * ```
 *
 * @category extraction
 * @since 0.1.0
 */
export const parse = (headers: HeadersInput): Extracted => {
  const { parent, baggage, issues } = parseHeaders(headers)
  return { parent, baggage, issues }
}

/**
 * Reads the W3C trace context (`traceparent`, `tracestate`) and baggage from incoming headers. Never
 * fails: malformed headers are ignored as the specifications say and every dropped item is counted on
 * the telemetry's drop counters (`invalid_traceparent`, `invalid_tracestate`, `tracestate_duplicate`,
 * `invalid_baggage`, `baggage_truncated`).
 *
 * Pass `parent` to `Request.track`, and run the request under `Propagation.withRemote(extracted)` so
 * that its outgoing calls carry the caller's baggage and random-trace-id flag (`Http.middleware` does
 * both).
 *
 * @example Continuing a caller's trace
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Propagation, Request } from "@stagetrace/stagetrace"
 *
 * const incoming = new Headers({
 *   traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
 *   tracestate: "ot=th:8,congo=t61rcWkgMzE",
 *   baggage: "userId=alice,serverNode=DF%2028",
 * })
 *
 * const program = Effect.gen(function* () {
 *   const remote = yield* Propagation.extract(incoming)
 *   return yield* Effect.gen(function* () {
 *     const outgoing = yield* Propagation.inject(new Headers())
 *     const summary = yield* Request.summary
 *     return { outgoing, summary }
 *   }).pipe(Request.track("GET /chat", { parent: remote.parent, kind: "server" }), Propagation.withRemote(remote))
 * })
 *
 * const { outgoing, summary } = await Effect.runPromise(program)
 * assert.equal(summary.traceId, "4bf92f3577b34da6a3ce929d0e0e4736")
 * assert.match(outgoing.get("traceparent")!, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
 * assert.equal(outgoing.get("tracestate"), "ot=th:8,congo=t61rcWkgMzE")
 * assert.equal(outgoing.get("baggage"), "userId=alice,serverNode=DF%2028")
 * ```
 *
 * @category extraction
 * @since 0.1.0
 */
export const extract = (headers: HeadersInput): Effect.Effect<Extracted> =>
  Effect.withFiber((fiber) => {
    const { parent, baggage, issues, counts } = parseHeaders(headers)
    if (counts.length > 0) countIssues(fiber.getRef(CurrentRecorder), counts)
    return Effect.succeed({ parent, baggage, issues })
  })

// ---------------------------------------------------------------------------------------------------------
// Inject
// ---------------------------------------------------------------------------------------------------------

/**
 * Writes the current trace context and baggage into `headers` and returns them:
 *
 * - `traceparent` (version `00`) of the current span, its sampled flag being the request's head
 *   decision, its random-trace-id flag set for traces started here and kept as received for continued
 *   ones (outside any span: not written);
 * - `tracestate`: the current request's own entries (for example the sampling concern's `ot=th:…`)
 *   first, then the caller's entries it did not change, at most 32 members and 512 characters; a stale
 *   `tracestate` already in `headers` is removed when there is none to send;
 * - `baggage`: the current baggage, percent-encoded, at most 180 members and 8192 bytes.
 *
 * @example Injecting inside a request
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Propagation, Request } from "@stagetrace/stagetrace"
 *
 * const headers = await Effect.runPromise(
 *   Propagation.inject({} as Record<string, string>).pipe(
 *     Propagation.withBaggage({ tenant: "acme corp" }),
 *     Request.track("job"),
 *   ),
 * )
 * assert.match(headers.traceparent!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-03$/)
 * assert.equal(headers.baggage, "tenant=acme%20corp")
 * ```
 *
 * @category injection
 * @since 0.1.0
 */
export const inject = <H extends HeadersCarrier>(headers: H): Effect.Effect<H> =>
  Effect.withFiber((fiber) => {
    injectInto(fiber, headers)
    return Effect.succeed(headers)
  })

// ---------------------------------------------------------------------------------------------------------
// Baggage in context
// ---------------------------------------------------------------------------------------------------------

/**
 * The current baggage (empty by default). Provide it to replace the baggage for an effect:
 * `Effect.provideService(effect, Propagation.CurrentBaggage, baggage)`.
 *
 * @example Providing baggage directly
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Propagation } from "@stagetrace/stagetrace"
 *
 * const baggage = await Effect.runPromise(
 *   Propagation.currentBaggage.pipe(
 *     Effect.provideService(Propagation.CurrentBaggage, Propagation.makeBaggage({ tenant: "acme" })),
 *   ),
 * )
 * assert.equal(baggage.get("tenant")?.value, "acme")
 * ```
 *
 * @category baggage
 * @since 0.1.0
 */
export const CurrentBaggage: Context.Reference<Baggage> = CurrentBaggageRef

/**
 * Reads the current baggage.
 *
 * @example Reading what the caller sent
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Propagation } from "@stagetrace/stagetrace"
 *
 * const remote = Propagation.parse({ baggage: "tenant=acme,plan=pro" })
 * const baggage = await Effect.runPromise(Propagation.currentBaggage.pipe(Propagation.withRemote(remote)))
 * assert.deepEqual([...baggage.keys()], ["tenant", "plan"])
 * ```
 *
 * @category baggage
 * @since 0.1.0
 */
export const currentBaggage: Effect.Effect<Baggage> = Effect.withFiber((fiber) =>
  Effect.succeed(fiber.getRef(CurrentBaggageRef))
)

/**
 * Builds baggage from a record (a string value is an entry without properties), or copies baggage.
 *
 * @example Entries with properties
 * ```ts
 * import assert from "node:assert/strict"
 * import { Propagation } from "@stagetrace/stagetrace"
 *
 * const baggage = Propagation.makeBaggage({ tenant: "acme", region: { value: "eu", properties: [{ key: "ttl", value: "60" }] } })
 * assert.equal(baggage.get("tenant")?.value, "acme")
 * assert.equal(baggage.get("region")?.properties?.[0]?.key, "ttl")
 * ```
 *
 * @category baggage
 * @since 0.1.0
 */
export const makeBaggage = (
  entries: Baggage | Readonly<Record<string, string | BaggageEntry>>,
): Baggage => {
  const out = new Map<string, BaggageEntry>()
  addEntries(out, entries)
  return out
}

const addEntries = (
  out: Map<string, BaggageEntry>,
  entries: Baggage | Readonly<Record<string, string | BaggageEntry>>,
): void => {
  if (entries instanceof Map) {
    for (const [key, entry] of entries as Baggage) out.set(key, entry)
    return
  }
  const record = entries as Readonly<Record<string, string | BaggageEntry>>
  for (const key of Object.keys(record)) {
    const entry = record[key]!
    out.set(key, typeof entry === "string" ? { value: entry } : entry)
  }
}

/**
 * Runs an effect with `entries` added to the current baggage (an existing key takes the new value and
 * keeps its position).
 * Entries that cannot be sent (a key that is not an HTTP token) are dropped and counted when injected.
 *
 * @example Adding baggage for downstream calls
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Propagation } from "@stagetrace/stagetrace"
 *
 * const baggage = await Effect.runPromise(
 *   Propagation.currentBaggage.pipe(Propagation.withBaggage({ userId: "alice" })),
 * )
 * assert.equal(baggage.get("userId")?.value, "alice")
 * ```
 *
 * @category baggage
 * @since 0.1.0
 */
export const withBaggage: {
  (
    entries: Baggage | Readonly<Record<string, string | BaggageEntry>>,
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    entries: Baggage | Readonly<Record<string, string | BaggageEntry>>,
  ): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    entries: Baggage | Readonly<Record<string, string | BaggageEntry>>,
  ): Effect.Effect<A, E, R> =>
    Effect.withFiber((fiber) => {
      const current = fiber.getRef(CurrentBaggageRef)
      const next = new Map(current)
      addEntries(next, entries)
      return Effect.provideService(self, CurrentBaggageRef, next)
    }),
)

/**
 * Runs an effect as the continuation of a remote caller: its baggage becomes the current baggage, and
 * its random-trace-id flag and tracestate are remembered for the calls the effect makes in the caller's
 * trace. Use it around `Request.track(name, { parent: extracted.parent })`; `Http.middleware` does.
 *
 * @example Continuing a caller's trace from a queue message
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Propagation, Request } from "@stagetrace/stagetrace"
 *
 * const remote = Propagation.parse({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" })
 * const summary = await Effect.runPromise(
 *   Request.summary.pipe(Request.track("consume", { parent: remote.parent, kind: "consumer" }), Propagation.withRemote(remote)),
 * )
 * assert.equal(summary.traceId, "4bf92f3577b34da6a3ce929d0e0e4736")
 * ```
 *
 * @category extraction
 * @since 0.1.0
 */
export const withRemote: {
  (extracted: Extracted): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, extracted: Extracted): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, extracted: Extracted): Effect.Effect<A, E, R> =>
    withRemoteContext(self, extracted.parent, extracted.baggage),
)

/**
 * The header names this module reads and writes (for CORS `Access-Control-Allow-Headers`, proxies…).
 *
 * @example Allowing the headers through CORS
 * ```ts
 * import assert from "node:assert/strict"
 * import { Propagation } from "@stagetrace/stagetrace"
 *
 * const allow = ["content-type", ...Propagation.headerNames].join(", ")
 * assert.equal(allow, "content-type, traceparent, tracestate, baggage")
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const headerNames: ReadonlyArray<string> = ["traceparent", "tracestate", "baggage"]
