package sdk

import (
	"context"
	"fmt"

	"github.com/phala-go/phala/protocol"
)

// Approve signs a governance proposal with an admin key.
func Approve(admin *Key, chainID string, govNonce uint64, action protocol.GovAction) protocol.Approval {
	return protocol.Approval{
		PubKey: admin.Public(),
		Sig:    protocol.Sign(admin.Private, protocol.SigGovernance, (&protocol.GovProposal{ChainID: chainID, GovNonce: govNonce, Action: action}).Bytes()),
	}
}

// GovExecute builds the governance.execute call for an action of kind with
// args, approved by admins. Any account may send it.
func GovExecute(chainID string, govNonce uint64, kind string, args any, admins ...*Key) (protocol.Call, error) {
	raw, err := protocol.Marshal(args)
	if err != nil {
		return protocol.Call{}, err
	}
	action := protocol.GovAction{Kind: kind, Args: raw}
	ex := protocol.ExecuteArgs{Action: action, GovNonce: govNonce}
	for _, a := range admins {
		ex.Approvals = append(ex.Approvals, Approve(a, chainID, govNonce, action))
	}
	return protocol.NewCall(protocol.ModuleGovernance, protocol.MethodExecute, ex)
}

// Govern executes a governance action of kind with args, approved by
// admins, sent and paid from payer's account: it reads the governance
// nonce the action must carry, builds the call (GovExecute) and waits for
// its inclusion. An action the chain refused (too few approvals, a stale
// nonce, invalid arguments) is the error, naming kind; the result is
// returned with it once the transaction was included.
func (c *Client) Govern(ctx context.Context, payer *Key, kind string, args any, admins ...*Key) (*TxResult, error) {
	nonce, err := c.GovNonce(ctx)
	if err != nil {
		return nil, fmt.Errorf("sdk: governance %s: %w", kind, err)
	}
	call, err := GovExecute(c.chainID, nonce, kind, args, admins...)
	if err != nil {
		return nil, fmt.Errorf("sdk: governance %s: %w", kind, err)
	}
	res, err := c.Send(ctx, payer, call)
	if err != nil {
		return nil, fmt.Errorf("sdk: governance %s: %w", kind, err)
	}
	if res.Err != nil {
		return res, fmt.Errorf("sdk: governance %s in block %d: %w", kind, res.Height, res.Err)
	}
	return res, nil
}
