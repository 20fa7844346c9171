/**
 * Revocations over Redis pub/sub (docs/architecture.md): the Redis token store's scripts PUBLISH each
 * revocation; every replica holds one subscriber connection and hands what it hears to its
 * local cache.
 *
 * Pub/sub delivers at most once and only to connected subscribers, so the feed reports whether
 * it can be trusted: it is `live` once SUBSCRIBE was acknowledged and stays so while the
 * connection is up and answers a PING every `heartbeatMs`. On any loss it delivers `reset`
 * (the cache forgets everything) and is not live until it has subscribed again; a cache stores
 * nothing while the feed is not live. What is left is a message lost on a connection that
 * stayed up, which Redis does not do short of dropping the client — the cache TTL bounds that.
 */
import type { Cluster, Redis } from 'ioredis';
import type { RevocationEvent } from './types.js';

/** The message published for a revoked family. */
export function familyMessage(familyId: string): string {
  return `f:${familyId}`;
}

/** The message published for one revoked access token (by its hash). */
export function tokenMessage(hash: string): string {
  return `t:${hash}`;
}

/** The event a published message stands for; null for anything else. */
export function parseRevocationMessage(message: string): RevocationEvent | null {
  if (/^f:[A-Za-z0-9_-]{22}$/.test(message)) return { kind: 'family', familyId: message.slice(2) };
  if (/^t:[A-Za-z0-9_-]{43}$/.test(message)) return { kind: 'token', hash: message.slice(2) };
  return null;
}

export interface RevocationFeedOptions {
  /** Interval of the liveness PING (and of re-subscribing after a failure), ms. Default 1000. */
  readonly heartbeatMs?: number;
}

/** One subscriber connection on `channel`, a duplicate of the store's client. */
export class RedisRevocationFeed {
  #live = false;
  #closed = false;
  readonly #subscriber: Redis | Cluster;
  readonly #heartbeat: NodeJS.Timeout;

  constructor(
    client: Redis | Cluster,
    private readonly channel: string,
    private readonly deliver: (event: RevocationEvent) => void,
    options: RevocationFeedOptions = {},
  ) {
    // The union of the two duplicate() signatures is not callable; each is, with no arguments.
    const subscriber: Redis | Cluster = client.isCluster ? (client as Cluster).duplicate() : (client as Redis).duplicate();
    this.#subscriber = subscriber;
    // Errors show up as lost liveness; the store's own client logs the connection problems.
    subscriber.on('error', () => {});
    subscriber.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      const event = parseRevocationMessage(message);
      if (event) deliver(event);
    });
    subscriber.on('ready', () => this.#subscribe());
    subscriber.on('close', () => this.#lost());
    subscriber.on('end', () => this.#lost());
    this.#heartbeat = setInterval(() => this.#beat(), options.heartbeatMs ?? 1000);
    this.#heartbeat.unref();
    if (subscriber.status === 'ready') this.#subscribe();
  }

  /** True while every published revocation reaches this process. */
  get live(): boolean {
    return this.#live;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#live = false;
    this.#subscriber.disconnect();
  }

  #subscribe(): void {
    if (this.#closed) return;
    this.#subscriber.subscribe(this.channel).then(
      () => {
        if (!this.#closed) this.#live = true;
      },
      () => this.#lost(),
    );
  }

  #beat(): void {
    if (this.#closed || this.#subscriber.status !== 'ready') return;
    if (!this.#live) {
      this.#subscribe();
      return;
    }
    this.#subscriber.ping().catch(() => this.#lost());
  }

  #lost(): void {
    if (!this.#live) return;
    this.#live = false;
    this.deliver({ kind: 'reset' });
  }
}
