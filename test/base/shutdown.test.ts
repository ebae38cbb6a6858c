/** base/shutdown.ts: the first signal stops once, a repeated SIGTERM is ignored, a second SIGINT exits. */
import { EventEmitter, once } from 'node:events';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { onShutdown, stopProcess } from '../../base/shutdown.js';

function rig(): { source: EventEmitter; exits: number[]; stops: string[]; finish: (code: number) => void; h: ReturnType<typeof onShutdown> } {
  const source = new EventEmitter();
  const exits: number[] = [];
  const stops: string[] = [];
  let finish!: (code: number) => void;
  const h = onShutdown(
    (sig) => {
      stops.push(sig);
      return new Promise<number>((r) => (finish = r));
    },
    { source, exit: (c) => exits.push(c) },
  );
  return { source, exits, stops, finish: (c) => finish(c), h };
}

describe('onShutdown', () => {
  it('stops once; a repeated SIGTERM is ignored; done resolves to what stop returns', async () => {
    const r = rig();
    r.source.emit('SIGTERM', 'SIGTERM');
    r.source.emit('SIGTERM', 'SIGTERM');
    await Promise.resolve();
    expect(r.stops).toEqual(['SIGTERM']);
    expect(r.exits).toEqual([]);
    r.finish(0);
    expect(await r.h.done).toBe(0);
  });

  it('a second SIGINT while stopping exits at once with 130', async () => {
    const r = rig();
    r.source.emit('SIGINT', 'SIGINT');
    r.source.emit('SIGINT', 'SIGINT');
    await Promise.resolve();
    expect(r.stops).toEqual(['SIGINT']);
    expect(r.exits).toEqual([130]);
  });

  it('dispose() removes the handlers', () => {
    const r = rig();
    r.h.dispose();
    expect(r.source.listenerCount('SIGTERM') + r.source.listenerCount('SIGINT')).toBe(0);
  });
});

describe('stopProcess', () => {
  it('SIGTERM first; SIGKILL for a child that ignores it', async () => {
    const polite = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    const stubborn = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); process.stdout.write('ready')"], { stdio: ['ignore', 'pipe', 'ignore'] });
    // The stubborn one says when its handler is in place, so it is asked to stop only then.
    await once(stubborn.stdout, 'data');
    await Promise.all([stopProcess(polite, 5000), stopProcess(stubborn, 300)]);
    expect(polite.signalCode).toBe('SIGTERM');
    expect(stubborn.signalCode).toBe('SIGKILL');
    await stopProcess(polite); // already gone: returns at once
  });
});
