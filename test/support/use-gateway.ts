/**
 * The usual setup of a test file as one call: an echo upstream (or the test's own handler), a
 * redis-server when asked, a gateway on them (start-gateway.ts), and a token client — all
 * started in `beforeAll` and closed in `afterAll` of the suite (or describe block) it is called in.
 *
 *     const env = useGateway({ redis: true, config: { ... } });
 *     it('...', async () => { const token = await env.accessToken(); ... });
 */
import type { RequestListener } from 'node:http';
import { afterAll, beforeAll, expect } from 'vitest';
import { basicAuth, CLIENT, postForm, startGateway, USERS, type TestGateway } from './start-gateway.js';
import { startEchoUpstream, type Upstream } from './echo-upstream.js';
import { startRedis, type RedisProcess } from './start-redis.js';
import type { TestClock } from './test-clock.js';

export type FormResponse = Awaited<ReturnType<typeof postForm>>;

export interface UseGatewayOptions {
  /** Deep-merged over start-gateway.ts's base configuration; a function runs in beforeAll (hashing secrets, say). */
  readonly config?: Record<string, unknown> | (() => Record<string, unknown> | Promise<Record<string, unknown>>);
  /** Put the token store and lockout counters on a real redis-server (else the memory store). */
  readonly redis?: boolean;
  /** The upstream's request handler; default the echo upstream. */
  readonly upstream?: RequestListener;
  /** The gateway's in-process clock (src/app.ts `clock`). */
  readonly clock?: TestClock;
}

export interface ClientOptions {
  /** Client id; default start-gateway.ts CLIENT. A public client (`spa`) sends `client_id` instead of Basic. */
  readonly client?: string;
  readonly secret?: string;
  /** More request headers (X-Forwarded-For, ...). */
  readonly headers?: Record<string, string>;
}

export interface PasswordOptions extends ClientOptions {
  /** Default the user's right password (start-gateway.ts USERS). */
  readonly password?: string;
  /** Space-separated; omitted when undefined. */
  readonly scope?: string;
}

/** A token endpoint client of one test gateway: Basic client authentication (RFC 6749 §2.3.1). */
export interface TokenClient {
  /** POSTs `body` to the token endpoint as `client`. */
  token(body: string, options?: ClientOptions): Promise<FormResponse>;
  /** A password grant (RFC 6749 §4.3) for `username`, default joe with his password. */
  password(username?: string, options?: PasswordOptions): Promise<FormResponse>;
  /** A refresh grant (RFC 6749 §6). */
  refresh(refreshToken: string, options?: ClientOptions): Promise<FormResponse>;
  /** The access token of a password grant that must succeed. */
  accessToken(username?: string, options?: PasswordOptions): Promise<string>;
}

/** The token client of `gw`. */
export function tokenClient(gw: Pick<TestGateway, 'tokenUrl'>): TokenClient {
  const post = (body: string, options: ClientOptions = {}): Promise<FormResponse> => {
    const { client = CLIENT.id, secret = CLIENT.secret, headers = {} } = options;
    const isPublic = client === 'spa';
    const auth = isPublic ? {} : { authorization: basicAuth(client, secret) };
    return postForm(gw.tokenUrl, isPublic ? `${body}&client_id=${encodeURIComponent(client)}` : body, { ...auth, ...headers });
  };
  const password = (username: string = USERS.joe.username, options: PasswordOptions = {}): Promise<FormResponse> => {
    const known = (USERS as Record<string, { password: string } | undefined>)[username];
    const pw = options.password ?? known?.password ?? '';
    const scope = options.scope === undefined ? '' : `&scope=${encodeURIComponent(options.scope)}`;
    return post(`grant_type=password&username=${encodeURIComponent(username)}&password=${encodeURIComponent(pw)}${scope}`, options);
  };
  return {
    token: post,
    password,
    refresh: (refreshToken, options) => post(`grant_type=refresh_token&refresh_token=${encodeURIComponent(refreshToken)}`, options),
    async accessToken(username, options) {
      const res = await password(username, options);
      expect(res.status, res.text).toBe(200);
      return res.json['access_token'] as string;
    },
  };
}

export interface GatewayFixture extends TokenClient {
  /** The running gateway (set in beforeAll). */
  readonly gw: TestGateway;
  readonly upstream: Upstream;
  /** The redis-server, when `redis: true`. */
  readonly redis: RedisProcess;
}

/** Starts upstream, redis (when asked) and gateway in beforeAll; stops them in afterAll. */
export function useGateway(options: UseGatewayOptions = {}): GatewayFixture {
  let gw: TestGateway | undefined;
  let upstream: Upstream | undefined;
  let redis: RedisProcess | undefined;
  let client: TokenClient | undefined;
  beforeAll(async () => {
    [upstream, redis] = await Promise.all([startEchoUpstream(options.upstream), options.redis ? startRedis() : undefined]);
    const config = typeof options.config === 'function' ? await options.config() : options.config;
    gw = await startGateway({
      upstream: upstream.url,
      ...(redis ? { redisUrl: redis.url } : {}),
      ...(config ? { config } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    });
    client = tokenClient(gw);
  });
  afterAll(async () => {
    await gw?.stop();
    await Promise.all([upstream?.close(), redis?.stop()]);
  });
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`useGateway: no ${what} (used before beforeAll, or not asked for)`);
    return value;
  };
  return {
    get gw() {
      return started(gw, 'gateway');
    },
    get upstream() {
      return started(upstream, 'upstream');
    },
    get redis() {
      return started(redis, 'redis (pass redis: true)');
    },
    token: (body, o) => started(client, 'gateway').token(body, o),
    password: (username, o) => started(client, 'gateway').password(username, o),
    refresh: (token, o) => started(client, 'gateway').refresh(token, o),
    accessToken: (username, o) => started(client, 'gateway').accessToken(username, o),
  };
}
