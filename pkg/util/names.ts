import { createHash } from 'node:crypto';

/**
 * Deterministic, bounded kernel object names: a readable prefix plus a short hash of the full key.
 * The hash is base32 of sha256 (upper-case A-Z2-7), legal in iptables chain names, ipset names,
 * nft identifiers and interface names. Callers pass the kernel's limit and get a name within it.
 */
export function shortHash(key: string, length: number): string {
  const digest = createHash('sha256').update(key).digest();
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= length) break;
  }
  return out;
}

export function boundedName(prefix: string, key: string, maxLength: number, hashLength = 16): string {
  const h = shortHash(key, Math.min(hashLength, maxLength - prefix.length));
  if (prefix.length + h.length > maxLength) throw new Error(`name prefix ${prefix} leaves no room for a hash`);
  return prefix + h;
}
