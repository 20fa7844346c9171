/**
 * What a password grant writes to Redis (src/security/password-gate.ts, `onProven`): on one
 * node, the lockout's reservation in one write, and its settlement together with the token
 * family in one more — the settlement is not awaited before the family is sent. Counted at the
 * socket (each `_write`/`_writev` of a connection is one write to the kernel), on a real
 * gateway and a real redis-server. (Either half failing fails the login: test/unit/lockout.test.ts.)
 */
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';

let redis: RedisProcess;
let upstream: Upstream;
let gw: TestGateway;

beforeAll(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startEchoUpstream()]);
  gw = await startGateway({ upstream: upstream.url, redisUrl: redis.url });
});
afterAll(async () => {
  await gw?.stop();
  await Promise.all([upstream?.close(), redis?.stop()]);
});

const login = (password: string = USERS.joe.password) =>
  postForm(gw.tokenUrl, `grant_type=password&username=joe&password=${encodeURIComponent(password)}`, { authorization: basicAuth() });

/** The script calls (`evalsha`, `eval`) of each socket write made while `run` runs. */
async function scriptWrites(run: () => Promise<unknown>): Promise<number[]> {
  const writes: number[] = [];
  const count = (chunks: readonly unknown[]): void => {
    const text = chunks.map((c) => (Buffer.isBuffer(c) ? c.toString('latin1') : String(c))).join('');
    const calls = text.match(/\r\neval(sha)?\r\n/gi)?.length ?? 0;
    if (calls > 0) writes.push(calls);
  };
  const proto = Socket.prototype as unknown as {
    _write: (chunk: unknown, ...rest: unknown[]) => unknown;
    _writev: (chunks: { chunk: unknown }[], ...rest: unknown[]) => unknown;
  };
  const { _write, _writev } = proto;
  proto._write = function (this: Socket, chunk, ...rest) {
    count([chunk]);
    return _write.call(this, chunk, ...rest);
  };
  proto._writev = function (this: Socket, chunks, ...rest) {
    count(chunks.map((c) => c.chunk));
    return _writev.call(this, chunks, ...rest);
  };
  try {
    await run();
  } finally {
    proto._write = _write;
    proto._writev = _writev;
  }
  return writes;
}

describe('a password grant on one Redis node', () => {
  it('makes two writes of scripts: the reservation, then the settlement with the token family', async () => {
    // The first login loads the scripts (EVALSHA, then EVAL after NOSCRIPT) and remembers the client secret.
    expect((await login()).status).toBe(200);
    const writes = await scriptWrites(async () => expect((await login()).status).toBe(200));
    expect(writes).toEqual([1, 2]);
  });

  it('still makes one write per script for a wrong password (nothing follows the settlement)', async () => {
    const writes = await scriptWrites(async () => expect((await login('wrong')).status).toBe(400));
    expect(writes).toEqual([1, 1]);
  });
});
