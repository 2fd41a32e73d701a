import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { Exporter, Redactor, Request, Stage, Summaries, Telemetry } from "../../mod.ts"
import type { RequestSummary } from "../../src/stage/Request.ts"
import { compile, defaultConfig, luhn, summaryRedaction } from "../../src/log/internal/redact.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { RedactorSlot } from "../../src/internal/slots.ts"
import { effectTest } from "../_harness.ts"
import { ordinaryCorpus, personalCorpus } from "./_corpus.ts"

const r = Redactor.defaultRedactor
const installedRedactor = Effect.withFiber((fiber) =>
  Effect.succeed(fiber.getRef(CurrentRecorder).get(RedactorSlot))
)

Deno.test("Redactor.defaultRedactor masks every kind of personal data in the corpus", () => {
  for (const [input, expected] of personalCorpus) assert.equal(r.redactString(input), expected, input)
})

Deno.test("Redactor.defaultRedactor leaves ordinary text unchanged (same string)", () => {
  for (const text of ordinaryCorpus) assert.equal(r.redactString(text), text, text)
})

Deno.test("Redactor.defaultRedactor masks always-masked keys whatever the value", () => {
  for (
    const key of [
      "password",
      "db.password",
      "Authorization",
      "x-api-key",
      "API_KEY",
      "set-cookie",
      "client_secret",
    ]
  ) {
    assert.equal(r.redactValue(key, "anything"), "[REDACTED]", key)
    assert.equal(r.redactValue(key, 42), "[REDACTED]", key)
  }
  assert.equal(r.redactValue("tokens", 512), 512)
  assert.equal(r.redactValue("user", "bob"), "bob")
})

Deno.test("Redactor.defaultRedactor masks Effect Redacted values always", () => {
  assert.equal(r.redactValue("note", Redacted.make("x")), "[REDACTED]")
  assert.equal(Redactor.disabled.redactValue("note", Redacted.make("x")), "[REDACTED]")
  assert.deepEqual(r.redactDeep({ a: [Redacted.make(1)] }), { a: ["[REDACTED]"] })
})

Deno.test("Redactor.defaultRedactor never masks correlation ids", () => {
  const uuid = "123e4567-e89b-12d3-a456-426614174000"
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
  for (const key of ["request_id", "request.id", "requestId", "trace_id", "traceId"]) {
    assert.equal(r.redactValue(key, uuid), uuid)
  }
  assert.equal(r.redactValue("trace_id", traceId), traceId)
})

Deno.test("Redactor.defaultRedactor redacts nested objects and copies only what changed", () => {
  const clean = { a: 1, b: ["x", { c: "y" }] }
  assert.equal(r.redactDeep(clean), clean)
  const input = { user: { email: "a@b.io", password: "p", id: 4111111111111111 }, tags: ["ok", "c@d.io"] }
  assert.deepEqual(r.redactDeep(input), {
    user: { email: "[EMAIL]", password: "[REDACTED]", id: "[CARD]" },
    tags: ["ok", "[EMAIL]"],
  })
  assert.equal(input.user.email, "a@b.io")
})

Deno.test("Redactor.defaultRedactor never throws on hostile input", () => {
  const cyclic: Record<string, unknown> = { name: "a@b.io" }
  cyclic.self = cyclic
  assert.doesNotThrow(() => r.redactDeep(cyclic))
  const throwing = {
    get boom() {
      throw new Error("no")
    },
  }
  assert.equal(r.redactDeep(throwing), "[REDACTED]")
  assert.equal(r.redactString(undefined as unknown as string), "undefined")
  // Long runs stay linear: no quadratic backtracking on 100k characters of any detector's alphabet.
  for (
    const char of [
      "x",
      ".",
      "1",
      "a1",
      "-",
      "a@",
      "@a",
      "a://b:c",
      "x://y:z@",
      "password: '",
      "-----BEGIN PRIVATE KEY-----",
      "-----BEGIN RSA PRIVATE KEY-----a-----END RSA PRIVATE KEY-----",
    ]
  ) {
    const long = char.repeat(100_000 / char.length)
    assert.equal(typeof r.redactString(long), "string")
  }
})

Deno.test("Redactor luhn check accepts valid and rejects invalid numbers", () => {
  assert.equal(luhn("4111111111111111"), true)
  assert.equal(luhn("4111111111111112"), false)
  assert.equal(luhn("79927398713"), true)
})

