// Repository files cited by the markdown documents (README.md, docs/**/*.md): relative links and
// images, and backticked paths under docs/ or experiments/. Used by `npm run report -- --check`
// and test/report/results-docs.test.ts to find citations of files that are not committed.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

/** Files in git's index (committed or staged), relative to the repository root. */
export function trackedFiles(root: string): Set<string> {
  const out = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  return new Set(out.split('\0').filter(Boolean));
}

/** The markdown documents the checks cover: README.md and every tracked .md under docs/. */
export function documents(tracked: ReadonlySet<string>): string[] {
  return [...tracked].filter((f) => f === 'README.md' || (f.startsWith('docs/') && f.endsWith('.md'))).sort();
}

export interface Citation {
  doc: string;
  line: number;
  /** As written in the document. */
  text: string;
  /** Resolved against the repository root. */
  file: string;
}

const stripFences = (s: string) => s.replace(/^```[\s\S]*?^```/gm, (m) => m.replace(/[^\n]/g, ' '));

/** Every repository path a document cites (links, images, backticked docs/ and experiments/ paths). */
export function citations(root: string, doc: string): Citation[] {
  const text = stripFences(fs.readFileSync(path.join(root, doc), 'utf8'));
  const out: Citation[] = [];
  const lineOf = (i: number) => text.slice(0, i).split('\n').length;
  for (const m of text.matchAll(/(?:\]\(|src=")([^)"\s]+)/g)) {
    const target = m[1]!;
    if (/^[a-z][a-z+.-]*:|^#/i.test(target)) continue;
    const p = decodeURIComponent(target.split('#')[0]!);
    out.push({ doc, line: lineOf(m.index!), text: target, file: path.posix.normalize(path.posix.join(path.posix.dirname(doc), p)) });
  }
  for (const m of text.matchAll(/`((?:docs|experiments)\/[^`\s]+)`/g)) {
    const p = m[1]!.replace(/[.,;:]$/, '');
    if (p.includes('<')) continue; // a placeholder such as experiments/<name>.json
    out.push({ doc, line: lineOf(m.index!), text: m[1]!, file: path.posix.normalize(p) });
  }
  return out;
}

const globRegExp = (p: string) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);

/** Whether a cited path names a tracked file, a folder holding one, or (with *) matches one. */
export function isTracked(file: string, tracked: ReadonlySet<string>): boolean {
  const brace = /\{([^{}]*)\}/.exec(file);
  if (brace) return brace[1]!.split(',').every((alt) => isTracked(file.replace(brace[0], alt), tracked));
  const f = file.replace(/\/$/, '');
  if (tracked.has(f)) return true;
  if (f.includes('*')) {
    const re = globRegExp(f);
    return [...tracked].some((t) => re.test(t));
  }
  return [...tracked].some((t) => t.startsWith(`${f}/`));
}

/** The citations, over every document, of files that are not tracked. */
export function untrackedCitations(root: string): Citation[] {
  const tracked = trackedFiles(root);
  return documents(tracked).flatMap((d) => citations(root, d)).filter((c) => !isTracked(c.file, tracked));
}
