// Container HEALTHCHECK probe. Slim Node images carry no curl, and Node's own
// fetch is all a probe needs. Usage: node healthcheck.mjs <url>
try {
  const res = await fetch(process.argv[2], { signal: AbortSignal.timeout(2_000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
