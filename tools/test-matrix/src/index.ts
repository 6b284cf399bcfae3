// @peft/test-matrix: the method x base-layer matrix. A method or quantizer joins by adding a row.

export { baseLayerRows, denseRow, fp4DqRow, fp4Row, nf4DqRow, nf4Row } from './base-rows.js';
export {
  checkBackward,
  checkForward,
  checkMergeUnmerge,
  checkSaveLoad,
  type Fixture,
  fixture,
  MATRIX_TARGETS,
} from './checks.js';
export { defineMatrix, type MatrixOptions } from './define-matrix.js';
export { loraRow, methodRows, veraRow } from './method-rows.js';
export type { BaseLayerRow, MethodRow } from './rows.js';
