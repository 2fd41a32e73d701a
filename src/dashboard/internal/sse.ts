/**
 * Server-Sent Events for the dashboard: one stream per open page, each with a bounded buffer.
 *
 * An event is encoded once and offered to every connection. A connection whose queue (bytes the browser
 * has not read yet) cannot take it is dropped at once, its queue discarded, and counted (the drop
 * `dashboard_slow_client`): a slow or stalled browser costs at most `bufferBytes` of memory and never
 * slows anything else down. The browser's `EventSource` reconnects by itself and starts again from a
 * fresh snapshot. The number of connections is bounded too (`maxConnections`; past it, `503`).
 *
 * @internal
 */

const encoder = new TextEncoder()

/** One open event stream. */
export class Connection {
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined
  closed = false
  readonly response: Response
  private readonly onClose: (connection: Connection) => void

  constructor(bufferBytes: number, first: Uint8Array, onClose: (connection: Connection) => void) {
    this.onClose = onClose
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller
          controller.enqueue(first)
        },
        cancel: () => this.finish(),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: bufferBytes }),
    )
    this.response = new Response(body, {
      status: 200,
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        // no-transform: Deno.serve would otherwise gzip the stream and hold events in the compressor.
        "cache-control": "no-store, no-transform",
        "x-content-type-options": "nosniff",
        "x-accel-buffering": "no",
      },
    })
  }

  /** Bytes the queue can still take (`bufferBytes` minus what the browser has not read). */
  get room(): number {
    return this.controller?.desiredSize ?? 0
  }

  /** Queues `bytes`; `false` when they do not fit (the caller drops the connection). */
  offer(bytes: Uint8Array): boolean {
    if (this.closed || this.controller === undefined) return false
    if (this.room < bytes.length) return false
    this.controller.enqueue(bytes)
    return true
  }

  /** Ends the stream: discarding what is queued when `discard` (a slow client), else after it is read. */
  close(discard: boolean): void {
    if (this.closed) return
    try {
      if (discard) this.controller?.error(new Error("stagetrace dashboard: client too slow, dropped"))
      else this.controller?.close()
    } catch {
      // Already closed by the other side.
    }
    this.finish()
  }

  private finish(): void {
    if (this.closed) return
    this.closed = true
    this.onClose(this)
  }
}

/** Formats one SSE event. */
export const formatEvent = (event: string, data: string): Uint8Array =>
  encoder.encode(`event: ${event}\ndata: ${data}\n\n`)

/** The open event streams of one dashboard. */
export class SseHub {
  readonly maxConnections: number
  readonly bufferBytes: number
  readonly connections: Set<Connection> = new Set()
  /** Connections dropped because their browser did not keep up. */
  dropped = 0
  /** Connections ever opened. */
  opened = 0
  /** Called for every dropped connection (counts a drop on the recorder). */
  private readonly onDrop: () => void

  constructor(maxConnections: number, bufferBytes: number, onDrop: () => void) {
    this.maxConnections = maxConnections
    this.bufferBytes = bufferBytes
    this.onDrop = onDrop
  }

  get size(): number {
    return this.connections.size
  }

  /** Opens a stream starting with `first` (the full snapshot); `undefined` when too many are open. */
  open(first: Uint8Array): Connection | undefined {
    if (this.connections.size >= this.maxConnections) return undefined
    // The first event always fits: the buffer grows to hold it, later ones must fit the bound.
    const connection = new Connection(
      Math.max(this.bufferBytes, first.length),
      // `retry` makes a dropped browser reconnect after a second.
      concat(encoder.encode("retry: 1000\n\n"), first),
      (c) => this.connections.delete(c),
    )
    this.connections.add(connection)
    this.opened++
    return connection
  }

  /** Sends one event to every stream; drops (and counts) the streams that cannot take it. */
  broadcast(bytes: Uint8Array): void {
    for (const connection of this.connections) {
      if (!connection.offer(bytes)) {
        connection.close(true)
        this.dropped++
        this.onDrop()
      }
    }
  }

  /** Closes every stream (the layer is closing). */
  closeAll(): void {
    for (const connection of [...this.connections]) connection.close(false)
  }
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}
