export { authenticationConfigured } from './access.js';
export { bearerToken } from './bearer.js';
export { hashApiKey, MIN_API_KEY_LENGTH, parseApiKeyList, type ApiKeyEntry } from './apiKeys.js';
export { isSafeEnginePath } from './enginePath.js';
export { PRIORITY_BAND_WIDTH, PRIORITY_CLASSES, priorityClassOf, priorityClassScores, type PriorityClass } from './priority.js';
export {
  ENGINE_ADMIN_PATHS,
  ENGINE_READ_PATHS,
  ENGINE_UI_HELPER_PATHS,
  isDeniedEnginePost,
  isPassthroughTarget,
  isPlainRoutePath,
  isWebUiAsset,
  pathOf,
} from './engineRoutes.js';
export { JWKS_ALGORITHMS, jwksProblems } from './jwks.js';
