/**
 * The LDAP password policy controls, decoded by hand (ldapts has no class for them):
 *
 * - the password policy control of draft-behera-ldap-password-policy-10 §6
 *   (OID 1.3.6.1.4.1.42.2.27.8.5.1), sent empty with a request and answered with
 *
 *       PasswordPolicyResponseValue ::= SEQUENCE {
 *          warning [0] CHOICE {
 *             timeBeforeExpiration [0] INTEGER (0 .. maxInt),
 *             graceAuthNsRemaining [1] INTEGER (0 .. maxInt) } OPTIONAL,
 *          error   [1] ENUMERATED { passwordExpired (0), accountLocked (1), changeAfterReset (2),
 *             passwordModNotAllowed (3), mustSupplyOldPassword (4), insufficientPasswordQuality (5),
 *             passwordTooShort (6), passwordTooYoung (7), passwordInHistory (8),
 *             passwordTooLong (9) } OPTIONAL }
 *
 * - the Netscape response controls of draft-vchu-ldap-pwd-policy-00 §2: password expired
 *   (2.16.840.1.113730.3.4.4, value "0") and password expiring (2.16.840.1.113730.3.4.5,
 *   value the seconds left as decimal digits). Directories send them unasked (389 DS; OpenLDAP
 *   with `ppolicy_send_netscape_controls` when the client did not ask for the policy control).
 *
 * - the password modify extended request of RFC 3062 §2 (OID 1.3.6.1.4.1.4203.1.11.1).
 *
 * How the answers reach us: ldapts parses a response control whose type it does not know into
 * the request control of the same type, when the request carried one (its ControlParser). So
 * {@link PolicyControls.forRequest} returns the policy control (written on the wire) and two
 * Netscape *listeners* that write nothing and only catch their answers.
 */
import { Control } from 'ldapts';

export const PASSWORD_POLICY_OID = '1.3.6.1.4.1.42.2.27.8.5.1';
export const NETSCAPE_EXPIRED_OID = '2.16.840.1.113730.3.4.4';
export const NETSCAPE_EXPIRING_OID = '2.16.840.1.113730.3.4.5';
export const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';

/** The `error` enumeration of the policy control, by value. */
export const POLICY_ERRORS = [
  'passwordExpired',
  'accountLocked',
  'changeAfterReset',
  'passwordModNotAllowed',
  'mustSupplyOldPassword',
  'insufficientPasswordQuality',
  'passwordTooShort',
  'passwordTooYoung',
  'passwordInHistory',
  'passwordTooLong',
] as const;
export type PolicyError = (typeof POLICY_ERRORS)[number];

export interface PolicyResponse {
  readonly timeBeforeExpiration?: number;
  readonly graceAuthNsRemaining?: number;
  /** An `error` value this module does not know is `unknown`. */
  readonly error?: PolicyError | 'unknown';
}

/** What a directory said about a password on one operation, from any of the three controls. */
export interface PolicyAnswer {
  /** The policy control's answer, when the directory sent one. */
  readonly policy?: PolicyResponse;
  /** Netscape "password expired" was sent. */
  readonly netscapeExpired: boolean;
  /** Netscape "password expiring": seconds left. */
  readonly netscapeExpiringSeconds?: number;
}

export class BerError extends Error {
  constructor(what: string) {
    super(`malformed BER: ${what}`);
    this.name = 'BerError';
  }
}

/** One tag-length-value at `offset` (definite lengths only, as LDAP requires: RFC 4511 §5.1). */
function readTlv(buf: Buffer, offset: number): { tag: number; start: number; end: number } {
  if (offset + 2 > buf.length) throw new BerError('truncated header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new BerError('multi-byte tag');
  let length = buf[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4) throw new BerError('unsupported length');
    if (start + bytes > buf.length) throw new BerError('truncated length');
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + buf[start + i]!;
    start += bytes;
  }
  const end = start + length;
  if (end > buf.length) throw new BerError('truncated value');
  return { tag, start, end };
}

/** A non-negative INTEGER or ENUMERATED content (at most 6 bytes: within Number's safe range). */
function readUnsigned(buf: Buffer, start: number, end: number): number {
  if (end === start || end - start > 6) throw new BerError('bad integer length');
  if (buf[start]! & 0x80) throw new BerError('negative integer');
  let value = 0;
  for (let i = start; i < end; i++) value = value * 256 + buf[i]!;
  return value;
}

