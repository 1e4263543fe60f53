// The SDK's light client (Go's sdk/light.go). From the trust root it
// verifies headers forward as CometBFT's light client does: skipping (a
// header is trusted if validators with more than 1/3 of the power of the
// last trusted set signed it, and more than 2/3 of its own set did;
// bisecting when the set changed too much) while the last trusted header
// is younger than the trusting period, and sequentially (each header
// signed by more than 2/3 of the set its predecessor named), which needs
// no clock, once it is older. Headers below the newest verified one are
// verified backwards through the hash chain.

import { bytesEqual, hex } from "./bytes.js";
import {
  CommitError, type Header, type SignedHeader, type Time, type Validator,
  headerHash, timeBefore, timeMillis, validateSignedHeader, validatorSetHash, verifyCommitLight, verifyCommitLightTrusting,
} from "./comet.js";
import { ErrMalformedAnswer, ErrUntrustedHeader, ProtocolError } from "./errors.js";
import type { RPC } from "./rpc.js";
import { type TrustRoot, trustHeight } from "./trust.js";

export interface LightOptions {
  trustingPeriodMs: number;
  maxClockDriftMs: number;
  now: () => Date;
}

interface LightBlock {
  sh: SignedHeader;
  vals: Validator[];
}

/** maxRecent bounds the verified headers remembered for backward verification. */
const maxRecent = 1024;

const untrusted = (h: number, e: unknown) =>
  new ProtocolError(ErrUntrustedHeader, `header ${h}: ${(e as Error).message}`, { cause: e });

/** Light holds the trust root and moves it forward. Callers serialise its use. */
export class Light {
  private recent = new Map<number, Header>();

  constructor(private readonly rpc: RPC, public trust: TrustRoot, private readonly o: LightOptions) {
    if (trust.header) this.recent.set(trust.header.header.height, trust.header.header);
  }

  private async fetch(h: number): Promise<LightBlock> {
    const sh = await this.rpc.signedHeader(h);
    const vals = await this.rpc.validators(h);
    return { sh, vals };
  }

  private setTrusted(lb: LightBlock): void {
    this.trust = { ...this.trust, header: lb.sh, validators: lb.vals };
    this.remember(lb.sh.header);
  }

  private remember(h: Header): void {
    if (this.recent.size >= maxRecent) this.recent.clear();
    this.recent.set(h.height, h);
  }

  private expired(t: Time, now: Date): boolean {
    return timeMillis(t) + this.o.trustingPeriodMs <= now.getTime();
  }

  /** advance verifies header target (and what leads to it) and makes it the newest trusted. Progress before an error is kept. */
  async advance(target: number): Promise<void> {
    if (target <= trustHeight(this.trust)) return;
    if (!this.trust.header) this.setTrusted(await this.verifyFirst());
    while (trustHeight(this.trust) < target) {
      const now = this.o.now();
      const t = this.trust.header!;
      if (this.expired(t.header.time, now)) {
        const next = await this.fetch(t.header.height + 1);
        try {
          this.verifyAdjacent(t, next, now);
        } catch (e) {
          throw untrusted(next.sh.header.height, e);
        }
        this.setTrusted(next);
        continue;
      }
      await this.verifySkipping(target, now);
    }
  }

  private async verifyFirst(): Promise<LightBlock> {
    const lb = await this.fetch(1);
    const { header: h, commit } = lb.sh;
    const genesis = this.trust.validators;
    try {
      validateSignedHeader(lb.sh, this.trust.chainId);
      if (!bytesEqual(h.validatorsHash, validatorSetHash(genesis))) {
        throw new CommitError(`validators ${hex(h.validatorsHash)}, genesis has ${hex(validatorSetHash(genesis))}`);
      }
      if (timeBefore(h.time, this.trust.genesisTime)) throw new CommitError("time before the genesis time");
      verifyCommitLight(this.trust.chainId, genesis, commit.blockId, 1, commit);
    } catch (e) {
      throw untrusted(1, e);
    }
    return { sh: lb.sh, vals: genesis };
  }

