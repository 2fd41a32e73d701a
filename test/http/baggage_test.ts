/**
 * The W3C Baggage codec: grammar, percent-encoding, properties, limits.
 */
import assert from "node:assert/strict"
import {
  decodeValue,
  encodeValue,
  MAX_BAGGAGE_BYTES,
  MAX_BAGGAGE_MEMBERS,
  parseBaggage,
  serializeBaggage,
} from "../../src/http/internal/baggage.ts"
import type { BaggageEntry } from "../../src/http/Propagation.ts"

const values = (header: string) =>
  Object.fromEntries([...parseBaggage(header).entries].map(([k, v]) => [k, v.value]))

Deno.test("baggage: the specification's examples", () => {
  assert.deepEqual(values("userId=alice,serverNode=DF%2028,isProduction=false"), {
    userId: "alice",
    serverNode: "DF 28",
    isProduction: "false",
  })
  assert.deepEqual(values("userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false").userId, "Amélie")
  // Multiple fields, combined as HTTP does; whitespace around keys and values.
  assert.deepEqual(values("userId =   alice, serverNode = DF%2028, isProduction = false"), {
    userId: "alice",
    serverNode: "DF 28",
    isProduction: "false",
  })
})

Deno.test("baggage: properties are kept as received", () => {
  const parsed = parseBaggage(
    "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
  )
  assert.deepEqual(parsed.entries.get("key1"), {
    value: "value1",
    properties: [{ key: "property1" }, { key: "property2" }],
  })
  assert.deepEqual(parsed.entries.get("key2"), { value: "value2" })
  assert.deepEqual(parsed.entries.get("key3"), {
    value: "value3",
    properties: [{ key: "propertyKey", value: "propertyValue" }],
  })
  assert.equal(parsed.invalid, 0)
})

Deno.test("baggage: a value may contain equal signs and be empty", () => {
  assert.deepEqual(values("a=b=c,empty="), { a: "b=c", empty: "" })
})

Deno.test("baggage: invalid members are dropped one by one", () => {
  const parsed = parseBaggage(
    [
      "good=1",
      "no-equals",
      "bad key=1", // a space inside a key
      'quote="x"', // DQUOTE is not a baggage-octet
      "back=a\\b",
      "spaced=a b",
      "pct=100%", // a bare percent sign must itself be encoded
      "pct2=%zz",
      "utf8=caf\u00e9", // raw non-ASCII must be percent-encoded
      "=novalue",
      "prop=1;bad prop",
      "also=2",
    ].join(","),
  )
  assert.deepEqual([...parsed.entries.keys()], ["good", "also"])
  assert.equal(parsed.invalid, 10)
  assert.equal(parsed.truncated, 0)
})

Deno.test("baggage: keys are tokens, case-sensitive", () => {
  assert.deepEqual(values("!#$%&'*+-.^_`|~09AZaz=1,Key=a,key=b"), {
    "!#$%&'*+-.^_`|~09AZaz": "1",
    Key: "a",
    key: "b",
  })
})

Deno.test("baggage: a duplicate key keeps its first position and its last value", () => {
  assert.deepEqual([...parseBaggage("a=1,b=2,a=3").entries], [["a", { value: "3" }], ["b", { value: "2" }]])
})

Deno.test("baggage: empty members and stray semicolons are tolerated", () => {
  const parsed = parseBaggage(" , a=1,, ;b=2, c=3;")
  assert.deepEqual([...parsed.entries.keys()], ["a", "c"])
  assert.equal(parsed.invalid, 1, "';b=2' has no key")
})

Deno.test("baggage: percent-decoding replaces invalid UTF-8 with U+FFFD", () => {
  assert.equal(decodeValue("%C3%A9"), "é")
  assert.equal(decodeValue("%c3%a9"), "é")
  assert.equal(decodeValue("%FF"), "\uFFFD")
  assert.equal(decodeValue("%C3"), "\uFFFD")
  assert.equal(decodeValue("a%2Cb%3Bc"), "a,b;c")
  assert.equal(decodeValue("%2"), undefined)
  assert.equal(decodeValue("%"), undefined)
  assert.equal(decodeValue("plain"), "plain")
})

Deno.test("baggage: encoding escapes exactly what must be escaped", () => {
  assert.equal(encodeValue("DF 28"), "DF%2028")
  assert.equal(encodeValue("Amélie"), "Am%C3%A9lie")
  assert.equal(encodeValue('a,b;c\\d"e%f'), "a%2Cb%3Bc%5Cd%22e%25f")
  assert.equal(encodeValue("=:/?#[]@!$&'()*+"), "=:/?#[]@!$&'()*+")
  assert.equal(encodeValue("\ud800"), "%EF%BF%BD", "a lone surrogate is encoded as U+FFFD, not thrown")
  for (const value of ["DF 28", "Amélie", 'a,b;c\\d"e%f', "emoji 🎉", "tab\tnewline\n", "=="]) {
    assert.equal(decodeValue(encodeValue(value)), value)
  }
})

Deno.test("baggage: at most 180 members are read, the rest dropped whole", () => {
  const header = Array.from({ length: 200 }, (_, i) => `k${i}=v`).join(",")
  const parsed = parseBaggage(header)
  assert.equal(parsed.entries.size, MAX_BAGGAGE_MEMBERS)
  assert.equal(parsed.truncated, 20)
  assert.ok(parsed.entries.has("k179"))
  assert.ok(!parsed.entries.has("k180"))
})