effectTest(
  "Redactor.make masks IP addresses, user patterns and extra keys when asked",
  () =>
    Effect.gen(function* () {
      const custom = yield* Redactor.make({
        ipAddresses: true,
        patterns: [/ACME-\d{6}/, "TKT#\\d+"],
        keys: ["ssn"],
      })
      assert.equal(
        custom.redactString("from 192.168.1.20 and 2001:db8::8a2e:370:7334 at 10:30:00"),
        "from [IP] and [IP] at 10:30:00",
      )
      assert.equal(
        custom.redactString("customer ACME-123456 ticket TKT#42"),
        "customer [REDACTED] ticket [REDACTED]",
      )
      assert.equal(custom.redactValue("customer.ssn", "123-45-6789"), "[REDACTED]")
      assert.equal(r.redactString("from 192.168.1.20"), "from 192.168.1.20")
      const noEmails = yield* Redactor.make({ emails: false })
      assert.equal(noEmails.redactString("a@b.io"), "a@b.io")
    }),
)

effectTest(
  "Redactor.make rejects an invalid pattern with TelemetryConfigError",
  () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Redactor.make({ patterns: ["(unclosed"] }))
      assert.equal(error._tag, "TelemetryConfigError")
      assert.equal(error.name, "redaction.patterns[0]")
      const bad = yield* Effect.flip(Redactor.make({ ipAddresses: "yes" as unknown as boolean }))
      assert.equal(bad.name, "redaction.ipAddresses")
    }),
)

effectTest(
  "Telemetry.layer installs the redactor by default and honours redaction: false",
  () =>
    Effect.gen(function* () {
      const installed = yield* installedRedactor.pipe(
        Effect.provide(Telemetry.layer()),
      )
      assert.equal(installed?.redactString("a@b.io"), "[EMAIL]")
      const off = yield* installedRedactor.pipe(
        Effect.provide(Telemetry.layer({ redaction: false })),
      )
      assert.equal(off?.redactString("a@b.io"), "a@b.io")
      const fromEnv = yield* Effect.map(Redactor.current, (red) => red.redactString("10.0.0.1")).pipe(
        Effect.provide(Telemetry.layerFromEnv({ env: { STAGETRACE_REDACT_IP_ADDRESSES: "true" } })),
      )
      assert.equal(fromEnv, "[IP]")
      const error = yield* Layer.build(Telemetry.layer({ redaction: { patterns: ["["] } })).pipe(Effect.flip)
      assert.equal(error.name, "redaction.patterns[0]")
    }),
)

// ---------------------------------------------------------------------------------------------------------
// Summaries handed to user code
// ---------------------------------------------------------------------------------------------------------

const secretRequest = Effect.gen(function* () {
  yield* Effect.void.pipe(
    Stage.track("auth_check", { metadata: { password: "hunter2", user: "ada@example.com", tokens: 12 } }),
  )
  yield* Request.annotate("authorization", "Bearer abcdefgh12345678")
  yield* Effect.fail(new Error("no index for bob@example.com")).pipe(Stage.track("kb_access"), Effect.ignore)
  return yield* Request.summary
}).pipe(
  Request.track("chat", {
    requestId: "r-1",
    attributes: { "user.email": "ada@example.com", api_key: "k-1" },
  }),
)

const assertMasked = (summary: RequestSummary | undefined) => {
  assert.ok(summary !== undefined)
  assert.deepEqual(summary.attributes, {
    "user.email": "[EMAIL]",
    api_key: "[REDACTED]",
    authorization: "[REDACTED]",
  })
  assert.deepEqual(summary.stages[0]?.metadata, { password: "[REDACTED]", user: "[EMAIL]", tokens: 12 })
  assert.equal(summary.stages[1]?.error?.message, "no index for [EMAIL]")
  assert.equal(summary.requestId, "r-1")
}

effectTest(
  "summaries are redacted once, when the request ends: Summaries.recent, stream and exporters",
  () =>
    Effect.gen(function* () {
      const memory = Exporter.memory()
      yield* Effect.gen(function* () {
        const streamed = yield* Summaries.stream().pipe(Stream.take(1), Stream.runCollect, Effect.forkChild)
        yield* Effect.yieldNow
        yield* secretRequest
        const [recent] = yield* Summaries.recent(1)
        assertMasked(recent)
        assertMasked([...(yield* Fiber.join(streamed))][0])
        assertMasked(memory.summaries()[0])
      }).pipe(Effect.provide(Telemetry.layer({ exporters: [memory] })))
    }),
)

effectTest(
  "Request.summary of a running request is redacted like the stored one",
  () =>
    Effect.gen(function* () {
      const own = yield* secretRequest.pipe(Effect.provide(Telemetry.layer()))
      assert.equal(own.status, "running")
      assertMasked(own)
    }),
)

