/**
 * Opening LDAP connections (ldapts) for the LDAP validator: URL failover, LDAPS and StartTLS,
 * timeouts, and a connection object that only runs an operation on the socket it was set up on.
 *
 * Why the last point matters: an ldapts `Client` whose socket has closed silently reconnects
 * on its next operation — unbound, and without StartTLS. A service connection would then
 * search anonymously, and a user bind would send the password in clear over a connection that
 * was configured for StartTLS. {@link LdapConnection} refuses to run an operation unless its
 * original socket is still open; the check and the call happen in the same tick, so ldapts
 * never gets the chance to reconnect on its own.
 */
import type { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Client, ResultCodeError, type Change, type Control, type Entry, type SearchOptions } from 'ldapts';
import { urlHost } from '../url-host.js';

export interface ConnectorOptions {
  /** `ldap://` or `ldaps://` URLs (scheme, host, port), tried in this order. */
  readonly urls: readonly string[];
  /**
   * Optional: the URLs to try before `urls`, looked up at each connection (Active Directory
   * domain controller discovery, ad-discovery.ts). Never rejects.
   */
  readonly resolveUrls?: () => Promise<readonly string[]>;
  /** Upgrade `ldap://` connections with StartTLS before anything else is sent. */
  readonly startTls: boolean;
  /** TLS settings for LDAPS and StartTLS (`ca`, `rejectUnauthorized`). */
  readonly tls: Pick<ConnectionOptions, 'ca' | 'rejectUnauthorized'>;
  /** Bound on connecting (TCP, TLS, StartTLS, the first bind) and on each operation. */
  readonly timeoutMs: number;
  /** A URL that failed is tried after the others for this long (default 30 s). */
  readonly retryFailedUrlAfterMs: number;
  /** Called when a URL that was fine fails (not again while it stays down), for a log line. */
  readonly onUrlFailed?: (url: string, reason: string) => void;
  /** Called when a URL that had failed answers again. */
  readonly onUrlRecovered?: (url: string) => void;
}

/** Sets a new connection up before it is used: a service bind, or nothing (bind connections). */
export type PrepareConnection = (connection: LdapConnection) => Promise<void>;

/** Every URL failed; `reasons` has one `url: reason` entry per attempt. */
export class LdapUnreachableError extends Error {
  constructor(readonly reasons: readonly string[]) {
    super(`no LDAP server answered (${reasons.join('; ')})`);
    this.name = 'LdapUnreachableError';
  }
}

/** The connection was closed (by the server, a timeout or a restart) before the operation. */
export class ConnectionClosedError extends Error {
  constructor() {
    super('the LDAP connection is closed');
    this.name = 'ConnectionClosedError';
  }
}

