// Protocol errors: a stable (space, code) pair, as Go's protocol.Error.
// The pair survives the wire (ABCI codespace/code, pRuntime's JSON errors),
// so a caller tells errors apart with isError, never by their text.

/** ErrorCode is one protocol error's identity and its fixed message. */
export interface ErrorCode {
  readonly space: string;
  readonly code: number;
  readonly message: string;
}

/**
 * ProtocolError is an error with a protocol identity. `detail` names the
 * offending values; `cause` keeps the underlying error, if any.
 */
export class ProtocolError extends Error {
  readonly space: string;
  readonly code: number;
  readonly detail: string;

  constructor(base: ErrorCode, detail = "", options?: { cause?: unknown }) {
    super(detail ? `${base.space}: ${base.message}: ${detail}` : `${base.space}: ${base.message}`, options);
    this.name = "ProtocolError";
    this.space = base.space;
    this.code = base.code;
    this.detail = detail;
  }

  /** is reports whether this error has code's identity. */
  is(code: ErrorCode): boolean {
    return this.space === code.space && this.code === code.code;
  }
}

/**
 * isError reports whether err, or an error in its cause chain, is the
 * protocol error code (compared by space and code, never by text).
 */
export function isError(err: unknown, code: ErrorCode): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 16; depth++) {
    if (e instanceof ProtocolError && e.is(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** codeOf returns the first protocol error in err's cause chain. */
export function codeOf(err: unknown): ProtocolError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 16; depth++) {
    if (e instanceof ProtocolError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

const known = new Map<string, ErrorCode>();

function def(space: string, code: number, message: string): ErrorCode {
  const e = Object.freeze({ space, code, message });
  known.set(`${space}/${code}`, e);
  return e;
}

/**
 * fromWire rebuilds an error received as (space, code, log) so that
 * isError works on it; an unknown code keeps its identity.
 */
export function fromWire(space: string, code: number, log: string): ProtocolError {
  const base = known.get(`${space}/${code}`) ?? { space, code, message: `code ${code}` };
  return new ProtocolError(base, log);
}

/** knownErrors lists the codes this package names (checked against Go's by the vectors). */
export function knownErrors(): ErrorCode[] {
  return [...known.values()];
}

// Transaction envelope (tx).
export const ErrMalformed = def("tx", 1, "malformed encoding");
export const ErrNonCanonical = def("tx", 2, "non-canonical encoding");
export const ErrOversized = def("tx", 3, "transaction too large");
export const ErrBadSignature = def("tx", 4, "bad signature");
export const ErrWrongChainID = def("tx", 5, "wrong chain id");
export const ErrWrongNonce = def("tx", 6, "wrong nonce");
export const ErrFeeTooLow = def("tx", 7, "fee below minimum");
export const ErrInsufficientFunds = def("tx", 8, "insufficient balance for fee");
export const ErrUnknownModule = def("tx", 9, "unknown module");
export const ErrUnknownMethod = def("tx", 10, "unknown method");
export const ErrBadArgs = def("tx", 11, "invalid call arguments");

// accounts.
export const ErrInsufficientBalance = def("accounts", 1, "insufficient balance");
export const ErrBadAddress = def("accounts", 2, "invalid address");
export const ErrBadAmount = def("accounts", 3, "invalid amount");

// query (chain queries and contract queries).
export const ErrUnknownQueryPath = def("query", 1, "unknown query path");
export const ErrBadQuery = def("query", 2, "bad query");
export const ErrProof = def("query", 4, "proof verification failed");
export const ErrQueryMalformed = def("query", 5, "malformed query");
export const ErrQuerySignature = def("query", 6, "query signature does not verify");
export const ErrQueryReplay = def("query", 7, "query nonce already used");
export const ErrQueryExpired = def("query", 8, "query expired");
export const ErrQueryBehind = def("query", 9, "worker has not reached the query's minimum height");
export const ErrQueryUnknownContract = def("query", 10, "contract is not run by this worker");
export const ErrQueryWrongKey = def("query", 11, "query is not sealed to this worker's current key");
export const ErrQueryBusy = def("query", 12, "worker is busy; retry");
export const ErrQueryDecrypt = def("query", 13, "query ciphertext does not open");
export const ErrQueryUnavailable = def("query", 14, "contract state is not available on this worker");
export const ErrQueryGas = def("query", 15, "query gas limit outside the allowed range");
export const ErrQueryStale = def("query", 16, "contract waits for keys; its state is too far behind this worker's");
export const ErrQueryAnswer = def("query", 17, "query answer does not check");

// keys.
export const ErrRetiredEpoch = def("keys", 10, "command for a retired epoch");
export const ErrEpochLost = def("keys", 11, "the epoch's secret was lost; re-encrypt to the new epoch");
export const ErrUnknownCluster = def("keys", 13, "unknown cluster");
export const ErrNoEpoch = def("keys", 15, "no key epoch exists yet");
export const ErrFutureEpoch = def("keys", 7, "rotation for a future epoch");

// contracts.
export const ErrCodeExists = def("contracts", 6, "code already uploaded");
export const ErrUnknownCode = def("contracts", 7, "unknown code");
export const ErrUnknownContract = def("contracts", 8, "unknown contract");
export const ErrContractExists = def("contracts", 9, "contract already exists");
export const ErrContractNotActive = def("contracts", 10, "contract is not active");
export const ErrNoContractKey = def("contracts", 11, "contract has no published key for the epoch");
export const ErrBadGasLimit = def("contracts", 12, "gas limit outside the allowed range");

// Client-side refusals of what a node answered (sdk), as the Go SDK's.
export const ErrTrustMismatch = def("sdk", 1, "node serves another chain than the trusted one");
export const ErrUntrustedHeader = def("sdk", 2, "header not proven by the trusted validators");
export const ErrStaleAnswer = def("sdk", 3, "answer is not at the height asked");
export const ErrStaleHeader = def("sdk", 4, "newest verified header is too old");
export const ErrBelowMinHeight = def("sdk", 5, "node has not reached the minimum height");
export const ErrFeeAboveMax = def("sdk", 6, "chain's minimum fee exceeds the caller's maximum");
export const ErrMalformedAnswer = def("sdk", 7, "malformed node answer");
export const ErrOutsideCluster = def("sdk", 8, "worker is not a member of the contract's cluster");
export const ErrBadTrustRoot = def("sdk", 9, "unusable trust root");
export const ErrUnprovenTx = def("sdk", 10, "transaction inclusion or outcome not proven");

// pRuntime service errors that callers meet.
export const ErrNotInitialized = def("runtime", 1, "pRuntime is not initialised");
export const ErrBodyTooLarge = def("runtime", 3, "request body too large");

/**
 * WorkerNotTrustedError: a worker's registration or attestation does not
 * meet the caller's requirements (Go's sdk.ErrWorkerNotTrusted). `sim` is
 * true when the only reason is that it runs on the insecure sim TEE and
 * the caller did not allow it (Go's sdk.ErrSimTEE).
 */
export class WorkerNotTrustedError extends Error {
  readonly sim: boolean;
  constructor(message: string, options?: { sim?: boolean; cause?: unknown }) {
    super(`sdk: worker not trusted: ${message}`, { cause: options?.cause });
    this.name = "WorkerNotTrustedError";
    this.sim = options?.sim ?? false;
  }
}

/** RuntimeError is an error a pRuntime answered, with its HTTP status. */
export class RuntimeError extends Error {
  readonly status: number;
  constructor(status: number, cause: ProtocolError) {
    super(`pruntime (HTTP ${status}): ${cause.message}`, { cause });
    this.name = "RuntimeError";
    this.status = status;
  }
}
