/**
 * Reading and writing header carriers: web `Headers`, and plain records (Node-style `IncomingHttpHeaders`,
 * Effect's `Headers.Headers`, a literal object) whose keys may be in any case.
 *
 * @internal
 */

/** Headers to read trace context from: web `Headers` or a record of values. */
export type HeadersInput =
  | Headers
  | { readonly [name: string]: string | ReadonlyArray<string> | undefined }

/** Headers to write trace context into: web `Headers` or a mutable record of strings. */
export type HeadersCarrier = Headers | Record<string, string>

/** The web `Headers` class, read once: under Deno the global is a lazy getter, costly on every request. */
const HeadersClass: typeof Headers | undefined = typeof Headers === "undefined" ? undefined : Headers

/** Whether `headers` is a web `Headers`. */
export const isHeaders = (headers: unknown): headers is Headers =>
  HeadersClass !== undefined && headers instanceof HeadersClass

/**
 * The value of header `name` (lowercase), fields of the same name combined with `", "` as RFC 9110 says
 * (so two `traceparent` fields give one invalid value). `undefined` when absent.
 */
export const getHeader = (headers: HeadersInput, name: string): string | undefined => {
  if (isHeaders(headers)) return headers.get(name) ?? undefined
  const record = headers as { readonly [name: string]: string | ReadonlyArray<string> | undefined }
  let combined: string | undefined
  const exact = record[name]
  if (exact !== undefined) combined = join(exact)
  // Other spellings of the same name (`TraceParent`) are further fields of the same header.
  for (const key in record) {
    if (key === name || key.length !== name.length || key.toLowerCase() !== name) continue
    const value = record[key]
    if (value === undefined) continue
    combined = combined === undefined ? join(value) : `${combined}, ${join(value)}`
  }
  return combined
}

const join = (value: string | ReadonlyArray<string>): string =>
  typeof value === "string" ? value : value.join(", ")

/** Sets header `name` (lowercase), replacing any field of the same name in any case. */
export const setHeader = (headers: HeadersCarrier, name: string, value: string): void => {
  if (isHeaders(headers)) {
    headers.set(name, value)
    return
  }
  for (const key of Object.keys(headers)) {
    if (key !== name && key.length === name.length && key.toLowerCase() === name) delete headers[key]
  }
  headers[name] = value
}

/** Removes header `name` (lowercase) in any case. */
export const deleteHeader = (headers: HeadersCarrier, name: string): void => {
  if (isHeaders(headers)) {
    headers.delete(name)
    return
  }
  for (const key of Object.keys(headers)) {
    if (key.length === name.length && key.toLowerCase() === name) delete headers[key]
  }
}
