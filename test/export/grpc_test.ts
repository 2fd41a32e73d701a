/**
 * The OTLP/gRPC transport's pure parts: status classification (the OTLP specification's retry table),
 * `google.rpc.Status` / `RetryInfo` decoding, `grpc-timeout`, `grpc-message` decoding, HTTP status
 * mapping, metadata checks and endpoint parsing.
 */
import assert from "node:assert/strict"
import protobuf from "protobufjs"
import {
  classify,
  codeOfHttpStatus,
  decodeGrpcMessage,
  decodeStatusDetails,
  grpcMetadata,
  grpcTimeout,
  parseGrpcTarget,
  servicePaths,
} from "../../src/export/internal/grpc.ts"
import { statusDetails } from "../integration/_otlp_grpc_receiver.ts"

const fromBase64 = (value: string) => Uint8Array.from(atob(value), (c) => c.charCodeAt(0))

Deno.test("classify() retries exactly the codes the OTLP specification lists, RESOURCE_EXHAUSTED only with RetryInfo", () => {
  const retried = new Set<number>()
  for (let code = 1; code <= 16; code++) {
    const outcome = classify("traces", { code, message: "" })
    if (outcome._tag === "retry") retried.add(code)
    else assert.equal(outcome._tag, "fatal", String(code))
  }
  // CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS.
  assert.deepEqual([...retried].sort((a, b) => a - b), [1, 4, 10, 11, 14, 15])
  assert.deepEqual(classify("traces", { code: 8, message: "slow down", retryDelayMs: 2500 }), {
    _tag: "retry",
    error: "gRPC RESOURCE_EXHAUSTED (8): slow down",
    retryAfterMs: 2500,
  })
  assert.deepEqual(classify("logs", { code: 16, message: "bad token" }), {
    _tag: "fatal",
    error: "gRPC UNAUTHENTICATED (16): bad token",
    reason: "rejected_unauthenticated",
  })
  // A code outside the known range is UNKNOWN, as gRPC treats it.
  const odd = classify("traces", { code: 42, message: "" })
  assert.equal(odd._tag === "fatal" && odd.reason, "rejected_unknown")
  assert.deepEqual(classify("traces", { code: 0, message: "" }), { _tag: "ok", partial: undefined })
})

Deno.test("decodeStatusDetails() reads google.rpc.Status and its RetryInfo as protobufjs encodes them", () => {
  assert.deepEqual(decodeStatusDetails(fromBase64(statusDetails(14, "overloaded", 60_000))), {
    code: 14,
    message: "overloaded",
    retryDelayMs: 60_000,
  })
  assert.equal(decodeStatusDetails(fromBase64(statusDetails(8, "", 1_250)))?.retryDelayMs, 1_250)
  // A Status whose details carry something else has no retry delay.
  const root = protobuf.Root.fromJSON({
    nested: {
      S: {
        fields: {
          code: { type: "int32", id: 1 },
          message: { type: "string", id: 2 },
          details: { rule: "repeated", type: "A", id: 3 },
        },
      },
      A: { fields: { type_url: { type: "string", id: 1 }, value: { type: "bytes", id: 2 } } },
    },
  })
  const S = root.lookupType("S")
  const other = S.encode(S.fromObject({
    code: 3,
    message: "bad",
    details: [{ type_url: "type.googleapis.com/google.rpc.BadRequest", value: new Uint8Array([10, 0]) }],
  })).finish()
  assert.deepEqual(decodeStatusDetails(other), { code: 3, message: "bad", retryDelayMs: undefined })
  assert.equal(decodeStatusDetails(new Uint8Array([0x0a, 0x05, 0x01])), undefined, "truncated")
})

Deno.test("grpcTimeout() writes at most 8 digits with a unit", () => {
  assert.equal(grpcTimeout(10_000), "10000m")
  assert.equal(grpcTimeout(0.2), "1m")
  assert.equal(grpcTimeout(99_999_999), "99999999m")
  assert.equal(grpcTimeout(100_000_000), "100000S")
  assert.equal(grpcTimeout(1e15), "99999999S")
})

Deno.test("decodeGrpcMessage() percent-decodes and leaves broken escapes as they are", () => {
  assert.equal(decodeGrpcMessage("plain text"), "plain text")
  assert.equal(decodeGrpcMessage("caf%C3%A9 100%25"), "café 100%")
  assert.equal(decodeGrpcMessage("bad %zz and %E2%82"), "bad %zz and %E2%82")
})

Deno.test("codeOfHttpStatus() follows gRPC's HTTP to gRPC status mapping", () => {
  assert.deepEqual(
    [400, 401, 403, 404, 429, 502, 503, 504, 500, 302].map(codeOfHttpStatus),
    [13, 16, 7, 12, 14, 14, 14, 14, 2, 2],
  )
})

Deno.test("grpcMetadata() lowercases names and refuses what gRPC or HTTP/2 cannot carry", () => {
  assert.deepEqual(grpcMetadata({ "X-Api-Key": "k", "trace-proto-bin": "AAE" }), {
    metadata: { "x-api-key": "k", "trace-proto-bin": "AAE" },
  })
  for (
    const headers of [{ "grpc-timeout": "1S" }, { te: "x" }, { connection: "close" }, { "a b": "v" }, {
      k: "é",
    }]
  ) {
    assert.ok("problem" in grpcMetadata(headers), JSON.stringify(headers))
  }
})

Deno.test("parseGrpcTarget() takes http(s) URLs as they are and host:port by the insecure flag", () => {
  assert.deepEqual(parseGrpcTarget("http://localhost:4317", false), {
    origin: "http://localhost:4317",
    tls: false,
  })
  assert.deepEqual(parseGrpcTarget("https://collector:4317/ignored/path", true), {
    origin: "https://collector:4317",
    tls: true,
  })
  assert.deepEqual(parseGrpcTarget("collector:4317", false), { origin: "https://collector:4317", tls: true })
  assert.deepEqual(parseGrpcTarget("collector:4317", true), { origin: "http://collector:4317", tls: false })
  assert.deepEqual(parseGrpcTarget("[::1]:4317", true), { origin: "http://[::1]:4317", tls: false })
  for (const bad of ["ftp://x:1", "http://", "http://user:pw@c:4317", "::"]) {
    assert.equal(parseGrpcTarget(bad, false), undefined, bad)
  }
})

Deno.test("servicePaths are the OTLP collector services' Export methods", () => {
  assert.deepEqual(servicePaths, {
    traces: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    metrics: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    logs: "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
  })
})
