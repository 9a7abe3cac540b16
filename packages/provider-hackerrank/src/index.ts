// @feishu-exam/provider-hackerrank: HackerRank for Work as a feishu-exam provider package. The default export
// is the provider factory the gateway loads for `package: "@feishu-exam/provider-hackerrank"` (or the alias
// `type: hackerrank`); a fake of the API for tests is at '@feishu-exam/provider-hackerrank/fake'.
import { hackerRankProvider } from './provider.js';

export { type HackerRankOptions, hackerRankOptions, hackerRankProvider } from './provider.js';
export default hackerRankProvider;
