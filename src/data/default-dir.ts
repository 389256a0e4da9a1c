// Where datasets that do not ship with symtele live by default: `symtele data fetch` writes
// there and `loadDataset` reads there, so a fetched dataset needs no directory setting.
import path from 'node:path';

/** The default directory of a dataset: $SYMTELE_DATA/<name>, else data/<name> (relative to the working directory). */
export function defaultDataDir(name: string, env: Record<string, string | undefined> = process.env): string {
  const root = env.SYMTELE_DATA !== undefined && env.SYMTELE_DATA !== '' ? env.SYMTELE_DATA : 'data';
  return path.join(root, name);
}

/** The command that puts CIFAR-10 into `dir` (no --dir when it is the default). */
export function cifar10FetchCommand(dir: string): string {
  return `symtele data fetch cifar10${path.resolve(dir) === path.resolve(defaultDataDir('cifar10')) ? '' : ` --dir ${dir}`}`;
}
