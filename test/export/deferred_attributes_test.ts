/**
 * The attribute contract of the exporting tracer's stage and request spans (`RecordingLocalSpan`), which
 * defer the attributes written to them until they are read or exported: every reader — `span.attributes`,
 * the OTLP encoders, `Exporter.memory()` — sees exactly what an Effect `NativeSpan` given the same writes
 * holds, in the same order.
 */
import assert from "node:assert/strict"
import * as Context from "effect/Context"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { Exporter } from "../../mod.ts"
import { RecordingLocalSpan, RecordingNativeSpan, SpanPipeline } from "../../src/export/internal/tracer.ts"
import {
  encodeTracesJson,
  encodeTracesProto,
  type FinishedSpan,
  jsonResourceAndScope,
  protoResourceAndScope,
} from "../../src/export/internal/otlpTraces.ts"
import { JsonWriter, ProtoWriter } from "../../src/export/internal/protobuf.ts"
import { deferStageAttributes, maxDeferredPairs } from "../../src/internal/stageAttributes.ts"
import { Timeline } from "../../src/internal/clock.ts"
import { noLinks } from "../../src/internal/spanOptions.ts"
import { LocalSpan } from "../../src/stage/internal/tracking.ts"
import type { GatedSpan, SpanGate } from "../../src/internal/gate.ts"
import { GateKey } from "../../src/internal/gate.ts"

const timeline = new Timeline(1_700_000_000_000_000_000n)
const stage = { stageId: "kb", name: "Knowledge base", metadata: { model: "small" }, metadataKeys: ["model"] }

/** The options of a span of the stage above (Effect's, with `sampled`). */
const spanOptions = (sampled: boolean) => ({
  name: "kb",
  parent: Option.none(),
  annotations: Context.empty(),
  links: [],
  startTime: timeline.nanos(0),
  kind: "internal" as const,
  sampled,
})

/** A recording span and a native span with the same options, ids and times. */
const pair = (pipeline: SpanPipeline) => {
  const options = spanOptions(true)
  const recording = new RecordingLocalSpan(
    { ...options, times: { timeline, startAt: 0, endAt: 5 } },
    pipeline,
  )
  const native = new Tracer.NativeSpan(options)
  for (const span of [recording, native]) {
    ;(span as unknown as { _spanId: string })._spanId = "00f067aa0ba902b7"
    ;(span as unknown as { _traceId: string })._traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
  }
  return { recording, native }
}

/** What the writes `script` makes of both spans, as `span.attributes`, OTLP and `Exporter.memory()` see it. */
const compare = (script: (span: Tracer.Span, native: boolean) => void, deferStage: boolean) => {
  const exported: Array<FinishedSpan> = []
  const pipeline = new SpanPipeline(16)
  pipeline.sinks.push((span) => exported.push(span))
  const memory = Exporter.memory()
  pipeline.sinks.push((span) => memory.recordSpan(span))
  const { recording, native } = pair(pipeline)
  if (deferStage) {
    assert.equal(deferStageAttributes(recording, stage, "r-1"), true)
    native.attribute("request.id", "r-1")
    native.attribute("stage.id", stage.stageId)
    native.attribute("stage.name", stage.name)
    native.attribute("model", stage.metadata.model)
  }
  script(recording, false)
  script(native, true)
  recording.close(timeline, 5, Exit.void)
  native.end(timeline.nanos(5), Exit.void)
  assert.deepEqual(exported, [recording])
  const cached = protoResourceAndScope(new ProtoWriter(32), {
    attributes: [],
    scopeName: "s",
    scopeVersion: "1",
  })
  assert.deepEqual(
    encodeTracesProto(new ProtoWriter(32), cached, [recording], undefined),
    encodeTracesProto(new ProtoWriter(32), cached, [native], undefined),
  )
  memory.recordSpan(native)
  const [fromRecording, fromNative] = memory.spans()
  assert.deepEqual(fromRecording!.attributes, fromNative!.attributes)
  assert.deepEqual([...recording.attributes], [...native.attributes])
  return [...native.attributes]
}

Deno.test("deferred span attributes: written, overwritten and read back as a native span holds them", () => {
  const entries = compare((span) => {
    span.attribute("http.request.method", "GET")
    span.attribute("url.path", "/")
    span.attribute("http.request.method", "POST")
    span.attribute("request.id", "r-1")
  }, false)
  assert.deepEqual(entries, [["http.request.method", "POST"], ["url.path", "/"], ["request.id", "r-1"]])
})

Deno.test("deferred span attributes: after deferred stage attributes, one of which they overwrite", () => {
  const entries = compare((span) => {
    span.attribute("error.type", "Boom")
    span.attribute("stage.name", "renamed")
  }, true)
  assert.deepEqual(entries, [
    ["request.id", "r-1"],
    ["stage.id", "kb"],
    ["stage.name", "renamed"],
    ["model", "small"],
    ["error.type", "Boom"],
  ])
})

