/**
 * A small pool of LDAP connections with exclusive checkout (one operation sequence per
 * connection at a time), for the LDAP validator. It keeps up to `size` connections open,
 * opens new ones lazily through the {@link LdapConnector} (so with URL failover), drops the
 * ones the server closed, and re-establishes them on the next use.
 *
 * The validator keeps two pools that never share connections:
 * - the *service* pool, whose connections are bound as the service account once, when they
 *   are opened, and then only ever search;
 * - the *bind* pool, whose connections only ever carry user binds (and, in direct-bind mode,
 *   the reads that user makes right after its own bind, under the same checkout).
 * So a service connection is never left bound as a user, and a user bind never waits for a
 * fresh TCP and TLS handshake.
 */
import {
  isConnectionLost,
  isServerAnswer,
  isTimeout,
  type LdapConnection,
  type LdapConnector,
  type PrepareConnection,
} from './ldap-connection.js';

export interface PoolOptions {
  readonly connector: LdapConnector;
  /** Connections kept open, and the most in use at once. */
  readonly size: number;
  /** Runs on each new connection before its first use (the service bind). */
  readonly prepare?: PrepareConnection;
  /** How long a caller may wait for a free connection. */
  readonly waitMs: number;
}

/** Every connection stayed busy for the whole wait. */
export class PoolBusyError extends Error {
  constructor(size: number, ms: number) {
    super(`all ${size} connections stayed busy for ${ms} ms`);
    this.name = 'PoolBusyError';
  }
}

/** The pool was closed (the gateway is shutting down). */
export class PoolClosedError extends Error {
  constructor() {
    super('the LDAP connection pool is closed');
    this.name = 'PoolClosedError';
  }
}

export class LdapPool {
  readonly #options: PoolOptions;
  readonly #idle: LdapConnection[] = [];
  /** Checkouts in progress (each holds one of `size` permits). */
  #busy = 0;
  readonly #waiters: { grant: () => void; refuse: (err: Error) => void }[] = [];
  #closed = false;
  #lastUrl: string | undefined;

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** The URL of the connection used last, for health details. */
  get lastUrl(): string | undefined {
    return this.#lastUrl;
  }

  /**
   * Runs `task` on a connection of its own. A connection the server answered on (even with an
   * error result) goes back to the pool; after any other failure it is closed. When a
   * connection taken from the pool turns out to have been closed by the server (an idle
   * timeout, a restart), `task` runs once more on a new connection; after a timeout it does
   * not (the server hangs: trying again would only double the wait).
   * @throws whatever `task` or the connector throws, PoolBusyError or PoolClosedError.
   */
  async use<T>(task: (connection: LdapConnection) => Promise<T>): Promise<T> {
    await this.#acquire();
    try {
      const pooled = this.#takeIdle();
      if (pooled === undefined) return await this.#run(await this.#open(), task);
      try {
        return await this.#run(pooled, task);
      } catch (err) {
        if (!isConnectionLost(err) || this.#closed) throw err;
        return await this.#run(await this.#open(), task);
      }
    } finally {
      this.#release();
    }
  }

  /** Closes every idle connection and refuses new work; connections in use close when released. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.refuse(new PoolClosedError());
    await Promise.all(this.#idle.splice(0).map((c) => c.close()));
  }

  async #run<T>(connection: LdapConnection, task: (connection: LdapConnection) => Promise<T>): Promise<T> {
    this.#lastUrl = connection.url;
    try {
      const result = await task(connection);
      this.#putBack(connection);
      return result;
    } catch (err) {
      // A hung server: callers queued for a connection would only get theirs when this one
      // gave up and then wait a whole timeout more. Refuse them now, so every login answers
      // within about one timeout.
      if (isTimeout(err)) for (const waiter of this.#waiters.splice(0)) waiter.refuse(err as Error);
      if (isServerAnswer(err)) this.#putBack(connection);
      else await connection.close();
      throw err;
    }
  }

  #open(): Promise<LdapConnection> {
    if (this.#closed) return Promise.reject(new PoolClosedError());
    return this.#options.connector.open(this.#options.prepare);
  }

  #takeIdle(): LdapConnection | undefined {
    for (let connection = this.#idle.pop(); connection !== undefined; connection = this.#idle.pop()) {
      if (connection.alive) return connection;
      void connection.close();
    }
    return undefined;
  }

  #putBack(connection: LdapConnection): void {
    if (this.#closed || !connection.alive) void connection.close();
    else this.#idle.push(connection);
  }

  #acquire(): Promise<void> {
    if (this.#closed) return Promise.reject(new PoolClosedError());
    if (this.#busy < this.#options.size) {
      this.#busy += 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve();
        },
        refuse: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new PoolBusyError(this.#options.size, this.#options.waitMs));
      }, this.#options.waitMs);
      this.#waiters.push(waiter);
    });
  }

  /** Hands the permit to the first waiter, or returns it. */
  #release(): void {
    const next = this.#waiters.shift();
    if (next) next.grant();
    else this.#busy -= 1;
  }
}
