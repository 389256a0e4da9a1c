import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The package version, read from package.json (two levels above src/cli and dist/cli). */
export function packageVersion(): string {
  if (cached === undefined) {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    cached = pkg.version ?? 'unknown';
  }
  return cached;
}
