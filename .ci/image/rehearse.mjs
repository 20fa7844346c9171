#!/usr/bin/env node
// Runs the built image the way Kubernetes runs the chart's pod, under podman (.ci/image.sh):
//
//   node .ci/image/rehearse.mjs plain|standalone|sidecar IMAGE APP_IMAGE
//
// plain       a hand-written configuration: read-only root, user 65532, a tmpfs /tmp, the
//             config and the users file mounted as files, secrets as 0440 files of group 65532.
// standalone  the Helm chart rendered (helm template) and the gateway container of its
//             Deployment run with exactly its settings: image, command/args, env, ports,
//             securityContext (pod and container), volume mounts filled from the rendered
//             ConfigMap and Secret, emptyDir tmpfs, memory limit, probes, preStop, grace period.
// sidecar     the same with sidecar.enabled: the app container of the Deployment (APP_IMAGE, a
//             node one-liner HTTP server) beside the gateway in one network namespace; only
//             the gateway's port answers from the pod's address, unauthenticated with 401.
//             Both also run the chart's `helm test` Pod against the rehearsed gateway.
// breaks      standalone with the rendered manifests broken on purpose (a wrong mount path, a
//             secret the user cannot read, no fsGroup, a probe on the wrong port, a config key
//             the gateway refuses): each must fail for that reason, or the rehearsal proves nothing.
//
// Redis (own redis-server, password from the Secret) and the standalone upstream run outside
// the containers on free ports, on the host network. Every step either passes or throws; the
// containers, Redis and temp dirs are removed in any case.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

// The chart mistakes the rehearsal must catch: each breaks the rendered manifests the way a
// faulty template would, and `rehearse.mjs breaks` checks that every one of them fails.
const BREAKS = {
  'secret-mount-path': [/cannot read \/secrets\/\S+: ENOENT/, (m) => (mount(m, 'ropc-gateway-secrets').mountPath = '/secret')],
  'secret-unreadable': [/cannot read \/secrets\/\S+: EACCES/, (m) => (volume(m, 'ropc-gateway-secrets').secret.defaultMode = 0o400)],
  'no-fsgroup': [/cannot read \/secrets\/\S+: EACCES/, (m) => delete m.find((x) => x.kind === 'Deployment').spec.template.spec.securityContext.fsGroup],
  'probe-port': [/did not answer within \d+s \(last: 401/, (m) => (gatewayOf(m).startupProbe.httpGet.port = 'http')],
  'admin-container-port': [/did not answer within \d+s \(last: ECONNREFUSED/, (m) => (gatewayOf(m).ports.find((p) => p.name === 'admin').containerPort += 1)],
  'config-key': [/noSuchKey/, (m) => {
    const cm = m.find((x) => x.kind === 'ConfigMap');
    cm.data['gateway.yaml'] = cm.data['gateway.yaml'].replace(/^server:\n/m, 'server:\n  noSuchKey: 1\n');
  }],
};
const gatewayOf = (m) => m.find((x) => x.kind === 'Deployment').spec.template.spec.containers.find((c) => c.name === 'ropc-gateway');
const mount = (m, name) => gatewayOf(m).volumeMounts.find((x) => x.name === name);
const volume = (m, name) => m.find((x) => x.kind === 'Deployment').spec.template.spec.volumes.find((v) => v.name === name);

const [mode, image, appImage, breakArg] = process.argv.slice(2);
const broken = breakArg?.replace(/^--break=/, '');
if (!['plain', 'standalone', 'sidecar', 'breaks'].includes(mode) || !image || !appImage || (broken && !BREAKS[broken])) {
  console.error(`usage: rehearse.mjs plain|standalone|sidecar|breaks IMAGE APP_IMAGE [--break=${Object.keys(BREAKS).join('|')}]`);
  process.exit(2);
}
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CHART = join(root, 'helm/ropc-gateway');
const tag = `ropc-ci-${mode}-${process.pid}`;
const work = mkdtempSync(join(tmpdir(), `${tag}-`));
chmodSync(work, 0o755);
const cleanups = [];
const log = (message) => console.log(`[${mode}] ${message}`);

const CLIENT = { id: 'ci-client', secret: 'ci-client-secret-3f9a' };
const USER = { name: 'ci-user', password: 'ci-user-pw-77b1' };
const REDIS_PASSWORD = 'ci-redis-pw-1c2d';

// ---- helpers --------------------------------------------------------------------------------

function podman(args, options = {}) {
  const run = spawnSync('podman', ['--runtime', 'runc', ...args], { encoding: 'utf8', ...options });
  if (run.error) throw run.error;
  if (run.status !== 0 && !options.allowFailure) throw new Error(`podman ${args.join(' ')} failed (${run.status}): ${run.stderr.trim()}`);
  return run;
}

async function freePort() {
  const server = createNetServer();
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address();
  await new Promise((res) => server.close(res));
  return port;
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

/** The pod's address as the kubelet and the Service reach it: a non-loopback IPv4 of this host. */
function podAddress() {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

async function request(url, { method = 'GET', headers = {}, body } = {}) {
  const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

async function startRedis() {
  const port = await freePort();
  const dir = join(work, 'redis');
  mkdirSync(dir);
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--requirepass', REDIS_PASSWORD], { stdio: 'ignore' });
  cleanups.push(() => child.kill('SIGKILL'));
  for (let i = 0; i < 100; i++) {
    const ping = spawnSync('redis-cli', ['-p', String(port), '-a', REDIS_PASSWORD, '--no-auth-warning', 'ping'], { encoding: 'utf8' });
    if (ping.stdout.trim() === 'PONG') return port;
    await sleep(100);
  }
  throw new Error('redis-server did not start');
}

/** An upstream that answers with what it received, as JSON. */
async function startUpstream() {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ upstream: 'host', method: req.method, url: req.url, headers: req.headers }));
  });
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  cleanups.push(() => server.close());
  return server.address().port;
}

