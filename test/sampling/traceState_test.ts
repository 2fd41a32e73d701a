import assert from "node:assert/strict"
import { normalizeTraceState, readOt, withThreshold } from "../../src/sampling/internal/traceState.ts"

Deno.test("normalizeTraceState() keeps valid W3C tracestate headers, trimmed, without empty members", () => {
  assert.equal(
    normalizeTraceState("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
    "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
  )
  assert.equal(normalizeTraceState(" rojo=1 ,\t, congo=2 "), "rojo=1,congo=2")
  assert.equal(
    normalizeTraceState("tenant@system=x,ot=th:8;rv:0123456789abcd"),
    "tenant@system=x,ot=th:8;rv:0123456789abcd",
  )
  assert.equal(normalizeTraceState(""), undefined)
  assert.equal(normalizeTraceState(" , "), undefined)
})

Deno.test("normalizeTraceState() rejects malformed headers as a whole", () => {
  for (
    const header of [
      "Rojo=1", // upper-case key
      "rojo", // no value
      "=1",
      "rojo=a,b", // member without `=`
      "rojo=has=equals",
      "rojo=ctrl\u0001", // control character in the value
      "rojo=caf\u00e9", // non-ASCII value
      "rojo=" + "x".repeat(257), // value too long
      Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(","), // more than 32 members
    ]
  ) assert.equal(normalizeTraceState(header), undefined, header)
})

Deno.test("normalizeTraceState() keeps the first of duplicate keys (the W3C suite inherits such headers)", () => {
  assert.equal(normalizeTraceState("rojo=1,congo=2,rojo=3"), "rojo=1,congo=2")
})

Deno.test("readOt() reads th and rv from the ot member", () => {
  assert.deepEqual(readOt("a=1,ot=th:c;rv:0123456789abcd;x:y"), { th: "c", rv: "0123456789abcd" })
  assert.deepEqual(readOt("a=1"), { th: undefined, rv: undefined })
  assert.deepEqual(readOt(undefined), { th: undefined, rv: undefined })
  // `foot=` is not the `ot` member.
  assert.deepEqual(readOt("foot=th:8"), { th: undefined, rv: undefined })
})

Deno.test("withThreshold() sets or erases th, keeps the rest, and moves a changed ot member first", () => {
  assert.equal(withThreshold(undefined, "8"), "ot=th:8")
  assert.equal(withThreshold(undefined, undefined), undefined)
  assert.equal(withThreshold(undefined, "8", "0123456789abcd"), "ot=th:8;rv:0123456789abcd")
  assert.equal(withThreshold("a=1,ot=th:8;x:y", "c"), "ot=th:c;x:y,a=1")
  assert.equal(withThreshold("a=1,ot=th:8", undefined), "a=1")
  assert.equal(withThreshold("ot=th:8", undefined), undefined)
  // Unchanged: the header is returned as is, member order included.
  const same = "a=1,ot=th:8;rv:0123456789abcd"
  assert.equal(withThreshold(same, "8"), same)
  // A malformed ot value is replaced.
  assert.equal(withThreshold("ot=garbage!,a=1", "8"), "ot=th:8,a=1")
})

Deno.test("withThreshold() keeps at most 32 members and at most 256 characters of ot", () => {
  const full = Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(",")
  const result = withThreshold(full, "8")!.split(",")
  assert.equal(result.length, 32)
  assert.equal(result[0], "ot=th:8")
  assert.equal(result[31], "k30=v")
  const long = `ot=x:${"a".repeat(250)}`
  // th would push ot past 256 characters: it is not set.
  assert.equal(withThreshold(long, "8"), long)
})