Deno.test("deferred span attributes: read while the span runs, then written again", () => {
  const entries = compare((span) => {
    span.attribute("a", 1)
    assert.deepEqual([...span.attributes], [
      ["request.id", "r-1"],
      ["stage.id", "kb"],
      ["stage.name", "Knowledge base"],
      ["model", "small"],
      ["a", 1],
    ])
    span.attribute("b", 2)
    span.attribute("a", 3)
  }, true)
  assert.deepEqual(entries.slice(4), [["a", 3], ["b", 2]])
})

Deno.test("deferred span attributes: a span held by its gate and released later exports them all", () => {
  const exported: Array<FinishedSpan> = []
  const pipeline = new SpanPipeline(16)
  pipeline.sinks.push((span) => exported.push(span))
  const { recording } = pair(pipeline)
  let held: GatedSpan | undefined
  const gate: SpanGate = {
    admit: (span) => {
      held = span
      return false
    },
  }
  recording[GateKey](gate, false, undefined)
  recording.attribute("http.route", "/chat")
  recording.close(timeline, 5, Exit.void)
  // Written after the end: ignored, as by a native span.
  recording.attribute("late", true)
  assert.deepEqual(exported, [])
  held!.release()
  assert.deepEqual(exported, [recording])
  assert.deepEqual([...recording._attributes!], [["http.route", "/chat"]])
  assert.equal(recording.deferredPairs, undefined)
})

Deno.test("deferred span attributes: a LocalSpan (no exporter) reads back what a native span holds", () => {
  const options = {
    name: "GET /",
    parent: Option.none(),
    annotations: Context.empty(),
    links: [],
    startTime: 0n,
    kind: "server" as const,
    sampled: true,
  }
  const local = new LocalSpan(options)
  const native = new Tracer.NativeSpan(options)
  for (const span of [local, native]) {
    span.attribute("http.request.method", "GET")
    span.attribute("request.id", "r-1")
    span.attribute("http.request.method", "POST")
  }
  assert.equal(local._attributes, undefined)
  assert.deepEqual([...local.attributes], [...native.attributes])
  for (const span of [local, native]) {
    span.attribute("http.response.status_code", 200)
    span.end(5n, Exit.void)
    span.attribute("late", true)
  }
  assert.deepEqual([...local.attributes], [...native.attributes])
})

/** Both OTLP encodings of `span`, after the export pipeline handed it to sinks that only encode. */
const encodings = (span: FinishedSpan) => {
  const proto = protoResourceAndScope(new ProtoWriter(32), {
    attributes: [],
    scopeName: "s",
    scopeVersion: "1",
  })
  const json = jsonResourceAndScope({ attributes: [], scopeName: "s", scopeVersion: "1" })
  return {
    proto: encodeTracesProto(new ProtoWriter(32), proto, [span], undefined),
    json: new TextDecoder().decode(encodeTracesJson(new JsonWriter(), json, [span], undefined)),
  }
}

Deno.test("deferred span attributes: OTLP encoders write distinct deferred pairs without building the map", () => {
  const pipeline = new SpanPipeline(16)
  pipeline.settlePairs = false
  const exported: Array<FinishedSpan> = []
  pipeline.sinks.push((span) => exported.push(span))
  const { recording, native } = pair(pipeline)
  for (const span of [recording, native]) {
    span.attribute("http.request.method", "GET")
    span.attribute("url.path", "/")
    span.attribute("skipped", undefined)
    span.attribute("http.response.status_code", 200)
  }
  recording.close(timeline, 5, Exit.void)
  native.end(timeline.nanos(5), Exit.void)
  assert.deepEqual(exported, [recording])
  const direct = encodings(recording)
  // Encoded straight from the pairs: the span still has no map.
  assert.equal(recording._attributes, undefined)
  assert.notEqual(recording.deferredPairs, undefined)
  assert.deepEqual(direct, encodings(native))
  assert.deepEqual([...recording.attributes], [...native.attributes])
})

Deno.test("deferred span attributes: OTLP encoders build the map when a key was written twice or a stage is deferred", () => {
  for (const deferStage of [false, true]) {
    const pipeline = new SpanPipeline(16)
    pipeline.settlePairs = false
    const { recording, native } = pair(pipeline)
    if (deferStage) {
      deferStageAttributes(recording, stage, "r-1")
      native.attribute("request.id", "r-1")
      native.attribute("stage.id", stage.stageId)
      native.attribute("stage.name", stage.name)
      native.attribute("model", stage.metadata.model)
    }
    for (const span of [recording, native]) {
      span.attribute("a", 1)
      span.attribute("b", 2)
      span.attribute(deferStage ? "model" : "a", 3)
    }
    recording.close(timeline, 5, Exit.void)
    native.end(timeline.nanos(5), Exit.void)
    const encoded = encodings(recording)
    assert.equal(recording.deferredPairs, undefined)
    assert.deepEqual(encoded, encodings(native))
  }
})

