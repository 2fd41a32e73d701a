/**
 * Aggregation across the isolates of one process (`aggregateIsolates`): under `deno serve --parallel`
 * every worker is an isolate with its own metric store, and the kernel hands a scrape of the shared port
 * to one of them. Each isolate opens a `BroadcastChannel`; the one that gets a scrape posts `collect`,
 * every other isolate answers with a snapshot of its store, and the scraped isolate merges what arrived
 * within the timeout with its own snapshot and renders once.
 *
 * Protocol (every message `{ v, kind, from }`, `from` the sender's random id):
 * - `hello` when an isolate opens its channel; every isolate that hears it answers `here`. Any message
 *   makes its sender a known peer (at most `maxPeers`). Both carry `serving`, the address of the
 *   isolate's Prometheus server if it has one (also announced with `serving` once it listens): an isolate
 *   that finds the port taken waits for a peer serving it, since that peer answers for every isolate.
 * - `collect { id, snapshot }` (the asking isolate's own snapshot); every isolate answers
 *   `snapshot { id, snapshot }`. Requests and answers are broadcast, so after one scrape every isolate
 *   holds the last snapshot of every other: when a peer does not answer in time (its event loop is busy),
 *   whichever isolate is scraped serves that peer's last known values, and counters do not go backwards
 *   between scrapes.
 * - `bye` when the layer's scope closes: peers forget the isolate.
 *
 * A peer that missed a `collect` is not waited for again until it says something (its late answer
 * arrives on its own), so a stuck isolate costs one timeout, not one per scrape. With no peers a scrape
 * does not wait at all. Every malformed message, failed send or conflicting snapshot is a counted drop
 * (`stagetrace_metric_dropped_samples_total{metric="aggregate_isolates"}`), never an exception.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { AggregateConfig } from "./options.ts"
import { render } from "./render.ts"
import { mergeSnapshots, type Snapshot, snapshotVersion, takeSnapshot } from "./snapshot.ts"
import type { Aggregation, Family, Store } from "./store.ts"
import { metricIsolatesDef, metricIsolateTimeoutsDef } from "./toolkit.ts"

/** The `metric` label of the aggregation's own drops. */
export const dropMetric = "aggregate_isolates"

/** Peers an isolate keeps track of, at most. */
export const maxPeers = 1024

interface Peer {
  /** The last snapshot it sent (in answer to anyone's `collect`). */
  snapshot: Snapshot | undefined
  /** Whether scrapes wait for it: false after it missed one, true again once it says something. */
  responsive: boolean
  /** The address (`hostname:port`) its Prometheus server listens on, if it has one. */
  serving: string | undefined
}

interface Pending {
  readonly waiting: Set<string>
  readonly answered: Set<string>
  resume: (() => void) | undefined
}

/** What a collection gathered: the peers' snapshots, fresh or stale, and how many had none. */
export interface Collected {
  readonly fresh: ReadonlyArray<Snapshot>
  readonly stale: ReadonlyArray<Snapshot>
  readonly missing: number
}

type Message =
  | { readonly kind: "hello" | "here" | "serving"; readonly serving: string | undefined }
  | { readonly kind: "bye" }
  | { readonly kind: "collect"; readonly id: string; readonly snapshot: Snapshot | undefined }
  | { readonly kind: "snapshot"; readonly id: string; readonly snapshot: Snapshot }

/** Families a snapshot leaves out: they describe the scrape itself and are set by the merging isolate. */
const localOnly: ReadonlySet<string> = new Set([metricIsolatesDef.name])

/** The message in `data` when it is well formed, else the reason to drop it. */
const decode = (data: unknown): (Message & { readonly from: string }) | string => {
  if (typeof data !== "object" || data === null) return "invalid_message"
  const m = data as Record<string, unknown>
  if (m.v !== snapshotVersion) return "incompatible_isolate"
  const from = m.from
  if (typeof from !== "string" || from === "" || from.length > 64) return "invalid_message"
  switch (m.kind) {
    case "hello":
    case "here":
    case "serving":
      if (m.serving !== undefined && (typeof m.serving !== "string" || m.serving.length > 300)) {
        return "invalid_message"
      }
      return { kind: m.kind, from, serving: m.serving as string | undefined }
    case "bye":
      return { kind: "bye", from }
    case "collect":
    case "snapshot": {
      if (typeof m.id !== "string" || m.id.length > 200) return "invalid_message"
      const snapshot = m.snapshot as Snapshot | undefined
      if (snapshot === undefined && m.kind === "collect") return { kind: "collect", from, id: m.id, snapshot }
      if (typeof snapshot !== "object" || snapshot === null) return "invalid_snapshot"
      if (snapshot.v !== snapshotVersion) return "incompatible_isolate"
      return { kind: m.kind, from, id: m.id, snapshot }
    }
    default:
      return "invalid_message"
  }
}

