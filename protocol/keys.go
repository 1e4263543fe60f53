package protocol

import (
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// The HPKE suite of every encryption in the system (DESIGN section 4.3):
// X-Wing (ML-KEM-768 + X25519), HKDF-SHA256, ChaCha20-Poly1305.
func hpkeSuite() (hpke.KEM, hpke.KDF, hpke.AEAD) {
	return hpke.MLKEM768X25519(), hpke.HKDFSHA256(), hpke.ChaCha20Poly1305()
}

// HPKEPublicKey reads a serialized X-Wing public key.
func HPKEPublicKey(b []byte) (hpke.PublicKey, error) {
	kem, _, _ := hpkeSuite()
	pk, err := kem.NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("hpke public key: %w", err)
	}
	return pk, nil
}

// HPKESeal encrypts plaintext to recipient (a serialized X-Wing public key)
// under info and aad, returning enc || ciphertext.
func HPKESeal(recipient []byte, info, aad, plaintext []byte) ([]byte, error) {
	sealed, _, err := HPKESealExport(recipient, info, aad, plaintext)
	return sealed, err
}

// HPKESealExport is HPKESeal that also returns the context's reply secret
// (RFC 9180 section 5.3, exporter context ReplyExporter): the recipient
// derives the same secret, so it can answer without knowing a key of the
// sender's.
func HPKESealExport(recipient []byte, info, aad, plaintext []byte) (sealed, secret []byte, err error) {
	pk, err := HPKEPublicKey(recipient)
	if err != nil {
		return nil, nil, err
	}
	_, kdf, aead := hpkeSuite()
	enc, s, err := hpke.NewSender(pk, kdf, aead, info)
	if err != nil {
		return nil, nil, err
	}
	ct, err := s.Seal(aad, plaintext)
	if err != nil {
		return nil, nil, err
	}
	secret, err = s.Export(ReplyExporter, 32)
	if err != nil {
		return nil, nil, err
	}
	return append(enc, ct...), secret, nil
}

// HPKEOpen decrypts what HPKESeal produced for priv's public key.
func HPKEOpen(priv hpke.PrivateKey, info, aad, sealed []byte) ([]byte, error) {
	pt, _, err := HPKEOpenExport(priv, info, aad, sealed)
	return pt, err
}

// HPKEOpenExport decrypts what HPKESealExport produced and returns the
// same reply secret.
func HPKEOpenExport(priv hpke.PrivateKey, info, aad, sealed []byte) (plaintext, secret []byte, err error) {
	kem, kdf, aead := hpkeSuite()
	n := encLen(kem)
	if len(sealed) < n {
		return nil, nil, fmt.Errorf("hpke: sealed data too short")
	}
	r, err := hpke.NewRecipient(sealed[:n], priv, kdf, aead, info)
	if err != nil {
		return nil, nil, err
	}
	pt, err := r.Open(aad, sealed[n:])
	if err != nil {
		return nil, nil, err
	}
	secret, err = r.Export(ReplyExporter, 32)
	if err != nil {
		return nil, nil, err
	}
	return pt, secret, nil
}

// ReplyExporter is the HPKE exporter context of reply secrets.
const ReplyExporter = "phala/reply/v1"

// SealReply encrypts a command's reply under its reply secret with
// ChaCha20-Poly1305. Each command is run once per member, in chain order,
// and every member must seal its reply to the same bytes, so the nonce is
// fixed: a secret never seals two different plaintexts. Queries, which can
// be answered more than once, use SealQueryReply.
func SealReply(secret, aad, plaintext []byte) []byte {
	a, err := chacha20poly1305.New(secret)
	if err != nil {
		panic(fmt.Sprintf("protocol: reply secret: %v", err))
	}
	return a.Seal(nil, make([]byte, a.NonceSize()), plaintext, aad)
}

// OpenReply decrypts a reply sealed by SealReply.
func OpenReply(secret, aad, sealed []byte) ([]byte, error) {
	a, err := chacha20poly1305.New(secret)
	if err != nil {
		return nil, fmt.Errorf("reply secret: %w", err)
	}
	pt, err := a.Open(nil, make([]byte, a.NonceSize()), sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("reply does not open: %w", err)
	}
	return pt, nil
}

