import { GenlClient, type GenlClientOptions } from '../genl/client.js';
import type { OpenNetlinkSocket } from '../genl/socket.js';
import type { Attr } from '../genl/message.js';
import { CMD, decodeDestination, decodeService, decodeTimeouts, IPVS_GENL_NAME, IPVS_GENL_VERSION, messages, serviceIdAttr } from './codec.js';
import { serviceIdKey, type Ipvs, type IpvsOp, type IpvsServiceId } from './types.js';

function callOf(op: IpvsOp, service: (id: IpvsServiceId) => Attr): { cmd: number; attrs: Attr[] } {
  switch (op.op) {
    case 'add-service':
      return { cmd: CMD.NEW_SERVICE, attrs: messages.newService(op.service) };
    case 'update-service':
      return { cmd: CMD.SET_SERVICE, attrs: messages.setService(op.service) };
    case 'delete-service':
      return { cmd: CMD.DEL_SERVICE, attrs: messages.delService(op.id) };
    case 'add-dest':
      return { cmd: CMD.NEW_DEST, attrs: messages.dest(op.service, op.dest, service(op.service)) };
    case 'update-dest':
      return { cmd: CMD.SET_DEST, attrs: messages.dest(op.service, op.dest, service(op.service)) };
    case 'delete-dest':
      return { cmd: CMD.DEL_DEST, attrs: messages.delDest(op.service, op.address, op.port, service(op.service)) };
  }
}

/**
 * IPVS over our generic-netlink client. Resolves to undefined when the kernel has no IPVS (the family
 * lookup itself asks the kernel to load ip_vs where modules can be loaded).
 */
export async function openIpvs(sockets: OpenNetlinkSocket, opts: GenlClientOptions = {}): Promise<Ipvs | undefined> {
  const client = await GenlClient.open(sockets, IPVS_GENL_NAME, IPVS_GENL_VERSION, opts);
  if (!client) return undefined;
  return {
    async services() {
      return (await client.dump(CMD.GET_SERVICE)).map((r) => decodeService(r.attrs));
    },
    async destinations(service) {
      return (await client.dump(CMD.GET_DEST, messages.getDests(service))).map((r) => decodeDestination(r.attrs, service.family));
    },
    apply(ops) {
      const encoded = new Map<string, Attr>();
      const service = (id: IpvsServiceId): Attr => {
        const k = serviceIdKey(id);
        let a = encoded.get(k);
        if (!a) encoded.set(k, (a = serviceIdAttr(id)));
        return a;
      };
      return client.batch(ops.map((op) => callOf(op, service)));
    },
    async timeouts() {
      const [r] = await client.request(CMD.GET_CONFIG, []);
      return r ? decodeTimeouts(r.attrs) : { tcp: 0, tcpFin: 0, udp: 0 };
    },
    async setTimeouts(t) {
      await client.request(CMD.SET_CONFIG, messages.setConfig(t));
    },
    close() {
      client.close();
    },
  };
}
