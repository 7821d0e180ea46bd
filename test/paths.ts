import { resolve } from 'node:path';
import { DIST } from '../lab/dist.js';

/** dist/ of this build (tests run from compiled JavaScript). */
export { DIST };
export const KUBE_ROUTER_BIN = resolve(DIST, 'cmd/kube-router.js');
export const FIXTURE_BIN = resolve(DIST, "fixture/apiserver/main.js");
