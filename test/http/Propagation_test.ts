/**
 * `Propagation.extract` / `inject` / baggage: what a service receives and what it sends on.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Tracer from "effect/Tracer"
import { CurrentRecorder, type Recorder } from "../../src/internal/recorder.ts"
import * as Propagation from "../../src/http/Propagation.ts"
import * as Request from "../../src/stage/Request.ts"
import * as Stage from "../../src/stage/Stage.ts"
import * as Telemetry from "../../src/telemetry/Telemetry.ts"
import { effectTest } from "../_harness.ts"
import { recordSpans } from "../_spans.ts"

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
const SPAN = "00f067aa0ba902b7"
const traceparent = (flags = "01") => `00-${TRACE}-${SPAN}-${flags}`

/** Runs `body` under a fresh telemetry layer and gives it the layer's recorder. */
const withTelemetry = <A, E>(body: (recorder: Recorder) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const recorder = yield* CurrentRecorder
    return yield* body(recorder)
  }).pipe(Effect.provide(Telemetry.layer()))

const drops = (recorder: Recorder) => Object.fromEntries(recorder.drops)

/** Extracts, then runs `inner` as a server request continuing the caller. */
const serve = <A, E>(headers: Propagation.HeadersInput, inner: Effect.Effect<A, E>) =>
  Effect.flatMap(
    Propagation.extract(headers),
    (remote) =>
      inner.pipe(
        Request.track("GET /x", { parent: remote.parent, kind: "server" }),
        Propagation.withRemote(remote),
      ),
  )

const injected = Propagation.inject(new Headers())

// ---------------------------------------------------------------------------------------------------------
// extract
// ---------------------------------------------------------------------------------------------------------

effectTest(
  "extract reads the trace context, tracestate and baggage",
  () =>
    withTelemetry((recorder) =>
      Effect.gen(function* () {
        const extracted = yield* Propagation.extract(
          new Headers({
            traceparent: traceparent("03"),
            tracestate: " ot=th:8 , congo=t61rcWkgMzE ",
            baggage: "userId=alice, serverNode=DF%2028;ttl=5",
          }),
        )
        assert.deepEqual(extracted.parent, {
          traceId: TRACE,
          spanId: SPAN,
          sampled: true,
          randomTraceId: true,
          traceState: "ot=th:8,congo=t61rcWkgMzE",
        })
        assert.deepEqual([...extracted.baggage], [
          ["userId", { value: "alice" }],
          ["serverNode", { value: "DF 28", properties: [{ key: "ttl", value: "5" }] }],
        ])
        assert.deepEqual(extracted.issues, [])
        assert.equal(recorder.drops.size, 0)
      })
    ),
)

effectTest("extract reads the flags bit by bit", () =>
  Effect.gen(function* () {
    const read = (flags: string) =>
      Propagation.extract(new Headers({ traceparent: traceparent(flags) })).pipe(Effect.map((e) => e.parent))
    assert.deepEqual([(yield* read("00"))?.sampled, (yield* read("00"))?.randomTraceId], [false, false])
    assert.deepEqual([(yield* read("02"))?.sampled, (yield* read("02"))?.randomTraceId], [false, true])
    assert.deepEqual([(yield* read("09"))?.sampled, (yield* read("09"))?.randomTraceId], [true, false])
  }))

effectTest(
  "an invalid traceparent is ignored and counted; its tracestate is not read",
  () =>
    withTelemetry((recorder) =>
      Effect.gen(function* () {
        const extracted = yield* Propagation.extract(
          new Headers({
            traceparent: `00-${TRACE}-0000000000000000-01`,
            tracestate: "foo=1",
            baggage: "a=1",
          }),
        )
        assert.equal(extracted.parent, undefined)
        assert.deepEqual(extracted.issues, ["invalid_traceparent"])
        // Baggage does not depend on the traceparent.
        assert.equal(extracted.baggage.get("a")?.value, "1")
        assert.deepEqual(drops(recorder), { invalid_traceparent: 1 })
      })
    ),
)

effectTest(
  "a tracestate without a traceparent is ignored without a drop",
  () =>
    withTelemetry((recorder) =>
      Effect.gen(function* () {
        const extracted = yield* Propagation.extract(new Headers({ tracestate: "foo=1" }))
        assert.equal(extracted.parent, undefined)
        assert.deepEqual(extracted.issues, [])
        assert.equal(recorder.drops.size, 0)
      })
    ),
)

