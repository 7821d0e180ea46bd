import assert from 'node:assert/strict';
import type { IP } from '../../util/ip.js';
import { AS_TRANS, CeaseSub, Notif, OpenSub } from '../codec/constants.js';
import type { Capability, OpenMessage } from '../codec/types.js';
import { initialState, nextDeadline, step } from './fsm.js';
import type { FsmAction, FsmEvent, FsmState, PeerConfig } from './types.js';

const caps: Capability[] = [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'multiprotocol', afi: 2, safi: 1 }, { kind: 'route-refresh' }, { kind: 'four-octet-as', asn: 64512 }, { kind: 'graceful-restart', restarting: false, notification: false, time: 90, families: [] }];
const cfg: PeerConfig = { localAs: 64512, peerAs: 64512, routerId: '198.18.0.11' as IP, holdTime: 90, connectRetrySeconds: 5, passive: false, capabilities: caps };
const peerOpen = (over: Partial<OpenMessage> = {}): OpenMessage => ({ type: 'open', version: 4, myAs: 64512, holdTime: 30, bgpId: '198.18.0.12' as IP, capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'four-octet-as', asn: 64512 }, { kind: 'graceful-restart', restarting: false, notification: false, time: 90, families: [] }], ...over });

/** Drives the reducer with an injected clock: timers of minutes take no time. */
class Run {
  state: FsmState = initialState();
  now = 0;
  actions: FsmAction[] = [];
  constructor(private readonly c: PeerConfig = cfg) {}
  on(e: FsmEvent, at = this.now): FsmAction[] {
    this.now = at;
    const r = step(this.c, this.state, e, at);
    this.state = r.state;
    this.actions.push(...r.actions);
    return [...r.actions];
  }
  msg(m: Parameters<typeof step>[2] extends infer E ? (E extends { type: 'Message'; message: infer M } ? M : never) : never, at = this.now): FsmAction[] {
    return this.on({ type: 'Message', message: m }, at);
  }
  established(): void {
    this.on({ type: 'ManualStart' });
    this.on({ type: 'TcpConnected' });
    this.msg(peerOpen());
    this.msg({ type: 'keepalive' });
    assert.equal(this.state.name, 'Established');
  }
}

const sent = (as: FsmAction[]): string[] => as.flatMap((a) => (a.type === 'send' ? [a.message.type === 'notification' ? `notification ${a.message.code}/${a.message.subcode}` : a.message.type] : []));

