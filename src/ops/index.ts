// Public ops: second-order-safe activations, differentiable linear algebra, gradient checks.
export { DEFAULT_SLOPE, leakyRelu, leakyReluInv, leakyReluDeriv, exp, sigmoid, tanh, stopGradient, detach, crossEntropy, softmax } from './activations.js';
export { inv, pinv, SingularMatrixError } from './linalg.js';
export { expm } from './expm.js';
export {
  invNearIdentity,
  invNearIdentityWithResidual,
  newtonSchulzIterations,
  newtonSchulzErrorBound,
  type NearIdentityInverseOptions,
} from './near-identity.js';
export { countHostReads, countHostReadsAsync, type HostReadCount, type HostReadMethod } from './host-reads.js';
export {
  directionalDerivative,
  fdDerivative,
  gradientFD64,
  checkGradient,
  type Order,
  type GradCheckOptions,
  type GradCheckEntry,
  type GradCheckResult,
} from './gradcheck.js';
export { installOverrides } from './overrides.js';