/** A deadline of our own passed (ldapts has none for the StartTLS handshake, for one). */
export class LdapTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms} ms`);
    this.name = 'LdapTimeoutError';
  }
}

/** One open connection to one server; see the module comment for why operations go through it. */
export class LdapConnection {
  readonly #client: Client;
  #closed = false;

  constructor(
    client: Client,
    readonly url: string,
  ) {
    this.#client = client;
  }

  /** True while the socket this connection was set up on is open. */
  get alive(): boolean {
    return !this.#closed && this.#client.isConnected;
  }

  /** Simple bind (RFC 4513 §5.1.3), with request controls. Callers never pass an empty password. */
  bind(dn: string, password: string, controls?: Control[]): Promise<void> {
    if (!this.alive) return Promise.reject(new ConnectionClosedError());
    return this.#client.bind(dn, password, controls);
  }

  /** An extended operation (RFC 4511 §4.12); resolves on success, rejects with the result code. */
  async exop(oid: string, value: Buffer, controls?: Control[]): Promise<void> {
    if (!this.alive) throw new ConnectionClosedError();
    await this.#client.exop(oid, value, controls);
  }

  /** A modify (RFC 4511 §4.6): Active Directory's password change (ad-account.ts). */
  modify(dn: string, changes: Change[]): Promise<void> {
    if (!this.alive) return Promise.reject(new ConnectionClosedError());
    return this.#client.modify(dn, changes);
  }

  /** A search; search continuation references (referrals) are ignored, never chased. */
  async search(base: string, options: SearchOptions): Promise<Entry[]> {
    if (!this.alive) throw new ConnectionClosedError();
    const { searchEntries } = await this.#client.search(base, { derefAliases: 'never', ...options });
    return searchEntries;
  }

  /** Unbinds and closes the socket; never throws, never waits long. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.race([this.#client.unbind().catch(() => undefined), sleep(200)]);
  }

  /** Connects (with StartTLS when asked) and watches the socket; internal to the connector. */
  async open(startTls: ConnectOptions | undefined): Promise<void> {
    if (startTls) {
      await this.#client.startTLS(startTls);
    } else {
      // ldapts has no public connect(): a root DSE read opens the connection and proves the
      // server answers. A refusal (some servers want a bind first) still proves it.
      await this.#client.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['1.1'] }).catch((err: unknown) => {
        if (!(err instanceof ResultCodeError)) throw err;
      });
    }
    // After StartTLS, ldapts keeps reporting "connected" when the TLS socket closes (its close
    // handler watches the plain socket it replaced), so watch the socket in use ourselves.
    // `socket` is a private field of ldapts' Client (pinned version); should it go away,
    // `isConnected` still covers plain and LDAPS connections.
    const socket = (this.#client as unknown as { socket?: EventEmitter }).socket;
    socket?.once('close', () => {
      this.#closed = true;
    });
  }
}

type ConnectOptions = ConnectionOptions & { host: string };

/** Opens connections on the first URL that answers; remembers which URLs failed lately. */
export class LdapConnector {
  readonly #options: ConnectorOptions;
  /** URL -> time until which it is tried only after the others. */
  readonly #failedUntil = new Map<string, number>();

  constructor(options: ConnectorOptions) {
    this.#options = options;
  }

  /**
   * The URLs in the order to try: those that have not failed lately first, in configuration
   * order, then the others. So a dead first URL costs one timeout per
   * `retryFailedUrlAfterMs`, not one per connection.
   */
  order(now = Date.now(), urls: readonly string[] = this.#options.urls): string[] {
    const recent = (url: string): boolean => (this.#failedUntil.get(url) ?? 0) > now;
    return [...urls.filter((u) => !recent(u)), ...urls.filter(recent)];
  }

  /**
   * Opens a connection and runs `prepare` on it, trying each URL in {@link order}.
   * @throws ResultCodeError when a server answered `prepare` with an error (a configuration
   *   problem such as a refused service bind: other servers would answer the same).
   * @throws LdapUnreachableError when no URL could be connected to.
   */
  async open(prepare?: PrepareConnection): Promise<LdapConnection> {
    const reasons: string[] = [];
    const urls = this.#options.resolveUrls
      ? [...new Set([...(await this.#options.resolveUrls()), ...this.#options.urls])]
      : this.#options.urls;
    for (const url of this.order(Date.now(), urls)) {
      try {
        const connection = await this.#attempt(url, prepare);
        if (this.#failedUntil.delete(url)) this.#options.onUrlRecovered?.(url);
        return connection;
      } catch (err) {
        if (err instanceof ResultCodeError) throw err;
        const reason = describeLdapError(err);
        // Logged once per outage of a URL, not at every login while it lasts.
        if (!this.#failedUntil.has(url)) this.#options.onUrlFailed?.(url, reason);
        this.#failedUntil.set(url, Date.now() + this.#options.retryFailedUrlAfterMs);
        reasons.push(`${url}: ${reason}`);
      }
    }
    throw new LdapUnreachableError(reasons);
  }

  async #attempt(url: string, prepare: PrepareConnection | undefined): Promise<LdapConnection> {
    const { timeoutMs, tls } = this.#options;
    const secure = /^ldaps:/i.test(url);
    // ldapts treats the presence of tlsOptions as "connect with TLS", so plain URLs get none.
    const client = new Client({ url, timeout: timeoutMs, connectTimeout: timeoutMs, ...(secure ? { tlsOptions: { ...tls } } : {}) });
    const connection = new LdapConnection(client, url);
    const host = urlHost(new URL(url));
    // Node checks the certificate against `host`; SNI must not be an IP address.
    const startTls = this.#options.startTls && !secure ? { ...tls, host, ...(isIP(host) ? {} : { servername: host }) } : undefined;
    const setUp = async (): Promise<LdapConnection> => {
      await connection.open(startTls);
      if (prepare) await prepare(connection);
      return connection;
    };
    try {
      return await withTimeout(setUp(), timeoutMs, 'connecting');
    } catch (err) {
      await connection.close();
      throw err;
    }
  }
}

/**
 * Whether the server answered with an LDAP result code: the connection itself is fine (a wrong
 * password, a missing base DN…), as opposed to a socket error or a timeout.
 */
export function isServerAnswer(err: unknown): err is ResultCodeError {
  return err instanceof ResultCodeError;
}

/**
 * Whether the connection was lost under the operation (closed or reset by the server): the
 * request may never have reached it, so running it again on a new connection is safe.
 */
export function isConnectionLost(err: unknown): boolean {
  if (err instanceof ConnectionClosedError) return true;
  if (!(err instanceof Error) || isTimeout(err)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || /connection closed|socket error|socket connection not established/i.test(err.message);
}

/** Whether the operation ran out of time (ldapts' timers or ours). */
export function isTimeout(err: unknown): boolean {
  return err instanceof LdapTimeoutError || (err instanceof Error && /timed out|timeout/i.test(err.message));
}

/**
 * A short, log-safe description of an ldapts or socket error: its first line, or the result
 * code for a server answer (whose text a server may fill with request details).
 */
export function describeLdapError(err: unknown): string {
  if (err instanceof ResultCodeError) return `${err.name} (result code ${err.code})`;
  if (err instanceof Error) {
    const line = err.message.split('\n')[0] ?? '';
    const code = (err as NodeJS.ErrnoException).code;
    return code && !line.includes(code) ? `${line} (${code})` : line || err.name;
  }
  return String(err);
}

/** Rejects with {@link LdapTimeoutError} when `promise` does not settle within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LdapTimeoutError(what, ms)), ms);
  });
  // The loser of the race may still reject later; that must not be an unhandled rejection.
  promise.catch(() => undefined);
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
