import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Host configuration files we own (the CNI config): read, and replaced atomically (write beside, rename). */
export interface ConfigFiles {
  /** The file's text, or undefined when it does not exist. */
  read(path: string): Promise<string | undefined>;
  /** Creates the directory if needed; readers never see a half-written file. */
  write(path: string, text: string): Promise<void>;
}

export class RealConfigFiles implements ConfigFiles {
  async read(path: string): Promise<string | undefined> {
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async write(path: string, text: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(`${path}.tmp`, text);
    await rename(`${path}.tmp`, path);
  }
}

export class FakeConfigFiles implements ConfigFiles {
  readonly files = new Map<string, string>();
  writes = 0;

  read(path: string): Promise<string | undefined> {
    return Promise.resolve(this.files.get(path));
  }

  write(path: string, text: string): Promise<void> {
    this.files.set(path, text);
    this.writes++;
    return Promise.resolve();
  }
}
