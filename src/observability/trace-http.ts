/**
 * The HTTP spans of a traced gateway (docs/operations.md, "Tracing"): one SERVER span per
 * request on the public port, and one CLIENT span per upstream call, whose context goes to the
 * upstream as W3C `traceparent`/`tracestate` (https://www.w3.org/TR/trace-context/).
 *
 * Trust: an incoming `traceparent` is continued only with `tracing.trustIncomingTraceparent`.
 * Otherwise the request starts a new trace (the client cannot pick the gateway's trace ids or
 * force sampling), and the client's `traceparent`/`tracestate` are replaced upstream by the
 * gateway's own. With tracing off none of this is built: every header passes as before.
 *
 * Built at startup; each wrapper returns what it wraps unchanged when tracing is off.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import type { RequestContext } from '../http/context.js';
import type { Handler, UpgradeHandler } from '../http/server.js';
import type { Forwarder } from '../resource/forwarder.js';
import type { UpstreamTarget } from '../resource/routes.js';
import { withTracing, type Tracing } from './tracing.js';
import { urlHost } from '../url-host.js';
import { onceClosed } from '../http/once-closed.js';

/** Methods named as sent; any other (a client can send any token) is `_OTHER`, as OpenTelemetry's HTTP conventions say. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']);

function methodOf(req: http.IncomingMessage): string {
  const method = req.method ?? 'GET';
  return METHODS.has(method) ? method : '_OTHER';
}

/** The context a request's server span starts in: the incoming trace when trusted, else none. */
function incoming(tracing: Tracing, req: http.IncomingMessage): Context {
  const parent = tracing.trustIncoming ? tracing.propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter) : ROOT_CONTEXT;
  return withTracing(parent, tracing);
}

function startServerSpan(tracing: Tracing, req: http.IncomingMessage, ctx: RequestContext): { span: Span; active: Context } {
  const parent = incoming(tracing, req);
  const method = methodOf(req);
  const span = tracing.tracer.startSpan(
    method,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'client.address': ctx.clientIp, 'ropc.request_id': ctx.id } },
    parent,
  );
  return { span, active: trace.setSpan(parent, span) };
}

/** Names the span `METHOD route` and adds what the request learned (configured names and codes only). */
function endServerSpan(span: Span, req: http.IncomingMessage, route: string | undefined, status: number, ctx: RequestContext): void {
  const label = route ?? ctx.route;
  span.updateName(label ? `${methodOf(req)} ${label}` : methodOf(req));
  span.setAttributes({
    'http.response.status_code': status,
    'ropc.kind': ctx.kind,
    ...(label ? { 'http.route': label } : {}),
    ...(ctx.clientId ? { 'ropc.client_id': ctx.clientId } : {}),
    ...(ctx.grantType ? { 'ropc.grant_type': ctx.grantType } : {}),
    ...(ctx.error ? { 'ropc.error': ctx.error } : {}),
    ...(ctx.reason ? { 'ropc.reason': ctx.reason } : {}),
  });
  // A server span fails on 5xx only: a 4xx is the client's mistake, not the gateway's.
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/**
 * A handler whose requests each get a SERVER span, ended when the answer is done (or the client
 * went away: 499, as in the completion log line).
 * @param route the endpoint's path for the span name; the resource path names the route rule that matched.
 */
export function tracedHandler(tracing: Tracing | undefined, handler: Handler, route?: string): Handler {
  if (!tracing) return handler;
  return (req, res, ctx) => {
    const { span, active } = startServerSpan(tracing, req, ctx);
    onceClosed(res, () => endServerSpan(span, req, route, res.writableFinished ? res.statusCode : 499, ctx));
    return context.with(active, () => handler(req, res, ctx));
  };
}

/** The upgrade handler, with a SERVER span per WebSocket handshake, ended with its status. */
export function tracedUpgrade(tracing: Tracing | undefined, upgrade: UpgradeHandler): UpgradeHandler {
  if (!tracing) return upgrade;
  return (req, socket, head, ctx, outcome) => {
    const { span, active } = startServerSpan(tracing, req, ctx);
    let ended = false;
    const end = (status: number): void => {
      if (ended) return;
      ended = true;
      endServerSpan(span, req, undefined, status, ctx);
    };
    onceClosed(socket, () => end(499));
    const handled = context.with(active, () =>
      upgrade(req, socket, head, ctx, (status) => {
        end(status);
        outcome(status);
      }),
    );
    handled.catch((err: unknown) =>
      end(typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500),
    );
    return handled;
  };
}

/**
 * The forwarder, with a CLIENT span per upstream call (until the answer has been passed on)
 * whose context replaces any `traceparent`/`tracestate` of the request: the upstream continues
 * the gateway's trace.
 */
export function tracedForwarder(tracing: Tracing | undefined, forwarder: Forwarder): Forwarder {
  if (!tracing) return forwarder;
  // Upstream targets are built at startup (and at reloads): their attributes once each.
  const described = new WeakMap<UpstreamTarget, Attributes>();
  const describe = (upstream: UpstreamTarget): Attributes => {
    let attributes = described.get(upstream);
    if (!attributes) {
      const url = new URL(upstream.url);
      attributes = {
        'server.address': urlHost(url),
        'server.port': Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
        'ropc.upstream': `${url.origin}${url.pathname}`,
      };
      described.set(upstream, attributes);
    }
    return attributes;
  };
  const start = (req: http.IncomingMessage, upstream: UpstreamTarget): Span => {
    const parent = context.active();
    const method = methodOf(req);
    const span = tracing.tracer.startSpan(
      `${method} upstream`,
      { kind: SpanKind.CLIENT, attributes: { 'http.request.method': method, ...describe(upstream) } },
      parent,
    );
    delete req.headers.traceparent;
    delete req.headers.tracestate;
    tracing.propagator.inject(trace.setSpan(parent, span), req.headers, defaultTextMapSetter);
    return span;
  };
  const end = (span: Span, status: number): void => {
    span.setAttribute('http.response.status_code', status);
    // A client span fails on any 4xx/5xx (OpenTelemetry's HTTP conventions); 499: the client left.
    if (status >= 400) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.setAttribute('error.type', String(status));
    }
    span.end();
  };
  return {
    web(req, res, upstream, caller) {
      const span = start(req, upstream);
      onceClosed(res, () => end(span, res.writableFinished ? res.statusCode : 499));
      forwarder.web(req, res, upstream, caller);
    },
    ws(req, socket: Duplex, head, upstream, outcome) {
      const span = start(req, upstream);
      let ended = false;
      const once = (status: number): void => {
        if (ended) return;
        ended = true;
        end(span, status);
      };
      onceClosed(socket, () => once(499));
      forwarder.ws(req, socket, head, upstream, (status) => {
        once(status);
        outcome?.(status);
      });
    },
    close: () => forwarder.close(),
  };
}
