/**
 * Turns one Effect log call into a stagetrace log record (service, correlation ids, annotations, error
 * fields, all redacted) and serializes it as one JSON line or one human-readable line.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Fiber from "effect/Fiber"
import type * as LogLevel from "effect/LogLevel"
import * as References from "effect/References"
import { CurrentRecorder, ownerOf, requestOf } from "../../internal/recorder.ts"
import { RedactorSlot } from "../../internal/slots.ts"
import { errorOf } from "../../stage/internal/tracking.ts"
import { currentUnsafe, defaultRedactor, type Redactor } from "../Redactor.ts"
import { categoryOf } from "./category.ts"

/** A log record; see `Log.LogRecord`. */
export type Record_ = Record<string, unknown>

/** Keys an annotation or message field can never overwrite. */
const reserved: ReadonlySet<string> = new Set(["timestamp", "level", "message"])

const levelNames: Record<LogLevel.LogLevel, string> = {
  All: "all",
  Fatal: "fatal",
  Error: "error",
  Warn: "warn",
  Info: "info",
  Debug: "debug",
  Trace: "trace",
  None: "none",
}

/** The lower-case level name used in records (`info`, `warn`…). */
export const levelName = (level: LogLevel.LogLevel): string =>
  levelNames[level] ?? String(level).toLowerCase()

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const stringify = (value: unknown): string => {
  if (typeof value === "string") return value
  if (value instanceof Error) return `${value.name}: ${value.message}`
  try {
    return JSON.stringify(value, jsonReplacer) ?? String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

/** Handles bigint and errors in `JSON.stringify`. */
export const jsonReplacer = (_key: string, value: unknown): unknown =>
  typeof value === "bigint"
    ? value.toString()
    : value instanceof Error
    ? { name: value.name, message: value.message }
    : value

/** Whether the redactor from options should come from the recorder. */
export type RedactorSource = Redactor | "installed"

/** What the formatter needs beyond Effect's logger options. */
export interface BuildInput {
  readonly message: unknown
  readonly logLevel: LogLevel.LogLevel
  readonly cause: Cause.Cause<unknown>
  readonly fiber: Fiber.Fiber<unknown, unknown>
  readonly date: Date
}

/**
 * Builds the record of one log call. Correlation ids come from the fiber's current span (the stage or
 * request that owns it); annotations (which the lifecycle logger uses to carry them from a background
 * fiber) may set them explicitly.
 */
export const buildRecord = (input: BuildInput, source: RedactorSource): Record_ => {
  const fiber = input.fiber
  const recorder = fiber.getRef(CurrentRecorder)
  const redactor = source === "installed" ? currentUnsafe(recorder.get(RedactorSlot)) : source
  const service = recorder.config.service
  const record: Record_ = {
    timestamp: safeIso(input.date),
    level: levelName(input.logLevel),
    message: "",
    service: service.serviceName,
  }
  if (service.environment !== undefined) record.environment = service.environment
  if (service.serviceVersion !== undefined) record.version = service.serviceVersion

  const span = fiber.cache.span
  if (span !== undefined) {
    record.trace_id = span.traceId
    record.span_id = span.spanId
    const owner = ownerOf(span)
    const request = requestOf(owner)
    if (request !== undefined) record.request_id = request.requestId
    if (owner !== undefined && owner._tag === "Stage") record.stage_id = owner.exec.stageId
  }

  // Message: strings joined with spaces; plain objects become fields (`Effect.logInfo("placed", { id })`).
  const parts = Array.isArray(input.message) ? input.message : [input.message]
  let text = ""
  for (const part of parts) {
    if (isPlainObject(part)) {
      for (const key of Object.keys(part)) {
        if (!reserved.has(key)) record[key] = redactor.redactValue(key, part[key])
      }
    } else {
      const piece = stringify(part)
      text = text === "" ? piece : `${text} ${piece}`
    }
  }
  record.message = redactor.redactString(text)

  const annotations = fiber.getRef(References.CurrentLogAnnotations)
  for (const key in annotations) {
    if (!reserved.has(key)) record[key] = redactor.redactValue(key, annotations[key])
  }

  const spans = fiber.getRef(References.CurrentLogSpans)
  if (spans.length > 0) {
    const now = input.date.getTime()
    const durations: Record<string, number> = {}
    for (const [label, start] of spans) durations[label] = now - start
    record.log_spans = durations
  }

  const cause = input.cause
  if (cause.reasons.length > 0) {
    const error = errorOf(cause)
    record.error_type = error.type
    record.error_message = redactor.redactString(error.message)
    const category = categoryOf(recorder, cause)
    if (category !== undefined) record.error_category = category
    record.cause = redactor.redactString(safePretty(cause))
  }
  return record
}

const safeIso = (date: Date): string => {
  const time = date.getTime()
  return Number.isFinite(time) ? isoTimestamp(time) : new Date(0).toISOString()
}

/** The minute `isoPrefix` was formatted for, and its `YYYY-MM-DDTHH:MM:` text. */
let isoMinute = Number.NaN
let isoPrefix = ""

/** Epoch milliseconds of 10000-01-01: later (and negative) times have six-digit years in ISO form. */
const isoFastLimit = 253_402_300_800_000

/**
 * `new Date(time).toISOString()` for an integer epoch-millisecond `time`, without a `Date` per call: the
 * text up to the minute is formatted once per minute (records arrive in time order, so it is nearly always
 * the previous one's), seconds and milliseconds are appended.
 */
export const isoTimestamp = (time: number): string => {
  if (!(time >= 0 && time < isoFastLimit) || time !== Math.floor(time)) return new Date(time).toISOString()
  const minute = Math.floor(time / 60_000)
  if (minute !== isoMinute) {
    isoPrefix = new Date(minute * 60_000).toISOString().slice(0, 17)
    isoMinute = minute
  }
  const rest = time - minute * 60_000
  const seconds = Math.floor(rest / 1000)
  const millis = rest - seconds * 1000
  return isoPrefix + (seconds < 10 ? "0" : "") + seconds + (millis < 10 ? ".00" : millis < 100 ? ".0" : ".") +
    millis + "Z"
}

const safePretty = (cause: Cause.Cause<unknown>): string => {
  try {
    return Cause.pretty(cause)
  } catch {
    return "<cause could not be rendered>"
  }
}

/** Whether `value` serializes the same with and without `jsonReplacer` (a primitive or array of them). */
const plainJson = (value: unknown): boolean => {
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
    case "undefined":
      return true
    case "object": {
      if (value === null) return true
      if (!Array.isArray(value)) return false
      for (let i = 0; i < value.length; i++) {
        const item = value[i]
        const type = typeof item
        if (type !== "string" && type !== "number" && type !== "boolean" && item !== null) return false
      }
      return true
    }
    default:
      return false
  }
}

/** One JSON line. Never throws: an unserializable record degrades to its string fields. */
export const toJsonLine = (record: Record_): string => {
  try {
    // A replacer takes `JSON.stringify` off its fast path (≈3× slower); most records do not need one.
    let plain = true
    for (const key in record) {
      if (!plainJson(record[key])) {
        plain = false
        break
      }
    }
    return plain ? JSON.stringify(record) : JSON.stringify(record, jsonReplacer)
  } catch {
    const safe: Record_ = {}
    for (const key of Object.keys(record)) {
      const value = record[key]
      safe[key] = typeof value === "object" && value !== null ? stringify(value) : value
    }
    try {
      return JSON.stringify(safe, jsonReplacer)
    } catch {
      return JSON.stringify({ timestamp: record.timestamp, level: record.level, message: "<unserializable>" })
    }
  }
}

const prettySkip: ReadonlySet<string> = new Set([
  "timestamp",
  "level",
  "message",
  "service",
  "environment",
  "version",
])

const prettyValue = (value: unknown): string => {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value)
  return stringify(value)
}

/** One human-readable line: `2026-11-24T10:30:00.000Z INFO  message key=value …`. */
export const toPrettyLine = (record: Record_): string => {
  let line = `${String(record.timestamp)} ${String(record.level).toUpperCase().padEnd(5)} ${
    String(record.message)
  }`
  for (const key of Object.keys(record)) {
    if (prettySkip.has(key) || key === "cause") continue
    line += ` ${key}=${prettyValue(record[key])}`
  }
  if (typeof record.cause === "string") line += `\n${record.cause}`
  return line
}

export { defaultRedactor }