effectTest(
  "an invalid tracestate is discarded whole and counted; the traceparent is kept",
  () =>
    withTelemetry((recorder) =>
      Effect.gen(function* () {
        const extracted = yield* Propagation.extract(
          new Headers({ traceparent: traceparent(), tracestate: "foo=1,Bar=2" }),
        )
        assert.equal(extracted.parent?.traceId, TRACE)
        assert.equal(extracted.parent?.traceState, undefined)
        assert.deepEqual(extracted.issues, ["invalid_tracestate"])
        assert.deepEqual(drops(recorder), { invalid_tracestate: 1 })
      })
    ),
)

effectTest(
  "a tracestate with duplicate keys is inherited: the first occurrence kept, each later one counted",
  () =>
    withTelemetry((recorder) =>
      Effect.gen(function* () {
        // The same key twice in one field, and across two header fields (combined with a comma).
        const headers = new Headers({ traceparent: traceparent() })
        headers.append("tracestate", "foo=1,bar=2,foo=3")
        headers.append("tracestate", "bar=4,baz=5")
        const extracted = yield* Propagation.extract(headers)
        assert.equal(extracted.parent?.traceState, "foo=1,bar=2,baz=5")
        assert.deepEqual(extracted.issues, ["tracestate_duplicate"])
        assert.deepEqual(drops(recorder), { tracestate_duplicate: 2 })
        const sent = yield* serve(headers, Propagation.inject(new Headers()))
        assert.equal(sent.get("tracestate"), "foo=1,bar=2,baz=5")
      })
    ),
)

effectTest(
  "an empty tracestate gives no tracestate and no drop",
  () =>
    withTelemetry((recorder) =>
      Effect.gen(function* () {
        const extracted = yield* Propagation.extract(
          new Headers({ traceparent: traceparent(), tracestate: "" }),
        )
        assert.equal(extracted.parent?.traceState, undefined)
        assert.equal(recorder.drops.size, 0)
      })
    ),
)

effectTest("baggage drops are counted per member", () =>
  withTelemetry((recorder) =>
    Effect.gen(function* () {
      const members = Array.from({ length: 185 }, (_, i) => `k${i}=v`).join(",")
      const extracted = yield* Propagation.extract(
        new Headers({ baggage: `bad key=1,${members},also bad=2` }),
      )
      assert.equal(extracted.baggage.size, 180)
      assert.deepEqual(extracted.issues, ["invalid_baggage", "baggage_truncated"])
      assert.deepEqual(drops(recorder), { invalid_baggage: 2, baggage_truncated: 5 })
    })
  ))

effectTest("header names are matched in any case, in plain records too", () =>
  Effect.gen(function* () {
    const fromRecord = yield* Propagation.extract({ TraceParent: traceparent(), TRACESTATE: ["a=1", "b=2"] })
    assert.equal(fromRecord.parent?.traceId, TRACE)
    assert.equal(fromRecord.parent?.traceState, "a=1,b=2")
    const fromHeaders = yield* Propagation.extract(new Headers([["TrAcEpArEnT", traceparent()]]))
    assert.equal(fromHeaders.parent?.spanId, SPAN)
    const wrongName = yield* Propagation.extract({ "trace-parent": traceparent() })
    assert.equal(wrongName.parent, undefined)
  }))

effectTest("two traceparent fields are invalid", () =>
  Effect.gen(function* () {
    const headers = new Headers()
    headers.append("traceparent", `00-12345678901234567890123456789011-${SPAN}-01`)
    headers.append("traceparent", traceparent())
    assert.equal((yield* Propagation.extract(headers)).parent, undefined)
    const record = yield* Propagation.extract({ traceparent: traceparent(), TRACEPARENT: traceparent() })
    assert.equal(record.parent, undefined)
  }))

Deno.test("parse is the same without an Effect", () => {
  const parsed = Propagation.parse({ traceparent: traceparent("00"), baggage: "k=v" })
  assert.equal(parsed.parent?.sampled, false)
  assert.equal(parsed.baggage.get("k")?.value, "v")
})

// ---------------------------------------------------------------------------------------------------------
// inject
// ---------------------------------------------------------------------------------------------------------