describe('BGP FSM (RFC 4271 section 8, pure reducer)', () => {
  it('Idle → Connect → OpenSent → OpenConfirm → Established, negotiating hold time, families and 4-octet AS', () => {
    const r = new Run();
    assert.deepEqual(r.on({ type: 'ManualStart' }), [{ type: 'connect' }]);
    assert.equal(r.state.name, 'Connect');
    const a = r.on({ type: 'TcpConnected' });
    assert.equal(r.state.name, 'OpenSent');
    const open = a.find((x) => x.type === 'send')?.type === 'send' ? (a[0] as Extract<FsmAction, { type: 'send' }>).message : undefined;
    assert.equal(open?.type, 'open');
    assert.deepEqual(sent(r.msg(peerOpen())), ['keepalive']);
    assert.equal(r.state.name, 'OpenConfirm');
    const up = r.msg({ type: 'keepalive' });
    assert.equal(r.state.name, 'Established');
    const n = up.find((x) => x.type === 'up');
    assert.ok(n?.type === 'up');
    assert.equal(n.negotiated.holdTime, 30, 'the smaller hold time');
    assert.equal(n.negotiated.keepalive, 10);
    assert.equal(n.negotiated.fourOctetAs, true);
    assert.deepEqual(n.negotiated.families, [{ afi: 1, safi: 1 }], 'only families both sides have');
    assert.equal(n.negotiated.gracefulRestart, true);
    assert.equal(n.negotiated.routeRefresh, false, 'the peer did not offer route refresh');
  });

  it('a four-octet local AS goes in My AS as AS_TRANS', () => {
    const r = new Run({ ...cfg, localAs: 4200000001, peerAs: 4200000001, capabilities: [{ kind: 'four-octet-as', asn: 4200000001 }] });
    r.on({ type: 'ManualStart' });
    const a = r.on({ type: 'TcpConnected' })[0];
    assert.ok(a?.type === 'send' && a.message.type === 'open');
    assert.equal(a.message.myAs, AS_TRANS);
  });

  it('keepalives every hold/3; the hold timer expires after 90 s of silence (0 ms of test time)', () => {
    const r = new Run({ ...cfg });
    r.on({ type: 'ManualStart' });
    r.on({ type: 'TcpConnected' });
    r.msg(peerOpen({ holdTime: 90 }));
    r.msg({ type: 'keepalive' });
    assert.deepEqual(sent(r.on({ type: 'Tick' }, 29_999)), []);
    assert.deepEqual(sent(r.on({ type: 'Tick' }, 30_000)), ['keepalive']);
    r.msg({ type: 'keepalive' }, 60_000); // the peer is alive: hold timer restarts
    assert.deepEqual(sent(r.on({ type: 'Tick' }, 140_000)), ['keepalive'], 'not expired: 90 s since the last keepalive are not over');
    const a = r.on({ type: 'Tick' }, 150_000);
    assert.deepEqual(sent(a), ['notification 4/0']);
    assert.ok(a.some((x) => x.type === 'disconnect'));
    assert.ok(a.some((x) => x.type === 'down' && !x.graceful));
    assert.equal(r.state.name, 'Idle');
  });

  it('an UPDATE restarts the hold timer and is delivered', () => {
    const r = new Run();
    r.established();
    const u = { type: 'update' as const, withdrawn: [], attributes: [], nlri: [] };
    assert.deepEqual(r.msg(u, 20_000), [{ type: 'deliver', message: u }]);
    assert.equal(r.state.holdAt, 20_000 + 30_000);
  });

  it('a wrong peer AS is refused with 2/2; the restart waits, longer after each failure', () => {
    const r = new Run();
    r.on({ type: 'ManualStart' });
    r.on({ type: 'TcpConnected' });
    assert.deepEqual(sent(r.msg(peerOpen({ capabilities: [{ kind: 'four-octet-as', asn: 65000 }] }))), [`notification ${Notif.Open}/${OpenSub.BadPeerAs}`]);
    assert.equal(r.state.name, 'Idle');
    assert.equal(r.state.idleHoldAt, 5_000);
    assert.deepEqual(r.on({ type: 'Tick' }, 4_999), []);
    assert.deepEqual(r.on({ type: 'Tick' }, 5_000), [{ type: 'connect' }]);
    r.on({ type: 'TcpConnected' });
    r.msg(peerOpen({ capabilities: [{ kind: 'four-octet-as', asn: 65000 }] }));
    assert.equal(r.state.idleHoldAt, 5_000 + 10_000, 'second failure: twice the wait');
  });

  it('passive peers wait for the connection', () => {
    const r = new Run({ ...cfg, passive: true });
    assert.deepEqual(r.on({ type: 'ManualStart' }), []);
    assert.equal(r.state.name, 'Active');
    assert.deepEqual(r.on({ type: 'Tick' }, 5_000), [], 'no connect on retry either');
    r.on({ type: 'TcpConnected' });
    assert.equal(r.state.name, 'OpenSent');
  });

  it('connect retry; a failed connection waits in Active', () => {
    const r = new Run();
    r.on({ type: 'ManualStart' });
    assert.deepEqual(r.on({ type: 'Tick' }, 5_000), [{ type: 'disconnect' }, { type: 'connect' }]);
    assert.equal(r.state.name, 'Connect');
    r.on({ type: 'TcpFails' });
    assert.equal(r.state.name, 'Active');
    assert.deepEqual(r.on({ type: 'Tick' }, 10_000), [{ type: 'connect' }]);
    assert.equal(r.state.name, 'Connect');
    r.on({ type: 'TcpConnected' });
    r.on({ type: 'TcpFails' });
    assert.equal(r.state.name, 'Active', 'OpenSent + TCP failure → Active');
  });

  it('losing TCP in Established keeps routes with graceful restart; a NOTIFICATION does not', () => {
    const a = new Run();
    a.established();
    assert.ok(a.on({ type: 'TcpFails' }).some((x) => x.type === 'down' && x.graceful));
    const b = new Run();
    b.established();
    assert.ok(b.msg({ type: 'notification', code: Notif.Cease, subcode: CeaseSub.AdminReset, data: new Uint8Array(0) }).some((x) => x.type === 'down' && !x.graceful));
    assert.equal(b.state.name, 'Idle');
  });

  it('messages out of order are FSM errors', () => {
    const r = new Run();
    r.on({ type: 'ManualStart' });
    r.on({ type: 'TcpConnected' });
    r.msg(peerOpen());
    assert.deepEqual(sent(r.msg({ type: 'update', withdrawn: [], attributes: [], nlri: [] })), [`notification ${Notif.Fsm}/0`]);
    assert.equal(r.state.name, 'Idle');
  });

  it('ManualStop sends Cease/admin-shutdown and stays down', () => {
    const r = new Run();
    r.established();
    const a = r.on({ type: 'ManualStop' });
    assert.deepEqual(sent(a), [`notification ${Notif.Cease}/${CeaseSub.AdminShutdown}`]);
    assert.ok(a.some((x) => x.type === 'down' && !x.graceful));
    assert.deepEqual(r.on({ type: 'Tick' }, 1e9), []);
    assert.equal(r.state.enabled, false);
  });

  it('a decode error sends its NOTIFICATION; a lost collision sends Cease/collision', () => {
    const r = new Run();
    r.established();
    assert.deepEqual(sent(r.on({ type: 'DecodeError', code: 3, subcode: 10, reason: 'bad NLRI' })), ['notification 3/10']);
    const c = new Run();
    c.on({ type: 'ManualStart' });
    c.on({ type: 'TcpConnected' });
    assert.deepEqual(sent(c.on({ type: 'CollisionDump' })), [`notification ${Notif.Cease}/${CeaseSub.CollisionResolution}`]);
  });

  it('hold time 0: no keepalives and no hold timer', () => {
    const r = new Run({ ...cfg, holdTime: 0 });
    r.on({ type: 'ManualStart' });
    r.on({ type: 'TcpConnected' });
    r.msg(peerOpen({ holdTime: 0 }));
    r.msg({ type: 'keepalive' });
    assert.equal(r.state.name, 'Established');
    assert.equal(nextDeadline(r.state), undefined);
    assert.deepEqual(r.on({ type: 'Tick' }, 1e9), []);
  });
});