// QueryReplySalt is the length of a query answer's salt.
const QueryReplySalt = 32

// queryReplyKey derives the key of one query answer from the request's
// reply secret, the answer's salt and the request hash.
func queryReplyKey(secret, salt, request []byte) ([]byte, error) {
	if len(salt) != QueryReplySalt {
		return nil, fmt.Errorf("reply salt of %d bytes, want %d", len(salt), QueryReplySalt)
	}
	return hkdf.Key(sha256.New, secret, salt, "phala/query-reply/v2/"+string(request), chacha20poly1305.KeySize)
}

// SealQueryReply encrypts a query's reply under a key derived from the
// request's reply secret and a salt the caller draws at random for this
// answer (and sends with it), aad request (the request hash). Unlike a
// command's reply, the same request could be answered twice — by a worker
// whose replay cache a restart emptied, or by two of its queries racing —
// so the key must differ per answer: a fixed key and nonce would let
// anyone holding two answers XOR their plaintexts together.
func SealQueryReply(secret, salt, request, plaintext []byte) ([]byte, error) {
	key, err := queryReplyKey(secret, salt, request)
	if err != nil {
		return nil, err
	}
	a, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, fmt.Errorf("query reply key: %w", err)
	}
	return a.Seal(nil, make([]byte, a.NonceSize()), plaintext, request), nil
}

// OpenQueryReply decrypts a reply sealed by SealQueryReply.
func OpenQueryReply(secret, salt, request, sealed []byte) ([]byte, error) {
	key, err := queryReplyKey(secret, salt, request)
	if err != nil {
		return nil, err
	}
	a, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, fmt.Errorf("query reply key: %w", err)
	}
	pt, err := a.Open(nil, make([]byte, a.NonceSize()), sealed, request)
	if err != nil {
		return nil, fmt.Errorf("reply does not open: %w", err)
	}
	return pt, nil
}

// encLen is the length of the KEM's encapsulated key (X-Wing: 1120 bytes).
func encLen(kem hpke.KEM) int {
	if kem.ID() == hpke.MLKEM768X25519().ID() {
		return 1120
	}
	panic("protocol: unexpected KEM")
}

// DeriveSeed derives a child key seed from a parent secret with HKDF-SHA256,
// bound to a label and an id: cluster key = DeriveSeed(epoch secret,
// "cluster", cluster id); contract key = DeriveSeed(cluster seed,
// "contract", contract id) (DESIGN section 4.3).
func DeriveSeed(parent []byte, label string, id []byte) []byte {
	out, err := hkdf.Key(sha256.New, parent, id, "phala/keys/v1/"+label, 32)
	if err != nil {
		panic(err)
	}
	return out
}

// DeriveKeyPair turns a seed into an X-Wing key pair (RFC 9180
// DeriveKeyPair), so every holder of the seed derives the same key.
func DeriveKeyPair(seed []byte) (hpke.PrivateKey, error) {
	kem, _, _ := hpkeSuite()
	return kem.DeriveKeyPair(seed)
}

// DerivePublicKey is the serialized public key of DeriveKeyPair(seed).
func DerivePublicKey(seed []byte) ([]byte, error) {
	k, err := DeriveKeyPair(seed)
	if err != nil {
		return nil, err
	}
	return k.PublicKey().Bytes(), nil
}

// ClusterID names a cluster: SHA-256 of "phala/cluster/v1" and its name.
func ClusterID(name string) []byte {
	sum := sha256.Sum256(append([]byte("phala/cluster/v1/"), name...))
	return sum[:]
}

// Key roles in distribution and rotation.
const (
	RoleGatekeeper = "gatekeeper" // receives the epoch secret
	RoleMember     = "member"     // receives its cluster's key
)

// Recipient is someone a key must be sealed to: a worker, in a role, at an
// encryption key (the one the chain says it holds).
type Recipient struct {
	Worker  []byte `cbor:"worker"`
	Key     []byte `cbor:"key"` // X-Wing public key to seal to
	Role    string `cbor:"role"`
	Cluster []byte `cbor:"cluster"` // for members
}

