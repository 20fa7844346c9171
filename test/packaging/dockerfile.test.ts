/**
 * The Dockerfile (docs/deployment.md), read: its stages, the default bases (a supported
 * Node.js LTS) and the build arguments that replace them, non-root USER, production
 * dependencies only, ports, entrypoint and OCI labels, the .dockerignore — and the runtime
 * stage's recipe replayed here (`npm ci --omit=dev --ignore-scripts` + dist/ compiled apart),
 * which must start the gateway. .ci/image.sh builds the file for real with podman and runs
 * the image as the chart's pod.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { schema } from '../../src/config/schema.js';
import { sleep } from '../support/wait-for.js';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}
interface Stage {
  readonly from: string;
  readonly name: string;
  readonly instructions: readonly Instruction[];
}

const dockerfile = readFileSync('Dockerfile', 'utf8');
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string; license: string };

/** Instructions in order (continuation lines joined, comments dropped). */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (pending && line.startsWith('#')) continue;
    pending += pending ? ` ${line}` : line;
    if (pending.endsWith('\\')) {
      pending = pending.slice(0, -1).trimEnd();
      continue;
    }
    const [keyword, ...rest] = pending.split(/\s+/);
    out.push({ keyword: keyword!.toUpperCase(), args: rest.join(' ') });
    pending = '';
  }
  return out;
}

/** ARGs before the first FROM, with their defaults. */
const globalArgs = new Map<string, string>();
const stages: Stage[] = [];
for (const instruction of instructions(dockerfile)) {
  if (instruction.keyword === 'FROM') {
    const [image, as, name] = instruction.args.split(/\s+/);
    stages.push({ from: image!, name: as?.toUpperCase() === 'AS' ? name! : String(stages.length), instructions: [] });
  } else if (stages.length === 0) {
    if (instruction.keyword === 'ARG') {
      const [key, value = ''] = instruction.args.split('=');
      globalArgs.set(key!, value);
    }
  } else {
    (stages[stages.length - 1]!.instructions as Instruction[]).push(instruction);
  }
}
/** `text` with the global ARGs' defaults substituted (ARG defaults may use earlier ARGs). */
const expand = (text: string): string => {
  const once = text.replace(/\$\{(\w+)\}/g, (_, name: string) => globalArgs.get(name) ?? `\${${name}}`);
  return once === text ? text : expand(once);
};
const runtime = stages[stages.length - 1]!;
const all = (stage: Stage, keyword: string): string[] => stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const stageNamed = (name: string): Stage => {
  const stage = stages.find((s) => s.name === name);
  if (!stage) throw new Error(`no stage named ${name}`);
  return stage;
};

/** End of life of the Node.js LTS lines (nodejs.org release schedule). */
const NODE_LTS_END: Readonly<Record<number, string>> = { 20: '2026-04-30', 22: '2027-04-30', 24: '2028-04-30', 26: '2029-04-30' };

describe('Dockerfile', () => {
  it('is multi-stage: build with dev dependencies, production dependencies apart, a runtime stage', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
    const build = stageNamed('build');
    expect(all(build, 'RUN')).toContain('npm ci --ignore-scripts --no-audit --no-fund');
    expect(all(build, 'RUN')).toContain('npm run build');
    expect(all(stageNamed('deps'), 'RUN').join(' ')).toMatch(/^npm ci --omit=dev --ignore-scripts\b/);
  });

  it('runs on a distroless image of a Node.js LTS line that is still supported, like the build stages', () => {
    const major = Number(globalArgs.get('NODE_MAJOR'));
    expect(major % 2, 'an even major is an LTS line').toBe(0);
    const end = NODE_LTS_END[major];
    expect(end, `no end-of-life date known for Node.js ${major}; add it`).toBeDefined();
    expect(new Date(end!).getTime(), `Node.js ${major} is past its end of life (${end}): raise NODE_MAJOR`).toBeGreaterThan(Date.now());
    // By default; BUILD_IMAGE / RUNTIME_IMAGE substitute mirrors or CI's local bases (.ci/image.sh).
    expect(runtime.from).toBe('${RUNTIME_IMAGE}');
    expect(expand(runtime.from)).toBe(`gcr.io/distroless/nodejs${major}-debian12:nonroot`);
    for (const stage of stages.slice(0, -1)) {
      expect(stage.from).toBe('${BUILD_IMAGE}');
      expect(expand(stage.from)).toBe(`node:${major}-bookworm-slim`);
    }
  });

  it('takes only production dependencies and compiled code into the runtime stage', () => {
    const copies = all(runtime, 'COPY');
    expect(copies).toContain('--from=deps --chown=root:root /app/node_modules ./node_modules');
    expect(copies).toContain('--from=build --chown=root:root /src/dist ./dist');
    for (const copy of copies) {
      expect(copy).not.toMatch(/\bsrc\b(?!\/dist)|tsconfig|--from=build\S* \S*node_modules/);
    }
    expect(all(runtime, 'RUN')).toEqual([]);
  });

  it('runs as a non-root numeric user, the same the chart runs as', () => {
    const [user] = all(runtime, 'USER');
    expect(user).toBe('65532:65532');
    const values = parseYaml(readFileSync('helm/ropc-gateway/values.yaml', 'utf8')) as {
      podSecurityContext: { runAsUser: number; runAsGroup: number };
    };
    expect(`${values.podSecurityContext.runAsUser}:${values.podSecurityContext.runAsGroup}`).toBe(user);
  });

  it('exposes the default public and admin ports', () => {
    expect(all(runtime, 'EXPOSE')).toEqual([`${schema.server.port.default} ${schema.admin.port.default}`]);
  });

  it('starts the compiled gateway in production mode with the chart configuration path', () => {
    // The young generation a memory-limited container would shrink (docs/performance.md, "Memory").
    expect(JSON.parse(all(runtime, 'ENTRYPOINT')[0]!)).toEqual([
      '/nodejs/bin/node',
      '--max-semi-space-size=16',
      '/app/bin/ropc-gateway.js',
    ]);
    expect(JSON.parse(all(runtime, 'CMD')[0]!)).toEqual(['start', '--config', '/etc/ropc-gateway/gateway.yaml']);
    // `node` on PATH: the chart's preStop and helm test run `node -e`.
    expect(all(runtime, 'ENV').join(' ')).toMatch(/PATH=\/nodejs\/bin:/);
  });

  it('carries OCI labels matching package.json', () => {
    const labels = new Map<string, string>();
    for (const args of all(runtime, 'LABEL')) for (const [, key, value] of args.matchAll(/([\w.-]+)="([^"]*)"/g)) labels.set(key!, value!);
    const version = all(runtime, 'ARG')
      .find((a) => a.startsWith('VERSION='))
      ?.slice('VERSION='.length);
    expect(version).toBe(pkg.version);
    expect(labels.get('org.opencontainers.image.version')).toBe('${VERSION}');
    expect(labels.get('org.opencontainers.image.title')).toBe('ropc-gateway');
    expect(labels.get('org.opencontainers.image.licenses')).toBe(pkg.license);
    expect(labels.get('org.opencontainers.image.description')).toBeTruthy();
  });

  it('has the chart appVersion of the package version', () => {
    const chart = parseYaml(readFileSync('helm/ropc-gateway/Chart.yaml', 'utf8')) as { appVersion: string };
    expect(chart.appVersion).toBe(pkg.version);
  });
});

