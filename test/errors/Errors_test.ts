import assert from "node:assert/strict"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as PlatformError from "effect/PlatformError"
import * as Schema from "effect/Schema"
import { HttpClientError, HttpClientRequest } from "effect/http"
import { TestClock } from "effect/testing"
import { Errors } from "../../mod.ts"
import { effectTest } from "../_harness.ts"

class RateLimited extends Data.TaggedError("RateLimited")<{ readonly retryAfter: number }> {}
class BadQuery extends Data.TaggedError("BadQuery") {}
class QuotaHit extends Data.TaggedError("QuotaHit")<{ readonly status: number }> {}
type AppError = RateLimited | BadQuery | QuotaHit

class LegacyError extends Error {}
class StrictLegacyError extends LegacyError {}

const fail = (error: unknown) => Errors.classify(Cause.fail(error))
const die = (defect: unknown) => Errors.classify(Cause.die(defect))
const withCode = (code: string, message = "boom") => Object.assign(new Error(message), { code })

Deno.test("Errors.classify() uses the tag map, then classes, then matchers, before built-in rules", () => {
  const rules = Errors.rules<AppError>({
    tags: { RateLimited: "transient", QuotaHit: { category: "resource", retryable: true } },
    classes: [[LegacyError, "configuration"]],
    match: [(e) => (typeof e === "object" && e !== null && "flaky" in e ? "transient" : undefined)],
  })
  const rate = Errors.classify(Cause.fail(new RateLimited({ retryAfter: 1 })), rules)
  assert.deepEqual(rate, { category: "transient", errorType: "RateLimited", message: "", retryable: true })
  // The tag rule wins over the 429 → transient status rule would give; retryable is overridden.
  assert.deepEqual(
    [Errors.classify(Cause.fail(new QuotaHit({ status: 400 })), rules)].map((c) => [c.category, c.retryable]),
    [["resource", true]],
  )
  assert.equal(Errors.classify(Cause.fail(new StrictLegacyError("timeout")), rules).category, "configuration")
  assert.equal(Errors.classify(Cause.fail({ flaky: true, status: 404 }), rules).category, "transient")
  // Without the rules, the built-ins apply.
  assert.equal(fail(new StrictLegacyError("timeout")).category, "transient")
  assert.equal(fail(new QuotaHit({ status: 400 })).category, "data")
  assert.equal(fail(new BadQuery()).category, "unknown")
})

Deno.test("Errors.rules<E>() only accepts tags of E", () => {
  Errors.rules<AppError>({ tags: { BadQuery: "data" } })
  // @ts-expect-error: "RateLimitd" is not a tag of AppError
  Errors.rules<AppError>({ tags: { RateLimitd: "transient" } })
  // @ts-expect-error: "flaky" is not a category
  Errors.rules<AppError>({ tags: { BadQuery: "flaky" } })
  const program: Effect.Effect<number, RateLimited | BadQuery> = Effect.succeed(1)
  Errors.rulesFor(program, { tags: { RateLimited: "transient" } })
  // @ts-expect-error: QuotaHit is not in the program's error union
  Errors.rulesFor(program, { tags: { QuotaHit: "resource" } })
  // Without a union, any tag is accepted.
  Errors.rules({ tags: { Anything: "data" } })
})

Deno.test("Errors.classify() accepts the plain rules form, as untyped callers write it", () => {
  const plain = { tags: { RateLimited: "transient" }, classes: [[LegacyError, "configuration"]] } as const
  // deno-lint-ignore no-explicit-any
  const untyped = plain as any
  assert.equal(Errors.classify(Cause.fail(new RateLimited({ retryAfter: 1 })), untyped).category, "transient")
  assert.equal(Errors.classify(Cause.fail(new LegacyError("x")), untyped).category, "configuration")
  assert.equal(Errors.classify(Cause.fail(new BadQuery()), { tags: { BadQuery: "data" } }).category, "data")
  assert.equal(
    Errors.classifyError(new BadQuery(), {
      rules: { tags: { BadQuery: { category: "data", retryable: true } } },
    })
      .retryable,
    true,
  )
  // The same plain object is compiled once, and targets that name no category are skipped.
  assert.equal(
    Errors.classify(Cause.fail(new BadQuery()), { tags: { BadQuery: "flaky" as never } }).category,
    "unknown",
  )
})

