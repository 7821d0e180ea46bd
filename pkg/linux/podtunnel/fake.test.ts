import type { IP } from '../../util/ip.js';
import { podTunnelContract } from './contract.test-support.js';
import { FakePodTunnels } from './fake.js';

podTunnelContract('fake', () => {
  const tunnels = new FakePodTunnels();
  tunnels.addPod(4242);
  return Promise.resolve({ tunnels, pid: 4242, podIP: '198.18.64.2' as IP, missingPid: 4343 });
});
