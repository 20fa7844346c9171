/**
 * A tiny DNS server for tests (node:dgram, RFC 1035 wire format): answers SRV questions
 * (RFC 2782) for the names it was given, NXDOMAIN for others, and counts the questions.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';

export interface SrvAnswer {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  readonly target: string;
}

export interface DnsSrvServer {
  /** `127.0.0.1:PORT`, for Resolver.setServers. */
  readonly address: string;
  /** Questions received so far. */
  readonly questions: string[];
  /** Replaces the records of `name`. */
  set(name: string, records: readonly SrvAnswer[]): void;
  close(): Promise<void>;
}

const SRV = 33;

export async function startDnsSrvServer(records: Readonly<Record<string, readonly SrvAnswer[]>>): Promise<DnsSrvServer> {
  const zone = new Map(Object.entries(records).map(([name, answers]) => [name.toLowerCase(), answers]));
  const questions: string[] = [];
  const socket: Socket = createSocket('udp4');
  socket.on('message', (query, peer) => {
    const { name, end } = readName(query, 12);
    const qtype = query.readUInt16BE(end);
    questions.push(name);
    const answers = qtype === SRV ? zone.get(name.toLowerCase()) : undefined;
    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.readUInt16BE(0), 0); // id
    header.writeUInt16BE(0x8180 | (answers ? 0 : 3), 2); // response, recursion desired+available, NXDOMAIN when unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers?.length ?? 0, 6);
    const question = query.subarray(12, end + 4);
    const body = (answers ?? []).map((a) => {
      const target = writeName(a.target);
      const rdata = Buffer.alloc(6);
      rdata.writeUInt16BE(a.priority, 0);
      rdata.writeUInt16BE(a.weight, 2);
      rdata.writeUInt16BE(a.port, 4);
      const fixed = Buffer.alloc(10);
      fixed.writeUInt16BE(SRV, 0);
      fixed.writeUInt16BE(1, 2); // IN
      fixed.writeUInt32BE(60, 4); // TTL
      fixed.writeUInt16BE(6 + target.length, 8);
      return Buffer.concat([Buffer.from([0xc0, 0x0c]), fixed, rdata, target]);
    });
    socket.send(Buffer.concat([header, question, ...body]), peer.port, peer.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    address: `127.0.0.1:${socket.address().port}`,
    questions,
    set: (name, answers) => zone.set(name.toLowerCase(), answers),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

function readName(message: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  while (message[i] !== 0) {
    const length = message[i]!;
    labels.push(message.toString('latin1', i + 1, i + 1 + length));
    i += 1 + length;
  }
  return { name: labels.join('.'), end: i + 1 };
}

function writeName(name: string): Buffer {
  const labels = name
    .replace(/\.$/, '')
    .split('.')
    .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  return Buffer.concat([...labels, Buffer.from([0])]);
}
