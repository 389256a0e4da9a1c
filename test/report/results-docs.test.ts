// The documents and the committed results: every repository file that README.md or docs/**/*.md
// cites is committed, every generated table is what `npm run report` gives from the committed
// result files, and README.md stays an entry page (at most 10 kB).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { citations, isTracked, untrackedCitations } from '../../scripts/report/cited-files.js';
import { changedDocuments, regenerate, ROOT } from '../../scripts/report/index.js';

test('every file a document cites is committed', () => {
  const missing = untrackedCitations(ROOT).map((c) => `${c.doc}:${c.line}: ${c.text}`);
  assert.deepEqual(missing, [], `cited but not committed:\n${missing.join('\n')}`);
});

test('the citation check sees links, images and backticked paths, and misses none that are absent', () => {
  const dir = fs.mkdtempSync(path.join(ROOT, '.report-test-'));
  try {
    const doc = path.relative(ROOT, path.join(dir, 'page.md'));
    fs.writeFileSync(path.join(dir, 'page.md'), 'See [a](../README.md#x), ![p](missing.png), `docs/none.json` and `experiments/meta-*.json`.\n```\n`docs/in-a-fence.json`\n```\n');
    const cited = citations(ROOT, doc).map((c) => c.file);
    const rel = path.relative(ROOT, dir);
    assert.deepEqual(cited, ['README.md', `${rel}/missing.png`, 'docs/none.json', 'experiments/meta-*.json']);
    const tracked = new Set(['README.md', 'experiments/meta-default.json']);
    assert.deepEqual(cited.map((f) => isTracked(f, tracked)), [true, false, false, true]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('regenerating the tables from the committed results changes no document', () => {
  const changed = changedDocuments(ROOT).map((c) => c.doc);
  assert.deepEqual(changed, [], `run npm run report: these documents differ from the committed results: ${changed.join(', ')}`);
});

test('a generated block is rewritten from its data and only it', () => {
  const text = 'before\n<!-- report:correlation-r docs/generalization/paper-size -->\nstale\n<!-- /report -->\nafter\n';
  const out = regenerate(text, 'x.md');
  assert.match(out, /^before\n<!-- report:correlation-r docs\/generalization\/paper-size -->\n\| metric \|/);
  assert.ok(out.endsWith('<!-- /report -->\nafter\n'));
  assert.ok(!out.includes('stale'));
  assert.throws(() => regenerate('<!-- report:nope -->\n<!-- /report -->', 'x.md'), /unknown report block 'nope'/);
});

test('README.md is at most 10 kB and keeps the two commands', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  assert.ok(Buffer.byteLength(readme) <= 10240, `README.md is ${Buffer.byteLength(readme)} bytes`);
  assert.match(readme, /npm ci && npm start/);
  assert.match(readme, /npm ci && npm test/);
});
