/**
 * Export benchmarks: encoding 10,000 finished spans (5 attributes each) to OTLP JSON and protobuf with
 * stagetrace's encoders against the OpenTelemetry JS serializers (`@opentelemetry/otlp-transformer`), and
 * sending them to a loopback receiver through stagetrace's pipeline against the SDK's exporter path, over
 * OTLP/HTTP and OTLP/gRPC (and the gRPC transports alone: `@grpc/grpc-js` against `node:http2`).
 *
 * Run: `deno bench -A bench/export_bench.ts`. Compare only ratios within one run.
 */
import * as Context from "effect/Context"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer"
import {
  JsonTraceSerializer as JsonTraceSerializer214,
  ProtobufTraceSerializer as ProtobufTraceSerializer214,
} from "@opentelemetry/otlp-transformer-0.214/build/src/index.js"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import { OTLPTraceExporter as OTLPTraceExporterJson } from "@opentelemetry/exporter-trace-otlp-http"
import { OTLPTraceExporter as OTLPTraceExporterGrpc } from "@opentelemetry/exporter-trace-otlp-grpc"
import * as grpcJs from "@grpc/grpc-js"
import http2 from "node:http2"
import { Buffer } from "node:buffer"
import { GrpcConnection, GrpcConnections, grpcTransport } from "../src/export/internal/grpc.ts"
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import { type ChannelConfig, ExportChannel } from "../src/export/internal/channel.ts"
import { ExportStats } from "../src/export/internal/stats.ts"
import { otlpDefaults } from "../src/export/internal/concern.ts"
import { makeRecordingTracer, SpanPipeline } from "../src/export/internal/tracer.ts"
import type { FinishedSpan } from "../src/export/internal/otlpTraces.ts"
import { JsonWriter, ProtoWriter } from "../src/export/internal/protobuf.ts"
import {
  encodeTracesJson,
  encodeTracesProto,
  jsonResourceAndScope,
  protoResourceAndScope,
} from "../src/export/internal/otlpTraces.ts"

const N = 10_000
const baseTime = 1_700_000_000_000_000_000n

// Effect spans, ended, five attributes each, one parent per ten spans.
const effectSpans: Array<Tracer.NativeSpan> = []
for (let i = 0; i < N; i++) {
  const parent = i % 10 === 0 ? undefined : effectSpans[i - (i % 10)]
  const span = new Tracer.NativeSpan({
    name: `stage_${i % 10}`,
    parent: parent === undefined ? Option.none() : Option.some(parent),
    annotations: Context.empty(),
    links: [],
    startTime: baseTime + BigInt(i * 1000),
    kind: "internal",
    sampled: true,
  })
  span.attribute("request.id", `req-${i}`)
  span.attribute("stage.id", `stage_${i % 10}`)
  span.attribute("stage.name", `stage ${i % 10}`)
  span.attribute("http.response.status_code", 200)
  span.attribute("cache.hit", i % 2 === 0)
  span.end(baseTime + BigInt(i * 1000 + 500), Exit.void)
  effectSpans.push(span)
}

// The same spans through the OpenTelemetry SDK.
const memory = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] })
const otelTracer = provider.getTracer("bench")
for (let i = 0; i < N; i++) {
  const span = otelTracer.startSpan(`stage_${i % 10}`, {
    attributes: {
      "request.id": `req-${i}`,
      "stage.id": `stage_${i % 10}`,
      "stage.name": `stage ${i % 10}`,
      "http.response.status_code": 200,
      "cache.hit": i % 2 === 0,
    },
  })
  span.end()
}
const otelSpans = memory.getFinishedSpans()

const resource = {
  attributes: [["service.name", "bench"], ["service.version", "1.0.0"]] as const,
  scopeName: "stagetrace",
  scopeVersion: "0.1.0",
}
const writer = new ProtoWriter()
const protoCached = protoResourceAndScope(writer, resource)
const jsonCached = jsonResourceAndScope(resource)
const jsonWriter = new JsonWriter()
let sink: unknown

Deno.bench({
  name: "OTel JS JsonTraceSerializer (0.223)",
  group: "encode 10k spans: JSON",
  baseline: true,
  fn() {
    sink = JsonTraceSerializer.serializeRequest(otelSpans)
  },
})
Deno.bench({
  name: "OTel JS JsonTraceSerializer (0.214)",
  group: "encode 10k spans: JSON",
  fn() {
    sink = JsonTraceSerializer214.serializeRequest(otelSpans as never)
  },
})
Deno.bench({
  name: "stagetrace OTLP/JSON",
  group: "encode 10k spans: JSON",
  fn() {
    sink = encodeTracesJson(jsonWriter, jsonCached, effectSpans, undefined)
  },
})

Deno.bench({
  name: "OTel JS ProtobufTraceSerializer (0.223)",
  group: "encode 10k spans: protobuf",
  baseline: true,
  fn() {
    sink = ProtobufTraceSerializer.serializeRequest(otelSpans)
  },
})
Deno.bench({
  name: "OTel JS ProtobufTraceSerializer (0.214, protobufjs)",
  group: "encode 10k spans: protobuf",
  fn() {
    sink = ProtobufTraceSerializer214.serializeRequest(otelSpans as never)
  },
})
Deno.bench({
  name: "stagetrace OTLP/protobuf",
  group: "encode 10k spans: protobuf",
  fn() {
    sink = encodeTracesProto(writer, protoCached, effectSpans, undefined)
  },
})