// SealInfo is the HPKE info of a sealed key: it binds the chain, the epoch
// and the recipient's worker, role and cluster, so that a sealed key cannot
// be presented as any other.
func SealInfo(chainID string, epoch uint64, r *Recipient) []byte {
	h := sha256.New()
	h.Write([]byte("phala/keys/seal/v1"))
	for _, f := range [][]byte{[]byte(chainID), binary.BigEndian.AppendUint64(nil, epoch), r.Worker, []byte(r.Role), r.Cluster} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		h.Write(f)
	}
	return h.Sum(nil)
}

// Sealed is a key sealed to one recipient.
type Sealed struct {
	Recipient  Recipient `cbor:"recipient"`
	Ciphertext []byte    `cbor:"ciphertext"` // HPKE enc || ct
}

// ClusterKeySet publishes a cluster's key for an epoch: its public key and
// the seed sealed to each member.
type ClusterKeySet struct {
	Cluster []byte   `cbor:"cluster"`
	Pubkey  []byte   `cbor:"pubkey"`
	Seals   []Sealed `cbor:"seals"`
}

// EpochProposal is a gatekeeper's proposal of a fresh epoch: the secret
// sealed to every gatekeeper, and each cluster's derived key sealed to its
// members. The first proposal to land for an epoch is canonical.
type EpochProposal struct {
	Epoch    uint64          `cbor:"epoch"`
	Secrets  []Sealed        `cbor:"secrets"`
	Clusters []ClusterKeySet `cbor:"clusters"`
}

// KeyDelivery hands one recipient the current epoch's secret (a
// gatekeeper) or its cluster's key (a member).
type KeyDelivery struct {
	Epoch uint64 `cbor:"epoch"`
	Seal  Sealed `cbor:"seal"`
}

// Gatekeeper message kinds.
const (
	GatekeeperProposal = "proposal"
	GatekeeperDelivery = "delivery"
)

// GatekeeperPayload is the payload of every Gatekeeper-origin message: the
// body signed (under SigGatekeeper) by the identity key of the gatekeeper
// that produced it, so that every pRuntime, not only the chain, checks who
// spoke. Body is an EpochProposal or a KeyDelivery.
type GatekeeperPayload struct {
	Kind   string `cbor:"kind"`
	Body   []byte `cbor:"body"`
	Signer []byte `cbor:"signer"`
	Sig    []byte `cbor:"sig"`
}

// GatekeeperSigned is what a gatekeeper signs.
type GatekeeperSigned struct {
	ChainID string `cbor:"chain_id"`
	Kind    string `cbor:"kind"`
	Body    []byte `cbor:"body"`
}

// Verify checks the payload's signature by its signer (not the signer's
// membership: that is the caller's view).
func (p *GatekeeperPayload) Verify(chainID string) bool {
	return Verify(p.Signer, SigGatekeeper, MustMarshal(&GatekeeperSigned{ChainID: chainID, Kind: p.Kind, Body: p.Body}), p.Sig)
}

// KeyAnnouncement is a member's fresh encryption key for a rotation,
// signed by its identity key (SigKeyAnnounce) and carried in its own
// worker message on TopicAnnounce. It names the key it replaces, which
// binds it to the boot that made it: the chain ignores an announcement
// whose replaced key is not the worker's registered key (one an earlier
// boot made, submitted after the worker restarted and re-registered).
type KeyAnnouncement struct {
	Worker   []byte `cbor:"worker"`
	Epoch    uint64 `cbor:"epoch"` // the epoch the key is for
	Key      []byte `cbor:"key"`
	Replaces []byte `cbor:"replaces"` // KeyHash of the encryption key the worker held when it announced
	Sig      []byte `cbor:"sig"`
}

// AnnouncementBody is what the announcement's signature covers.
type AnnouncementBody struct {
	ChainID  string `cbor:"chain_id"`
	Worker   []byte `cbor:"worker"`
	Epoch    uint64 `cbor:"epoch"`
	Key      []byte `cbor:"key"`
	Replaces []byte `cbor:"replaces"`
}

