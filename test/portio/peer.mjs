// A test peer that lives inside a network namespace (started with `ip netns exec NS node peer.mjs IF
// [offload]`): it opens IF through the port I/O addon and speaks lines on stdio:
//   stdin  "tx HEX [HDRHEX]"  sends a frame (with a virtio-net header when given)
//   stdout "rx HEX [HDRHEX]"  for every frame received; "ready" once open; "gone REASON" if IF vanishes
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addon = createRequire(import.meta.url)(join(root, 'switch', 'portio', 'build', 'Release', 'portio.node'));
const [ifname, mode] = process.argv.slice(2);
const offload = mode === 'offload';
const port = new addon.NativePort('interface', ifname, { vnetHdr: offload, up: false });
const slab = Buffer.from(port.rxSlab.buffer, port.rxSlab.byteOffset, port.rxSlab.byteLength);
const out = [];
port.start((n) => {
  if (n < 0) {
    process.stdout.write(`gone ${n}\n`);
    return;
  }
  for (let i = 0; i < n; i++) {
    const off = port.rxOffs[i];
    const frame = slab.subarray(off, off + port.rxLens[i]).toString('hex');
    out.push(offload ? `rx ${frame} ${slab.subarray(off - 10, off).toString('hex')}` : `rx ${frame}`);
  }
  process.stdout.write(out.join('\n') + '\n');
  out.length = 0;
});
createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, hex, hdr] = line.trim().split(' ');
  if (cmd === 'tx' && hex) port.send([Buffer.from(hex, 'hex')], hdr ? Buffer.from(hdr, 'hex') : undefined);
  if (cmd === 'quit') {
    port.close();
    process.exit(0);
  }
});
process.stdin.on('end', () => {
  port.close();
  process.exit(0);
});
process.stdout.write('ready\n');
