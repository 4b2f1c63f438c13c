/**
 * True for a request target an engine may be sent: origin-form (one leading
 * `/`, so never a host), visible ASCII only, no empty, `.` or `..` segments
 * and no encoded or backslash separators, so that the engine resolves
 * exactly the path the ingress matched. The query string is not inspected
 * beyond its characters: it cannot change where a request goes.
 */
export function isSafeEnginePath(target: string): boolean {
  if (target.length === 0 || target.charCodeAt(0) !== 0x2f) return false;
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x23 /* # */ || c === 0x5c /* \ */) return false;
  }
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  if (/%(2f|5c|00)/i.test(path)) return false;
  const segments = path.slice(1).split('/');
  // Only the last segment may be empty (`/`, or a trailing slash).
  return segments.every((s, i) => {
    if (s.length === 0) return i === segments.length - 1;
    const decodedDots = s.replace(/%2e/gi, '.');
    return decodedDots !== '.' && decodedDots !== '..';
  });
}