/** An argon2id hash made by the image's own CLI (`hash-secret`, secret on stdin). */
function hashWithImage(secret) {
  const run = podman(['run', '--rm', '-i', '--network', 'none', '--read-only', image, 'hash-secret'], { input: secret });
  const hash = run.stdout.trim();
  expect(hash.startsWith('$argon2id$'), `hash-secret printed ${hash}`);
  return hash;
}

function usersFile(hash) {
  return `users:\n  - username: ${USER.name}\n    passwordHash: "${hash}"\n    groups: [ci]\n`;
}

/** A file as Kubernetes projects a ConfigMap or Secret key: root-owned, group fsGroup, `mode`. */
function projectFile(dir, name, content, mode, gid) {
  const file = join(dir, name);
  writeFileSync(file, content);
  chownSync(file, 0, gid ?? 0);
  chmodSync(file, mode);
}

function containerLogs(name) {
  const run = podman(['logs', name], { allowFailure: true });
  return `${run.stdout}${run.stderr}`.trim().split('\n').slice(-30).join('\n');
}

function startContainer(name, args) {
  podman(['run', '-d', '--name', name, ...args]);
  cleanups.push(() => podman(['rm', '-f', '-t', '0', name], { allowFailure: true }));
}

function running(name) {
  return podman(['inspect', '--format', '{{.State.Running}}', name], { allowFailure: true }).stdout.trim() === 'true';
}

/** Polls an httpGet probe until it answers 2xx/3xx, like a startup probe; throws after `seconds`. */
async function waitForProbe(name, url, seconds) {
  const deadline = Date.now() + seconds * 1000;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!running(name)) throw new Error(`${name} exited before ${url} answered:\n${containerLogs(name)}`);
    try {
      const res = await request(url);
      if (res.status >= 200 && res.status < 400) return;
      last = `${res.status} ${res.text.slice(0, 200)}`;
    } catch (err) {
      last = String(err.cause?.code ?? err.message);
    }
    await sleep(250);
  }
  throw new Error(`${url} did not answer within ${seconds}s (last: ${last}):\n${containerLogs(name)}`);
}

