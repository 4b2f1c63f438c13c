import { describe, expect, it } from 'vitest';
import { loadCapture } from '../../../infra/sim/src/testing/capture.js';
import { parsePrometheusText, sumOf } from './prometheusText.js';

describe('Prometheus text parsing', () => {
  it('reads every llama.cpp family of a real scrape, comments skipped', () => {
    const metrics = parsePrometheusText(loadCapture('metrics-busy-np4').body.toString());
    expect(metrics.size).toBe(15);
    expect(metrics.get('llamacpp:requests_processing')).toEqual([{ labels: {}, value: 4 }]);
    expect(metrics.get('llamacpp:requests_deferred')).toEqual([{ labels: {}, value: 1 }]);
    expect(metrics.get('llamacpp:prompt_seconds_total')).toEqual([{ labels: {}, value: 13.3464 }]);
    expect([...metrics.keys()].some((name) => name.startsWith('#'))).toBe(false);
  });

  it('keeps labels, escaped quotes and braces inside label values included', () => {
    const text = [
      '# TYPE vllm:num_requests_running gauge',
      'vllm:num_requests_running{engine="0",model_name="org/m{v2}"} 7.0',
      'vllm:num_requests_running{model_name="say \\"hi\\"",engine="1"} 2.0 1712345678000',
      'vllm:cache_config_info{block_size="16",kv_cache_size_tokens="406000"} 1.0',
    ].join('\n');
    const metrics = parsePrometheusText(text);
    expect(metrics.get('vllm:num_requests_running')).toEqual([
      { labels: { engine: '0', model_name: 'org/m{v2}' }, value: 7 },
      { labels: { model_name: 'say \\"hi\\"', engine: '1' }, value: 2 },
    ]);
    expect(metrics.get('vllm:cache_config_info')?.[0]?.labels.kv_cache_size_tokens).toBe('406000');
  });

  it('parses exponents, skips NaN, and tolerates CRLF line ends', () => {
    const metrics = parsePrometheusText('a 1.5e+09\r\nc NaN\r\nd -2\r\n');
    expect(metrics.get('a')?.[0]?.value).toBe(1.5e9);
    expect(metrics.has('c')).toBe(false);
    expect(metrics.get('d')?.[0]?.value).toBe(-2);
  });

  it('sums a family over its labels, falls back to older names, and says when none exists', () => {
    const metrics = parsePrometheusText('x{engine="0"} 3\nx{engine="1"} 4\nold_name 5\n');
    expect(sumOf(metrics, 'x')).toBe(7);
    expect(sumOf(metrics, 'new_name', 'old_name')).toBe(5);
    expect(sumOf(metrics, 'x', 'old_name')).toBe(7);
    expect(sumOf(metrics, 'absent')).toBeUndefined();
  });
});
