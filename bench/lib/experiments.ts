/**
 * Experiments: measured variants of the gateway for proposed hot-path changes, made by
 * patching a COPY of dist/ (under .tmp/bench-exp/), never src/ or dist/ themselves. A case id
 * `gw-cache~batched-log+no-redact` runs that gateway with those patches. A patch whose
 * text is no longer in dist/ (the change landed, or the code moved) makes the experiment
 * "stale": it is skipped with that reason.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Patch {
  /** Path under dist/. */
  readonly file: string;
  readonly find: string;
  readonly replace: string;
}

export interface Experiment {
  readonly id: string;
  /** One line for --help. */
  readonly title: string;
  /** The source change it stands for (what to apply in src/ if it pays). */
  readonly proposal: string;
  readonly patches: readonly Patch[];
}

export const EXPERIMENTS: readonly Experiment[] = [
  {
    id: 'batched-log',
    title: 'log lines written 4 KiB at a time (pino.destination minLength), flushed every second',
    proposal:
      'src/observability/logger.ts: write log lines through pino.destination({ dest: 1, sync: false, minLength: 4096 }) flushed every second, so many lines share one write(2) (today: about one write per request under load).',
    patches: [
      {
        file: 'observability/logger.js',
        find: '    }, destination);\n}',
        replace:
          '    }, destination ?? batchedStdout());\n}\nfunction batchedStdout() {\n    const dest = pino.destination({ dest: 1, sync: false, minLength: 4096 });\n    setInterval(() => dest.flush(), 1000).unref();\n    return dest;\n}',
      },
    ],
  },
  {
    id: 'no-redact',
    title: 'no pino redaction at all (measurement only)',
    proposal: 'measures what pino redaction costs on the completion line (not a proposal by itself: see docs/performance.md).',
    patches: [{ file: 'observability/logger.js', find: "        redact: { paths: REDACT_PATHS, censor: '[redacted]' },\n", replace: '' }],
  },
  {
    id: 'no-wildcard-redact',
    title: "redaction without the wildcard-first '*.…' paths",
    proposal:
      "src/observability/logger.ts: drop the wildcard-first redact paths ('*.password', '*.token', …). With one of them, pino runs @pinojs/redact on EVERY value of EVERY line (strings and numbers included), re-parsing all paths each time; literal paths ('password', 'headers.authorization', …) only touch their own keys.",
    patches: [
      {
        file: 'observability/logger.js',
        find: "    '*.password',\n    '*.client_secret',\n    '*.secret',\n    '*.token',\n    '*.access_token',\n    '*.refresh_token',\n    '*.authorization',\n",
        replace: '',
      },
    ],
  },
  {
    id: 'redis-autopipeline',
    title: 'ioredis enableAutoPipelining (measured: no gain here)',
    proposal:
      'src/tokens/redis-connection.ts: enableAutoPipelining: true in commonOptions. ioredis then sends the commands issued during one event-loop turn (the GETs of every request parsed in that poll phase) in one write(2), flushed by setImmediate; today each GET is its own write.',
    patches: [
      {
        file: 'tokens/redis-connection.js',
        find: '        maxRetriesPerRequest: 1,\n',
        replace: '        maxRetriesPerRequest: 1,\n        enableAutoPipelining: true,\n',
      },
    ],
  },
  {
    id: 'no-request-log',
    title: 'completion log line only for answers >= 400',
    proposal:
      'src/http/server.ts: no completion log line for 2xx/3xx answers (errors and 4xx/5xx still logged); what a `log.requests: errors` setting would save.',
    patches: [
      {
        file: 'http/server.js',
        find: "        if (!logger.isLevelEnabled('info'))",
        replace: "        if (status < 400 || !logger.isLevelEnabled('info'))",
      },
    ],
  },
];

export function findExperiment(id: string): Experiment | undefined {
  return EXPERIMENTS.find((e) => e.id === id);
}

/**
 * Copies dist/ and bin/ to .tmp/bench-exp/<ids>/ and applies the experiments' patches.
 * @returns the copy's bin/ropc-gateway.js
 * @throws Error naming the patch that no longer applies
 */
export function buildExperiment(root: string, ids: readonly string[]): string {
  const dir = join(root, '.tmp/bench-exp', ids.join('+'));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(root, 'bin'), join(dir, 'bin'), { recursive: true });
  for (const id of ids) {
    const exp = findExperiment(id);
    if (!exp) throw new Error(`unknown experiment ${id} (known: ${EXPERIMENTS.map((e) => e.id).join(', ')})`);
    for (const patch of exp.patches) {
      const file = join(dir, 'dist', patch.file);
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      if (!text.includes(patch.find)) throw new Error(`experiment ${id} is stale: dist/${patch.file} no longer contains the patched code`);
      writeFileSync(file, text.replace(patch.find, patch.replace));
    }
  }
  return join(dir, 'bin/ropc-gateway.js');
}