/** The aggregation of one store; lives as long as the layer that opened it. */
export class Aggregator implements Aggregation {
  /** This isolate's id (random): the sender of its messages and the `worker` label of its summaries. */
  readonly id: string = crypto.randomUUID()
  readonly peers: Map<string, Peer> = new Map()
  private readonly pending = new Map<string, Pending>()
  private readonly serverWaiters = new Set<() => void>()
  private readonly channel: BroadcastChannel
  private closed = false
  private sequence = 0
  private serving: string | undefined = undefined
  private isolatesFamily: Family | undefined
  private timeoutsFamily: Family | undefined

  constructor(
    readonly store: Store,
    /** The context snapshots are taken with (the layer's: its metric registry). */
    private readonly context: Context.Context<never>,
    readonly config: AggregateConfig,
    readonly maxSeriesPerMetric: number,
  ) {
    this.channel = new BroadcastChannel(config.channel)
    this.channel.onmessage = (event) => this.receive(event.data)
    this.channel.onmessageerror = () => this.store.drop(dropMetric, "invalid_message")
    this.post({ kind: "hello", serving: undefined })
  }

  /** Posts a message to every other isolate on the channel; a failure is a counted drop. */
  private post(message: Message): void {
    if (this.closed) return
    try {
      this.channel.postMessage({ v: snapshotVersion, from: this.id, ...message })
    } catch {
      this.store.drop(dropMetric, "send_failed")
    }
  }

  /** Handles one message from the channel. Never throws. */
  receive(data: unknown): void {
    try {
      if (this.closed) return
      const message = decode(data)
      if (typeof message === "string") return this.store.drop(dropMetric, message)
      const from = message.from
      if (from === this.id) return
      if (message.kind === "bye") return this.forget(from)
      const peer = this.peer(from)
      switch (message.kind) {
        case "hello":
        case "here":
        case "serving":
          if (peer !== undefined) {
            peer.serving = message.serving
            if (message.serving !== undefined) { for (const wake of this.serverWaiters) wake() }
          }
          if (message.kind === "hello") this.post({ kind: "here", serving: this.serving })
          return
        case "collect":
          if (peer !== undefined && message.snapshot !== undefined) peer.snapshot = message.snapshot
          return this.answer(message.id)
        case "snapshot": {
          if (peer !== undefined) peer.snapshot = message.snapshot
          const pending = this.pending.get(message.id)
          if (pending !== undefined) {
            pending.answered.add(from)
            pending.waiting.delete(from)
            if (pending.waiting.size === 0) pending.resume?.()
          }
          return
        }
      }
    } catch {
      this.store.drop(dropMetric, "receive_failed")
    }
  }

  /** Tells the other isolates that this one's Prometheus server listens on `address`. */
  announceServing(address: string | undefined): void {
    this.serving = address
    this.post({ kind: "serving", serving: address })
  }

  /** Whether another isolate's Prometheus server listens on `address`. */
  private servedByPeer(address: string): boolean {
    for (const peer of this.peers.values()) if (peer.serving === address) return true
    return false
  }

