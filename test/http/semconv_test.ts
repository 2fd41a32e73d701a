/**
 * The HTTP semantic-convention helpers: the request URL split without `new URL` must give exactly what
 * `new URL` gives, for every URL a `Request` can carry.
 */
import assert from "node:assert/strict"
import { hostOf, portOf, requestUrlParts } from "../../src/http/internal/semconv.ts"

Deno.test("requestUrlParts() agrees with new URL on request URLs", () => {
  const urls = [
    "http://127.0.0.1:8000/chat",
    "http://localhost/",
    "http://LOCALHOST:80/a/b",
    "https://example.com",
    "https://example.com:443/x?y=1#z",
    "https://example.com:8443?q",
    "http://user:pass@example.com:81/p#f",
    "http://a@b@example.com/p",
    "http://[::1]:8080/v6",
    "http://[2001:db8::1]/v6?x",
    "http://example.com/caf%C3%A9/../x/./y",
    "http://example.com/café?q=é",
    "http://xn--bcher-kva.example/",
    "http://bücher.example:9/",
    "http://example.com/a:b@c/d",
    "http://example.com#only-fragment",
    "ws://example.com/socket",
    "file:///tmp/x",
    // The same origins again, and origins that start like the previous one (the origin cache).
    "http://127.0.0.1:8000/a",
    "http://127.0.0.1:8000/b?x=1",
    "http://127.0.0.1:8000",
    "http://127.0.0.1:8000#f",
    "http://127.0.0.1:800/x",
    "http://127.0.0.1:8000/y",
    "http://127.0.0.1/z",
    "http://127.0.0.10/z",
    "http://user@127.0.0.1:8000/c",
    "https://127.0.0.1:8000/d",
    "http://127.0.0.1:8000/e",
  ]
  for (const raw of urls) {
    const href = new Request(raw).url
    const url = new URL(href)
    assert.deepEqual(
      requestUrlParts(href),
      { scheme: url.protocol.slice(0, -1), host: hostOf(url), port: portOf(url), path: url.pathname },
      href,
    )
  }
  assert.equal(requestUrlParts("not a url"), undefined)
})
