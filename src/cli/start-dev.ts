/** `ropc-gateway start-dev`: embedded dev defaults (config/dev/gateway.yaml): memory store, example users, echo upstream. */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GatewayConfig } from '../config/types.js';
import { createEchoUpstream } from '../dev/echo-upstream.js';
import { checkedConfig } from './config-file.js';
import { start } from './start.js';

const DEV_CONFIG = resolve(dirname(fileURLToPath(import.meta.url)), '../../config/dev/gateway.yaml');
const DEV_ECHO_PORT = 9032;

export async function startDevCommand(): Promise<undefined> {
  const config = await checkedConfig({ mode: 'dev', file: DEV_CONFIG });
  const echo = createEchoUpstream();
  await new Promise<void>((res, rej) => echo.once('error', rej).listen(DEV_ECHO_PORT, '127.0.0.1', () => res()));
  process.stderr.write(devBanner(config));
  await start({ ...config, server: { ...config.server, drainSeconds: 0 } }, { echo, file: DEV_CONFIG });
  return undefined;
}

function devBanner(config: GatewayConfig): string {
  const base = `http://localhost:${config.server.port}`;
  return `
  ┌──────────────────────────────────────────────────────────────────────────┐
  │  ropc-gateway — DEV MODE: memory store, example users, echo upstream.    │
  │  Not for production: use \`ropc-gateway start --config FILE\`.             │
  └──────────────────────────────────────────────────────────────────────────┘
  Get a token (client ro_client/2Federate, user joe/2Federate):
    curl -s -X POST ${base}${config.oauth.paths.token} \\
      -H 'Authorization: Basic cm9fY2xpZW50OjJGZWRlcmF0ZQ==' \\
      -d 'grant_type=password&username=joe&password=2Federate&scope=edit'
  Call the echo upstream through the gateway:
    curl -s ${base}/hello -H "Authorization: Bearer <access_token>"
  Admin: http://localhost:${config.admin.port}/readyz  /metrics

`;
}