Deno.test("Errors.classify() names Errors.rules when given something that is not rules", () => {
  for (const bad of ["transient", 42, { classes: "nope" }]) {
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => Errors.classify(Cause.fail(new BadQuery()), bad as any),
      (error: unknown) => error instanceof TypeError && error.message.includes("Errors.rules"),
      JSON.stringify(bad),
    )
  }
})

Deno.test("Errors.rules() records targets that are not categories", () => {
  const rules = Errors.rules({ tags: { X: "flaky" as never } })
  assert.deepEqual(rules.invalid, [["tags.X", "flaky"]])
  assert.equal(rules.tags.size, 0)
})

Deno.test("Errors.classify() maps HTTP status codes", () => {
  const expected: Record<number, string> = {
    408: "transient",
    429: "transient",
    502: "transient",
    503: "transient",
    504: "transient",
    401: "configuration",
    403: "configuration",
    400: "data",
    404: "data",
    409: "data",
    422: "data",
    413: "resource",
    507: "resource",
    500: "unknown",
    418: "unknown",
  }
  for (const [status, category] of Object.entries(expected)) {
    assert.equal(fail({ status: Number(status) }).category, category, `status ${status}`)
  }
  assert.equal(fail({ statusCode: 401 }).category, "configuration")
  assert.equal(fail({ response: { status: 503 } }).category, "transient")
  assert.equal(fail({ status: 503 }).retryable, true)
  assert.equal(fail({ status: 404 }).retryable, false)
  assert.equal(fail({ status: "503" }).category, "unknown", "a status must be a number")
})

Deno.test("Errors.classify() sees through Effect's HTTP client and platform errors", () => {
  const request = HttpClientRequest.get("http://127.0.0.1/x")
  const transport = new HttpClientError.HttpClientError({
    reason: new HttpClientError.TransportError({ request, cause: new TypeError("fetch failed") }),
  })
  assert.equal(fail(transport).category, "transient")
  assert.equal(fail(transport).errorType, "HttpClientError")
  const notFound = PlatformError.systemError({ _tag: "NotFound", module: "FileSystem", method: "readFile" })
  assert.equal(fail(notFound).category, "data")
  const denied = PlatformError.systemError({ _tag: "PermissionDenied", module: "FileSystem", method: "open" })
  assert.equal(fail(denied).category, "configuration")
})

Deno.test("Errors.classify() knows Deno error classes and Node error codes", () => {
  const cases: ReadonlyArray<[unknown, string]> = [
    [new Deno.errors.TimedOut("t"), "transient"],
    [new Deno.errors.ConnectionRefused("c"), "transient"],
    [new Deno.errors.ConnectionReset("c"), "transient"],
    [new Deno.errors.PermissionDenied("p"), "configuration"],
    [new Deno.errors.NotCapable("n"), "configuration"],
    [new Deno.errors.NotFound("n"), "data"],
    [new Deno.errors.InvalidData("i"), "data"],
    [withCode("ECONNRESET"), "transient"],
    [withCode("ETIMEDOUT"), "transient"],
    [withCode("EACCES"), "configuration"],
    [withCode("ENOENT"), "data"],
    [withCode("ENOSPC"), "resource"],
    [new DOMException("aborted", "AbortError"), "interrupted"],
    [new DOMException("signal timed out", "TimeoutError"), "transient"],
    [new DOMException("quota", "QuotaExceededError"), "resource"],
    [new Cause.TimeoutError(), "transient"],
    [new SyntaxError("Unexpected token < in JSON"), "data"],
  ]
  for (const [error, category] of cases) {
    const c = fail(error)
    assert.equal(c.category, category, `${c.errorType}: ${c.message}`)
  }
  assert.equal(fail(new Deno.errors.TimedOut("t")).errorType, "TimedOut")
})

Deno.test("Errors.classify() falls back to the seeds' message patterns for plain errors", () => {
  const cases: ReadonlyArray<[string, string]> = [
    ["Request timeout after 30s", "transient"],
    ["connection closed by peer", "transient"],
    ["Rate limit exceeded", "transient"],
    ["request throttled", "transient"],
    ["Authentication failed", "configuration"],
    ["permission denied for table", "configuration"],
    ["invalid API key", "configuration"],
    ["missing config value", "configuration"],
    ["validation failed: name", "data"],
    ["bad date format", "data"],
    ["schema mismatch", "data"],
    ["could not parse body", "data"],
    ["out of memory", "resource"],
    ["disk is full", "resource"],
    ["cpu limit reached", "resource"],
    ["monthly quota used up", "resource"],
    ["something odd", "unknown"],
  ]
  for (const [message, category] of cases) {
    const c = fail(new Error(message))
    assert.deepEqual([c.category, c.errorType, c.message], [category, "Error", message], message)
  }
  assert.equal(fail("rate limit").category, "transient", "a string failure is its own message")
  assert.equal(fail(new LegacyError("x")).errorType, "LegacyError")
})

