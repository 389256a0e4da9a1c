/**
 * Download of the official CIFAR-10 binary archive: fetch, check the md5 published on
 * https://www.cs.toronto.edu/~kriz/cifar.html, gunzip and untar into a directory. The only
 * network access of symtele; everything else reads local files.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { DataError } from './errors.js';
import { gunzipFile } from './idx.js';
import { extractTar } from './tar.js';
import { CIFAR10_ARCHIVE_DIR, CIFAR10_RECORD, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES } from './cifar.js';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';

export interface FetchCifar10Options {
  /** Where to download from (a mirror, or a local server in tests). */
  readonly url?: string;
  /** Expected md5 of the archive. */
  readonly md5?: string;
  /** Download even when the files are already there. */
  readonly force?: boolean;
  /** Progress messages. */
  readonly log?: (message: string) => void;
}

export function md5Hex(buf: Uint8Array): string {
  return createHash('md5').update(buf).digest('hex');
}

/** True when dir/cifar-10-batches-bin holds the six batch files, each a whole number of records. */
export function hasCifar10(dir: string): boolean {
  const root = path.join(dir, CIFAR10_ARCHIVE_DIR);
  return [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].every((f) => {
    const p = path.join(root, f);
    return existsSync(p) && statSync(p).size > 0 && statSync(p).size % CIFAR10_RECORD === 0;
  });
}

/**
 * Check an archive's md5 and extract it under `dir`. Nothing is written when the md5 differs.
 * Returns the directory of the batch files (dir/cifar-10-batches-bin).
 */
export function extractCifar10Archive(archive: Uint8Array, dir: string, md5 = CIFAR10_MD5, source = 'CIFAR-10 archive'): string {
  const got = md5Hex(archive);
  if (got !== md5) {
    throw new DataError(`${source}: md5 ${got}, expected ${md5} (corrupted or incomplete download); nothing was extracted`);
  }
  mkdirSync(dir, { recursive: true });
  extractTar(gunzipFile(archive, source), dir, source);
  const root = path.join(dir, CIFAR10_ARCHIVE_DIR);
  if (!existsSync(path.join(root, CIFAR10_TEST_FILE))) {
    throw new DataError(`${source}: extracted, but ${path.join(CIFAR10_ARCHIVE_DIR, CIFAR10_TEST_FILE)} is not in it`);
  }
  return root;
}

/**
 * Download CIFAR-10 (binary version) into `dir` unless it is already there; returns the
 * directory of the batch files, ready for `loadDataset('cifar10', { dir })`.
 */
export async function fetchCifar10(dir: string, opts: FetchCifar10Options = {}): Promise<string> {
  const url = opts.url ?? CIFAR10_URL;
  const log = opts.log ?? (() => {});
  if (!opts.force && hasCifar10(dir)) {
    log(`CIFAR-10 already in ${path.join(dir, CIFAR10_ARCHIVE_DIR)}`);
    return path.join(dir, CIFAR10_ARCHIVE_DIR);
  }
  log(`downloading ${url}`);
  let body: Uint8Array;
  try {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    body = new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    throw new DataError(`CIFAR-10: download of ${url} failed: ${(e as Error).message}${(e as Error).cause ? ` (${String((e as Error).cause)})` : ''}`);
  }
  log(`downloaded ${body.length} bytes; checking md5 and extracting into ${dir}`);
  return extractCifar10Archive(body, dir, opts.md5 ?? CIFAR10_MD5, url);
}