effectTest("outside any span nothing but baggage is injected", () =>
  Effect.gen(function* () {
    const headers = yield* injected
    assert.equal(headers.get("traceparent"), null)
    assert.equal(headers.get("tracestate"), null)
    assert.equal(headers.get("baggage"), null)
    const withBaggage = yield* injected.pipe(Propagation.withBaggage({ k: "v" }))
    assert.equal(withBaggage.get("baggage"), "k=v")
  }))

effectTest("a trace started here is sent sampled and random, from the current span", () => {
  const recorder = recordSpans()
  return Effect.gen(function* () {
    const headers = yield* injected.pipe(Stage.track("kb_lookup"), Request.track("chat"))
    const stage = recorder.byName("kb_lookup")
    assert.equal(headers.get("traceparent"), `00-${stage.traceId}-${stage.spanId}-03`)
    assert.equal(headers.get("tracestate"), null)
  }).pipe(Effect.provide(recorder.layer))
})

effectTest(
  "a continued trace keeps the trace id, the sampled flag and the caller's random flag",
  () =>
    Effect.gen(function* () {
      for (const flags of ["01", "03", "00", "02"]) {
        const headers = yield* serve(new Headers({ traceparent: traceparent(flags) }), injected)
        const sent = headers.get("traceparent")!
        assert.match(sent, new RegExp(`^00-${TRACE}-[0-9a-f]{16}-${flags}$`), flags)
        assert.notEqual(sent.split("-")[2], SPAN, "the parent id is our span")
      }
    }),
)

effectTest(
  "without withRemote the caller's random flag is unknown and not claimed",
  () =>
    Effect.gen(function* () {
      const remote = yield* Propagation.extract(new Headers({ traceparent: traceparent("03") }))
      const headers = yield* injected.pipe(Request.track("r", { parent: remote.parent }))
      assert.match(headers.get("traceparent")!, /-01$/)
    }),
)

effectTest("the caller's tracestate is passed on", () =>
  Effect.gen(function* () {
    const headers = yield* serve(
      new Headers({ traceparent: traceparent(), tracestate: "ot=th:8,congo=t61rcWkgMzE" }),
      injected,
    )
    assert.equal(headers.get("tracestate"), "ot=th:8,congo=t61rcWkgMzE")
  }))

effectTest(
  "the request's own tracestate goes first, replacing the caller's entry for the same key",
  () =>
    withTelemetry((recorder) =>
      Effect.gen(function* () {
        // What the sampling concern does when a request starts.
        recorder.requestStart.push((record) => {
          record.traceState = "ot=th:c"
        })
        const headers = yield* serve(
          new Headers({ traceparent: traceparent(), tracestate: "congo=1,ot=th:8,rojo=2" }),
          injected,
        )
        assert.equal(headers.get("tracestate"), "ot=th:c,congo=1,rojo=2")
      })
    ),
)

effectTest(
  "the request's head decision is the sampled flag sent",
  () =>
    withTelemetry((recorder) =>
      Effect.gen(function* () {
        recorder.requestStart.push((record) => {
          record.sampled = false
        })
        const headers = yield* injected.pipe(Request.track("dropped"))
        assert.match(headers.get("traceparent")!, /-02$/)
      })
    ),
)

effectTest(
  "a request nested in a continued request sends the caller's tracestate too",
  () =>
    Effect.gen(function* () {
      const headers = yield* serve(
        new Headers({ traceparent: traceparent(), tracestate: "congo=1" }),
        injected.pipe(Request.track("inner")),
      )
      assert.equal(headers.get("tracestate"), "congo=1")
    }),
)

effectTest(
  "a tracestate over 512 characters is truncated by whole entries and counted",
  () =>
    withTelemetry((recorder) =>
      Effect.gen(function* () {
        const upstream = Array.from({ length: 6 }, (_, i) => `k${i}=${"v".repeat(100)}`).join(",")
        const headers = yield* serve(
          new Headers({ traceparent: traceparent(), tracestate: upstream }),
          injected,
        )
        const sent = headers.get("tracestate")!
        assert.ok(sent.length <= 512)
        // Six 103-character entries: five would take 519 characters, four fit.
        assert.deepEqual(sent.split(",").map((e) => e.split("=")[0]), ["k0", "k1", "k2", "k3"])
        assert.deepEqual(drops(recorder), { tracestate_truncated: 1 })
      })
    ),
)

