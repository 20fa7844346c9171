/**
 * Module hooks behind engine-hook.ts: `dist/resource/proxy.js`, when imported by anything but
 * the shim, resolves to a shim that re-exports it with `createForwarder` returning
 * `createUndiciForwarder(options, <the http-proxy-3 forwarder>)`.
 */
const SHIM = 'ropc-bench:undici-engine';

interface ResolveContext {
  readonly parentURL?: string | undefined;
}
interface ResolveResult {
  readonly url: string;
  readonly format?: string | null;
  readonly shortCircuit?: boolean;
}
interface LoadResult {
  readonly format: string;
  readonly source?: string | Buffer;
  readonly shortCircuit?: boolean;
}

export async function resolve(specifier: string, context: ResolveContext, next: (s: string, c: ResolveContext) => Promise<ResolveResult>): Promise<ResolveResult> {
  const resolved = await next(specifier, context);
  if (resolved.url.endsWith('/dist/resource/proxy.js') && !context.parentURL?.startsWith(SHIM)) {
    return { url: `${SHIM}?real=${encodeURIComponent(resolved.url)}`, format: 'module', shortCircuit: true };
  }
  return resolved;
}

export async function load(url: string, context: object, next: (u: string, c: object) => Promise<LoadResult>): Promise<LoadResult> {
  if (!url.startsWith(SHIM)) return next(url, context);
  const real = new URL(url).searchParams.get('real') ?? '';
  const undici = real.replace(/proxy\.js$/, 'undici-forwarder.js');
  const source = `
import { createForwarder as createHttpProxyForwarder } from ${JSON.stringify(real)};
import { createUndiciForwarder } from ${JSON.stringify(undici)};
export * from ${JSON.stringify(real)};
export function createForwarder(options) {
  return createUndiciForwarder(options, createHttpProxyForwarder(options));
}
`;
  return { format: 'module', source, shortCircuit: true };
}