effectTest(
  "without a telemetry layer summaries are redacted with the default redactor",
  () =>
    Effect.gen(function* () {
      yield* secretRequest
      const [recent] = (yield* Summaries.recent(100)).filter((s) => s.requestId === "r-1")
      assertMasked(recent)
    }),
)

effectTest(
  "redaction: false keeps summaries as recorded (Redacted values still masked)",
  () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        yield* Effect.void.pipe(
          Request.track("chat", { attributes: { email: "ada@example.com", secret: Redacted.make("s") } }),
        )
        const [recent] = yield* Summaries.recent(1)
        assert.deepEqual(recent?.attributes, { email: "ada@example.com", secret: "[REDACTED]" })
      }).pipe(Effect.provide(Telemetry.layer({ redaction: false })))
    }),
)

Deno.test("the Promise API's endRequest and recentSummaries are redacted", async () => {
  const rt = await Telemetry.makeRuntime()
  try {
    rt.startRequest("r-1", "chat", { attributes: { "user.email": "ada@example.com", api_key: "k-1" } })
    rt.recordStage("r-1", "auth_check", 3, {
      metadata: { password: "hunter2", user: "ada@example.com", tokens: 12 },
    })
    const ended = await rt.endRequest("r-1")
    assert.deepEqual(ended?.attributes, { "user.email": "[EMAIL]", api_key: "[REDACTED]" })
    assert.deepEqual(ended?.stages[0]?.metadata, { password: "[REDACTED]", user: "[EMAIL]", tokens: 12 })
    assert.deepEqual(rt.recentSummaries(1)[0]?.attributes, { "user.email": "[EMAIL]", api_key: "[REDACTED]" })
  } finally {
    await rt.dispose()
  }
})

Deno.test("summary redaction through the compiled engine (string keys) matches redactValue value by value", () => {
  const engine = compile(defaultConfig)
  // The same engine seen only through `RedactorLike`: the per-value path.
  const generic = { redactString: engine.redactString, redactValue: engine.redactValue }
  const metadata = Object.freeze({ tenant: "acme", password: "hunter2", note: "from 10.0.0.7" })
  const make = () => ({
    attributes: {
      "http.request.method": "GET",
      "url.full": "http://127.0.0.1:8000/?mail=alice@example.com",
      "server.port": 8000,
      "request.id": "550e8400-e29b-41d4-a716-446655440000",
      authorization: "Bearer abc.def-123456",
      secret: Redacted.make("s3cret"),
      nested: { token: "t", text: "card 4111 1111 1111 1111" },
      broken: {
        get inner(): string {
          throw new Error("getter")
        },
      },
    },
    error: { type: "Fail", message: "login alice@example.com", kind: "expected" },
    stages: [{ metadata, substages: [{ metadata: Object.freeze({}), substages: [] }] }],
  })
  const viaEngine = make() as unknown as Parameters<ReturnType<typeof summaryRedaction>>[0]
  const viaValues = make() as unknown as Parameters<ReturnType<typeof summaryRedaction>>[0]
  summaryRedaction(engine)(viaEngine)
  summaryRedaction(generic)(viaValues)
  assert.deepStrictEqual(viaEngine, viaValues)
  assert.equal(
    viaEngine.attributes["url.full"],
    engine.redactString("http://127.0.0.1:8000/?mail=alice@example.com"),
  )
  assert.match(viaEngine.attributes["url.full"] as string, /\?mail=\[EMAIL\]$/)
  assert.equal(viaEngine.attributes["request.id"], "550e8400-e29b-41d4-a716-446655440000")
  assert.equal(viaEngine.attributes.authorization, "[REDACTED]")
  assert.deepStrictEqual(viaEngine.stages[0]!.metadata, {
    tenant: "acme",
    password: "[REDACTED]",
    note: engine.redactString("from 10.0.0.7"),
  })
  assert.equal(viaEngine.attributes.broken, "[REDACTED]")
  // Nothing to mask: the same object.
  const plain = { attributes: { "http.request.method": "GET", "server.port": 8000 }, stages: [] }
  const before = plain.attributes
  summaryRedaction(engine)(plain as unknown as Parameters<ReturnType<typeof summaryRedaction>>[0])
  assert.equal(plain.attributes, before)
  // A record that cannot be read at all becomes empty, on both paths.
  const hostile = new Proxy({}, {
    ownKeys: () => {
      throw new Error("proxy")
    },
  })
  const a = { attributes: hostile, stages: [] } as unknown as Parameters<
    ReturnType<typeof summaryRedaction>
  >[0]
  summaryRedaction(engine)(a)
  assert.deepStrictEqual(a.attributes, {})
})
