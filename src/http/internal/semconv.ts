/**
 * OpenTelemetry HTTP semantic conventions helpers: method normalization, span names, `url.full`
 * redaction, server address and port.
 *
 * @internal
 */

const knownMethods: ReadonlySet<string> = new Set([
  "CONNECT",
  "DELETE",
  "GET",
  "HEAD",
  "OPTIONS",
  "PATCH",
  "POST",
  "PUT",
  "QUERY",
  "TRACE",
])

/** `http.request.method`: a known method, or `_OTHER` (the original goes to `http.request.method_original`). */
export const normalizeMethod = (method: string): string => knownMethods.has(method) ? method : "_OTHER"

/** The span name: `{method} {target}`, `{method}`, or `HTTP` for an unknown method. */
export const spanName = (method: string, target: string | undefined): string => {
  const base = method === "_OTHER" ? "HTTP" : method
  return target === undefined ? base : `${base} ${target}`
}

const sensitiveQueryKeys: ReadonlySet<string> = new Set([
  "AWSAccessKeyId",
  "Signature",
  "sig",
  "X-Goog-Signature",
])

/**
 * `url.full` as the conventions ask: credentials in the URL replaced with `REDACTED`, and the values of
 * well-known signature query parameters too.
 */
export const redactUrl = (url: URL): string => {
  if (url.username === "" && url.password === "" && url.search === "") return url.href
  const copy = new URL(url.href)
  if (copy.username !== "") copy.username = "REDACTED"
  if (copy.password !== "") copy.password = "REDACTED"
  if (copy.search !== "") {
    let changed = false
    const params = copy.searchParams
    for (const key of sensitiveQueryKeys) {
      if (params.has(key)) {
        params.set(key, "REDACTED")
        changed = true
      }
    }
    if (!changed) return copy.href
  }
  return copy.href
}

/** The port of `url`, explicit or the scheme's default; `undefined` when unknown. */
export const portOf = (url: URL): number | undefined => {
  if (url.port !== "") return Number(url.port)
  switch (url.protocol) {
    case "http:":
    case "ws:":
      return 80
    case "https:":
    case "wss:":
      return 443
    default:
      return undefined
  }
}

/** `server.address` of `url`: the host name without IPv6 brackets. */
export const hostOf = (url: URL): string => {
  const host = url.hostname
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host
}
