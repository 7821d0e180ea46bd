import type { Iptables } from '../linux/iptables/types.js';

export const FORWARD_CHAIN = 'KUBE-ROUTER-FORWARD-ACCEPT';
const JUMP = `-m comment --comment "kube-router pod forwarding" -j ${FORWARD_CHAIN}`;

/** Pod traffic in and out of the bridge and our tunnels, in iptables-save form. */
export const FORWARD_RULES: readonly string[] = ['-i kube-bridge -j ACCEPT', '-o kube-bridge -j ACCEPT', '-i kr-+ -j ACCEPT', '-o kr-+ -j ACCEPT'];

/**
 * Upstream's FORWARD accept rules (reference §4.6 step 4), for hosts whose FORWARD policy is DROP (as
 * Docker sets it). Ours are appended behind one jump at the end of FORWARD, so the firewall's jump at
 * the top (and anyone else's rules) still decide first; written only when missing.
 */
export async function ensureForwardRules(ipt: Iptables): Promise<number> {
  const save = await ipt.save('filter');
  const lines = save.split('\n');
  const ours = lines.filter((l) => l.startsWith(`-A ${FORWARD_CHAIN} `)).map((l) => l.slice(FORWARD_CHAIN.length + 4));
  const jumps = lines.filter((l) => l === `-A FORWARD ${JUMP}`).length;
  const out = ['*filter'];
  if (ours.length !== FORWARD_RULES.length || ours.some((r, i) => r !== FORWARD_RULES[i])) out.push(`:${FORWARD_CHAIN} - [0:0]`, ...FORWARD_RULES.map((r) => `-A ${FORWARD_CHAIN} ${r}`));
  if (jumps !== 1) {
    for (let i = 0; i < jumps; i++) out.push(`-D FORWARD ${JUMP}`);
    out.push(`-A FORWARD ${JUMP}`);
  }
  if (out.length === 1) return 0;
  await ipt.restore([...out, 'COMMIT', ''].join('\n'));
  return out.length - 1;
}