// Verify checks the announcement's signature by the worker it names.
func (a *KeyAnnouncement) Verify(chainID string) bool {
	return Verify(a.Worker, SigKeyAnnounce, MustMarshal(&AnnouncementBody{ChainID: chainID, Worker: a.Worker, Epoch: a.Epoch, Key: a.Key, Replaces: a.Replaces}), a.Sig)
}

// KeyHash names an encryption key in a key announcement: SHA-256 of its
// serialized public key.
func KeyHash(key []byte) []byte {
	sum := sha256.Sum256(key)
	return sum[:]
}

// Topics of the key lifecycle.
var (
	// Chain → pRuntimes (module keys).
	TopicGatekeepers = ModuleTopic(ModuleKeys, "gatekeepers") // GatekeeperSet
	TopicClusters    = ModuleTopic(ModuleKeys, "clusters")    // ClusterUpdate
	TopicRotation    = ModuleTopic(ModuleKeys, "rotation")    // RotationEvent
	TopicServe       = ModuleTopic(ModuleKeys, "serve")       // ServeEvent
)

// Topics pRuntimes send on (outside the modules' namespaces).
const (
	TopicGatekeeper = TopicPrefix + "/gatekeeper" // GatekeeperPayload, origin Gatekeeper
	TopicAnnounce   = TopicPrefix + "/rotation/announce"
)

// GatekeeperSet is the full gatekeeper set after a change.
type GatekeeperSet struct {
	Gatekeepers [][]byte `cbor:"gatekeepers"`
}

// ClusterUpdate is a cluster's full membership after a change.
type ClusterUpdate struct {
	Cluster []byte   `cbor:"cluster"`
	Name    string   `cbor:"name"`
	Members [][]byte `cbor:"members"`
}

// Rotation phases.
const (
	PhaseAnnounce   = "announce"   // members announce fresh encryption keys
	PhasePropose    = "propose"    // gatekeepers propose the epoch to Recipients
	PhaseActivating = "activating" // the canonical proposal landed; activation is scheduled
	PhaseActivated  = "activated"  // the epoch is current; earlier epochs are retired
)

// RotationEvent drives a rotation in every pRuntime.
type RotationEvent struct {
	Epoch      uint64          `cbor:"epoch"`
	Phase      string          `cbor:"phase"`
	Emergency  bool            `cbor:"emergency"`
	Deadline   int64           `cbor:"deadline"`    // announce: proposals are asked for at this height
	Recipients []Recipient     `cbor:"recipients"`  // propose: exactly who gets the epoch
	ClusterIDs [][]byte        `cbor:"cluster_ids"` // propose: the clusters to derive keys for, in order
	Clusters   []ClusterPubkey `cbor:"clusters"`    // activated: each cluster's public key
	Lost       uint64          `cbor:"lost"`        // emergency: the epoch whose secret was lost
}

// ClusterPubkey is a cluster's public key for an epoch.
type ClusterPubkey struct {
	Cluster []byte `cbor:"cluster"`
	Pubkey  []byte `cbor:"pubkey"`
}

// ServeEvent asks the gatekeepers to deliver the epoch's keys to
// recipients (newcomers, restarted workers, late announcers).
type ServeEvent struct {
	Epoch      uint64      `cbor:"epoch"`
	Recipients []Recipient `cbor:"recipients"`
}

// keys governance actions.
const (
	ActionAddGatekeeper           = "add_gatekeeper"
	ActionRemoveGatekeeper        = "remove_gatekeeper"
	ActionCreateCluster           = "create_cluster"
	ActionAddWorkerToCluster      = "add_worker_to_cluster"
	ActionRemoveWorkerFromCluster = "remove_worker_from_cluster"
	ActionRotate                  = "rotate"
)

// WorkerArgs names a worker (gatekeeper actions).
type WorkerArgs struct {
	Worker []byte `cbor:"worker"`
}

