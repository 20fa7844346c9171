/**
 * The chart's dashboard and alerts against a real Prometheus (Debian's `prometheus` package):
 * it scrapes a real gateway's admin /metrics every second, with the chart's rule file
 * (helm/ropc-gateway/files/alerts/rules.yaml) loaded, while the gateway serves a small load —
 * logins that succeed and fail, a lockout, a refresh and a refresh-token reuse, proxied
 * requests answered 200, 500 and 502, over TLS. Then every query of every dashboard panel
 * (helm/ropc-gateway/files/dashboards/ropc-gateway.json, its template variables filled in as
 * Grafana would) must return at least one series through Prometheus's HTTP API, the panels of
 * what the load did must show it, every rule must evaluate without error, and the alerts this
 * load should raise must fire (and no other).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { Agent, fetch as tlsFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificate, type Certificate } from '../support/certificates.js';
import { deadPort, startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { freePort } from '../support/ports.js';
import { basicAuth, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { waitFor } from '../support/wait-for.js';

const DASHBOARD = resolve('helm/ropc-gateway/files/dashboards/ropc-gateway.json');
const RULES = resolve('helm/ropc-gateway/files/alerts/rules.yaml');
const JOB = 'ropc-gateway';

interface Target {
  readonly refId: string;
  readonly expr: string;
}
interface Panel {
  readonly type: string;
  readonly title: string;
  readonly targets?: Target[];
}
interface Variable {
  readonly name: string;
  readonly type: string;
  readonly allValue?: string;
  readonly query?: { readonly query: string } | string;
}
interface Series {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

let dir: string;
let certificate: Certificate;
let upstream: Upstream;
let gw: TestGateway;
let prometheus: ChildProcess | undefined;
let promUrl: string;
let agent: Agent;
let base: string;

/** Starts Prometheus on a free port (retrying on a collision), scraping the gateway's admin port every second. */
async function startPrometheus(adminUrl: string): Promise<void> {
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: [RULES],
      scrape_configs: [{ job_name: JOB, static_configs: [{ targets: [new URL(adminUrl).host], labels: { namespace: 'apps' } }] }],
    }),
  );
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const log = openSync(join(dir, `prometheus-${attempt}.log`), 'w');
    const child = spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, `data-${attempt}`)}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', log, log] },
    );
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.once('error', () => undefined);
    let gone = false;
    void exited.then(() => (gone = true));
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(
        async () =>
          gone ||
          (await fetch(`${url}/-/ready`).then(
            (r) => r.ok,
            () => false,
          )),
        30_000,
        'Prometheus to be ready',
      );
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    if (!gone) {
      prometheus = child;
      promUrl = url;
      return;
    }
  }
  throw new Error(`prometheus did not start: ${readFileSync(join(dir, 'prometheus-2.log'), 'utf8')}`);
}

