/**
 * A real nginx for tests (SERVICES.md): a foreground child process on a free private port, in
 * a fresh temp dir holding its configuration, pid, logs and temp paths. The caller gives the
 * contents of the `http {}` block with `{{PORT}}` where nginx must listen.
 * `NGINX` overrides the binary (default /usr/sbin/nginx, Debian's nginx-light).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { sleep } from './wait-for.js';

export const NGINX_BINARY = process.env['NGINX'] ?? '/usr/sbin/nginx';

export interface NginxProcess {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** nginx's error log so far (for failure messages). */
  errorLog(): string;
  stop(): Promise<void>;
}

export function nginxAvailable(): boolean {
  return existsSync(NGINX_BINARY);
}

export async function startNginx(httpBlock: string): Promise<NginxProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(httpBlock, await freePort());
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error('could not start nginx', { cause: lastError });
}

async function startOnce(httpBlock: string, port: number): Promise<NginxProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'ropc-nginx-'));
  const root = process.getuid?.() === 0;
  const conf = `daemon off;
worker_processes 1;
${root ? 'user root;' : ''}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${httpBlock.replaceAll('{{PORT}}', String(port))}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(NGINX_BINARY, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  const errorLog = (): string => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const stop = async (): Promise<void> => {
    process.removeListener('exit', kill);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const message = `nginx exited: ${output}${errorLog()}`;
      await stop();
      throw new Error(message);
    }
    if (await accepts(port)) return { port, url: `http://127.0.0.1:${port}`, dir, errorLog, stop };
    await sleep(50);
  }
  const message = `nginx did not listen on ${port}: ${output}${errorLog()}`;
  await stop();
  throw new Error(message);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
