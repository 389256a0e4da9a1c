// A teleporting Adam on an MLP: the same network, data and Adam, with and without a teleport
// before the first step (gradient ascent on ||dL/dW||^2 along the GL(n) symmetry, which keeps
// the loss), then the loss along training.  Run: npx tsx examples/teleporting-adam.ts
import { tf, initBackend, optimizer, withTeleport, stepWithTeleport, disposeTeleportingState, mlpLoss, mlpGrads, stream } from 'symtele';

await initBackend('wasm');
const widths = [20, 20, 20];
const r = stream(0, 'example');
const x = tf.tensor2d(r.normalArray(20 * 20), [20, 20]);
const y = tf.tensor2d(r.normalArray(20 * 20), [20, 20]);
const ws0 = tf.tidy(() => [0, 1].map(() => tf.mul(tf.tensor2d(r.normalArray(400), [20, 20]), 0.3)));
const grads = (ws: tf.Tensor[]) => mlpGrads(ws, x, y, { loss: 'mse' });
const loss = (ws: tf.Tensor[]) => tf.tidy(() => mlpLoss(ws, x, y, { loss: 'mse' }).dataSync()[0]!);

for (const teleported of [false, true]) {
  const adam = withTeleport(optimizer({ name: 'adam', lr: 1e-3 }), {
    at: teleported ? [0] : [],
    data: () => [{ x, target: y }],
    teleport: { objective: 'gradNorm', steps: 10, lr: 1e-3, stepNorm: 0.1, loss: 'mse', kind: 'pinv' },
  });
  let params = ws0.map((w) => tf.clone(w));
  let state = adam.init(params);
  const curve: string[] = [];
  for (let step = 0; step <= 200; step++) {
    if ([0, 10, 50, 200].includes(step)) curve.push(`step ${step}: ${loss(params).toFixed(4)}`);
    const next = stepWithTeleport(adam, params, state, grads);
    ({ params, state } = next);
  }
  console.log(`${teleported ? 'Adam + teleport' : 'Adam          '}  ${curve.join('  ')}`);
  tf.dispose(params);
  disposeTeleportingState(state);
}
tf.dispose([...ws0, x, y]);
console.log(`widths ${widths.join('x')}, tensors left: ${tf.memory().numTensors}`);
