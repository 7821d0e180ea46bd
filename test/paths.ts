import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

/** dist/ of this build (tests run from compiled JavaScript). */
export const DIST = resolve(fileURLToPath(import.meta.url), '../..');
export const KUBE_ROUTER_BIN = resolve(DIST, 'cmd/kube-router.js');
export const FIXTURE_BIN = resolve(DIST, "fixture/apiserver/main.js");
