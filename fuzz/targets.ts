/**
 * Every fuzz target, with its share of `npm run fuzz`'s inputs. The live OpenFlow channel gets the
 * largest shares: it is what a remote peer reaches first, and a socket meets states a parser alone never
 * does (partial reads, replies the peer does not read).
 *
 * May import: anything (fuzz/).
 */
import { codecTarget } from './codec.js';
import { configTarget } from './config.js';
import type { FuzzTarget } from './harness.js';
import { linkFramesTarget } from './link-frames.js';
import { ofControllerTarget } from './of-controller.js';
import { ofSwitchTarget } from './of-switch.js';
import { stanzasTarget } from './stanzas.js';

export interface WeightedTarget {
  readonly target: FuzzTarget;
  readonly weight: number;
}

export const TARGETS: readonly WeightedTarget[] = [
  { target: codecTarget, weight: 2 },
  { target: ofSwitchTarget, weight: 3 },
  { target: ofControllerTarget, weight: 2 },
  { target: linkFramesTarget, weight: 1 },
  { target: stanzasTarget, weight: 1 },
  { target: configTarget, weight: 1 },
];
