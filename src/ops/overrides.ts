// Placeholder: gradient overrides are registered here (see ops/matmulGrad.ts).
export function installOverrides(): void {}
