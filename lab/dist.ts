import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

/** dist/ of this build: lab processes run compiled JavaScript. */
export const DIST = resolve(fileURLToPath(import.meta.url), '../..');

/** The repository (dist/'s parent). */
export const REPO_ROOT = resolve(DIST, '..');
