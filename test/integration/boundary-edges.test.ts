/**
 * Edges of the boundary found by attacking it over the wire: the Host header the upstream
 * would read, the gateway's endpoints spelt with a trailing slash, and `Expect: 100-continue`
 * on a token request whose declared body is over the limit. Raw sockets, so nothing between
 * the test and the gateway tidies the request.
 */
import { connect } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { basicAuth } from '../support/start-gateway.js';
import { useGateway } from '../support/use-gateway.js';
import { sleep } from '../support/wait-for.js';

const hits: string[] = [];
/** Request bodies the upstream received whole. */
const bodies: string[] = [];
const env = useGateway({
  upstream: (req, res) => {
    hits.push(`${req.method} ${req.url} host=${req.headers.host}`);
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('latin1')));
    req.on('end', () => {
      bodies.push(body);
      res.end('upstream');
    });
  },
  config: { routes: [{ path: '/public/**', auth: 'none' }] },
});
let token: string;
beforeAll(async () => {
  token = await env.accessToken('joe', { scope: 'read' });
});

/** Sends `raw` and resolves with everything the gateway answered until it closed or went quiet. */
function exchange(raw: string, quietMs = 1500): Promise<string> {
  const { port } = new URL(env.gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let got = '';
    let timer = setTimeout(() => socket.destroy(), quietMs);
    socket.on('data', (chunk) => {
      got += chunk.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(() => socket.destroy(), quietMs);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.on('error', reject);
    socket.write(raw);
  });
}

describe('the Host header the upstream reads', () => {
  const cases: [string, string][] = [
    ['two Host headers', 'Host: a.example\r\nHost: b.example\r\n'],
    ['a path in the Host', 'Host: a.example/admin\r\n'],
    ['userinfo in the Host', 'Host: user@a.example\r\n'],
    ['a query in the Host', 'Host: a.example?x=1\r\n'],
  ];
  for (const [what, host] of cases) {
    it(`refuses ${what} with 400 before anything reaches the upstream`, async () => {
      const before = hits.length;
      for (const path of ['/public/x', '/api/x']) {
        const answer = await exchange(`GET ${path} HTTP/1.1\r\n${host}Authorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
        expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
      }
      expect(hits.slice(before)).toEqual([]);
    });
  }

  it('forwards a sound Host, with a port and as an IPv6 literal', async () => {
    for (const host of ['app.example:8443', '[::1]:9031', 'app.example']) {
      const answer = await exchange(`GET /public/x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    }
  });
});

describe("the gateway's own endpoints with a trailing slash", () => {
  it('are refused, never proxied with their credentials', async () => {
    const before = hits.length;
    for (const path of ['/as/token.oauth2/', '/as/introspect.oauth2//', '/.well-known/oauth-authorization-server/']) {
      const res = await fetch(`${env.gw.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=password&username=joe&password=joe-pw',
      });
      expect(res.status, path).toBe(400);
    }
    expect(hits.slice(before)).toEqual([]);
  });
});

describe('Expect: 100-continue on the token endpoint', () => {
  it('answers a declared body over the limit with 413 and never invites it', async () => {
    const answer = await exchange(
      `POST /as/token.oauth2 HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: ${basicAuth()}\r\nExpect: 100-continue\r\nContent-Length: 100000000\r\n\r\n`,
    );
    expect(answer).not.toContain('100 Continue');
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
  });

  it('still continues a token request of a normal size', async () => {
    const body = 'grant_type=password&username=joe&password=joe-pw&scope=read';
    const answer = await exchange(
      `POST /as/token.oauth2 HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: ${basicAuth()}\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      300,
    );
    expect(answer.startsWith('HTTP/1.1 100 Continue\r\n')).toBe(true);
  });
});

describe('a token in the form body as well as the header (RFC 6750 §2)', () => {
  /** Sends a form POST with the Bearer header, its body in the given pieces, and returns the status line. */
  async function post(pieces: string[]): Promise<string> {
    const { port } = new URL(env.gw.url);
    const length = pieces.reduce((n, p) => n + Buffer.byteLength(p), 0);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1');
      let got = '';
      socket.on('data', (c) => (got += c.toString('latin1')));
      socket.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
      socket.on('error', reject);
      socket.write(
        `POST /api/form HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`,
      );
      let i = 0;
      const next = (): void => {
        const piece = pieces[i++];
        if (piece === undefined) return;
        socket.write(piece);
        setTimeout(next, 50);
      };
      next();
    });
  }

  const refused: [string, string[]][] = [
    ['access_token after another field', ['a=1&access_token=stolen']],
    ['access_token first', ['access_token=stolen&a=1']],
    ['a percent-encoded name', ['a=1&access%5Ftoken=stolen']],
    ['another percent-encoded spelling', ['acc%65ss_token=stolen']],
    ['a name split across two packets', ['a=1&acce', 'ss_token=stolen']],
    ['the name alone at the end', ['a=1&access_token']],
  ];
  for (const [what, pieces] of refused) {
    it(`refuses ${what} with 400 and the upstream never gets the whole body`, async () => {
      const before = bodies.length;
      expect(await post(pieces)).toBe('HTTP/1.1 400 Bad Request');
      await sleep(200);
      expect(bodies.slice(before).filter((b) => b.includes('stolen'))).toEqual([]);
    });
  }

  it('forwards a form whose values, not names, mention access_token', async () => {
    const before = bodies.length;
    expect(await post(['note=access_token%3Dx&my_access_token=1'])).toBe('HTTP/1.1 200 OK');
    expect(bodies.slice(before)).toEqual(['note=access_token%3Dx&my_access_token=1']);
  });
});

describe('a token in the form body, from a real HTTP client', () => {
  it('is refused with the exact RFC 6750 §2 body, and the form never reaches the upstream', async () => {
    const before = bodies.length;
    const res = await fetch(`${env.gw.url}/api/form`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1&access_token=stolen',
    });
    expect(res.status).toBe(400);
    expect((await res.json()) as unknown).toEqual({
      error: 'invalid_request',
      error_description: 'the access token was sent in more than one way (RFC 6750 §2)',
    });
    await sleep(200);
    expect(bodies.slice(before).filter((b) => b.includes('stolen'))).toEqual([]);
  });
});