Deno.test("deferred span attributes: a key written again and again keeps a bounded buffer and its last value", () => {
  const entries = compare((span, native) => {
    for (let i = 0; i < 10_000; i++) span.attribute("bytes.sent", i)
    span.attribute("url.path", "/stream")
    if (!native) {
      const pairs = (span as unknown as { deferredPairs?: Array<unknown> }).deferredPairs
      assert.ok((pairs?.length ?? 0) <= 2 * maxDeferredPairs, `deferred ${pairs?.length} entries`)
    }
  }, true)
  assert.deepEqual(entries.slice(-2), [["bytes.sent", 9_999], ["url.path", "/stream"]])
})

Deno.test("RecordingLocalSpan: a LocalSpan with LocalSpan's fields in LocalSpan's order, then the recording's", () => {
  const options = { ...spanOptions(false), times: { timeline, startAt: 0, endAt: 5 } }
  const local = new LocalSpan(options)
  const recording = new RecordingLocalSpan(options, new SpanPipeline(16))
  // Its constructor sets LocalSpan's fields itself (it is not a subclass): none may be missing or moved.
  const localKeys = Object.keys(local)
  assert.deepEqual(Object.keys(recording).slice(0, localKeys.length), localKeys)
  assert.deepEqual(Object.getOwnPropertySymbols(recording), Object.getOwnPropertySymbols(local))
  for (const key of Reflect.ownKeys(local)) {
    assert.equal(
      (recording as unknown as Record<PropertyKey, unknown>)[key],
      (local as unknown as Record<PropertyKey, unknown>)[key],
      String(key),
    )
  }
  assert.ok(recording instanceof LocalSpan)
  assert.ok(recording instanceof Tracer.NativeSpan)
  assert.equal(recording._tag, "Span")
  // LocalSpan's methods, and the recording's end reported to the pipeline.
  const exported: Array<unknown> = []
  const pipeline = new SpanPipeline(16)
  pipeline.sinks.push((span) => exported.push(span))
  const sampled = new RecordingLocalSpan({ ...options, sampled: true }, pipeline)
  assert.equal(pipeline.open.size, 1)
  sampled.attribute("k", "v")
  assert.deepEqual([...sampled.attributes], [["k", "v"]])
  sampled.close(timeline, 7, Exit.void)
  assert.equal(pipeline.open.size, 0)
  assert.deepEqual(exported, [sampled])
  assert.equal(sampled.status._tag, "Ended")
})

Deno.test("RecordingNativeSpan: a NativeSpan with NativeSpan's fields in NativeSpan's order, then the recording's", () => {
  const native = new Tracer.NativeSpan(spanOptions(false))
  const recording = new RecordingNativeSpan({ ...spanOptions(false), root: false }, new SpanPipeline(16))
  // Its constructor sets NativeSpan's fields itself (it is not a subclass): none may be missing or moved.
  const nativeKeys = Object.keys(native)
  assert.deepEqual(Object.keys(recording).slice(0, nativeKeys.length), nativeKeys)
  for (const key of nativeKeys) {
    assert.deepEqual(
      (recording as unknown as Record<string, unknown>)[key],
      (native as unknown as Record<string, unknown>)[key],
      key,
    )
  }
  assert.ok(recording instanceof Tracer.NativeSpan)
  // NativeSpan's methods, the recording's links and end.
  const exported: Array<unknown> = []
  const pipeline = new SpanPipeline(16)
  pipeline.sinks.push((span) => exported.push(span))
  const options = { ...spanOptions(true), links: noLinks, root: false }
  const sampled = new RecordingNativeSpan(options, pipeline)
  assert.equal(pipeline.open.size, 1)
  sampled.attribute("k", "v")
  sampled.event("e", 7n)
  const link = { span: native, attributes: {} }
  sampled.addLinks([link])
  assert.deepEqual(sampled.links, [link])
  // The shared empty links array is copied before the write.
  assert.deepEqual(noLinks, [])
  assert.deepEqual([...sampled.attributes], [["k", "v"]])
  assert.match(sampled.spanId, /^[0-9a-f]{16}$/)
  sampled.end(9n, Exit.void)
  assert.equal(pipeline.open.size, 0)
  assert.deepEqual(exported, [sampled])
  assert.equal(sampled.status._tag, "Ended")
  assert.equal((sampled.status as { endTime: bigint }).endTime, 9n)
  assert.equal(sampled._events?.length, 1)
})
