/** The `tracing` configuration keys (docs/operations.md, "Tracing"): defaults, environment variables, one line per problem. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const HASH = '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
const minimal = `
store: { type: memory }
upstream: { url: "http://127.0.0.1:8080" }
clients: [{ id: app, secretHash: "${HASH}", scopes: [read] }]
validators: [{ name: local, type: file, path: users.yaml }]
`;

function load(extra: string, env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ropc-tracing-cfg-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, `${minimal}${extra}`);
  return loadConfig({ mode: 'production', file, env });
}

function problems(extra: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    load(extra, env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe('tracing configuration', () => {
  it('is off by default, with the OTLP/HTTP default endpoint, every request sampled and no incoming trace trusted', () => {
    expect(load('').tracing).toEqual({
      enabled: false,
      endpoint: 'http://localhost:4318/v1/traces',
      serviceName: 'ropc-gateway',
      sampleRatio: 1,
      trustIncomingTraceparent: false,
    });
  });

  it('takes its keys from ROPC_TRACING_* variables, a ratio as a decimal', () => {
    const { tracing } = load('', {
      ROPC_TRACING_ENABLED: 'true',
      ROPC_TRACING_ENDPOINT: 'https://collector.example:4318/v1/traces',
      ROPC_TRACING_SAMPLE_RATIO: '0.25',
      ROPC_TRACING_TRUST_INCOMING_TRACEPARENT: 'true',
    });
    expect(tracing).toMatchObject({
      enabled: true,
      endpoint: 'https://collector.example:4318/v1/traces',
      sampleRatio: 0.25,
      trustIncomingTraceparent: true,
    });
    expect(load('', { ROPC_TRACING_SAMPLE_RATIO: '.5' }).tracing.sampleRatio).toBe(0.5);
  });

  it('refuses a ratio outside 0..1, a non-number, a non-http endpoint, and enabled without an endpoint, one line each', () => {
    expect(problems('tracing: { sampleRatio: 1.5 }')).toEqual(['tracing.sampleRatio: must be a number from 0 to 1: value was 1.5']);
    expect(problems('', { ROPC_TRACING_SAMPLE_RATIO: 'half' })).toEqual([
      'tracing.sampleRatio: must be a number from 0 to 1: value was "half" (from the environment variable ROPC_TRACING_SAMPLE_RATIO)',
    ]);
    expect(problems('tracing: { endpoint: "grpc://collector:4317" }')).toEqual([
      'tracing.endpoint: must be an http:// or https:// URL: value was "grpc://collector:4317"',
    ]);
    expect(problems('tracing: { enabled: true, endpoint: "" }')).toEqual(['tracing.endpoint: is required when tracing.enabled is true']);
  });
});
