/**
 * The soak run (bench/soak.ts) in short: the same code, for about 25 s at a lighter load, against real
 * `tinflow controller` and `tinflow switch` processes (root: the switch's ports are veths into
 * namespaces; dist/: the built CLI, and dist/bench/soak.js for the probe process). Asserted loosely, so
 * a loaded 2-core machine passes a correct build: no process died; every probe (an OpenFlow echo to the
 * controller and to the switch, each on a connection of its own, and a REST GET) was answered; no REST
 * request went unanswered or got a 5xx; counters agree (the controller read every packet-in sent, and
 * each one it did not count as dropped got its packet-out; 503s seen by clients equal the ones /metrics
 * counted); the ping across the switch got through; every broadcast of the in-memory overlay (3 nodes)
 * reached every other node once; and no memory growth over the second half beyond 25 MiB + 25 % per
 * process. Latency is printed, not asserted.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SOAK_DEFAULTS, type SoakResult, runSoak, verdict } from '../../bench/soak.js';

const root = process.getuid?.() === 0;

describe.skipIf(!root)('soak, short', () => {
  it('no process died, every probe answered, counters consistent, memory flat over the second half', async () => {
    expect(existsSync('dist/scripts/cli.js'), 'dist/ is built (npx tsc -p tsconfig.build.json)').toBe(true);
    let table = '';
    const r: SoakResult = await runSoak({ ...SOAK_DEFAULTS, seconds: 25, sample: 5, fakeSwitches: 4, packetIns: 400, restClients: 2, overlayNodes: 3 }, (s) => void (table += s));
    const report = `${table}${verdict(r)}${JSON.stringify(r.counters)} REST ${JSON.stringify(r.rest)}`;
    process.stdout.write(`${report}\n`);

    expect(r.died, report).toEqual([]);
    expect(r.samples.length, report).toBeGreaterThanOrEqual(4);
    for (const [name, p] of Object.entries(r.probes)) {
      expect(p.sent, `${name} probes sent`).toBeGreaterThan(10);
      expect(p.failed, `${name} probes that failed`).toBe(0);
      expect(p.answered, `${name} probes answered`).toBe(p.sent);
    }
    expect(r.rest.dropped, report).toBe(0);
    expect(Object.keys(r.rest.by_status).filter((s) => Number(s) >= 500), report).toEqual([]);
    expect(r.rest.by_status['200'] ?? 0, report).toBeGreaterThan(50);

    const c = r.counters;
    expect(c.packet_ins_sent, report).toBeGreaterThan(1000);
    // The real switch sends packet-ins too (its ping's misses), so the controller reads at least as many.
    expect(c.controller_packet_ins_received, report).toBeGreaterThanOrEqual(c.packet_ins_sent);
    expect(c.packet_outs_received, report).toBeLessThanOrEqual(c.packet_ins_sent);
    expect(c.packet_outs_received + c.controller_app_events_dropped, report).toBeGreaterThanOrEqual(c.packet_ins_sent);
    expect(c.controller_rest_rejected, report).toBe(c.rest_503_seen);
    expect(c.controller_app_errors, report).toBe(0);
    expect(c.ping_received, report).toBeGreaterThan(0);
    // The in-memory overlay: every broadcast reached every other node, once.
    expect(c.overlay_broadcasts, report).toBeGreaterThan(20);
    expect(c.overlay_copies_received, report).toBe(c.overlay_copies_expected);
    expect(c.overlay_duplicates, report).toBe(0);

    for (const k of ['controller', 'switch'] as const) {
      const [a, b] = r.rss_second_half_mib[k];
      expect(Number.isFinite(a) && Number.isFinite(b), `${k} RSS sampled`).toBe(true);
      expect(b - a, `${k} RSS growth over the second half (MiB), from ${a.toFixed(1)}`).toBeLessThan(25 + 0.25 * a);
    }
  }, 90_000);
});
