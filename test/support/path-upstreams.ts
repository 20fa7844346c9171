/**
 * Real upstreams that report how they read a request path, for the path-bypass suite
 * (docs/security.md "One canonical path"):
 *
 * - a Node http server that echoes the raw request target it received;
 * - a Python stdlib WSGI app (wsgiref), optionally behind nginx, that echoes PATH_INFO and
 *   serves "ADMIN PAGE" for /admin/* the way a Flask-style router does (slashes merged,
 *   case ignored, as a case-insensitive upstream would);
 * - an embedded Tomcat 10 (Debian libtomcat10-embed-java) with servlets mapped on /admin/*
 *   and /public/*, echoing getRequestURI, getServletPath and getPathInfo, compiled in a temp
 *   dir with javac (no Maven).
 *
 * Every one answers with one JSON line `{kind, raw, view, admin}` and records the raw target
 * of every request in `hits`, so a test can tell "refused by the gateway" (no hit) from
 * "reached the upstream" and compare what the upstream read with what the gateway judged.
 * A missing tool throws with the package to install: these tests never skip.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface PathUpstream {
  readonly url: string;
  /** Raw request targets received, in order. */
  readonly hits: string[];
  stop(): Promise<void>;
}

/** What every upstream answers: its kind, the raw target, its own reading of the path, and whether that reading is the admin page. */
export interface UpstreamView {
  readonly kind: string;
  readonly raw: string;
  readonly view: string;
  readonly admin: boolean;
}

export const PYTHON = '/usr/bin/python3';
export const TOMCAT_JAR = '/usr/share/java/tomcat10-embed-core.jar';

/** (a) Node: echoes the raw target; its view is the decoded path with slashes merged, the admin page when that starts with /admin ignoring case (as Express by default). */
export async function startNodePathUpstream(): Promise<PathUpstream & { readonly server: http.Server }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    const raw = req.url ?? '';
    hits.push(raw);
    const path = raw.split('?')[0] ?? '';
    const view = decodeURIComponentSafe(path).replace(/\/+/g, '/');
    const body: UpstreamView = { kind: 'node', raw, view, admin: /^\/admin(\/|$)/i.test(view) };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`${body.admin ? 'ADMIN PAGE ' : ''}${JSON.stringify(body)}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const WSGI_APP = `
import json, re, sys
from wsgiref.simple_server import make_server, WSGIRequestHandler

class Handler(WSGIRequestHandler):
    def get_environ(self):
        env = super().get_environ()
        env['RAW_URI'] = self.path
        return env
    def log_message(self, *args):
        pass

def app(environ, start_response):
    raw = environ['RAW_URI']
    # What a Flask/Werkzeug-style router matches: PATH_INFO, slashes merged, here also case
    # ignored (an upstream on a case-insensitive file system or router).
    view = re.sub('/+', '/', environ.get('PATH_INFO', ''))
    admin = re.match(r'(?i)/admin(/|$)', view) is not None
    body = ('ADMIN PAGE ' if admin else '') + json.dumps({'kind': 'wsgi', 'raw': raw, 'view': view, 'admin': admin})
    sys.stdout.write('HIT ' + json.dumps(raw) + '\\n')
    sys.stdout.flush()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body.encode('latin-1', 'replace')]

server = make_server('127.0.0.1', 0, app, handler_class=Handler)
print('LISTENING', server.server_port, flush=True)
server.serve_forever()
`;

/** (b) The Python stdlib WSGI app, on its own port. */
export async function startWsgiApp(): Promise<PathUpstream> {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: apt-get install -y python3 (bash .ci/run does it)`);
  const dir = mkdtempSync(join(tmpdir(), 'ropc-wsgi-'));
  writeFileSync(join(dir, 'app.py'), WSGI_APP);
  const child = spawn(PYTHON, ['-u', join(dir, 'app.py')], { stdio: ['ignore', 'pipe', 'pipe'] });
  return await attach(child, dir, 'wsgi app', (line, hits) => {
    if (line.startsWith('HIT ')) hits.push(JSON.parse(line.slice(4)) as string);
  });
}