// ---- the OAuth round trip and the drain -----------------------------------------------------

async function roundTrip(base, { expectUpstream }) {
  const basic = `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`;
  const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: basic };
  const unauthenticated = await request(`${base}/orders/1`);
  expect(unauthenticated.status === 401, `a call without a token answered ${unauthenticated.status}, not 401`);
  expect(/^Bearer/.test(unauthenticated.headers.get('www-authenticate') ?? ''), 'the 401 has no WWW-Authenticate: Bearer');

  const token = await request(`${base}/as/token.oauth2`, { method: 'POST', headers: form, body: new URLSearchParams({ grant_type: 'password', username: USER.name, password: USER.password, scope: 'read' }).toString() });
  expect(token.status === 200, `the password grant answered ${token.status}: ${token.text}`);
  const { access_token: accessToken, refresh_token: refreshToken, token_type: tokenType } = token.json();
  expect(tokenType === 'Bearer' && accessToken && refreshToken, `unexpected token answer ${token.text}`);
  log('password grant: 200, access and refresh token');

  const proxied = await request(`${base}/orders/1`, { headers: { authorization: `Bearer ${accessToken}`, 'x-auth-subject': 'mallory' } });
  expect(proxied.status === 200, `the proxied call answered ${proxied.status}: ${proxied.text}`);
  const seen = proxied.json();
  expect(seen.upstream === expectUpstream, `the call reached ${seen.upstream}, not ${expectUpstream}`);
  expect(seen.headers['x-auth-subject'] === USER.name, `the upstream saw X-Auth-Subject ${seen.headers['x-auth-subject']}`);
  expect(!seen.headers.authorization, 'the upstream saw the Authorization header');
  log(`proxied call: 200 from the ${expectUpstream} upstream, X-Auth-Subject ${USER.name}, no Authorization`);

  const refreshed = await request(`${base}/as/token.oauth2`, { method: 'POST', headers: form, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString() });
  expect(refreshed.status === 200, `the refresh grant answered ${refreshed.status}: ${refreshed.text}`);
  log('refresh grant: 200');
  return { accessToken: refreshed.json().access_token };
}

/**
 * SIGTERM as the kubelet sends it (after preStop): /readyz 503 at once, requests still served
 * during drainSeconds, exit 0 before the grace period ends.
 */
async function drain(name, { admin, base, accessToken, graceSeconds, preStop }) {
  if (preStop) {
    const started = Date.now();
    podman(['exec', name, ...preStop]);
    log(`preStop ${JSON.stringify(preStop)}: exit 0 after ${((Date.now() - started) / 1000).toFixed(1)}s`);
  }
  const started = Date.now();
  const stop = spawn('podman', ['--runtime', 'runc', 'stop', '-t', String(graceSeconds), name], { stdio: 'ignore' });
  const stopped = new Promise((res) => stop.on('exit', res));
  let ready = 200;
  for (let i = 0; i < 40 && ready === 200; i++) {
    ready = (await request(`${admin}/readyz`).catch(() => ({ status: 0 }))).status;
    if (ready === 200) await sleep(50);
  }
  expect(ready === 503, `/readyz answered ${ready} after SIGTERM, not 503`);
  const during = await request(`${base}/orders/1`, { headers: { authorization: `Bearer ${accessToken}` } });
  expect(during.status === 200, `a request during the drain answered ${during.status}`);
  log('SIGTERM: /readyz 503 at once, requests still served while draining');
  await stopped;
  const seconds = (Date.now() - started) / 1000;
  const exit = podman(['inspect', '--format', '{{.State.ExitCode}}', name]).stdout.trim();
  expect(exit === '0', `the gateway exited ${exit} on SIGTERM (not 0):\n${containerLogs(name)}`);
  expect(seconds < graceSeconds, `the gateway took ${seconds}s, not under the grace period of ${graceSeconds}s`);
  expect(containerLogs(name).includes('"stopped"'), 'no "stopped" log line');
  log(`exit 0 after ${seconds.toFixed(1)}s (grace period ${graceSeconds}s)`);
}

