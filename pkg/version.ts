import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package version, read once at start from package.json beside dist/. */
export function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
