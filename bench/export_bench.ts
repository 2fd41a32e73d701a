/**
 * Export benchmarks: encoding 10,000 finished spans (5 attributes each) to OTLP JSON and protobuf with
 * stagetrace's encoders against the OpenTelemetry JS serializers (`@opentelemetry/otlp-transformer`), and
 * sending them to a loopback receiver through stagetrace's pipeline against the SDK's exporter path.
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
import { ProtoWriter } from "../src/export/internal/protobuf.ts"
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
    sink = new TextEncoder().encode(encodeTracesJson(jsonCached, effectSpans, undefined))
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

export { sink }