  /**
   * Waits (at most the timeout) until another isolate says its Prometheus server listens on `address`:
   * the port this isolate could not bind is then shared, not taken by a stranger.
   */
  awaitServer(address: string): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      if (this.servedByPeer(address)) return Effect.succeed(true)
      let wake: (() => void) | undefined
      return Effect.callback<void>((resume) => {
        wake = () => {
          if (this.closed || this.servedByPeer(address)) resume(Effect.void)
        }
        this.serverWaiters.add(wake)
        // Ask again: isolates that started before this one answer with their address.
        this.post({ kind: "hello", serving: this.serving })
      }).pipe(
        Effect.timeoutOption(this.config.timeoutMs),
        Effect.ensuring(Effect.sync(() => wake !== undefined && this.serverWaiters.delete(wake))),
        Effect.map(() => this.servedByPeer(address)),
      )
    })
  }

  /** The peer `id`, made known and responsive; `undefined` (a counted drop) past `maxPeers`. */
  private peer(id: string): Peer | undefined {
    let peer = this.peers.get(id)
    if (peer === undefined) {
      if (this.peers.size >= maxPeers) {
        this.store.drop(dropMetric, "too_many_isolates")
        return undefined
      }
      peer = { snapshot: undefined, responsive: true, serving: undefined }
      this.peers.set(id, peer)
    } else peer.responsive = true
    return peer
  }

  private forget(id: string): void {
    this.peers.delete(id)
    for (const pending of this.pending.values()) {
      if (pending.waiting.delete(id) && pending.waiting.size === 0) pending.resume?.()
    }
  }

  /** This isolate's snapshot, or `undefined` (a counted drop) when it cannot be taken. */
  private snapshot(): Snapshot | undefined {
    try {
      return takeSnapshot(this.store, this.context, this.id, localOnly)
    } catch {
      this.store.drop(dropMetric, "snapshot_failed")
      return undefined
    }
  }

  /** Answers a `collect` with this isolate's snapshot. */
  private answer(id: string): void {
    const snapshot = this.snapshot()
    if (snapshot !== undefined) this.post({ kind: "snapshot", id, snapshot })
  }

  /**
   * Asks every peer for its snapshot and waits until the responsive ones answered or the timeout passed
   * (not at all without responsive peers). Peers that did not answer become unresponsive and count as
   * timeouts.
   */
  readonly collect: Effect.Effect<Collected> = Effect.suspend(() => {
    const waiting = new Set<string>()
    for (const [id, peer] of this.peers) if (peer.responsive) waiting.add(id)
    if (this.closed || waiting.size === 0) return Effect.succeed(this.gathered(new Set()))
    const id = `${this.id}:${this.sequence++}`
    const pending: Pending = { waiting, answered: new Set(), resume: undefined }
    this.pending.set(id, pending)
    // The request carries this isolate's own snapshot, so that every isolate knows everyone's last values.
    this.post({ kind: "collect", id, snapshot: this.snapshot() })
    return Effect.callback<void>((resume) => {
      if (pending.waiting.size === 0) return resume(Effect.void)
      pending.resume = () => resume(Effect.void)
    }).pipe(
      Effect.timeoutOption(this.config.timeoutMs),
      Effect.ensuring(Effect.sync(() => this.pending.delete(id))),
      Effect.map(() => {
        for (const late of pending.waiting) {
          const peer = this.peers.get(late)
          if (peer === undefined) continue
          peer.responsive = false
          this.countTimeout()
        }
        return this.gathered(pending.answered)
      }),
    )
  })

  private gathered(answered: ReadonlySet<string>): Collected {
    const fresh: Array<Snapshot> = []
    const stale: Array<Snapshot> = []
    let missing = 0
    for (const [id, peer] of this.peers) {
      if (peer.snapshot === undefined) missing++
      else if (answered.has(id)) fresh.push(peer.snapshot)
      else stale.push(peer.snapshot)
    }
    return { fresh, stale, missing }
  }

  private countTimeout(): void {
    const family = this.timeoutsFamily ??= this.store.family(metricIsolateTimeoutsDef)
    if (family === undefined) return
    const series = family.seriesForValues([])
    series.value++
    series.touched = this.store.epoch
  }

  /** Sets `stagetrace_metric_isolates{status}` in `store` (the local one or a merged one). */
  setIsolates(store: Store, collected: Collected): void {
    const family = store === this.store
      ? (this.isolatesFamily ??= store.family(metricIsolatesDef))
      : store.family(metricIsolatesDef)
    if (family === undefined) return
    family.collected = true
    store.setCollected(family, ["fresh"], 1 + collected.fresh.length)
    store.setCollected(family, ["stale"], collected.stale.length)
    store.setCollected(family, ["missing"], collected.missing)
  }

  /**
   * Renders what a collection gathered: the local store as it is when no peer contributed, else the
   * merge of the local snapshot (taken now) and the peers'.
   */
  render(collected: Collected, context: Context.Context<never>, om: boolean): string {
    if (collected.fresh.length === 0 && collected.stale.length === 0) {
      this.setIsolates(this.store, collected)
      return render(this.store, context, om)
    }
    const local = takeSnapshot(this.store, context, this.id, localOnly)
    const merged = mergeSnapshots(
      [local, ...collected.fresh, ...collected.stale],
      this.maxSeriesPerMetric,
      (metric, reason) => this.store.drop(metric, reason),
    )
    this.setIsolates(merged.store, collected)
    return render(merged.store, context, om, merged.registry)
  }

  /**
   * Collects, then renders what every isolate reports. A failure to merge is a counted drop and falls back
   * to this isolate's metrics.
   */
  scrape(context: Context.Context<never>, om: boolean): Effect.Effect<string> {
    return Effect.map(this.collect, (collected) => {
      try {
        return this.render(collected, context, om)
      } catch {
        this.store.drop("aggregate_isolates", "merge_failed")
        return render(this.store, context, om)
      }
    })
  }

  /** Says goodbye, closes the channel and releases waiting scrapes. Idempotent. */
  close(): void {
    if (this.closed) return
    this.post({ kind: "bye" })
    this.closed = true
    for (const wake of this.serverWaiters) wake()
    this.serverWaiters.clear()
    this.channel.onmessage = null
    this.channel.onmessageerror = null
    this.channel.close()
    for (const pending of this.pending.values()) pending.resume?.()
    this.pending.clear()
  }
}