// ---------------------------------------------------------------------------------------------------------
// Sending 10,000 spans to a loopback receiver, batches of 512
// ---------------------------------------------------------------------------------------------------------

const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
  await request.arrayBuffer()
  return new Response("{}", { headers: { "content-type": "application/json" } })
})
const url = `http://127.0.0.1:${receiver.addr.port}/v1/traces`

/** The channel settings of the send benches: batches of 512 (4 in flight, the default), a queue that holds all 10,000 spans. */
const channelConfig = (target: string, contentType: string): ChannelConfig => ({
  signal: "traces",
  url: target,
  contentType,
  headers: {},
  compression: "none",
  timeoutMs: 10_000,
  exportTimeoutMs: 30_000,
  maxBatchSize: 512,
  scheduleDelayMs: 5_000,
  maxQueueSize: N,
  maxConcurrentExports: otlpDefaults.maxConcurrentExports,
  initialBackoffMs: 1_000,
  maxBackoffMs: 30_000,
})

const sendWithStagetrace = (protocol: "protobuf" | "json") =>
  Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const clock = yield* Clock.Clock
    const w = new ProtoWriter()
    const jw = new JsonWriter()
    const cached = protoResourceAndScope(w, resource)
    const channel = new ExportChannel<FinishedSpan>(
      channelConfig(url, protocol === "json" ? "application/json" : "application/x-protobuf"),
      protocol === "json"
        ? (spans) => encodeTracesJson(jw, jsonCached, spans, undefined)
        : (spans) => encodeTracesProto(w, cached, spans, undefined),
      new ExportStats(),
      clock,
    )
    yield* channel.start()
    for (const span of effectSpans) channel.offer(span)
    yield* channel.shutdown(30_000)
  })))

const sendWithSdk = (protocol: "protobuf" | "json") =>
  sendThroughProcessor(
    protocol === "json" ? new OTLPTraceExporterJson({ url }) : new OTLPTraceExporter({ url }),
  )

/** The SDK's export path: a BatchSpanProcessor over `exporter`, fed every span, flushed and shut down. */
const sendThroughProcessor = async (exporter: ConstructorParameters<typeof BatchSpanProcessor>[0]) => {
  const processor = new BatchSpanProcessor(exporter, {
    maxQueueSize: N,
    maxExportBatchSize: 512,
    scheduledDelayMillis: 5_000,
    exportTimeoutMillis: 30_000,
  })
  for (const span of otelSpans) processor.onEnd(span)
  await processor.forceFlush()
  await processor.shutdown()
}

for (const protocol of ["protobuf", "json"] as const) {
  Deno.bench({
    name: `OTel SDK BatchSpanProcessor + OTLPTraceExporter (${protocol})`,
    group: `send 10k spans to loopback: ${protocol}`,
    baseline: true,
    async fn() {
      await sendWithSdk(protocol)
    },
  })
  Deno.bench({
    name: `stagetrace pipeline (${protocol})`,
    group: `send 10k spans to loopback: ${protocol}`,
    async fn() {
      await sendWithStagetrace(protocol)
    },
  })
}

// ---------------------------------------------------------------------------------------------------------
// OTLP/gRPC: sending 10,000 spans to a loopback gRPC receiver, batches of 512
// ---------------------------------------------------------------------------------------------------------

// A minimal gRPC server (node:http2, cleartext): reads each call whole, answers an empty OK message.
const grpcServer = http2.createServer()
grpcServer.on("stream", (stream: http2.ServerHttp2Stream) => {
  stream.on("error", () => {})
  stream.on("data", () => {})
  stream.on("end", () => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true })
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }))
    stream.end(new Uint8Array(5))
  })
})
const grpcPort = await new Promise<number>((resolve) =>
  grpcServer.listen(0, "127.0.0.1", () => resolve((grpcServer.address() as { port: number }).port))
)
const grpcUrl = `http://127.0.0.1:${grpcPort}`

const sendWithStagetraceGrpc = () =>
  Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const clock = yield* Clock.Clock
    const w = new ProtoWriter()
    const cached = protoResourceAndScope(w, resource)
    const connections = new GrpcConnections()
    const channel = new ExportChannel<FinishedSpan>(
      channelConfig(grpcUrl, "application/grpc"),
      (spans) => encodeTracesProto(w, cached, spans, undefined),
      new ExportStats(),
      clock,
      grpcTransport(connections.get(grpcUrl), "traces", {}),
    )
    yield* channel.start()
    for (const span of effectSpans) channel.offer(span)
    yield* channel.shutdown(30_000)
    yield* Effect.promise(() => connections.close())
  })))

const sendWithSdkGrpc = () => sendThroughProcessor(new OTLPTraceExporterGrpc({ url: grpcUrl }))

