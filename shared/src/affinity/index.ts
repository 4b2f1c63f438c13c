export { affinityKeys, sessionKey, type AffinityKeyOptions, type AffinityKeys, type SessionSources } from './affinityKeys.js';
export {
  indexHeads,
  indexRecord,
  MAX_INDEX_HOLDERS,
  parseHeadsAnnouncement,
  parseIndexHolders,
  RECORD_HOLDER_SCRIPT,
  type HeadsAnnouncement,
  type IndexEntry,
  type IndexRecord,
} from './indexEntry.js';
export { chainPositions, EMPTY_CHAIN, isChainPosition, prefixChain, type PrefixChain } from './prefixChain.js';
export { promptText, stripVolatile } from './promptText.js';
