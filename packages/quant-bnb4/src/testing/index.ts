// Test data for other workspace packages' tests (`@peft/quant-bnb4/testing`): the bitsandbytes golden
// cases this package owns. Node only (it reads the fixture files), and not published: the fixtures stay in
// the repository.

export {
  type Bnb4GoldenCase,
  bnb4GoldenCase,
  bnb4GoldenCases,
  bytesFromBase64,
  float32FromBase64,
  readBnb4Fixture,
} from './golden.js';