  // verifyNew is CometBFT's verifyNewHeaderAndVals.
  private verifyNew(trusted: SignedHeader, next: LightBlock, now: Date): void {
    const h = next.sh.header;
    validateSignedHeader(next.sh, this.trust.chainId);
    if (h.height <= trusted.header.height) throw new CommitError(`height ${h.height} not above trusted ${trusted.header.height}`);
    if (!timeBefore(trusted.header.time, h.time)) throw new CommitError("time does not increase");
    if (timeMillis(h.time) >= now.getTime() + this.o.maxClockDriftMs) throw new CommitError("header from the future");
    if (!bytesEqual(validatorSetHash(next.vals), h.validatorsHash)) throw new CommitError("validators do not hash to the header's");
  }

  private verifyAdjacent(trusted: SignedHeader, next: LightBlock, now: Date): void {
    const h = next.sh.header;
    if (h.height !== trusted.header.height + 1) throw new CommitError("not adjacent");
    this.verifyNew(trusted, next, now);
    if (!bytesEqual(h.validatorsHash, trusted.header.nextValidatorsHash)) throw new CommitError("validators are not the ones the trusted header named next");
    verifyCommitLight(this.trust.chainId, next.vals, next.sh.commit.blockId, h.height, next.sh.commit);
  }

  private async verifySkipping(target: number, now: Date): Promise<void> {
    const stack: LightBlock[] = [await this.fetch(target)];
    while (stack.length > 0) {
      const t = this.trust.header!;
      const cand = stack[stack.length - 1];
      const ch = cand.sh.header.height;
      try {
        if (ch === t.header.height + 1) {
          this.verifyAdjacent(t, cand, now);
        } else {
          if (this.expired(t.header.time, now)) throw new CommitError("trusted header expired");
          this.verifyNew(t, cand, now);
          try {
            verifyCommitLightTrusting(this.trust.chainId, this.trust.validators, cand.sh.commit);
          } catch (e) {
            if (e instanceof CommitError && /more than 1\/3 needed/.test(e.message)) {
              stack.push(await this.fetch(t.header.height + Math.floor((ch - t.header.height) / 2)));
              continue;
            }
            throw e;
          }
          verifyCommitLight(this.trust.chainId, cand.vals, cand.sh.commit.blockId, ch, cand.sh.commit);
        }
      } catch (e) {
        if (e instanceof ProtocolError) throw e;
        throw new ProtocolError(ErrUntrustedHeader, `header ${ch} from trusted ${t.header.height}: ${(e as Error).message}`, { cause: e });
      }
      this.setTrusted(cand);
      stack.pop();
    }
  }

  /** header returns verified header h, at most the newest verified: remembered, or verified backwards. */
  async header(h: number): Promise<Header> {
    const known = this.recent.get(h);
    if (known) return known;
    const tip = trustHeight(this.trust);
    if (h < 1 || h > tip) throw new Error(`sdk: header ${h} is not below the newest verified ${tip}`);
    let above = this.trust.header!.header;
    for (const [k, hd] of this.recent) if (k > h && k < above.height) above = hd;
    while (above.height > h) {
      const lo = Math.max(h, above.height - 20);
      const metas = await this.rpc.headers(lo, above.height - 1); // newest first
      if (metas.length === 0) throw new ProtocolError(ErrMalformedAnswer, `no headers ${lo}..${above.height - 1}`);
      for (const hd of metas) {
        if (hd.height !== above.height - 1) throw new ProtocolError(ErrMalformedAnswer, `headers ${lo}..${above.height - 1}: want header ${above.height - 1} next`);
        if (hd.chainId !== this.trust.chainId || !timeBefore(hd.time, above.time) || !bytesEqual(above.lastBlockId.hash, headerHash(hd))) {
          throw new ProtocolError(ErrUntrustedHeader, `header ${hd.height}: not the one header ${above.height} extends`);
        }
        this.remember(hd);
        above = hd;
        if (above.height === h) break;
      }
    }
    return above;
  }
}