// ---- plain: the image run by hand, as docs/deployment.md shows --------------------------------

async function plain() {
  const [redisPort, upstreamPort, port, adminPort] = [await startRedis(), await startUpstream(), await freePort(), await freePort()];
  const etc = join(work, 'etc');
  const secrets = join(work, 'secrets');
  mkdirSync(etc, { mode: 0o755 });
  mkdirSync(secrets, { mode: 0o755 });
  projectFile(etc, 'gateway.yaml', [
    `server: { host: 0.0.0.0, port: ${port}, drainSeconds: 2, shutdownTimeoutSeconds: 5 }`,
    `admin: { host: 0.0.0.0, port: ${adminPort} }`,
    `store: { type: redis, redis: { url: "redis://127.0.0.1:${redisPort}/0", passwordFile: /secrets/redis-password } }`,
    `upstream: { url: "http://127.0.0.1:${upstreamPort}" }`,
    `clients: [{ id: ${CLIENT.id}, secretFile: /secrets/client-secret, scopes: [read], defaultScopes: [read] }]`,
    'validators: [{ name: local, type: file, path: users.yaml }]',
    'routes: [{ path: /**, scopes: [read] }]',
    '',
  ].join('\n'), 0o644);
  projectFile(etc, 'users.yaml', usersFile(hashWithImage(USER.password)), 0o644);
  projectFile(secrets, 'client-secret', `${CLIENT.secret}\n`, 0o440, 65532);
  projectFile(secrets, 'redis-password', REDIS_PASSWORD, 0o440, 65532);

  const name = `${tag}-gateway`;
  startContainer(name, [
    '--network', 'host', '--read-only', '--read-only-tmpfs=false', '--tmpfs', '/tmp:rw,size=16m,mode=1777',
    '--user', '65532:65532', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
    '-v', `${join(etc, 'gateway.yaml')}:/etc/ropc-gateway/gateway.yaml:ro`,
    '-v', `${join(etc, 'users.yaml')}:/etc/ropc-gateway/users.yaml:ro`,
    '-v', `${secrets}:/secrets:ro`,
    image,
  ]);
  const admin = `http://127.0.0.1:${adminPort}`;
  await waitForProbe(name, `${admin}/healthz`, 30);
  await waitForProbe(name, `${admin}/readyz`, 10);
  log('/healthz and /readyz: 200');
  // Only /tmp is writable.
  const write = podman(['exec', name, 'node', '-e', 'for (const d of ["/tmp", "/app", "/etc", "/home/nonroot"]) { try { require("fs").writeFileSync(d + "/probe", "x"); console.log(d) } catch {} }']);
  expect(write.stdout.trim() === '/tmp', `writable besides /tmp: ${write.stdout.trim()}`);
  const id = podman(['exec', name, 'node', '-e', 'console.log(process.getuid() + ":" + process.getgid() + " pid " + process.pid)']).stdout.trim();
  const pid1 = podman(['exec', name, 'node', '-e', 'console.log(require("fs").readFileSync("/proc/1/cmdline", "utf8").split("\\0").join(" ").trim())']).stdout.trim();
  expect(id.startsWith('65532:65532'), `runs as ${id}`);
  expect(pid1.startsWith('/nodejs/bin/node --max-semi-space-size=16 /app/bin/ropc-gateway.js start'), `PID 1 is ${pid1}`);
  log(`user 65532:65532, only /tmp writable, PID 1: ${pid1}`);
  const { accessToken } = await roundTrip(`http://127.0.0.1:${port}`, { expectUpstream: 'host' });
  await drain(name, { admin, base: `http://127.0.0.1:${port}`, accessToken, graceSeconds: 15 });
}

