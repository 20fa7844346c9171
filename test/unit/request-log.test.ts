import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createLogger, REDACT_PATHS } from '../../src/observability/logger.js';
import { completionWriter, isoNow, type CompletionFields } from '../../src/observability/request-log.js';

function capture() {
  const lines: string[] = [];
  return { lines, stream: { write: (line: string) => void lines.push(line) } };
}

const CASES: CompletionFields[] = [
  { reqId: 'a1', method: 'GET', kind: 'resource', route: '/api/**', status: 200, ms: 1.2, clientId: 'app', sub: 'alice' },
  { reqId: 'b2', method: 'POST', kind: 'token', route: 'token', status: 400, ms: 0, grantType: 'password', error: 'invalid_grant' },
  { reqId: 'c3', method: undefined, kind: 'websocket', route: 'websocket', status: 499, ms: 12345.6 },
  {
    reqId: 'd4',
    method: 'GET',
    kind: 'resource',
    route: 'a "quoted" \\ route',
    status: 502,
    ms: Number.NaN,
    sub: 'ünïcödé\u0001\n\u2028 \ud800 名前',
    error: 'bad_gateway',
    detail: 'connect ECONNREFUSED 127.0.0.1:1 "x"',
    reason: 'non_canonical_path',
  },
  { reqId: 'e5', method: 'GET', kind: 'resource', route: 'r', status: 200, ms: 3, clientId: '', sub: '', detail: '' },
];

/**
 * The object src/http/server.ts gave logger.info before the writer: the fixed fields, then
 * each optional one only when set and not empty, in the writer's order.
 */
function asLogged(f: CompletionFields): Record<string, unknown> {
  const { reqId, method, kind, route, status, ms, ...optional } = f;
  const order = ['clientId', 'sub', 'grantType', 'error', 'detail', 'reason'] as const;
  const set = order.filter((key) => optional[key]).map((key) => [key, optional[key]]);
  return { reqId, method, kind, route, status, ms, ...Object.fromEntries(set) };
}

/** The line without its timestamp, which the two writers take in different milliseconds. */
const untimed = (line: string): string => line.replace(/"time":"[^"]+"/, '"time":"T"');

describe('the completion line (src/observability/request-log.ts)', () => {
  it('is the line pino writes for logger.info(fields, "request"): the same bytes, key order included', () => {
    const fast = capture();
    const slow = capture();
    const logger = createLogger('info', fast.stream).child({ role: 'worker', pid: 7 });
    const reference = createLogger('info', slow.stream).child({ role: 'worker', pid: 7 });
    const write = completionWriter(logger);
    for (const fields of CASES) {
      write(fields);
      reference.info(asLogged(fields), 'request');
    }
    expect(fast.lines.map(untimed)).toEqual(slow.lines.map(untimed));
    for (const line of fast.lines) expect(line.endsWith('}\n')).toBe(true);
    expect(JSON.parse(fast.lines[3] ?? '')).toMatchObject({ sub: CASES[3]?.sub, ms: null, level: 'info', msg: 'request' });
  });

  it('carries no field the logger would redact', () => {
    const out = capture();
    const write = completionWriter(createLogger('info', out.stream));
    write({ ...CASES[0], grantType: 'password', error: 'e', detail: 'd', reason: 'r' } as CompletionFields);
    const keys = Object.keys(JSON.parse(out.lines[0] ?? '{}') as object);
    const redacted = REDACT_PATHS.filter((path) => !path.includes('.'));
    expect(keys.filter((key) => redacted.includes(key))).toEqual([]);
  });

  it("falls back to logger.info for a destination that needs pino's metadata (a multistream)", () => {
    const out = capture();
    const logger = pino({ level: 'info' }, pino.multistream([{ level: 'info', stream: out.stream }]));
    completionWriter(logger)(CASES[0] as CompletionFields);
    expect(JSON.parse(out.lines[0] ?? '{}')).toMatchObject({ level: 30, reqId: 'a1', msg: 'request' });
  });

  it('stamps the ISO time of its millisecond', () => {
    for (const t of [0, 1, 1_700_000_000_000, 1_700_000_000_000, 1_700_000_000_999, 4_102_444_800_000])
      expect(isoNow(t)).toBe(new Date(t).toISOString());
  });
});
