export * as tf from '@tensorflow/tfjs';
export * from './backend/index.js';