Deno.bench({
  name: "OTel SDK BatchSpanProcessor + OTLPTraceExporter (grpc, @grpc/grpc-js)",
  group: "send 10k spans to loopback: grpc",
  baseline: true,
  async fn() {
    await sendWithSdkGrpc()
  },
})
Deno.bench({
  name: "stagetrace pipeline (grpc, node:http2)",
  group: "send 10k spans to loopback: grpc",
  async fn() {
    await sendWithStagetraceGrpc()
  },
})
Deno.bench({
  name: "stagetrace pipeline (http/protobuf, compared with grpc)",
  group: "send 10k spans to loopback: grpc",
  async fn() {
    await sendWithStagetrace("protobuf")
  },
})

// The transport alone: 20 unary Export calls of one 512-span message on an open connection, through
// @grpc/grpc-js (what the OpenTelemetry exporter uses; identity serializers, so no protobuf work) and
// through stagetrace's node:http2 connection.
const message512 = encodeTracesProto(writer, protoCached, effectSpans.slice(0, 512), undefined)
const GenericClient = grpcJs.makeGenericClientConstructor({
  Export: {
    path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    requestStream: false,
    responseStream: false,
    requestSerialize: (bytes: Uint8Array) => Buffer.from(bytes),
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (bytes: Uint8Array) => Buffer.from(bytes),
    responseDeserialize: (bytes: Buffer) => bytes,
  },
}, "TraceService")
const grpcJsClient = new GenericClient(`127.0.0.1:${grpcPort}`, grpcJs.credentials.createInsecure())
const http2Connection = new GrpcConnection(grpcUrl)
const never = new AbortController().signal

Deno.bench({
  name: "@grpc/grpc-js client",
  group: "20 unary calls of 512 spans (transport only)",
  baseline: true,
  async fn() {
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve, reject) =>
        grpcJsClient.makeUnaryRequest(
          "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
          (bytes: Uint8Array) => Buffer.from(bytes),
          (bytes: Buffer) => bytes,
          message512,
          { deadline: Date.now() + 10_000 },
          (error: unknown) => (error ? reject(error) : resolve()),
        )
      )
    }
  },
})
Deno.bench({
  name: "stagetrace node:http2 connection",
  group: "20 unary calls of 512 spans (transport only)",
  async fn() {
    for (let i = 0; i < 20; i++) {
      const answer = await http2Connection.call(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        {},
        message512,
        false,
        10_000,
        never,
      )
      if (answer.code !== 0) throw new Error(answer.message)
    }
  },
})

// ---------------------------------------------------------------------------------------------------------
// Hot path: creating and ending one span
// ---------------------------------------------------------------------------------------------------------

const spanOptions = {
  name: "stage",
  parent: Option.none(),
  annotations: Context.empty(),
  links: [],
  startTime: baseTime,
  kind: "internal" as const,
  root: true,
  sampled: true,
}
const pipeline = new SpanPipeline(16_384)
let ended = 0
pipeline.sinks.push(() => {
  ended++
})
const recording = makeRecordingTracer(Tracer.nativeTracer, pipeline)
const sdkProcessor = new BatchSpanProcessor(new InMemorySpanExporter(), {
  maxQueueSize: 2048,
  maxExportBatchSize: 512,
  scheduledDelayMillis: 1_000,
  exportTimeoutMillis: 30_000,
})
const sdkProvider = new BasicTracerProvider({ spanProcessors: [sdkProcessor] })
const otelEffectTracer = Effect.runSync(
  Effect.provideService(OtelTracer.make, OtelTracer.OtelTracer, sdkProvider.getTracer("bench")),
)

Deno.bench({
  name: "Effect native tracer",
  group: "one span: create, 3 attributes, end",
  baseline: true,
  fn() {
    const span = Tracer.nativeTracer.span(spanOptions)
    span.attribute("request.id", "r-1")
    span.attribute("stage.id", "llm")
    span.attribute("stage.name", "llm")
    span.end(baseTime + 1000n, Exit.void)
    sink = span
  },
})
Deno.bench({
  name: "stagetrace recording tracer (open-span registry + sink)",
  group: "one span: create, 3 attributes, end",
  fn() {
    const span = recording.span(spanOptions)
    span.attribute("request.id", "r-1")
    span.attribute("stage.id", "llm")
    span.attribute("stage.name", "llm")
    span.end(baseTime + 1000n, Exit.void)
    sink = span
  },
})
Deno.bench({
  name: "@effect/opentelemetry OtelTracer over the SDK (BatchSpanProcessor)",
  group: "one span: create, 3 attributes, end",
  fn() {
    const span = otelEffectTracer.span(spanOptions)
    span.attribute("request.id", "r-1")
    span.attribute("stage.id", "llm")
    span.attribute("stage.name", "llm")
    span.end(baseTime + 1000n, Exit.void)
    sink = span
  },
})

globalThis.addEventListener("unload", () => {
  receiver.shutdown()
  grpcJsClient.close()
  http2Connection.close()
  grpcServer.close()
  sdkProcessor.shutdown()
})

export { ended, sink }
