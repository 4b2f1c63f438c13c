import { randomUUID } from 'node:crypto';

const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** llama.cpp's `random_string()`: 32 alphanumerics (ids need not be cryptographic). */
export function alnumId(): string {
  let out = '';
  for (let i = 0; i < 32; i++) out += ALNUM[Math.floor(Math.random() * ALNUM.length)];
  return out;
}

/** vLLM's `random_uuid()`: a uuid4 as 32 hex digits. */
export function hexId(): string {
  return randomUUID().replaceAll('-', '');
}

export function unixSeconds(ms = Date.now()): number {
  return Math.floor(ms / 1000);
}
