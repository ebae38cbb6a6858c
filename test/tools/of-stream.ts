/**
 * Reading what a part under test sends over OpenFlow, for the tools that play its peer (fake-switch.ts,
 * and fuzz/of-wire.ts's WirePeer). Bad bytes from the part are its bug, so they are reported, not
 * thrown: a stream that cannot be framed ends the reading (the caller hangs up), and a message that does
 * not decode is skipped.
 *
 * It is test tooling (test/tools/, compiled by the build); nothing in base/, openflow/, switch/,
 * controller/ or link/ may import it.
 */
import { type Framer, type OFPMessage, decode } from '../../openflow/index.js';

function text(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Frames one chunk and hands each message, decoded and as bytes, to `onMessage`. Returns false when the
 * stream cannot be framed any more (`onBad` was told why); the caller should close the connection.
 */
export function readMessages(
  framer: Framer,
  chunk: Buffer,
  onBad: ((what: string) => void) | undefined,
  onMessage: (msg: OFPMessage, raw: Buffer) => void,
): boolean {
  let frames: Buffer[];
  try {
    frames = framer.push(chunk);
  } catch (e) {
    onBad?.(`unframeable stream: ${text(e)}`);
    return false;
  }
  for (const raw of frames) {
    let msg: OFPMessage;
    try {
      msg = decode(raw);
    } catch (e) {
      onBad?.(`undecodable message (type ${raw[1]}) ${raw.subarray(0, 64).toString('hex')}: ${text(e)}`);
      continue;
    }
    onMessage(msg, raw);
  }
  return true;
}
