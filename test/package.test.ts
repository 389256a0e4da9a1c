// The built package entry (dist/, what `import('symtele')` loads) exposes the public API and
// the tfjs namespace it computes with. `npm test` builds first (pretest).
import { test } from 'node:test';
import assert from 'node:assert/strict';

test('import("symtele") resolves to the built entry with tf and the toolkit', async () => {
  const m = await import('symtele');
  for (const name of ['tf', 'initBackend', 'mlpLoss', 'gradNormSq', 'groupAction', 'curvature', 'sharpness', 'teleport', 'optimizer', 'pinv', 'expm', 'createSummaryWriter']) {
    assert.ok(name in m, `missing export ${name}`);
  }
  await m.initBackend('cpu');
  const ws = [m.tf.tensor2d([[1, 2], [3, 4]]), m.tf.tensor2d([[1, -1]])];
  const x = m.tf.tensor2d([[1, 0], [0, 1]]);
  const y = m.tf.tensor2d([[1, 2]]);
  // the tensors made through the exported tf live on the engine the library uses
  const loss = m.mlpLoss(ws, x, y).dataSync()[0];
  // f(x) = W2 s(W1 x): columns s([1,3]) = [1,3] -> -2 ; s([2,4]) -> -2 ; 0.5((1+2)^2 + (2+2)^2) = 12.5
  assert.ok(Math.abs(loss - 12.5) < 1e-5, `loss ${loss}`);
});
