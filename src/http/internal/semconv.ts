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
export const normalizeMethod = (method: string): string =>
  method === "GET" || method === "POST" || knownMethods.has(method) ? method : "_OTHER"

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

/** The parts of a request URL the server attributes need. */
export interface UrlParts {
  /** `http` or `https`. */
  readonly scheme: string
  /** The host name, without IPv6 brackets. */
  readonly host: string
  /** The explicit port, or the scheme's default. */
  readonly port: number | undefined
  /** The path, percent-encoded as serialized (`url.path`). */
  readonly path: string
}

/**
 * The origin (`scheme://host[:port]`, without userinfo) of the last request URL split, and its parts: a
 * server's requests nearly all carry the same one, which then needs no parsing.
 */
let lastOrigin = ""
let lastScheme = ""
let lastHost = ""
let lastPort: number | undefined = undefined

/** The end of the path that starts at `pathStart` (at `?`, `#` or the end). */
const pathEndOf = (href: string, pathStart: number): number => {
  const n = href.length
  let pathEnd = pathStart
  for (; pathEnd < n; pathEnd++) {
    const code = href.charCodeAt(pathEnd)
    if (code === 0x3f || code === 0x23) break
  }
  return pathEnd
}

/** Whether the character at `i` ends an authority: `/`, `?`, `#` or the end of `href`. */
const endsAuthority = (href: string, i: number): boolean => {
  if (i === href.length) return true
  const code = href.charCodeAt(i)
  return code === 0x2f || code === 0x3f || code === 0x23
}

/**
 * `scheme`, `host`, `port` and `path` of an http(s) request URL without building a `URL`. A `Request`'s
 * `url` is the URL serializer's output (`scheme://[userinfo@]host[:port]/path[?query][#fragment]`, host
 * lowercased, default port removed), so splitting it gives what `new URL` would; anything else
 * (another scheme, no authority) falls back to `new URL`, and `undefined` when that throws.
 */
export const requestUrlParts = (href: string): UrlParts | undefined => {
  const cached = lastOrigin.length
  if (cached > 0 && href.startsWith(lastOrigin) && endsAuthority(href, cached)) {
    const pathEnd = pathEndOf(href, cached)
    return {
      scheme: lastScheme,
      host: lastHost,
      port: lastPort,
      path: pathEnd === cached ? "/" : href.slice(cached, pathEnd),
    }
  }
  const scheme = href.startsWith("http://") ? "http" : href.startsWith("https://") ? "https" : undefined
  if (scheme === undefined) return slowUrlParts(href)
  const n = href.length
  const authorityStart = scheme.length + 3
  let pathStart = authorityStart
  for (; pathStart < n; pathStart++) {
    const code = href.charCodeAt(pathStart)
    if (code === 0x2f || code === 0x3f || code === 0x23) break
  }
  const at = href.lastIndexOf("@", pathStart - 1)
  const hostStart = at >= authorityStart ? at + 1 : authorityStart
  let host: string
  let portStart = -1
  if (href.charCodeAt(hostStart) === 0x5b) {
    const close = href.indexOf("]", hostStart)
    if (close === -1 || close >= pathStart) return slowUrlParts(href)
    host = href.slice(hostStart + 1, close)
    if (close + 1 < pathStart) {
      if (href.charCodeAt(close + 1) !== 0x3a) return slowUrlParts(href)
      portStart = close + 2
    }
  } else {
    const colon = href.indexOf(":", hostStart)
    if (colon !== -1 && colon < pathStart) {
      host = href.slice(hostStart, colon)
      portStart = colon + 1
    } else host = href.slice(hostStart, pathStart)
  }
  let port: number | undefined = scheme === "https" ? 443 : 80
  if (portStart !== -1 && portStart < pathStart) {
    port = Number(href.slice(portStart, pathStart))
    if (!Number.isInteger(port)) return slowUrlParts(href)
  }
  if (hostStart === authorityStart) {
    // No userinfo: the origin is kept for the next request (credentials never are).
    lastOrigin = href.slice(0, pathStart)
    lastScheme = scheme
    lastHost = host
    lastPort = port
  }
  const pathEnd = pathEndOf(href, pathStart)
  const path = pathEnd === pathStart ? "/" : href.slice(pathStart, pathEnd)
  return { scheme, host, port, path }
}

const slowUrlParts = (href: string): UrlParts | undefined => {
  try {
    const url = new URL(href)
    return { scheme: url.protocol.slice(0, -1), host: hostOf(url), port: portOf(url), path: url.pathname }
  } catch {
    return undefined
  }
}