// ---- the chart's pod ------------------------------------------------------------------------

function helmBinary() {
  return execFileSync(process.execPath, [join(root, 'scripts/get-helm.mjs')], { encoding: 'utf8' }).trim();
}

function render(values) {
  const file = join(work, 'values.json');
  writeFileSync(file, JSON.stringify(values, null, 2));
  const home = join(work, 'helm-home');
  const out = spawnSync(helmBinary(), ['template', 'rel', CHART, '--namespace', 'apps', '-f', file], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: home, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data') },
  });
  if (out.status !== 0) throw new Error(`helm template failed: ${out.stderr}`);
  // Kubernetes reads manifests as YAML 1.1 (so `defaultMode: 0440` is octal).
  return parseAllDocuments(out.stdout, { version: '1.1' }).map((d) => d.toJS()).filter(Boolean);
}

function one(manifests, kind) {
  const found = manifests.filter((m) => m.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind} in the rendered chart, found ${found.length}`);
  return found[0];
}

const quantityBytes = (q) => {
  const m = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(String(q));
  if (!m) throw new Error(`unsupported quantity ${q}`);
  return Number(m[1]) * ({ Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 }[m[2]] ?? 1);
};

/** `podman run` arguments that reproduce one container of a pod spec (what this harness supports, or a throw). */
function podmanArgs(pod, container, manifests) {
  const args = ['--network', 'host'];
  const sc = { ...pod.securityContext, ...container.securityContext };
  if (sc.runAsUser !== undefined) args.push('--user', `${sc.runAsUser}:${sc.runAsGroup ?? 0}`);
  if (sc.runAsNonRoot) expect(sc.runAsUser !== undefined && sc.runAsUser !== 0, `${container.name}: runAsNonRoot without a non-zero runAsUser`);
  if (pod.securityContext?.fsGroup !== undefined) args.push('--group-add', String(pod.securityContext.fsGroup));
  if (sc.readOnlyRootFilesystem) args.push('--read-only', '--read-only-tmpfs=false');
  if (sc.allowPrivilegeEscalation === false) args.push('--security-opt', 'no-new-privileges');
  for (const cap of sc.capabilities?.drop ?? []) args.push('--cap-drop', cap);
  for (const cap of sc.capabilities?.add ?? []) args.push('--cap-add', cap);
  if (container.resources?.limits?.memory) args.push('--memory', String(quantityBytes(container.resources.limits.memory)));
  for (const env of container.env ?? []) {
    expect(env.value !== undefined, `${container.name}: env ${env.name} uses valueFrom, which this rehearsal does not support`);
    args.push('--env', `${env.name}=${env.value}`);
  }
  expect(!(container.envFrom ?? []).length, `${container.name}: envFrom is not supported by this rehearsal`);
  const fsGroup = pod.securityContext?.fsGroup;
  for (const mount of container.volumeMounts ?? []) {
    const volume = (pod.volumes ?? []).find((v) => v.name === mount.name);
    expect(volume, `${container.name}: volumeMount ${mount.name} has no volume`);
    const ro = mount.readOnly ? ':ro' : '';
    if (volume.emptyDir) {
      const size = volume.emptyDir.sizeLimit ? `,size=${quantityBytes(volume.emptyDir.sizeLimit)}` : '';
      expect(volume.emptyDir.medium === 'Memory', `${mount.name}: only emptyDir medium Memory is rehearsed`);
      args.push('--tmpfs', `${mount.mountPath}:rw${size},mode=1777`);
      continue;
    }
    const dir = join(work, `volume-${container.name}-${mount.name}`);
    mkdirSync(dir, { mode: 0o755 });
    if (volume.configMap) {
      const cm = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === volume.configMap.name);
      expect(cm, `${mount.name}: the chart renders no ConfigMap ${volume.configMap.name}`);
      for (const [key, value] of Object.entries(cm.data ?? {})) projectFile(dir, key, value, volume.configMap.defaultMode ?? 0o644, fsGroup);
    } else if (volume.secret) {
      const secret = manifests.find((m) => m.kind === 'Secret' && m.metadata.name === volume.secret.secretName);
      expect(secret, `${mount.name}: the chart renders no Secret ${volume.secret.secretName}`);
      const data = { ...Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()])), ...secret.stringData };
      for (const [key, value] of Object.entries(data)) projectFile(dir, key, value, volume.secret.defaultMode ?? 0o644, fsGroup);
    } else {
      throw new Error(`${mount.name}: volume type ${Object.keys(volume).join(',')} is not rehearsed`);
    }
    expect(!mount.subPath, `${mount.name}: subPath is not rehearsed`);
    args.push('-v', `${dir}:${mount.mountPath}${ro}`);
  }
  if (container.command) args.push('--entrypoint', JSON.stringify(container.command));
  args.push(container.image, ...(container.args ?? []));
  return args;
}

/** The probe's URL at the pod's address (the port resolved by name, as the kubelet does). */
function probeUrl(container, probe, address) {
  const { path, port } = probe.httpGet;
  const number = typeof port === 'number' ? port : container.ports.find((p) => p.name === port)?.containerPort;
  expect(number, `${container.name}: probe port ${port} is not a port of the container`);
  return `http://${address}:${number}${path}`;
}

