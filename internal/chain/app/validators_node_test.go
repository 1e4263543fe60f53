package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// TestNodeSurvivesTwoUpdatesOfOneValidatorInABlock runs a real node and
// lands two update_validators actions for the same new key in one block.
// Before the app merged validator updates per key, CometBFT refused the
// duplicate in finalizeCommit and the chain halted for good; now the chain
// goes on and the last update is the one in force.
func TestNodeSurvivesTwoUpdatesOfOneValidatorInABlock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 300*time.Millisecond)
	c := tn.Client(ctx, 0)
	payer, admin := tn.Keys.Dev[0], tn.Keys.Admin
	// A validator that is not running: its power stays far below a third,
	// so the running one keeps committing blocks.
	v, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fee := protocol.DefaultParams().MinFee

	sign := func(nonce, govNonce uint64, power int64) []byte {
		call, err := sdk.GovExecute(c.ChainID(), govNonce, protocol.ActionUpdateValidators,
			protocol.UpdateValidatorsArgs{Updates: []protocol.ValidatorUpdate{{PubKey: v, Power: power}}}, admin)
		if err != nil {
			t.Fatal(err)
		}
		return protocol.SignTx(payer.Private, protocol.Tx{ChainID: c.ChainID(), Nonce: nonce, Fee: fee, Call: call})
	}
	var landed int64
	// The two transactions are broadcast back to back; if a block boundary
	// falls between them, which the test cannot rule out, it tries again.
	for attempt := 0; attempt < 5 && landed == 0; attempt++ {
		acc, _, err := c.Account(ctx, payer.Address())
		if err != nil {
			t.Fatal(err)
		}
		gov, err := c.GovNonce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		first, second := sign(acc.Nonce, gov, 2), sign(acc.Nonce+1, gov+1, 1)
		h1, err := c.Broadcast(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		h2, err := c.Broadcast(ctx, second)
		if err != nil {
			t.Fatal(err)
		}
		// A halted chain never includes them: give up well before the
		// test's deadline, with a message that says so.
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		r1, err1 := c.WaitTx(wctx, h1)
		r2, err2 := c.WaitTx(wctx, h2)
		wcancel()
		if err1 != nil || err2 != nil {
			t.Fatalf("updates not included (has the chain halted?): %v, %v", err1, err2)
		}
		if r1.Err != nil || r2.Err != nil {
			t.Fatalf("updates refused: %v, %v", r1.Err, r2.Err)
		}
		if r1.Height == r2.Height {
			landed = r1.Height
		}
		t.Logf("attempt %d: updates in blocks %d and %d", attempt, r1.Height, r2.Height)
	}
	if landed == 0 {
		t.Fatal("the two updates never landed in one block")
	}
	// Updates returned at H take effect at H+2; the chain must get past it.
	tn.WaitHeight(ctx, 0, landed+4)
	at := landed + 3
	vals, err := c.RPC().Validators(ctx, &at, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, val := range vals.Validators {
		if bytes.Equal(val.PubKey.Bytes(), v) {
			found = true
			if val.VotingPower != 1 {
				t.Fatalf("validator power %d, want the last update's 1", val.VotingPower)
			}
		}
	}
	if !found {
		t.Fatalf("the new validator is not in the set at %d: %v", at, vals.Validators)
	}
}
