// Package chainbench holds the chain's benchmark workloads, shared by the
// `go test -bench` benchmarks and the bench/ harness so that both measure
// exactly the same thing.
package chainbench

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	dbm "github.com/cosmos/cosmos-db"

	"github.com/phala-go/phala/internal/chain/app"
	"github.com/phala-go/phala/protocol"
)

const chainID = "phala-bench"

func key(i int) ed25519.PrivateKey {
	s := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("bench"), uint64(i)))
	return ed25519.NewKeyFromSeed(s[:])
}

// Transfers is an application with funded accounts, ready to finalize
// blocks of transfers, one from each account.
type Transfers struct {
	app    *app.App
	keys   []ed25519.PrivateKey
	nonce  uint64
	height int64
	now    time.Time
}

// NewTransfers creates the application (in-memory database) with n funded
// accounts.
func NewTransfers(n int) (*Transfers, error) {
	a, err := app.New(app.Config{ChainID: chainID, GenesisHash: make([]byte, 32), DB: dbm.NewMemDB()})
	if err != nil {
		return nil, err
	}
	g := protocol.GenesisState{Params: protocol.DefaultParams()}
	admin := key(-1)
	g.Governance = protocol.GovernanceGenesis{Admins: []protocol.HexBytes{protocol.HexBytes(admin.Public().(ed25519.PublicKey))}, Threshold: 1}
	w := &Transfers{app: a, now: time.Unix(1_700_000_000, 0)}
	for i := range n {
		k := key(i)
		w.keys = append(w.keys, k)
		g.Accounts = append(g.Accounts, protocol.GenesisAccount{Address: protocol.AddressOf(k.Public().(ed25519.PublicKey)), Balance: 1 << 50})
	}
	state, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	val := key(-2).Public().(ed25519.PublicKey)
	if _, err := a.InitChain(context.Background(), &abci.InitChainRequest{
		Time: w.now, ChainId: chainID, AppStateBytes: state,
		Validators: []abci.ValidatorUpdate{{PubKeyType: "ed25519", PubKeyBytes: val, Power: 1}},
	}); err != nil {
		return nil, err
	}
	return w, nil
}

// NextBlock signs the next block: one transfer from every account to the
// next one.
func (w *Transfers) NextBlock() [][]byte {
	txs := make([][]byte, len(w.keys))
	for i, k := range w.keys {
		to := protocol.AddressOf(w.keys[(i+1)%len(w.keys)].Public().(ed25519.PublicKey))
		call, _ := protocol.NewCall(protocol.ModuleAccounts, protocol.MethodTransfer, protocol.TransferArgs{To: to, Amount: 1})
		txs[i] = protocol.SignTx(k, protocol.Tx{ChainID: chainID, Nonce: w.nonce, Fee: protocol.DefaultParams().MinFee, Call: call})
	}
	w.nonce++
	return txs
}

// Finalize runs FinalizeBlock and Commit on txs and checks every
// transaction succeeded.
func (w *Transfers) Finalize(txs [][]byte) error {
	w.height++
	w.now = w.now.Add(time.Second)
	resp, err := w.app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Txs: txs, Height: w.height, Time: w.now})
	if err != nil {
		return err
	}
	for i, r := range resp.TxResults {
		if r.Code != 0 {
			return fmt.Errorf("tx %d: %s", i, r.Log)
		}
	}
	_, err = w.app.Commit(context.Background(), &abci.CommitRequest{})
	return err
}

// BenchFinalizeTransfers measures FinalizeBlock+Commit of blocks of n
// transfers and reports tx/s.
func BenchFinalizeTransfers(b *testing.B, n int) {
	w, err := NewTransfers(n)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		txs := w.NextBlock()
		b.StartTimer()
		if err := w.Finalize(txs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tx/s")
}

// BenchDecodeVerifyTx measures decoding and verifying one transfer.
func BenchDecodeVerifyTx(b *testing.B) {
	w := &Transfers{keys: []ed25519.PrivateKey{key(0), key(1)}}
	raw := w.NextBlock()[0]
	b.ResetTimer()
	for range b.N {
		tx, err := protocol.DecodeTx(raw, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		if err := tx.VerifySignature(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
}

// BenchEd25519Verify measures one ed25519 verification (the bound every
// signature-checking path is compared with).
func BenchEd25519Verify(b *testing.B) {
	k := key(0)
	msg := make([]byte, 200)
	sig := ed25519.Sign(k, msg)
	pub := k.Public().(ed25519.PublicKey)
	b.ResetTimer()
	for range b.N {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verify/s")
}
