import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DIST } from '../../test/paths.js';
import { DAEMON_NODE_FLAGS } from './node-flags.js';

describe('daemon node flags', () => {
  const root = resolve(DIST, '..');
  it('the shebang, the Dockerfile and npm start launch the daemon with the same flags', () => {
    const flags = DAEMON_NODE_FLAGS.join(' ');
    assert.equal(readFileSync(resolve(root, 'cmd/kube-router.ts'), 'utf8').split('\n')[0], `#!/usr/bin/env -S node ${flags}`);
    assert.match(readFileSync(resolve(root, 'Dockerfile'), 'utf8'), new RegExp(`ENTRYPOINT \\["node", ${DAEMON_NODE_FLAGS.map((f) => `"${f}"`).join(', ')}, "/app/dist/cmd/kube-router.js"\\]`));
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts['start'], `node ${flags} dist/cmd/kube-router.js`);
  });
});
