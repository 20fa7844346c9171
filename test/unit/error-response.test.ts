/**
 * The one error writer (src/oauth/error-response.ts) for the forwarders' errors and outages:
 * 502/504 bodies byte for byte, on a response and on the raw socket of an upgrade; outages of
 * the token store and of a validator mapped through their shared base class; and the log-only
 * `detail`, which never reaches the client.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import {
  resourceErrorAnswer,
  sendResourceErrorOnSocket,
  toOAuthError,
  writeAnswerOnSocket,
  writtenError,
} from '../../src/oauth/error-response.js';
import { BadGatewayError, GatewayTimeoutError, ServerError, TemporarilyUnavailableError } from '../../src/oauth/errors.js';
import { OutageError } from '../../src/outage.js';
import { StoreUnavailableError } from '../../src/tokens/types.js';
import { ValidatorUnavailableError } from '../../src/validators/types.js';

const silent = createLogger('silent');

function socketText(write: (socket: PassThrough) => void): Promise<string> {
  const socket = new PassThrough();
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  return new Promise((resolve) => {
    socket.on('end', () => resolve(text));
    write(socket);
  });
}

describe('502 and 504 (the forwarders)', () => {
  it('answers 502 upstream_unavailable, no-store, with no challenge', () => {
    const body = '{"error":"upstream_unavailable","error_description":"the upstream refused or dropped the connection"}';
    expect(resourceErrorAnswer(new BadGatewayError(), 'realm')).toEqual({
      status: 502,
      headers: {
        'cache-control': 'no-store',
        pragma: 'no-cache',
        'content-type': 'application/json;charset=UTF-8',
        'content-length': Buffer.byteLength(body),
      },
      body,
    });
  });

  it('answers 504 upstream_timeout', () => {
    const answer = resourceErrorAnswer(new GatewayTimeoutError(), 'realm');
    expect(answer.status).toBe(504);
    expect(answer.body).toBe('{"error":"upstream_timeout","error_description":"the upstream did not answer in time"}');
    expect(answer.headers).not.toHaveProperty('www-authenticate');
  });

  it('writes a 502 on the raw socket of an upgrade, with Connection: close, and remembers it for the log', async () => {
    const error = new BadGatewayError().withDetail('ECONNREFUSED');
    let socket: PassThrough | undefined;
    const text = await socketText((s) => {
      socket = s;
      sendResourceErrorOnSocket(s, error, 'realm');
    });
    const body = '{"error":"upstream_unavailable","error_description":"the upstream refused or dropped the connection"}';
    expect(text).toBe(
      'HTTP/1.1 502 Bad Gateway\r\ncache-control: no-store\r\npragma: no-cache\r\ncontent-type: application/json;charset=UTF-8\r\n' +
        `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
    );
    expect(text).not.toContain('ECONNREFUSED');
    expect(writtenError(socket!)).toBe(error);
  });

  it('writes a bare answer on a raw socket with its header names as given', async () => {
    const text = await socketText((s) =>
      writeAnswerOnSocket(s, { status: 431, headers: { Connection: 'close', 'Content-Length': 0 }, body: '' }),
    );
    expect(text).toBe('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
});

describe('toOAuthError', () => {
  it('maps a token store outage and a validator outage alike, through OutageError, to 503 with the outage as detail', () => {
    const store = new StoreUnavailableError('command timed out');
    const validator = new ValidatorUnavailableError('ldap', 'connect ECONNREFUSED');
    expect(store).toBeInstanceOf(OutageError);
    expect(validator).toBeInstanceOf(OutageError);
    for (const outage of [store, validator]) {
      const mapped = toOAuthError(outage, silent);
      expect(mapped).toBeInstanceOf(TemporarilyUnavailableError);
      expect(mapped.status).toBe(503);
      expect(mapped.description).toBe('the service is temporarily unavailable, retry later');
      expect(mapped.detail).toBe(outage.message);
    }
  });

  it('maps anything else to server_error, with only the error class as detail', () => {
    const mapped = toOAuthError(new TypeError('secret value in a message'), silent);
    expect(mapped).toBeInstanceOf(ServerError);
    expect(mapped.detail).toBe('unexpected TypeError');
  });

  it('keeps an OAuthError as it is', () => {
    const error = new GatewayTimeoutError();
    expect(toOAuthError(error, silent)).toBe(error);
  });
});
