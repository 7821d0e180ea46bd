import assert from 'node:assert/strict';
import type { IP } from '../util/ip.js';
import { md5sigStruct } from './tcp-md5.js';

describe('TCP MD5 option value (struct tcp_md5sig, linux/tcp.h)', () => {
  it('lays out the peer address, key length and key at the kernel offsets', () => {
    const b = md5sigStruct('198.18.0.2' as IP, Buffer.from('secret'));
    assert.equal(b.length, 216, 'sockaddr_storage 128 + flags 1 + prefixlen 1 + keylen 2 + ifindex 4 + key 80');
    assert.equal(b.readUInt16LE(0), 2, 'AF_INET');
    assert.deepEqual([...b.subarray(4, 8)], [198, 18, 0, 2], 'sin_addr after family and port');
    assert.equal(b.readUInt16LE(130), 6, 'tcpm_keylen');
    assert.equal(b.subarray(136, 142).toString(), 'secret');
    const v6 = md5sigStruct('2001:db8::2' as IP, undefined);
    assert.equal(v6.readUInt16LE(0), 10, 'AF_INET6');
    assert.deepEqual([...v6.subarray(8, 24)], [0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), 2], 'sin6_addr after family, port, flowinfo');
    assert.equal(v6.readUInt16LE(130), 0, 'no key: removes it');
    assert.throws(() => md5sigStruct('198.18.0.2' as IP, Buffer.alloc(81)), /at most 80/);
  });
});