async function query(expr: string): Promise<Series[]> {
  const res = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Series[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? res.status}`);
  return body.data!.result;
}

/** Waits until Prometheus has scraped the gateway once more (a fresh sample of the admin port's open connections). */
async function nextScrape(): Promise<void> {
  const last = async (): Promise<number> =>
    Number((await query(`timestamp(ropc_open_connections{job="${JOB}", listener="admin"})`))[0]?.value[1] ?? 0);
  const before = await last();
  await waitFor(async () => (await last()) > before, 20_000, 'the next scrape');
}

const token = async (body: string, auth = basicAuth()): Promise<{ status: number; json: Record<string, unknown> }> => {
  const res = await tlsFetch(`${base}/as/token.oauth2`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
    body,
    dispatcher: agent,
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
};
const get = async (path: string, bearer?: string): Promise<number> => {
  const res = await tlsFetch(`${base}${path}`, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {}, dispatcher: agent });
  await res.arrayBuffer();
  return res.status;
};

/** One round of traffic: a login, a failed login, a refresh, proxied requests answered 200, 500 and 502. */
async function traffic(): Promise<string> {
  const ok = await token(`grant_type=password&username=joe&password=${encodeURIComponent(USERS.joe.password)}`);
  expect(ok.status).toBe(200);
  expect((await token('grant_type=password&username=joe&password=wrong')).status).toBe(400);
  const refreshed = await token(`grant_type=refresh_token&refresh_token=${ok.json['refresh_token'] as string}`);
  expect(refreshed.status).toBe(200);
  const access = refreshed.json['access_token'] as string;
  for (let i = 0; i < 3; i++) expect(await get('/api/a', access)).toBe(200);
  expect(await get('/public/x')).toBe(200);
  expect(await get('/boom', access)).toBe(500);
  expect(await get('/dead', access)).toBe(502);
  expect(await get('/api/a')).toBe(401);
  return ok.json['refresh_token'] as string;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ropc-prometheus-'));
  certificate = makeCertificate({ dir, name: 'public', cn: 'localhost' });
  agent = new Agent({ connect: { ca: certificate.cert, servername: 'localhost' } });
  upstream = await startEchoUpstream((req, res) => {
    res.writeHead(req.url === '/boom' ? 500 : 200, { 'content-type': 'text/plain' });
    res.end('upstream');
  });
  const dead = await deadPort();
  gw = await startGateway({
    upstream: upstream.url,
    config: {
      server: { tls: { certFile: certificate.certFile, keyFile: certificate.keyFile } },
      lockout: { maxFailures: 3 },
      routes: [{ path: '/public/**', auth: 'none' }, { path: '/boom' }, { path: '/dead', upstream: `http://127.0.0.1:${dead}` }],
    },
  });
  base = `https://127.0.0.1:${new URL(gw.url).port}`;
  await startPrometheus(gw.adminUrl);
  await waitFor(async () => (await query(`up{job="${JOB}"} == 1`)).length === 1, 30_000, 'the first scrape of the gateway');

  // First round, after a first scrape, so counters created now are seen to grow in the second.
  const used = await traffic();
  // alice: three wrong passwords lock her, a fourth login is refused; a refresh token used again
  // is reuse (its family revoked).
  for (let i = 0; i < 4; i++) expect((await token('grant_type=password&username=alice&password=wrong')).status).toBe(400);
  expect((await token(`grant_type=refresh_token&refresh_token=${used}`)).status).toBe(400);
  await nextScrape();
  await traffic();
  expect((await token(`grant_type=password&username=alice&password=${encodeURIComponent(USERS.alice.password)}`)).status).toBe(400); // locked: refused
  await nextScrape();
}, 120_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus!.once('exit', r));
    prometheus.kill('SIGTERM');
    await exited;
  }
  await gw?.stop();
  await upstream?.close();
  await agent?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { templating: { list: Variable[] }; panels: Panel[] };
const panels = dashboard.panels.filter((p) => p.type !== 'row');

/** A panel query as Grafana sends it: `$job` the job, other query variables "All" (their allValue), `$__rate_interval` a range. */
function substitute(expr: string): string {
  let out = expr.replaceAll('$__rate_interval', '5m');
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query') continue;
    const value = variable.name === 'job' ? JOB : variable.allValue;
    if (value === undefined) throw new Error(`no value for $${variable.name}`);
    out = out.replaceAll(`$${variable.name}`, value);
  }
  if (out.includes('$')) throw new Error(`unsubstituted variable in ${out}`);
  return out;
}

const panelQuery = (title: string, refId = 'A'): string => {
  const target = panels.find((p) => p.title === title)?.targets?.find((t) => t.refId === refId);
  if (!target) throw new Error(`no panel "${title}" with query ${refId}`);
  return substitute(target.expr);
};

