/**
 * The LDAP connection pool's rules, with a fake connector (the real one is exercised against
 * slapd in test/integration): reuse, the size cap, dropping dead connections, which errors
 * keep a connection and which close it, and the one retry on a connection the server closed.
 */
import { InvalidCredentialsError } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { ConnectionClosedError, LdapTimeoutError, type LdapConnection, type LdapConnector } from '../../src/validators/ldap-connection.js';
import { LdapPool, PoolBusyError, PoolClosedError } from '../../src/validators/ldap-pool.js';

interface FakeConnection {
  readonly id: number;
  alive: boolean;
  closed: boolean;
  readonly url: string;
  close(): Promise<void>;
}

function fakeConnector(): { connector: LdapConnector; opened: FakeConnection[]; prepared: number[] } {
  const opened: FakeConnection[] = [];
  const prepared: number[] = [];
  const connector = {
    async open(prepare?: (c: LdapConnection) => Promise<void>): Promise<LdapConnection> {
      const c: FakeConnection = {
        id: opened.length + 1,
        alive: true,
        closed: false,
        url: 'ldap://fake',
        async close() {
          this.closed = true;
          this.alive = false;
        },
      };
      opened.push(c);
      if (prepare) {
        await prepare(c as unknown as LdapConnection);
        prepared.push(c.id);
      }
      return c as unknown as LdapConnection;
    },
  } as unknown as LdapConnector;
  return { connector, opened, prepared };
}

const idOf = (c: LdapConnection): number => (c as unknown as FakeConnection).id;

describe('LdapPool', () => {
  it('reuses one connection for sequential work and prepares it once', async () => {
    const { connector, opened, prepared } = fakeConnector();
    const pool = new LdapPool({ connector, size: 2, waitMs: 100, prepare: async () => undefined });
    expect([await pool.use(async (c) => idOf(c)), await pool.use(async (c) => idOf(c))]).toEqual([1, 1]);
    expect(opened).toHaveLength(1);
    expect(prepared).toEqual([1]);
  });

  it('gives concurrent work a connection each, up to size; the rest waits, then gives up after waitMs', async () => {
    const { connector, opened } = fakeConnector();
    const pool = new LdapPool({ connector, size: 2, waitMs: 100 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const holdUntilGate = async (c: Parameters<Parameters<typeof pool.use>[0]>[0]) => {
      await gate;
      return idOf(c);
    };
    const held = [pool.use(holdUntilGate), pool.use(holdUntilGate)];
    const waiting = pool.use(async (c) => idOf(c));
    const tooLate = pool.use(async (c) => idOf(c));
    await new Promise((r) => setTimeout(r, 20));
    release();
    expect(await Promise.all(held)).toEqual([1, 2]);
    expect(await waiting).toBeGreaterThan(0);
    // tooLate got a connection too once the first two were released (well within waitMs).
    expect(await tooLate).toBeGreaterThan(0);
    expect(opened).toHaveLength(2);

    const stuck = [pool.use(() => new Promise(() => undefined)), pool.use(() => new Promise(() => undefined))];
    void stuck;
    const started = Date.now();
    await expect(pool.use(async () => 'never')).rejects.toBeInstanceOf(PoolBusyError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  it('drops idle connections that died and opens a new one', async () => {
    const { connector, opened } = fakeConnector();
    const pool = new LdapPool({ connector, size: 1, waitMs: 100 });
    await pool.use(async () => undefined);
    opened[0]!.alive = false; // the server closed it while idle
    expect(await pool.use(async (c) => idOf(c))).toBe(2);
    expect(opened[0]!.closed).toBe(true);
  });

  it('keeps a connection the server answered on with an error result', async () => {
    const { connector, opened } = fakeConnector();
    const pool = new LdapPool({ connector, size: 1, waitMs: 100 });
    await expect(pool.use(async () => Promise.reject(new InvalidCredentialsError()))).rejects.toBeInstanceOf(InvalidCredentialsError);
    expect(await pool.use(async (c) => idOf(c))).toBe(1);
    expect(opened[0]!.closed).toBe(false);
  });

  it('runs the work once more on a new connection when a pooled one turns out closed', async () => {
    const { connector, opened } = fakeConnector();
    const pool = new LdapPool({ connector, size: 1, waitMs: 100 });
    await pool.use(async () => undefined);
    const seen: number[] = [];
    const result = await pool.use(async (c) => {
      seen.push(idOf(c));
      if (idOf(c) === 1) throw new ConnectionClosedError();
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(seen).toEqual([1, 2]);
    expect(opened[0]!.closed).toBe(true);
  });

  it('does not retry after an error that is not a lost connection', async () => {
    const { connector, opened } = fakeConnector();
    const pool = new LdapPool({ connector, size: 1, waitMs: 100 });
    await pool.use(async () => undefined);
    let runs = 0;
    await expect(
      pool.use(async () => {
        runs += 1;
        throw new TypeError('a bug');
      }),
    ).rejects.toBeInstanceOf(TypeError);
    expect(runs).toBe(1);
    expect(opened[0]!.closed).toBe(true);
  });

  it('does not retry after a timeout (a hung server) nor on a connection it just opened', async () => {
    const { connector, opened } = fakeConnector();
    const pool = new LdapPool({ connector, size: 1, waitMs: 100 });
    await expect(pool.use(async () => Promise.reject(new ConnectionClosedError()))).rejects.toBeInstanceOf(ConnectionClosedError);
    expect(opened).toHaveLength(1);
    await pool.use(async () => undefined);
    await expect(pool.use(async () => Promise.reject(new LdapTimeoutError('search', 10)))).rejects.toBeInstanceOf(LdapTimeoutError);
    expect(opened).toHaveLength(2);
    expect(opened.every((c) => c.closed)).toBe(true);
  });

  it('refuses work once closed and closes its idle connections', async () => {
    const { connector, opened } = fakeConnector();
    const pool = new LdapPool({ connector, size: 1, waitMs: 1000 });
    await pool.use(async () => undefined);
    let release!: () => void;
    const busy = pool.use(() => new Promise<void>((r) => (release = r)));
    const waiter = pool.use(async () => 'never');
    await new Promise((r) => setTimeout(r, 10)); // the first use holds the connection now
    await pool.close();
    await expect(waiter).rejects.toBeInstanceOf(PoolClosedError);
    release();
    await busy;
    expect(opened[0]!.closed).toBe(true);
    await expect(pool.use(async () => 'never')).rejects.toBeInstanceOf(PoolClosedError);
  });
});
