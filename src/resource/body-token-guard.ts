/**
 * RFC 6750 §2: a client "MUST NOT use more than one method to transmit the token in each
 * request". The gateway judges the `Authorization` header only (credentials.ts); a form body that
 * also carries `access_token` (§2.2) would let an upstream that reads body tokens act on a
 * token nobody judged. Such a body is refused as it streams, without buffering it: the
 * parameter names of an `application/x-www-form-urlencoded` body are read (form-decoded, as
 * every framework reads them) as the bytes pass, and the chunk that completes an
 * `access_token` name is never forwarded — the upstream sees a body cut short, never a
 * complete request — while the client gets 400 `invalid_request`.
 */
import type { IncomingMessage } from 'node:http';
import { Transform, type Readable } from 'node:stream';

const NAME = 'access_token';
/** The longest spelling of NAME in a form body: every byte percent-encoded. */
const LONGEST = NAME.length * 3;

const bodies = new WeakMap<IncomingMessage, Readable>();

/** The stream a forwarder sends upstream as the body of `req`: the guard when one is set, else `req`. */
export function bodyOf(req: IncomingMessage): Readable {
  return bodies.get(req) ?? req;
}

/** Whether `req` has a form-urlencoded body (RFC 6750 §2.2's content type). */
export function isFormBody(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  return type !== undefined && /^application\/x-www-form-urlencoded\s*(?:;|$)/i.test(type);
}

/**
 * Puts the guard between `req` and the upstream; `refuse` is called once, before the chunk that
 * completes an `access_token` name would have been forwarded, and the body then ends in error.
 */
export function guardFormBody(req: IncomingMessage, refuse: () => void): void {
  let name = '';
  let inName = true;
  let found = false;
  const check = (): boolean => inName && name.length <= LONGEST && formDecode(name) === NAME;
  const guard = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (found) return done();
      for (const byte of chunk) {
        if (byte === 0x26 /* & */) {
          if (check()) return stop(done);
          name = '';
          inName = true;
        } else if (inName) {
          if (byte === 0x3d /* = */) {
            if (check()) return stop(done);
            inName = false;
          } else if (name.length <= LONGEST) name += String.fromCharCode(byte);
        }
      }
      done(null, chunk);
    },
    flush(done) {
      if (!found && check()) return stop(done);
      done();
    },
  });
  function stop(done: (err?: Error | null) => void): void {
    found = true;
    refuse();
    done(new Error('the form body carries access_token as well'));
  }
  // The refusal is answered by `refuse`; a forwarder that reads the guard sees the error through
  // its own listener, and one that only pipes it (http-proxy-3) must not crash the process.
  guard.on('error', () => undefined);
  req.pipe(guard);
  req.once('error', (err) => guard.destroy(err));
  bodies.set(req, guard);
}

/** application/x-www-form-urlencoded decoding of a name (`+` is a space); undefined-safe. */
function formDecode(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}