/**
 * Decodes a PasswordPolicyResponseValue (the control's value, without the OCTET STRING
 * wrapper). Unknown extra elements are skipped, as later drafts may add some.
 * @throws BerError when the bytes are not that structure.
 */
export function decodePolicyResponse(value: Buffer): PolicyResponse {
  const outer = readTlv(value, 0);
  if (outer.tag !== 0x30) throw new BerError('not a SEQUENCE');
  const result: { timeBeforeExpiration?: number; graceAuthNsRemaining?: number; error?: PolicyError | 'unknown' } = {};
  let at = outer.start;
  while (at < outer.end) {
    const element = readTlv(value, at);
    if (element.tag === 0xa0) {
      const choice = readTlv(value, element.start);
      const n = readUnsigned(value, choice.start, choice.end);
      if (choice.tag === 0x80) result.timeBeforeExpiration = n;
      else if (choice.tag === 0x81) result.graceAuthNsRemaining = n;
      else throw new BerError('unknown warning');
    } else if (element.tag === 0x81) {
      const n = readUnsigned(value, element.start, element.end);
      result.error = POLICY_ERRORS[n] ?? 'unknown';
    }
    at = element.end;
  }
  return result;
}

/** The Netscape expiring control's value: decimal seconds. */
export function decodeNetscapeSeconds(value: Buffer): number {
  const text = value.toString('latin1').trim();
  if (!/^\d{1,12}$/.test(text)) throw new BerError('not a number of seconds');
  return Number(text);
}

function writeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), writeLength(content.length), content]);
}

/**
 * The RFC 3062 §2 PasswdModifyRequestValue:
 * `SEQUENCE { userIdentity [0] OCTET STRING OPTIONAL, oldPasswd [1] ..., newPasswd [2] ... }`.
 * Without `userIdentity` the server changes the password of the bound user.
 */
export function encodePasswordModify(fields: {
  readonly userIdentity?: string;
  readonly oldPassword?: string;
  readonly newPassword?: string;
}): Buffer {
  const parts: Buffer[] = [];
  if (fields.userIdentity !== undefined) parts.push(tlv(0x80, Buffer.from(fields.userIdentity, 'utf8')));
  if (fields.oldPassword !== undefined) parts.push(tlv(0x81, Buffer.from(fields.oldPassword, 'utf8')));
  if (fields.newPassword !== undefined) parts.push(tlv(0x82, Buffer.from(fields.newPassword, 'utf8')));
  return tlv(0x30, Buffer.concat(parts));
}

/** A request control that keeps its response's raw value (see the module comment). */
class CatchingControl extends Control {
  raw: Buffer | undefined;

  constructor(
    type: string,
    private readonly onWire: boolean,
  ) {
    super(type, { critical: false });
  }

  /** A listener writes nothing: the directory never sees it. */
  override write(writer: Parameters<Control['write']>[0]): void {
    if (this.onWire) super.write(writer);
  }

  protected override parseControl(reader: Parameters<Control['parse']>[0]): void {
    this.raw = Buffer.from(reader.buffer);
  }
}

/** The controls for one request and, after it, what they caught. One set per request. */
export class PolicyControls {
  readonly #policy = new CatchingControl(PASSWORD_POLICY_OID, true);
  readonly #expired = new CatchingControl(NETSCAPE_EXPIRED_OID, false);
  readonly #expiring = new CatchingControl(NETSCAPE_EXPIRING_OID, false);

  /** The policy control (non-critical: a directory without the overlay ignores it) first. */
  forRequest(): Control[] {
    return [this.#policy, this.#expired, this.#expiring];
  }

  /**
   * What the response carried. A malformed value is treated as absent: the bind's own result
   * still decides, and a directory's garbage never turns a refusal into something else.
   */
  answer(): PolicyAnswer {
    const policy = this.#policy.raw === undefined ? undefined : attempt(() => decodePolicyResponse(this.#policy.raw!));
    const seconds = this.#expiring.raw === undefined ? undefined : attempt(() => decodeNetscapeSeconds(this.#expiring.raw!));
    return {
      ...(policy ? { policy } : {}),
      netscapeExpired: this.#expired.raw !== undefined,
      ...(seconds !== undefined ? { netscapeExpiringSeconds: seconds } : {}),
    };
  }
}

function attempt<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch {
    return undefined;
  }
}