describe('.dockerignore', () => {
  const patterns = readFileSync('.dockerignore', 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  /** Docker's rule: the last matching pattern wins; `!` re-includes. (`*`, `**` and plain paths suffice here.) */
  const included = (path: string): boolean => {
    let keep = true;
    for (const pattern of patterns) {
      const negated = pattern.startsWith('!');
      const glob = negated ? pattern.slice(1) : pattern;
      const regex = new RegExp(
        `^${glob
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*\*/g, '\0')
          .replace(/\*/g, '[^/]*')
          .replace(/\0/g, '.*')}$`,
      );
      // A pattern that matches a folder matches everything in it.
      const segments = path.split('/');
      if (segments.some((_, i) => regex.test(segments.slice(0, i + 1).join('/')))) keep = negated;
    }
    return keep;
  };

  it('sends what the Dockerfile copies and nothing else', () => {
    for (const path of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'src/main.ts',
      'src/config/schema.ts',
      'bin/ropc-gateway.js',
      'config/dev/users.yaml',
    ]) {
      expect(included(path), path).toBe(true);
    }
    for (const path of [
      'node_modules/ioredis/package.json',
      'dist/main.js',
      '.git/HEAD',
      '.tmp/helm/v4.1.4/helm',
      'test/unit/config.test.ts',
      'helm/ropc-gateway/values.yaml',
      'README.md',
    ]) {
      expect(included(path), path).toBe(false);
    }
  });
});

describe('the runtime stage, replayed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ropc-image-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts the gateway from production dependencies and compiled code alone', async () => {
    const run = (file: string, args: string[], options: { cwd?: string; timeout: number }) =>
      promisify(execFile)(file, args, options).catch((err: { message: string; stdout?: string; stderr?: string }) => {
        throw new Error(`${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
      });
    // deps stage
    for (const file of ['package.json', 'package-lock.json']) cpSync(file, join(dir, file));
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: dir,
      timeout: 180_000,
    });
    // Nothing the lock file marks dev-only (typescript, vitest, …) is there.
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages)
      .filter(([path, entry]) => path && entry.dev)
      .map(([path]) => path);
    expect(devOnly).toEqual(expect.arrayContaining(['node_modules/typescript', 'node_modules/vitest']));
    for (const path of devOnly) expect(existsSync(join(dir, path)), path).toBe(false);
    // build stage: compile apart, as the Dockerfile does
    await run(
      process.execPath,
      ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist'), '--sourceMap', 'false'],
      { timeout: 180_000 },
    );
    cpSync('bin', join(dir, 'bin'), { recursive: true });
    cpSync('config', join(dir, 'config'), { recursive: true });

    const config = join(dir, 'gateway.yaml');
    writeFileSync(
      config,
      [
        'server: { host: 127.0.0.1, port: 0, drainSeconds: 0 }',
        'admin: { host: 127.0.0.1, port: 0 }',
        'store: { type: memory }',
        'upstream: { url: "http://127.0.0.1:9" }',
        'clients: [{ id: app, public: true, scopes: [read] }]',
        `validators: [{ name: local, type: file, path: ${join(dir, 'users.yaml')} }]`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'users.yaml'), 'users: []\n');
    const child = spawn(process.execPath, [join(dir, 'bin/ropc-gateway.js'), 'start', '--config', config], {
      cwd: dir,
      env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const deadline = Date.now() + 20_000;
      while (!output.includes('ropc-gateway listening') && child.exitCode === null && Date.now() < deadline) await sleep(50);
      expect(output).toContain('ropc-gateway listening');
      const { adminPort } = JSON.parse(output.split('\n').find((l) => l.includes('ropc-gateway listening'))!) as { adminPort: number };
      expect((await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status).toBe(200);
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    expect(output).toContain('stopped');
  }, 240_000);
});