// ClusterArgs names a cluster and, for membership changes, a worker.
type ClusterArgs struct {
	Name   string `cbor:"name"`
	Worker []byte `cbor:"worker"`
}

// RotateArgs is empty: governance asks for a rotation now.
type RotateArgs struct{}

// EpochInfo is the chain's view of the key epochs (query keys/epoch): the
// stored EpochRecord, whose fields it encodes inline, and what the keys
// module assembles around it from other records.
type EpochInfo struct {
	EpochRecord
	NextAuto    int64       `cbor:"next_auto"` // height of the next automatic rotation; 0: none
	Gatekeepers [][]byte    `cbor:"gatekeepers"`
	Holders     [][]byte    `cbor:"holders"` // gatekeepers known to hold the current secret
	Served      []Recipient `cbor:"served"`  // members served the current epoch, at which key
	// RotationDue: another rotation starts as soon as the one under way
	// activates (a recipient left after its proposal landed, a worker was
	// revoked, or governance asked).
	RotationDue bool `cbor:"rotation_due,omitempty"`
}

// PendingEpoch is a rotation under way.
type PendingEpoch struct {
	Epoch       uint64          `cbor:"epoch"`
	Phase       string          `cbor:"phase"`
	Emergency   bool            `cbor:"emergency"`
	RequestedAt int64           `cbor:"requested_at"`
	ProposeAt   int64           `cbor:"propose_at"`
	ActivateAt  int64           `cbor:"activate_at"` // set when a proposal lands
	Recipients  []Recipient     `cbor:"recipients"`
	ClusterIDs  [][]byte        `cbor:"cluster_ids"`
	Clusters    []ClusterPubkey `cbor:"clusters"`
}

// Keys query paths.
const (
	QueryEpoch   = "keys/epoch"    // EpochInfo, with proof
	QueryCluster = "keys/cluster/" // keys/cluster/<id hex>: ClusterUpdate
)

// keys module errors.
var (
	ErrNotRegisteredWorker = define(SpaceKeys, 1, "worker is not registered and active")
	ErrAlreadyGatekeeper   = define(SpaceKeys, 2, "worker is already a gatekeeper")
	ErrNotAGatekeeper      = define(SpaceKeys, 3, "worker is not a gatekeeper")
	ErrLastGatekeeper      = define(SpaceKeys, 4, "the last gatekeeper cannot be removed")
	ErrBadGatekeeperMsg    = define(SpaceKeys, 5, "invalid gatekeeper message")
	ErrStaleEpoch          = define(SpaceKeys, 6, "rotation for a stale epoch")
	ErrFutureEpoch         = define(SpaceKeys, 7, "rotation for a future epoch")
	ErrWrongRecipient      = define(SpaceKeys, 8, "key addressed to another worker or key")
	ErrNotClusterMember    = define(SpaceKeys, 9, "key for a cluster the worker is not in")
	ErrRetiredEpoch        = define(SpaceKeys, 10, "command for a retired epoch")
	ErrEpochLost           = define(SpaceKeys, 11, "the epoch's secret was lost; re-encrypt to the new epoch")
	ErrBadAnnouncement     = define(SpaceKeys, 12, "key announcement not signed by the worker's identity")
	ErrUnknownCluster      = define(SpaceKeys, 13, "unknown cluster")
	ErrClusterMembership   = define(SpaceKeys, 14, "invalid cluster membership change")
	ErrNoEpoch             = define(SpaceKeys, 15, "no key epoch exists yet")
	ErrRotationPending     = define(SpaceKeys, 16, "a rotation is already under way")
	ErrNoGatekeepers       = define(SpaceKeys, 17, "no gatekeeper exists")
	ErrCommandTooLarge     = define(SpaceKeys, 18, "command too large") // retired with the keys module's test commands; the code stays taken
	ErrAlreadyServed       = define(SpaceKeys, 19, "key already delivered to this recipient")
	ErrRecipientsChanged   = define(SpaceKeys, 20, "the rotation's recipients changed since the proposal was asked for")
	ErrAlreadyAnnounced    = define(SpaceKeys, 21, "the worker already announced a late key for this epoch")
)
