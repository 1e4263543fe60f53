package protocol

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
)

// Tx is the signed body of a transaction (DESIGN section 3).
type Tx struct {
	ChainID string `cbor:"chain_id"`
	Signer  []byte `cbor:"signer"` // ed25519 public key; the account is AddressOf(Signer)
	Nonce   uint64 `cbor:"nonce"`  // must equal the account's nonce
	Fee     uint64 `cbor:"fee"`    // charged even if the call fails
	Call    Call   `cbor:"call"`
}

// Call names a module method and carries its canonical CBOR arguments.
type Call struct {
	Module string  `cbor:"module"`
	Method string  `cbor:"method"`
	Args   RawCBOR `cbor:"args"`
}

// SignedTx is the transaction as it travels: the canonical encoding of a Tx
// and an ed25519 signature over SigTx || Body. Signing the exact body bytes
// means nobody has to re-encode anything to verify.
type SignedTx struct {
	Body []byte `cbor:"body"`
	Sig  []byte `cbor:"sig"`
}

// DecodedTx is a transaction read from the wire, not yet verified.
type DecodedTx struct {
	Tx
	Body    []byte
	Sig     []byte
	Address Address
	Hash    [32]byte // SHA-256 of the raw transaction, as CometBFT computes it
}

// NewCall encodes args and returns the call.
func NewCall(module, method string, args any) (Call, error) {
	raw, err := Marshal(args)
	if err != nil {
		return Call{}, fmt.Errorf("encode %s.%s args: %w", module, method, err)
	}
	return Call{Module: module, Method: method, Args: raw}, nil
}

// SignTx encodes tx, signs it with priv and returns the raw transaction.
// tx.Signer is set from priv.
func SignTx(priv ed25519.PrivateKey, tx Tx) []byte {
	tx.Signer = append([]byte(nil), priv.Public().(ed25519.PublicKey)...)
	body := MustMarshal(&tx)
	return MustMarshal(&SignedTx{Body: body, Sig: Sign(priv, SigTx, body)})
}

// DecodeTx reads a raw transaction of at most maxBytes bytes. It checks the
// encoding and the shape of the signer and signature, not the signature
// itself (see VerifySignature): decoding and verifying stay separate steps.
// It is the only decoder of transactions.
func DecodeTx(raw []byte, maxBytes int) (*DecodedTx, error) {
	if len(raw) > maxBytes {
		return nil, Errorf(ErrOversized, "%d bytes, limit %d", len(raw), maxBytes)
	}
	var st SignedTx
	if err := Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("tx envelope: %w", err)
	}
	d := &DecodedTx{Body: st.Body, Sig: st.Sig, Hash: sha256.Sum256(raw)}
	if err := Unmarshal(st.Body, &d.Tx); err != nil {
		return nil, fmt.Errorf("tx body: %w", err)
	}
	if len(d.Signer) != ed25519.PublicKeySize {
		return nil, Errorf(ErrBadSignature, "signer key has %d bytes", len(d.Signer))
	}
	if len(d.Sig) != ed25519.SignatureSize {
		return nil, Errorf(ErrBadSignature, "signature has %d bytes", len(d.Sig))
	}
	d.Address = AddressOf(d.Signer)
	return d, nil
}

// VerifySignature checks the transaction's signature.
func (d *DecodedTx) VerifySignature() error {
	if !Verify(d.Signer, SigTx, d.Body, d.Sig) {
		return Errorf(ErrBadSignature, "signer %x", d.Signer)
	}
	return nil
}