const TOMCAT_MAIN = `
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.apache.catalina.Lifecycle;
import org.apache.catalina.core.StandardContext;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;

public class Main {
  static String json(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder("\\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\\\') b.append('\\\\').append(c);
      else if (c < 0x20 || c > 0x7e) b.append(String.format("\\\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }

  static class Echo extends HttpServlet {
    final boolean admin;
    Echo(boolean admin) { this.admin = admin; }
    @Override
    protected void service(HttpServletRequest req, HttpServletResponse res) throws java.io.IOException {
      String raw = req.getRequestURI() + (req.getQueryString() == null ? "" : "?" + req.getQueryString());
      String view = req.getServletPath() + (req.getPathInfo() == null ? "" : req.getPathInfo());
      synchronized (System.out) { System.out.println("HIT " + json(raw)); System.out.flush(); }
      res.setContentType("application/json");
      res.getWriter().write((admin ? "ADMIN PAGE " : "") + "{\\"kind\\":\\"tomcat\\",\\"raw\\":" + json(raw) + ",\\"view\\":" + json(view)
          + ",\\"servletPath\\":" + json(req.getServletPath()) + ",\\"pathInfo\\":" + json(req.getPathInfo()) + ",\\"admin\\":" + admin + "}");
    }
  }

  public static void main(String[] args) throws Exception {
    Tomcat tomcat = new Tomcat();
    tomcat.setBaseDir(args[0]);
    Connector connector = new Connector();
    connector.setPort(0);
    connector.setProperty("address", "127.0.0.1");
    tomcat.getService().addConnector(connector);
    tomcat.setConnector(connector);
    // Tomcat.addContext's listener scans annotations, which needs jakarta.annotation (not in
    // the embed-core jar): a bare context, marked configured by hand, does without.
    StandardContext ctx = new StandardContext();
    ctx.setName("");
    ctx.setPath("");
    ctx.addLifecycleListener(event -> {
      if (Lifecycle.CONFIGURE_START_EVENT.equals(event.getType())) ctx.setConfigured(true);
    });
    tomcat.getHost().addChild(ctx);
    Tomcat.addServlet(ctx, "admin", new Echo(true));
    ctx.addServletMappingDecoded("/admin/*", "admin");
    Tomcat.addServlet(ctx, "public", new Echo(false));
    ctx.addServletMappingDecoded("/public/*", "public");
    Tomcat.addServlet(ctx, "api", new Echo(false));
    ctx.addServletMappingDecoded("/api/*", "api");
    Tomcat.addServlet(ctx, "other", new Echo(false));
    ctx.addServletMappingDecoded("/", "other");
    tomcat.start();
    System.out.println("LISTENING " + connector.getLocalPort());
    System.out.flush();
    tomcat.getServer().await();
  }
}
`;

/** (c) Embedded Tomcat 10: compiles Main.java against the Debian jar and runs it. */
export async function startTomcat(): Promise<PathUpstream> {
  if (!existsSync(TOMCAT_JAR))
    throw new Error(`${TOMCAT_JAR} is missing: apt-get install -y libtomcat10-embed-java (bash .ci/run does it)`);
  for (const tool of ['javac', 'java']) {
    try {
      execFileSync(tool, ['-version'], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is missing: apt-get install -y default-jdk-headless (bash .ci/run does it)`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'ropc-tomcat-'));
  writeFileSync(join(dir, 'Main.java'), TOMCAT_MAIN);
  execFileSync('javac', ['-cp', TOMCAT_JAR, '-d', dir, join(dir, 'Main.java')], { stdio: 'pipe' });
  const child = spawn('java', ['-Xmx128m', '-XX:TieredStopAtLevel=1', '-cp', `${dir}:${TOMCAT_JAR}`, 'Main', join(dir, 'base')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return await attach(child, dir, 'tomcat', (line, hits) => {
    if (line.startsWith('HIT ')) hits.push(JSON.parse(line.slice(4)) as string);
  });
}

/** Waits for `LISTENING <port>` on the child's stdout; collects HIT lines; stop() kills it and removes `dir`. */
async function attach(
  child: ChildProcess,
  dir: string,
  name: string,
  onLine: (line: string, hits: string[]) => void,
): Promise<PathUpstream> {
  const hits: string[] = [];
  let output = '';
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  const stop = async (): Promise<void> => {
    process.removeListener('exit', kill);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 60 s: ${output}`)), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}): ${output}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const m = /^LISTENING (\d+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      } else onLine(line, hits);
    });
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { url: `http://127.0.0.1:${port}`, hits, stop };
}
