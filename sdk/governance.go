package sdk

import (
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