describe('the dashboard against a real Prometheus scraping a gateway', () => {
  it.each(panels.flatMap((p) => (p.targets ?? []).map((t): [string, string, string] => [p.title, t.refId, t.expr])))(
    'panel "%s" query %s returns a series',
    async (_title, _refId, expr) => {
      const result = await query(substitute(expr));
      expect(result.length).toBeGreaterThan(0);
    },
  );

  it('offers the job and the pod in its template variables (label_values, as Grafana asks the label values API)', async () => {
    const values: Record<string, string[]> = {};
    for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
      const text = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
      const [, selector, label] = /^label_values\((.+), (\w+)\)$/.exec(text) ?? [];
      if (!selector || !label) throw new Error(`$${variable.name}: not a label_values query: ${text}`);
      const res = await fetch(`${promUrl}/api/v1/label/${label}/values?${new URLSearchParams({ 'match[]': substitute(selector) })}`);
      values[variable.name] = ((await res.json()) as { data: string[] }).data;
    }
    expect(values).toEqual({ job: [JOB], instance: [new URL(gw.adminUrl).host] });
  });

  it('shows what the load did: logins by outcome, a lockout, a reuse, upstream errors, routes, backends up, the certificate', async () => {
    const by = async (title: string, label: string, refId = 'A'): Promise<Record<string, number>> =>
      Object.fromEntries((await query(panelQuery(title, refId))).map((s) => [s.metric[label] ?? '', Number(s.value[1])]));
    const logins = await by('Logins/s by outcome', 'outcome');
    expect(logins['success']).toBeGreaterThan(0);
    expect(logins['failure']).toBeGreaterThan(0);
    expect(logins['refused']).toBeGreaterThan(0);
    expect((await by('Lockouts', 'kind'))['user']).toBeGreaterThan(0);
    expect((await by('Refresh-token reuse detections', ''))['']).toBeGreaterThan(0);
    const errors = await query(panelQuery('Upstream errors/s'));
    expect(errors.map((s) => s.metric['outcome']).sort()).toEqual(['5xx', 'error']);
    expect(errors.every((s) => Number(s.value[1]) > 0)).toBe(true);
    const routes = await query(panelQuery('Resource requests/s by route and status'));
    expect(routes.map((s) => `${s.metric['route']} ${s.metric['status']}`).sort()).toEqual([
      '(default) 200',
      '(default) 401',
      '/boom 500',
      '/dead 502',
      '/public/** 200',
    ]);
    expect(await by('Validator up', 'validator')).toEqual({ local: 1 });
    expect(Object.values(await by('Token store up', ''))).toEqual([1]);
    const expiry = await by('TLS certificate expiry', 'file');
    expect(Object.keys(expiry)).toEqual([certificate.certFile]);
    // makeCertificate's certificates are valid for one day.
    expect(expiry[certificate.certFile]).toBeGreaterThan(0);
    expect(expiry[certificate.certFile]).toBeLessThanOrEqual(86400);
  });

  it('evaluates every alerting rule without error, and fires the alerts this load raises', async () => {
    type Rule = { name: string; health: string; lastError?: string };
    const rules = async (): Promise<Rule[]> =>
      ((await (await fetch(`${promUrl}/api/v1/rules?type=alert`)).json()) as { data: { groups: { rules: Rule[] }[] } }).data.groups.flatMap(
        (g) => g.rules,
      );
    await expect
      .poll(async () => (await rules()).filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`), {
        timeout: 20_000,
        interval: 200,
      })
      .toEqual([]);
    expect((await rules()).length).toBeGreaterThanOrEqual(10);

    // A reuse (no `for`) and a one-day certificate fire at once; one lockout is no spike; the backends are up.
    const firing = async (): Promise<string[]> => {
      const body = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as {
        data: { alerts: { labels: Record<string, string>; state: string }[] };
      };
      return body.data.alerts
        .filter((a) => a.state === 'firing')
        .map((a) => a.labels['alertname']!)
        .sort();
    };
    await expect
      .poll(firing, { timeout: 20_000, interval: 200 })
      .toEqual(['RopcGatewayCertificateExpiresSoon', 'RopcGatewayCertificateExpiresVerySoon', 'RopcGatewayRefreshTokenReuse']);
  });
});
