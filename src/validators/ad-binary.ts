/**
 * String forms of Active Directory's binary identifiers, for a stable subject
 * (`subjectAttribute: objectGUID` or `objectSid`, docs/active-directory.md):
 *
 * - objectGUID: 16 bytes, a GUID in Microsoft's mixed-endian layout (the first three groups
 *   little-endian, the last two as stored), written `38236405-3abc-417d-bba7-b18a946dc1ff`
 *   as AD's own tools (and Samba's) write it;
 * - objectSid: revision, sub-authority count, a 48-bit big-endian identifier authority, then
 *   32-bit little-endian sub-authorities, written `S-1-5-21-…-1103` ([MS-DTYP] §2.4.2).
 */

/** Attributes whose values ldapts must hand over as bytes, and how each is written out. */
export const BINARY_ATTRIBUTES: Readonly<Record<string, (value: Buffer) => string | undefined>> = {
  objectguid: guidString,
  objectsid: sidString,
};

/** The decoder for `attribute` (any case), or undefined when it is not a binary identifier. */
export function binaryDecoder(attribute: string): ((value: Buffer) => string | undefined) | undefined {
  const key = attribute.toLowerCase();
  return Object.hasOwn(BINARY_ATTRIBUTES, key) ? BINARY_ATTRIBUTES[key] : undefined;
}

/** @returns undefined unless `value` is 16 bytes. */
export function guidString(value: Buffer): string | undefined {
  if (value.length !== 16) return undefined;
  const hex = (from: number, to: number, reverse: boolean): string => {
    const part = Buffer.from(value.subarray(from, to));
    return (reverse ? part.reverse() : part).toString('hex');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`;
}

/** @returns undefined unless `value` is a well-formed revision-1 SID. */
export function sidString(value: Buffer): string | undefined {
  if (value.length < 8 || value[0] !== 1) return undefined;
  const count = value[1]!;
  if (value.length !== 8 + 4 * count) return undefined;
  const authority = value.readUIntBE(2, 6);
  const subs = Array.from({ length: count }, (_, i) => value.readUInt32LE(8 + 4 * i));
  return ['S', '1', String(authority), ...subs.map(String)].join('-');
}

/**
 * The bytes of a subject's string form, for a refresh's re-check to search by (an equality
 * filter with these bytes as its value: a string filter cannot carry them, its `\\XX`
 * escapes are read as characters).
 * @returns undefined when `value` is not a string form of that attribute (no entry has it).
 */
export function binaryValue(attribute: string, value: string): Buffer | undefined {
  const key = attribute.toLowerCase();
  return key === 'objectguid' ? guidBytes(value) : key === 'objectsid' ? sidBytes(value) : undefined;
}

function guidBytes(value: string): Buffer | undefined {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) return undefined;
  const hex = value.replace(/-/g, '');
  const part = (from: number, to: number, reverse: boolean): Buffer => {
    const b = Buffer.from(hex.slice(from, to), 'hex');
    return reverse ? b.reverse() : b;
  };
  return Buffer.concat([part(0, 8, true), part(8, 12, true), part(12, 16, true), part(16, 32, false)]);
}

function sidBytes(value: string): Buffer | undefined {
  const match = /^S-1-(\d+)((?:-\d+){0,15})$/i.exec(value);
  if (!match) return undefined;
  const authority = Number(match[1]);
  const subs = match[2]!.split('-').slice(1).map(Number);
  if (!Number.isSafeInteger(authority) || authority >= 2 ** 48 || subs.some((s) => s > 0xffffffff)) return undefined;
  const out = Buffer.alloc(8 + 4 * subs.length);
  out[0] = 1;
  out[1] = subs.length;
  out.writeUIntBE(authority, 2, 6);
  for (const [i, s] of subs.entries()) out.writeUInt32LE(s, 8 + 4 * i);
  return out;
}
