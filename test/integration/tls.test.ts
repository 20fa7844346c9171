/**
 * TLS termination on the public port (issue "Operations"): a certificate generated at test
 * time by openssl; the gateway serves HTTPS and WSS, and picks up a renewed certificate when
 * its files change, keeping the old one while the new pair is incomplete.
 */
import https from 'node:https';
import { renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { makeCertificate, type Certificate } from '../support/certificates.js';

let gw: TestGateway;
let upstream: Upstream;
let wss: WebSocketServer;
let first: Certificate;
let base: string;
let port: number;

beforeAll(async () => {
  upstream = await startEchoUpstream();
  wss = new WebSocketServer({ noServer: true });
  upstream.server.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d) => ws.send(`echo:${d.toString()}`))),
  );
  first = makeCertificate({ name: 'tls', cn: 'first.test' });
  gw = await startGateway({
    upstream: upstream.url,
    config: { server: { tls: { certFile: first.certFile, keyFile: first.keyFile } }, routes: [{ path: '/public/**', auth: 'none' }] },
  });
  port = Number(new URL(gw.url).port);
  base = `https://127.0.0.1:${port}`;
});
afterAll(async () => {
  await gw?.stop();
  wss?.close();
  await upstream?.close();
});

function request(
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; ca?: Buffer } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${base}${path}`,
      { method: options.method ?? 'GET', headers: options.headers, ca: options.ca ?? first.cert, servername: 'localhost' },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The fingerprint of the certificate a new connection gets. */
function presented(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}

const fingerprintOf = (pem: Buffer): string => new X509Certificate(pem).fingerprint256;
const notAfterOf = (pem: Buffer): number => Date.parse(new X509Certificate(pem).validTo) / 1000;

/** ropc_tls_certificate_not_after_seconds of the certificate file, from the admin port. */
async function notAfterMetric(): Promise<number | undefined> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  const file = first.certFile.replace(/\\/g, '\\\\');
  const line = text.split('\n').find((l) => l.startsWith(`ropc_tls_certificate_not_after_seconds{file="${file}"} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('TLS termination', () => {
  it('serves the token endpoint and the proxy over HTTPS, telling the upstream the scheme', async () => {
    const body = `grant_type=password&username=joe&password=${USERS.joe.password}`;
    const token = await request('/as/token.oauth2', {
      method: 'POST',
      headers: { authorization: basicAuth(), 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(token.status).toBe(200);
    const access = (JSON.parse(token.text) as { access_token: string }).access_token;
    const res = await request('/api/x', { headers: { authorization: `Bearer ${access}` } });
    expect(res.status).toBe(200);
    expect((JSON.parse(res.text) as { headers: Record<string, string> }).headers['x-forwarded-proto']).toBe('https');
  });

  it('proxies WebSocket over TLS (wss)', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/public/ws`, { ca: first.cert });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const reply = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
    ws.send('hi');
    expect(await reply).toBe('echo:hi');
    ws.close();
  });

  it('refuses plain HTTP on the TLS port', async () => {
    await expect(fetch(`http://127.0.0.1:${port}/public/x`)).rejects.toThrow();
  });
});

describe('certificate reload', () => {
  it('serves a renewed certificate to new connections once both files changed', async () => {
    expect(await presented()).toBe(fingerprintOf(first.cert));
    expect(await notAfterMetric()).toBe(notAfterOf(first.cert));
    const next = makeCertificate({ dir: dirname(first.certFile), name: 'next', cn: 'second.test', days: 30 });

    // A renewal that writes the certificate first: the pair does not match yet, the old one stays.
    writeFileSync(`${first.certFile}.tmp`, next.cert);
    renameSync(`${first.certFile}.tmp`, first.certFile);
    await expect
      .poll(() => gw.logs().some((l) => l.msg === 'TLS certificate not reloaded; keeping the previous one'), {
        timeout: 8000,
        interval: 50,
      })
      .toBe(true);
    expect(await presented()).toBe(fingerprintOf(first.cert));
    expect((await request('/public/x')).status).toBe(200);

    // Then the key (an atomic rename, as Kubernetes does): the new pair is served.
    writeFileSync(`${first.keyFile}.tmp`, next.key);
    renameSync(`${first.keyFile}.tmp`, first.keyFile);
    await expect.poll(presented, { timeout: 8000, interval: 50 }).toBe(fingerprintOf(next.cert));
    expect((await request('/public/x', { ca: next.cert })).status).toBe(200);
    expect(gw.logs().find((l) => l.msg === 'TLS certificate reloaded')).toMatchObject({ subject: 'CN=second.test' });
    // The expiry gauge follows the certificate served (notAfter of the renewed one).
    expect(await notAfterMetric()).toBe(notAfterOf(next.cert));
    // Never the key, in any log line.
    expect(gw.logText()).not.toContain(next.key.toString().split('\n')[1]);
  });
});
