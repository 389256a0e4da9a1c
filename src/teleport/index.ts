export * from './objectives.js';
export * from './teleport.js';
