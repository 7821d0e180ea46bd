import { bigIntToIP, bitsOf, cidrParts, ipToBigInt, type CIDR } from '../../util/ip.js';
import { Afi } from './constants.js';
import { BgpDecodeError } from './errors.js';
import type { Reader, Writer } from './reader.js';

/** RFC 4271 4.3: a prefix is its length in bits then just enough bytes to hold it. */
export function readPrefixes(r: Reader, afi: Afi, code: number, subcode: number): CIDR[] {
  const family = afi === Afi.IPv4 ? 4 : 6;
  const bits = bitsOf(family);
  const out: CIDR[] = [];
  while (r.remaining() > 0) {
    const len = r.u8('a prefix length');
    if (len > bits) throw new BgpDecodeError(code, subcode, `prefix length ${len} is longer than ${bits}`);
    const n = Math.ceil(len / 8);
    if (n > r.remaining()) throw new BgpDecodeError(code, subcode, `prefix of length ${len} runs past the field`);
    const bytes = r.bytes(n, 'a prefix');
    let v = 0n;
    for (let i = 0; i < bits / 8; i++) v = (v << 8n) | BigInt(i < n ? (bytes[i] as number) : 0);
    // Bits past the length are ignored (RFC 4271); the prefix is kept canonical.
    const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
    out.push(`${bigIntToIP(v & mask, family)}/${len}` as CIDR);
  }
  return out;
}

export function writePrefix(w: Writer, c: CIDR): void {
  const p = cidrParts(c);
  const bits = bitsOf(p.family);
  w.u8(p.prefix);
  const v = ipToBigInt(p.ip);
  for (let i = 0; i < Math.ceil(p.prefix / 8); i++) w.u8(Number((v >> BigInt(bits - 8 * (i + 1))) & 0xffn));
}