/**
 * `helm test`: the chart's test Pod run like the gateway, its Service URL sent where the
 * Service would send it (the one substitution: this rehearsal has no cluster DNS or kube-proxy).
 */
async function helmTest(manifests, services, resolvePort, address) {
  const testPod = manifests.find((m) => m.kind === 'Pod' && m.metadata.annotations?.['helm.sh/hook'] === 'test');
  expect(testPod, 'the chart renders no helm test Pod');
  const [container] = testPod.spec.containers;
  const env = (container.env ?? []).map((e) => {
    const m = /^http:\/\/([\w.-]+):(\d+)$/.exec(e.value ?? '');
    const service = m && services.find((s) => s.metadata.name === m[1]);
    const port = service?.spec.ports.find((p) => p.port === Number(m[2]));
    if (!m || !service) return e;
    expect(port, `${e.name}: Service ${m[1]} has no port ${m[2]}`);
    return { ...e, value: `http://${address}:${resolvePort(port.targetPort)}` };
  });
  const name = `${tag}-helm-test`;
  cleanups.push(() => podman(['rm', '-f', '-t', '0', name], { allowFailure: true }));
  // Asynchronously: the standalone upstream answers from this process.
  const child = spawn('podman', ['--runtime', 'runc', 'run', '--name', name, ...podmanArgs(testPod.spec, { ...container, env }, manifests)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const run = { stdout: '', stderr: '' };
  child.stdout.on('data', (c) => (run.stdout += c));
  child.stderr.on('data', (c) => (run.stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  run.status = await new Promise((res) => child.on('exit', (code) => res(code)));
  clearTimeout(timer);
  expect(run.status === 0, `the helm test Pod failed (${run.status}):\n${run.stdout}${run.stderr}`);
  log(`helm test Pod: exit 0 (${run.stdout.trim().split('\n').pop()})`);
}

async function chart(sidecar) {
  const [redisPort, port, adminPort] = [await startRedis(), await freePort(), await freePort()];
  const appPort = sidecar ? await freePort() : undefined;
  const upstreamPort = sidecar ? undefined : await startUpstream();
  const [repository, imageTag] = [image.slice(0, image.lastIndexOf(':')), image.slice(image.lastIndexOf(':') + 1)];
  const values = {
    image: { repository, tag: imageTag, pullPolicy: 'Never' },
    replicaCount: 1,
    preStopSleepSeconds: 1,
    probes: { startup: { periodSeconds: 1, failureThreshold: 15 } },
    terminationGracePeriodSeconds: 15,
    config: {
      server: { port, drainSeconds: 2, shutdownTimeoutSeconds: 5 },
      admin: { port: adminPort },
      store: { type: 'redis', redis: { url: `redis://127.0.0.1:${redisPort}/0`, passwordFile: '/secrets/redis-password' } },
      ...(sidecar ? {} : { upstream: { url: `http://127.0.0.1:${upstreamPort}` } }),
      clients: [{ id: CLIENT.id, secretFile: '/secrets/client-secret', scopes: ['read'], defaultScopes: ['read'] }],
      validators: [{ name: 'local', type: 'file', path: 'users.yaml' }],
      routes: [{ path: '/health', auth: 'none' }, { path: '/**', scopes: ['read'] }],
    },
    files: { 'users.yaml': usersFile(hashWithImage(USER.password)) },
    secrets: { data: { 'redis-password': REDIS_PASSWORD, 'client-secret': CLIENT.secret, 'user-password': USER.password } },
    tests: { enabled: true, clientId: CLIENT.id, clientSecretKey: 'client-secret', username: USER.name, passwordKey: 'user-password', scope: 'read', path: '/orders/1', expectStatus: 200 },
    serviceMonitor: { enabled: true },
    networkPolicy: { adminFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
    ...(sidecar
      ? {
          sidecar: { enabled: true },
          app: {
            name: 'app',
            image: { repository: appImage.slice(0, appImage.lastIndexOf(':')), tag: appImage.slice(appImage.lastIndexOf(':') + 1), pullPolicy: 'Never' },
            port: appPort,
            command: ['/nodejs/bin/node', '-e', `require("http").createServer((q, s) => { s.setHeader("content-type", "application/json"); s.end(JSON.stringify({ upstream: "app", url: q.url, headers: q.headers })); }).listen(${appPort}, "127.0.0.1")`],
            readinessProbe: { tcpSocket: { port: 'app' } },
          },
        }
      : {}),
  };
  const manifests = render(values);
  if (broken) BREAKS[broken][1](manifests);
  const deployment = one(manifests, 'Deployment');
  const pod = deployment.spec.template.spec;
  const gateway = pod.containers.find((c) => c.name === 'ropc-gateway');
  expect(gateway, 'the Deployment has no ropc-gateway container');
  expect(gateway.image === image, `the chart renders image ${gateway.image}, not ${image}`);
  const address = podAddress() ?? '127.0.0.1';

  const names = [];
  if (sidecar) {
    const app = pod.containers.find((c) => c.name === 'app');
    expect(app, 'the sidecar Deployment has no app container');
    const name = `${tag}-app`;
    startContainer(name, podmanArgs(pod, app, manifests));
    names.push(name);
    // A tcpSocket readiness probe from inside the pod's network (the app binds 127.0.0.1).
    const deadline = Date.now() + 20_000;
    while (!(await request(`http://127.0.0.1:${appPort}/`).then(() => true, () => false))) {
      expect(Date.now() < deadline && running(name), `the app did not start:\n${containerLogs(name)}`);
      await sleep(200);
    }
    log(`app container up on 127.0.0.1:${appPort}, user ${app.securityContext?.runAsUser ?? pod.securityContext?.runAsUser}`);
  }
  const name = `${tag}-gateway`;
  startContainer(name, podmanArgs(pod, gateway, manifests));
  names.push(name);
  const startup = gateway.startupProbe;
  await waitForProbe(name, probeUrl(gateway, startup, address), startup.periodSeconds * startup.failureThreshold);
  await waitForProbe(name, probeUrl(gateway, gateway.livenessProbe, address), gateway.livenessProbe.timeoutSeconds * gateway.livenessProbe.failureThreshold);
  await waitForProbe(name, probeUrl(gateway, gateway.readinessProbe, address), gateway.readinessProbe.periodSeconds * gateway.readinessProbe.failureThreshold);
  log(`startup, liveness and readiness probes: 200 at ${address} (${probeUrl(gateway, gateway.readinessProbe, address)})`);

  // The Services: the client Service targets only the gateway's public port; metrics have their own.
  const services = manifests.filter((m) => m.kind === 'Service');
  const resolvePort = (target) => (typeof target === 'number' ? target : pod.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === target)?.containerPort);
  const gatewayPorts = new Set(gateway.ports.map((p) => p.containerPort));
  for (const service of services) {
    for (const p of service.spec.ports) expect(gatewayPorts.has(resolvePort(p.targetPort)), `Service ${service.metadata.name} targets port ${p.targetPort}, not one of the gateway's`);
  }
  const client = services.find((s) => s.metadata.name === deployment.metadata.name);
  expect(client && client.spec.ports.every((p) => resolvePort(p.targetPort) === port), `the client Service exposes more than the public port: ${JSON.stringify(client?.spec.ports)}`);
  const monitor = manifests.find((m) => m.kind === 'ServiceMonitor');
  if (monitor) {
    const selected = services.filter((s) => Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v));
    expect(selected.length === 1 && selected[0] !== client, `the ServiceMonitor selects ${selected.map((s) => s.metadata.name).join(', ') || 'no Service'}, not the metrics Service alone`);
    const endpoint = monitor.spec.endpoints[0];
    const servicePort = selected[0].spec.ports.find((p) => p.name === endpoint.port);
    const metrics = await request(`http://${address}:${resolvePort(servicePort.targetPort)}${endpoint.path}`);
    expect(metrics.status === 200 && metrics.text.includes('# HELP'), `the ServiceMonitor's endpoint answered ${metrics.status}`);
    log(`ServiceMonitor scrapes ${selected[0].metadata.name}:${endpoint.port}${endpoint.path} (200); the client Service has the public port only`);
  }

  const base = `http://${address}:${port}`;
  if (sidecar) {
    // From outside the pod (its address), the app's port must not answer; the gateway's does, with 401.
    const direct = await request(`http://${address}:${appPort}/orders/1`).then((r) => `HTTP ${r.status}`, (err) => String(err.cause?.code ?? err.message));
    expect(!direct.startsWith('HTTP'), `the app answered at the pod's address without the gateway (${direct})`);
    log(`the app's port at ${address}: ${direct}; the gateway's port answers unauthenticated calls with 401 (below)`);
    const open = await request(`${base}/health`);
    expect(open.status === 200 && JSON.parse(open.text).upstream === 'app', `the auth: none route answered ${open.status}`);
  }
  const { accessToken } = await roundTrip(base, { expectUpstream: sidecar ? 'app' : 'host' });
  await helmTest(manifests, services, resolvePort, address);
  await drain(name, { admin: `http://${address}:${adminPort}`, base, accessToken, graceSeconds: pod.terminationGracePeriodSeconds, preStop: gateway.lifecycle?.preStop?.exec?.command });
}

// ---- main -----------------------------------------------------------------------------------

/** Every BREAKS entry, each in a process of its own: the rehearsal must fail on each. */
function breaks() {
  for (const name of Object.keys(BREAKS)) {
    const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'standalone', image, appImage, `--break=${name}`], { encoding: 'utf8' });
    const [pattern] = BREAKS[name];
    const failure = run.stderr.slice(run.stderr.indexOf('FAILED'));
    expect(run.status !== 0 && run.stderr.includes('FAILED'), `the rehearsal passed with the chart broken (${name}):\n${run.stdout}`);
    expect(pattern.test(failure), `the rehearsal failed with the chart broken (${name}), but not for that reason:\n${failure}`);
    log(`${name}: caught (${pattern.exec(failure)[0]})`);
  }
}

try {
  if (mode === 'plain') await plain();
  else if (mode === 'breaks') breaks();
  else await chart(mode === 'sidecar');
  log(broken ? `passed with --break=${broken}` : 'passed');
} catch (err) {
  console.error(`[${mode}] FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup();
    } catch {
      // best effort
    }
  }
  rmSync(work, { recursive: true, force: true });
}
