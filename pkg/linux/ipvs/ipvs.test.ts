import assert from 'node:assert/strict';
import { decodeAttrs, decodeMessages, encodeGenl, read } from '../genl/message.js';
import type { IP } from '../../util/ip.js';
import { CMD, decodeDestination, decodeService, messages, serviceAttrs } from './codec.js';
import { ipvsContract } from './contract.test-support.js';
import { FakeIpvs } from './fake.js';

const ip = (s: string): IP => s as IP;

ipvsContract('fake', () => Promise.resolve({ ipvs: new FakeIpvs(), close: () => Promise.resolve() }));

describe('IPVS generic netlink codec (byte layouts of linux/ip_vs.h)', () => {
  it('NEW_SERVICE: nlmsghdr, genlmsghdr, nested service with AF, protocol, 16-byte address, big-endian port, scheduler, flags pair, timeout, netmask', () => {
    const buf = encodeGenl({ family: 0x22, cmd: CMD.NEW_SERVICE, version: 1, flags: 0x5, seq: 7, attrs: messages.newService({ id: { family: 4, protocol: 'tcp', address: ip('198.18.0.1'), port: 80 }, scheduler: 'rr', flags: { persistent: true }, timeout: 300, netmask: 0xffffffff }) });
    const hex = buf.toString('hex');
    // nlmsghdr: len, type 0x22, flags REQUEST|ACK, seq 7, pid 0
    assert.equal(hex.slice(0, 32), `${buf.length.toString(16).padStart(2, '0')}000000` + '2200' + '0500' + '07000000' + '00000000');
    // genlmsghdr: cmd 1 (IPVS_CMD_NEW_SERVICE), version 1, reserved
    assert.equal(hex.slice(32, 40), '01010000');
    // IPVS_CMD_ATTR_SERVICE (1), nested; its attributes in order:
    const nested = buf.subarray(20);
    assert.equal(nested.readUInt16LE(2), 1);
    const a = buf.subarray(24).toString('hex');
    assert.equal(a.slice(0, 16), '0600' + '0100' + '0200' + '0000'); // AF (1) = AF_INET (2), padded
    assert.equal(a.slice(16, 32), '0600' + '0200' + '0600' + '0000'); // PROTOCOL (2) = 6
    assert.equal(a.slice(32, 72), '1400' + '0300' + 'c6120001' + '00'.repeat(12)); // ADDR (3): 16 bytes
    assert.equal(a.slice(72, 88), '0600' + '0400' + '0050' + '0000'); // PORT (4) = 80, big-endian
    assert.equal(a.slice(88, 104), '0700' + '0600' + '72720000'); // SCHED_NAME (6) = "rr\0", padded
    assert.equal(a.slice(104, 128), '0c00' + '0700' + '01000000' + '3d000000'); // FLAGS (7): {flags=PERSISTENT, mask}
    assert.equal(a.slice(128, 144), '0800' + '0800' + '2c010000'); // TIMEOUT (8) = 300
    assert.equal(a.slice(144, 160), '0800' + '0900' + 'ffffffff'); // NETMASK (9), big-endian
    assert.equal(a.length, 160);
  });

  it('NEW_DEST: service id then nested destination with fwd method, weight, thresholds, address family', () => {
    const attrs = messages.dest({ family: 6, protocol: 'udp', address: ip('2001:db8::1'), port: 53 }, { address: ip('2001:db8::2'), port: 5353, forward: 'masq', weight: 2, upperThreshold: 0, lowerThreshold: 0 });
    const buf = encodeGenl({ family: 0x22, cmd: CMD.NEW_DEST, version: 1, flags: 5, seq: 1, attrs });
    const top = decodeAttrs(buf.subarray(20));
    const svc = read.nested(top, 1);
    const d = read.nested(top, 2);
    assert.ok(svc && d);
    assert.equal(read.u16(svc, 1), 10); // AF_INET6
    assert.equal(read.u16(svc, 2), 17);
    assert.equal(svc.get(3)?.toString('hex'), '20010db8000000000000000000000001');
    assert.equal(read.be16(svc, 4), 53);
    assert.equal(d.get(1)?.toString('hex'), '20010db8000000000000000000000002');
    assert.equal(d.get(2)?.toString('hex'), '14e9'); // 5353 big-endian
    assert.equal(read.u32(d, 3), 0); // IP_VS_CONN_F_MASQ
    assert.equal(read.u32(d, 4), 2);
    assert.equal(read.u16(d, 11), 10);
  });

  it('decodes a GET_SERVICE reply and a GET_DEST reply with 64-bit stats', () => {
    // Build replies the way the kernel lays them out, from our own encoder.
    const own = serviceAttrs({ id: { family: 4, protocol: 'udp', address: ip('198.18.0.9'), port: 53 }, scheduler: 'sh', flags: { sched1: true, sched2: true }, timeout: 0, netmask: 0xffffffff });
    const stats64 = { type: 12, nested: [{ type: 1, value: Buffer.from('0500000000000000', 'hex') }, { type: 4, value: Buffer.from('0010000000000000', 'hex') }] };
    const svcReply = encodeGenl({ family: 0x22, cmd: CMD.NEW_SERVICE, version: 1, flags: 2, seq: 1, attrs: [{ type: 1, nested: [...own, stats64] }] });
    const [m] = decodeMessages(svcReply);
    assert.ok(m && m.kind === 'data');
    const s = decodeService(m.attrs);
    assert.deepEqual(s.id, { family: 4, protocol: 'udp', address: '198.18.0.9', port: 53 });
    assert.equal(s.scheduler, 'sh');
    assert.deepEqual(s.flags, { sched1: true, sched2: true });
    assert.equal(s.stats.connections, 5);
    assert.equal(s.stats.bytesIn, 4096);
    const destReply = encodeGenl({ family: 0x22, cmd: CMD.NEW_DEST, version: 1, flags: 2, seq: 1, attrs: [{ type: 2, nested: [{ type: 1, value: Buffer.from('c6120102000000000000000000000000', 'hex') }, { type: 2, value: Buffer.from('1f90', 'hex') }, { type: 3, value: Buffer.from('00000000', 'hex') }, { type: 4, value: Buffer.from('01000000', 'hex') }, { type: 7, value: Buffer.from('03000000', 'hex') }, { type: 8, value: Buffer.from('02000000', 'hex') }, { type: 11, value: Buffer.from('0200', 'hex') }] }] });
    const [dm] = decodeMessages(destReply);
    assert.ok(dm && dm.kind === 'data');
    const d = decodeDestination(dm.attrs, 4);
    assert.equal(d.address, '198.18.1.2');
    assert.equal(d.port, 8080);
    assert.equal(d.activeConnections, 3);
    assert.equal(d.inactiveConnections, 2);
    assert.equal(d.forward, 'masq');
  });

  it('decodes an error with the kernel extended-ack text, and DONE', () => {
    // NLMSG_ERROR: error -17, capped echo of the request header, then NLMSGERR_ATTR_MSG.
    const text = Buffer.from('Service already exists\0');
    const tlv = Buffer.alloc(4 + ((text.length + 3) & ~3));
    tlv.writeUInt16LE(4 + text.length, 0);
    tlv.writeUInt16LE(1, 2);
    text.copy(tlv, 4);
    const body = Buffer.concat([Buffer.from('efffffff', 'hex'), Buffer.alloc(16), tlv]);
    const err = Buffer.alloc(16);
    err.writeUInt32LE(16 + body.length, 0);
    err.writeUInt16LE(2, 4);
    err.writeUInt16LE(0x300, 6); // CAPPED | ACK_TLVS
    err.writeUInt32LE(9, 8);
    const done = Buffer.alloc(20);
    done.writeUInt32LE(20, 0);
    done.writeUInt16LE(3, 4);
    done.writeUInt32LE(10, 8);
    assert.deepEqual(decodeMessages(Buffer.concat([err, body, done])), [{ kind: 'error', seq: 9, errno: 17, message: 'Service already exists' }, { kind: 'done', seq: 10 }]);
  });
});
