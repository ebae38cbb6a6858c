/** A TCP port free on 127.0.0.1 right now (the kernel's pick; whoever asked binds it a moment later). */
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a !== null && typeof a === 'object' ? resolve(a.port) : reject(new Error(`no port in ${String(a)}`))));
    });
  });
}
