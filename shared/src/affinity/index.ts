export { affinityKeys, sessionKey, type AffinityKeyOptions, type AffinityKeys, type SessionSources } from './affinityKeys.js';
export {
  encodeHeadsAnnouncement,
  encodeIndexEntry,
  indexHeads,
  MAX_INDEX_HOLDERS,
  parseHeadsAnnouncement,
  parseIndexHolders,
  RECORD_HOLDER_SCRIPT,
  type HeadsAnnouncement,
  type IndexEntry,
} from './indexEntry.js';
export { chainPositions, EMPTY_CHAIN, isChainPosition, prefixChain, type PrefixChain } from './prefixChain.js';
export { promptText, stripVolatile } from './promptText.js';