Deno.test("Errors.classify() makes defects `defect` unless a rule or a known error says more", () => {
  assert.equal(die(new TypeError("Cannot read properties of undefined (reading 'key')")).category, "defect")
  assert.equal(die(new Error("timeout")).category, "defect", "message patterns do not apply to defects")
  assert.equal(die({ status: 503 }).category, "defect", "status codes do not apply to defects")
  assert.equal(die(new Deno.errors.ConnectionRefused("x")).category, "transient")
  const rules = Errors.rules({ classes: [[RangeError, "resource"]] })
  assert.equal(Errors.classify(Cause.die(new RangeError("Invalid array length")), rules).category, "resource")
  assert.equal(die(new TypeError("x")).retryable, false)
  assert.equal(Errors.classifyError(new Error("timeout"), { defect: true }).category, "defect")
  assert.equal(Errors.classifyError(new Error("timeout")).category, "transient")
})

Deno.test("Errors.classify() makes interruptions `interrupted` and reads the first failure of a mixed cause", () => {
  assert.deepEqual(Errors.classify(Cause.interrupt(1)), {
    category: "interrupted",
    errorType: "Interrupted",
    message: "interrupted",
    retryable: false,
  })
  const mixed = Cause.combine(Cause.interrupt(1), Cause.fail({ status: 429 }))
  assert.equal(Errors.classify(mixed).category, "transient")
  assert.equal(Errors.classify(Cause.empty).category, "unknown")
})

effectTest(
  "Errors.classify() classifies real exits: timeouts, unknown errors, schema errors, interruptions",
  () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(Effect.exit(Effect.timeout(Effect.never, "1 second")))
      yield* TestClock.adjust("1 second")
      const timeout = yield* Fiber.join(fiber)
      assert.ok(Exit.isFailure(timeout))
      assert.equal(Errors.classify(timeout.cause).category, "transient")

      const rejected = yield* Effect.exit(
        Effect.tryPromise(() => Promise.reject(new Deno.errors.ConnectionReset("x"))),
      )
      assert.ok(Exit.isFailure(rejected))
      const c = Errors.classify(rejected.cause)
      assert.equal(c.errorType, "UnknownError")
      assert.equal(c.category, "transient", "the UnknownError's cause is classified")

      const decoded = yield* Effect.exit(Schema.decodeUnknownEffect(Schema.Number)("x"))
      assert.ok(Exit.isFailure(decoded))
      assert.equal(Errors.classify(decoded.cause).category, "data")

      const interrupted = yield* Effect.exit(Effect.interrupt)
      assert.ok(Exit.isFailure(interrupted))
      assert.equal(Errors.classify(interrupted.cause).category, "interrupted")
    }),
)

Deno.test("Errors.classify() never throws on hostile error values", () => {
  const throwing = new Proxy({}, {
    get() {
      throw new Error("no")
    },
  })
  const cyclic: { cause?: unknown; message: string } = { message: "loop" }
  cyclic.cause = cyclic
  const deep = { cause: { cause: { cause: { cause: { cause: { code: "ECONNRESET" } } } } } }
  for (const value of [throwing, cyclic, deep, null, undefined, 42, Symbol("s"), 10n, Object.create(null)]) {
    const c = fail(value)
    assert.equal(typeof c.category, "string")
    assert.equal(typeof c.errorType, "string")
    assert.equal(typeof c.message, "string")
  }
  const throwingMatcher = Errors.rules({
    match: [() => {
      throw new Error("bad matcher")
    }],
  })
  assert.equal(Errors.classify(Cause.fail({ status: 503 }), throwingMatcher).category, "transient")
})

Deno.test("Errors.classify() survives a proxy whose every trap throws", () => {
  const trap = () => {
    throw new Error("trap")
  }
  const hostile = new Proxy({}, { get: trap, getPrototypeOf: trap, has: trap, ownKeys: trap })
  const c = fail(hostile)
  assert.equal(c.category, "unknown")
  assert.equal(c.errorType, "Object")
})
