/**
 * Fail-mode standalone (OVS's behaviour while no controller is connected): the switch acts as a plain
 * learning switch. Source MACs are learned per port (entries age out), frames to a known unicast MAC go
 * to its port, the rest are flooded. Flow tables are left alone and used again once a controller is back.
 */
export class MacLearning {
  private readonly table = new Map<string, { port: number; at: number }>();

  constructor(
    readonly maxAgeMs = 300_000,
    readonly maxEntries = 8192,
  ) {}

  /** Learns the frame's source and returns the output port, or undefined to flood. */
  forward(frame: Buffer, inPort: number, now: number): number | undefined {
    if (frame.length < 14) return undefined;
    const src = frame.toString('hex', 6, 12);
    if (((frame[6] as number) & 1) === 0) {
      if (this.table.size >= this.maxEntries && !this.table.has(src)) this.evictOldest();
      this.table.set(src, { port: inPort, at: now });
    }
    if (((frame[0] as number) & 1) !== 0) return undefined;
    const hit = this.table.get(frame.toString('hex', 0, 6));
    if (!hit || now - hit.at > this.maxAgeMs) return undefined;
    return hit.port === inPort ? -1 : hit.port;
  }

  /** Forgets everything learned on a port (it went down or away). */
  forgetPort(port: number): void {
    for (const [mac, e] of this.table) if (e.port === port) this.table.delete(mac);
  }

  private evictOldest(): void {
    let oldest: string | undefined;
    let at = Infinity;
    for (const [mac, e] of this.table) if (e.at < at) [oldest, at] = [mac, e.at];
    if (oldest !== undefined) this.table.delete(oldest);
  }
}
