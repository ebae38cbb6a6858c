/**
 * Short mode of the fuzz targets for what a link peer, an XMPP peer and a config file feed tinflow
 * (fuzz/link-frames.ts, fuzz/stanzas.ts, fuzz/config.ts): fixed seeds, a few thousand inputs each, failing
 * on any finding. `npm run fuzz` runs the same targets long. Each case also checks that the run reached
 * what it is meant to reach (accepted and refused inputs of each kind), so a generator that stopped making
 * interesting inputs fails here instead of passing quietly.
 */
import { describe, expect, it } from 'vitest';
import { configTarget } from '../../fuzz/config.js';
import type { FuzzReport } from '../../fuzz/harness.js';
import { linkFramesTarget } from '../../fuzz/link-frames.js';
import { stanzasTarget } from '../../fuzz/stanzas.js';

function clean(r: FuzzReport): void {
  expect(r.findings, r.findings.join('\n')).toEqual([]);
  expect(r.moreFindings).toBe(0);
}

describe('fuzz, short mode', () => {
  it.each([1, 2])('link-frames, seed %i: never a throw, refusals counted by reason, frames delivered byte for byte, the queue bounded', async (seed) => {
    const r = await linkFramesTarget.run({ inputs: 20_000, seed });
    clean(r);
    expect(r.inputs).toBe(20_000);
    for (const k of ['packet:frames', 'packet:frame-length', 'packet:packing', 'packet:short', 'packet:version', 'packet:payload-type', 'packet:rtcp', 'packet:not-binary']) {
      expect(r.counts[k], k).toBeGreaterThan(0);
    }
    for (const k of ['control:echo-request', 'control:echo-reply', 'control:bye', 'control:unknown-type', 'control:echo-length']) expect(r.counts[k], k).toBeGreaterThan(0);
    expect(r.counts.slowDropped).toBeGreaterThan(0);
    expect(r.counts.slowDeliveries).toBeGreaterThan(0);
  });

  it.each([1, 2])('stanzas, seed %i: a reasoned refusal or a parse that round-trips', async (seed) => {
    const r = await stanzasTarget.run({ inputs: 8000, seed });
    clean(r);
    for (const k of ['remote-action:accepted', 'remote-action:malformed', 'evio:malformed', 'presence:peer', 'presence:not-a-node', 'endpoint-request:ok', 'endpoint-request:refused', 'candidates:ok', 'edge-request:ok', 'edge-request:refused', 'edge-reply:ok']) {
      expect(r.counts[k], k).toBeGreaterThan(0);
    }
  });

  it.each([1, 2])('config, seed %i: a ConfigError naming the JSON path, or a config within its limits', async (seed) => {
    const r = await configTarget.run({ inputs: 3000, seed });
    clean(r);
    for (const k of ['node:valid', 'node:refused', 'link:valid', 'link:refused', 'signal:valid', 'signal:refused']) expect(r.counts[k], k).toBeGreaterThan(0);
  });

  // The inputs that found bugs, kept as cases of their own: values nested deeper than JSON.stringify goes.
  it('a value nested 20,000 deep is refused with its path, not a stack overflow', async () => {
    const { resolveNodeConfig, NodeConfigError } = await import('../../overlay/config.js');
    const { parseEndpointRequest } = await import('../../link/handshake.js');
    const { parseEdgeRequest, NegotiationError } = await import('../../overlay/negotiation.js');
    const { parseRemoteAction } = await import('../../link/stanzas.js');
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const cfg = { Overlay: 'lab', Signal: { HostAddress: deep, Username: 'a@example.org', Password: 'x' } };
    expect(() => resolveNodeConfig(cfg)).toThrow(NodeConfigError);
    expect(() => resolveNodeConfig(cfg)).toThrow(/\$\.Signal\.HostAddress: .*nested too deep/);
    const r = parseEndpointRequest({ overlay_id: deep, link_id: 'f'.repeat(32), node_data: {} }, '0'.repeat(32), 'lab');
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.message).toMatch(/\$\.overlay_id/);
    expect(() => parseEdgeRequest({ overlay_id: deep }, '0'.repeat(32), '1'.repeat(32), 'lab')).toThrow(NegotiationError);
    const text = `{"params":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    expect(parseRemoteAction(text, 'invk')).toMatchObject({ ok: false, reason: 'malformed' });
  });
});