effectTest(
  "an invalid tracestate set by a concern is not sent, and counted",
  () =>
    withTelemetry((recorder) =>
      Effect.gen(function* () {
        recorder.requestStart.push((record) => {
          record.traceState = "NOT VALID"
        })
        const headers = yield* serve(
          new Headers({ traceparent: traceparent(), tracestate: "congo=1" }),
          injected,
        )
        assert.equal(headers.get("tracestate"), "congo=1")
        assert.deepEqual(drops(recorder), { invalid_tracestate: 1 })
      })
    ),
)

effectTest("a stale tracestate in the headers is removed when none is sent", () =>
  Effect.gen(function* () {
    const headers = yield* Propagation.inject(new Headers({ tracestate: "old=1" })).pipe(Request.track("r"))
    assert.equal(headers.get("tracestate"), null)
    const record = yield* Propagation.inject(
      { TraceState: "old=1", TraceParent: "x" } as Record<string, string>,
    )
      .pipe(Request.track("r"))
    assert.deepEqual(Object.keys(record).sort(), ["traceparent"])
  }))

effectTest("without a valid current span the headers are left as they are", () =>
  Effect.gen(function* () {
    const external = Tracer.externalSpan({ traceId: "not-hex", spanId: "nope" })
    const headers = yield* Propagation.inject(new Headers({ traceparent: "keep" })).pipe(
      Effect.withParentSpan(external),
    )
    assert.equal(headers.get("traceparent"), "keep")
  }))

effectTest("inside a plain remote parent the caller's context is forwarded", () =>
  Effect.gen(function* () {
    const remote = yield* Propagation.extract(
      new Headers({ traceparent: traceparent("03"), tracestate: "congo=1" }),
    )
    const external = Tracer.externalSpan({ traceId: TRACE, spanId: SPAN, sampled: true })
    const headers = yield* injected.pipe(Effect.withParentSpan(external), Propagation.withRemote(remote))
    assert.equal(headers.get("traceparent"), traceparent("03"))
    assert.equal(headers.get("tracestate"), "congo=1")
  }))

// ---------------------------------------------------------------------------------------------------------
// baggage
// ---------------------------------------------------------------------------------------------------------

effectTest("baggage received is sent on, with entries added on the way", () =>
  Effect.gen(function* () {
    const headers = yield* serve(
      new Headers({ traceparent: traceparent(), baggage: "userId=alice,serverNode=DF%2028;ttl=5" }),
      injected.pipe(Propagation.withBaggage({ tenant: "acme corp", userId: "bob" })),
    )
    assert.equal(headers.get("baggage"), "userId=bob,serverNode=DF%2028;ttl=5,tenant=acme%20corp")
  }))

effectTest("withBaggage nests, and is seen by forked fibers", () =>
  Effect.gen(function* () {
    const baggage = yield* Effect.forkChild(Propagation.currentBaggage).pipe(
      Effect.flatMap(Fiber.join),
      Propagation.withBaggage({ b: "2" }),
      Propagation.withBaggage({ a: "1", b: "1" }),
    )
    assert.deepEqual([...baggage].map(([k, v]) => [k, v.value]), [["a", "1"], ["b", "2"]])
    assert.equal((yield* Propagation.currentBaggage).size, 0)
  }))

effectTest(
  "baggage that cannot be sent is dropped and counted",
  () =>
    withTelemetry((recorder) =>
      Effect.gen(function* () {
        const headers = yield* injected.pipe(Propagation.withBaggage({ "bad key": "1", ok: "2" }))
        assert.equal(headers.get("baggage"), "ok=2")
        assert.deepEqual(drops(recorder), { invalid_baggage: 1 })
      })
    ),
)

effectTest("makeBaggage builds from a record or a map", () =>
  Effect.sync(() => {
    const baggage = Propagation.makeBaggage({ a: "1", b: { value: "2", properties: [{ key: "p" }] } })
    assert.deepEqual([...baggage], [["a", { value: "1" }], ["b", { value: "2", properties: [{ key: "p" }] }]])
    assert.deepEqual(Propagation.makeBaggage(baggage), baggage)
  }))

effectTest(
  "plain record carriers get lowercase names, replacing other spellings",
  () =>
    Effect.gen(function* () {
      const headers = yield* Propagation.inject({ Baggage: "old=1", "Content-Type": "text/plain" } as Record<
        string,
        string
      >).pipe(Propagation.withBaggage({ k: "v" }), Request.track("r"))
      assert.deepEqual(Object.keys(headers).sort(), ["Content-Type", "baggage", "traceparent"])
      assert.equal(headers.baggage, "k=v")
    }),
)