Deno.test("baggage: at most 8192 bytes are read, never a partial member", () => {
  const value = "x".repeat(1000)
  const header = Array.from({ length: 10 }, (_, i) => `k${i}=${value}`).join(",")
  const parsed = parseBaggage(header)
  // Each member is 1003 bytes plus a comma: 8 fit in 8192 bytes.
  assert.equal(parsed.entries.size, 8)
  assert.equal(parsed.truncated, 2)
  for (const entry of parsed.entries.values()) assert.equal(entry.value.length, 1000)
})

Deno.test("baggage: serializing encodes values and keeps properties", () => {
  const entries: Array<readonly [string, BaggageEntry]> = [
    ["userId", { value: "Amélie" }],
    ["serverNode", { value: "DF 28", properties: [{ key: "ttl", value: "5" }, { key: "internal" }] }],
  ]
  const out = serializeBaggage(entries)
  assert.equal(out.header, "userId=Am%C3%A9lie,serverNode=DF%2028;ttl=5;internal")
  assert.equal(out.invalid, 0)
  // What we send, we read back the same.
  assert.deepEqual([...parseBaggage(out.header).entries], entries)
})

Deno.test("baggage: serializing drops entries that cannot be sent", () => {
  const out = serializeBaggage([
    ["bad key", { value: "1" }],
    ["ok", { value: "2" }],
    ["badprop", { value: "3", properties: [{ key: "p", value: "has space" }] }],
    ["badpropkey", { value: "3", properties: [{ key: "p k" }] }],
  ])
  assert.equal(out.header, "ok=2")
  assert.equal(out.invalid, 3)
})

Deno.test("baggage: serializing stays within the limits, dropping whole members", () => {
  const many = Array.from({ length: 200 }, (_, i) => [`k${i}`, { value: "v" }] as const)
  const a = serializeBaggage(many)
  assert.equal(a.header.split(",").length, MAX_BAGGAGE_MEMBERS)
  assert.equal(a.truncated, 20)
  const large = [
    ["a", { value: "x".repeat(5000) }],
    ["b", { value: "y".repeat(5000) }],
    ["c", { value: "z".repeat(100) }],
  ] as const
  const b = serializeBaggage(large)
  // The second member does not fit; the third, smaller one still does.
  assert.deepEqual(b.header.split(",").map((m) => m.split("=")[0]), ["a", "c"])
  assert.equal(b.truncated, 1)
  assert.ok(b.header.length <= MAX_BAGGAGE_BYTES)
})

// The grammar, written the slow way (regular expressions over split members), as the reference the
// in-place parser must agree with.
const referenceParse = (header: string) => {
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
  const OCTETS = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/
  const trim = (text: string) => text.replace(/^[ \t]+|[ \t]+$/g, "")
  const entries = new Map<string, BaggageEntry>()
  let invalid = 0
  for (const raw of header.split(",")) {
    const member = trim(raw)
    if (member === "") continue
    const [pair, ...props] = member.split(";")
    const eq = pair!.indexOf("=")
    const key = trim(pair!.slice(0, eq))
    const value = trim(pair!.slice(eq + 1))
    const properties = props.map(trim).filter((p) => p !== "").map((p) => {
      const peq = p.indexOf("=")
      return peq === -1 ? { key: p } : { key: trim(p.slice(0, peq)), value: trim(p.slice(peq + 1)) }
    })
    const decoded = eq === -1 ? undefined : decodeValue(value)
    if (
      decoded === undefined || !TOKEN.test(key) || !OCTETS.test(value) ||
      properties.some((p) => !TOKEN.test(p.key) || (p.value !== undefined && !OCTETS.test(p.value)))
    ) {
      invalid++
      continue
    }
    entries.set(key, properties.length === 0 ? { value: decoded } : { value: decoded, properties })
  }
  return { entries, invalid }
}

Deno.test("baggage: the parser agrees with the grammar on 20,000 random headers", () => {
  let seed = 7
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
  const pick = <T>(items: ReadonlyArray<T>): T => items[Math.floor(random() * items.length)]!
  const word = (chars: ReadonlyArray<string>, max: number) => {
    let out = ""
    for (let i = Math.floor(random() * max); i > 0; i--) out += pick(chars)
    return out
  }
  const keyChars = ["a", "B", "0", "!", "#", "'", "|", "~", "-", "."]
  const valueChars = ["a", "Z", "0", "%20", "%C3%A9", "%FF", "/", ":", "!", "["]
  const breaking = ["%", "%2", " ", "\t", ",", '"', "\\", "=", "\u00e9", "(", ""]
  const mutate = (text: string) =>
    random() < 0.1
      ? text.slice(0, Math.floor(random() * (text.length + 1))) + pick(breaking) + text.slice(1)
      : text
  for (let n = 0; n < 20_000; n++) {
    let header = random() < 0.2 ? pick([" ", "", "\t"]) : ""
    for (let m = Math.floor(random() * 5); m > 0; m--) {
      let member = word(keyChars, 4) + pick(["=", "=", "=", " = ", "\t="]) + word(valueChars, 4)
      for (let p = random() < 0.3 ? Math.floor(random() * 3) : 0; p > 0; p--) {
        member += pick([";", " ; ", ";;"]) + word(keyChars, 3) +
          (random() < 0.5 ? "=" + word(valueChars, 2) : "")
      }
      header += mutate(member)
      if (m > 1) header += pick([",", ", ", " ,", ",,", ",\t"])
    }
    const expected = referenceParse(header)
    const parsed = parseBaggage(header)
    assert.deepEqual([...parsed.entries], [...expected.entries], JSON.stringify(header))
    assert.equal(parsed.invalid, expected.invalid, JSON.stringify(header))
  }
})
