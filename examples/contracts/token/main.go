// Command token is a confidential token contract: balances live in the
// contract's encrypted state and each account can see only its own.
//
//	init     {"supply": N}                                 mints N to the deployer
//	command  {"transfer": {"to": "<address>", "amount": N}} moves N from the caller
//	query    {"balance": {}}                               the caller's balance
//	query    {"balance_of": {"owner": "<address>"}}        the same, only for owner == caller
//
// Every successful call answers {"balance": N} with the caller's balance.
// The total supply never changes after init.
package main

import (
	"errors"
	"strconv"

	"github.com/phala-go/phala/contractsdk"
	"github.com/phala-go/phala/contractsdk/jsonmsg"
)

// balances maps accounts to their balance; an absent account has 0.
var balances = contractsdk.NewMap("balance", contractsdk.AddressCodec{}, contractsdk.Uint64Codec{})

// Errors the contract returns (their text is the reply to the caller).
var (
	errZeroAmount   = errors.New("amount must be positive")
	errInsufficient = errors.New("insufficient balance")
	errZeroAddress  = errors.New("cannot transfer to the zero address")
	errNotOwner     = errors.New("balances are visible only to their owner")
)

func init() {
	contractsdk.Register(contractsdk.Contract{Init: mint, Command: command, Query: query})
}

func main() {}

func mint(ctx *contractsdk.Context, input []byte) ([]byte, error) {
	args, err := jsonmsg.ParseObject(input)
	if err != nil {
		return nil, err
	}
	supply := args.Uint64("supply")
	if err := args.Err(); err != nil {
		return nil, err
	}
	if err := balances.Set(ctx, ctx.Caller(), supply); err != nil {
		return nil, err
	}
	return balanceReply(supply)
}

func command(ctx *contractsdk.Context, input []byte) ([]byte, error) {
	method, args, err := jsonmsg.ParseCall(input)
	if err != nil {
		return nil, err
	}
	switch method {
	case "transfer":
		var to contractsdk.Address
		args.Text("to", &to)
		amount := args.Uint64("amount")
		if err := args.Err(); err != nil {
			return nil, err
		}
		return transfer(ctx, to, amount)
	}
	return nil, errors.New("unknown command " + strconv.Quote(method) + " (want transfer)")
}

// transfer moves amount from the caller to to. A transfer to oneself
// changes nothing but is checked like any other.
func transfer(ctx *contractsdk.Context, to contractsdk.Address, amount uint64) ([]byte, error) {
	if amount == 0 {
		return nil, errZeroAmount
	}
	if to.IsZero() {
		return nil, errZeroAddress
	}
	from := ctx.Caller()
	have, err := balance(ctx, from)
	if err != nil {
		return nil, err
	}
	if have < amount {
		return nil, errors.New(errInsufficient.Error() + ": have " + strconv.FormatUint(have, 10) + ", need " + strconv.FormatUint(amount, 10))
	}
	if to == from {
		return balanceReply(have)
	}
	dest, err := balance(ctx, to)
	if err != nil {
		return nil, err
	}
	// dest+amount cannot overflow: both are parts of the supply, which is
	// a uint64 and never grows.
	if err := balances.Set(ctx, from, have-amount); err != nil {
		return nil, err
	}
	if err := balances.Set(ctx, to, dest+amount); err != nil {
		return nil, err
	}
	return balanceReply(have - amount)
}

func query(ctx *contractsdk.Context, input []byte) ([]byte, error) {
	method, args, err := jsonmsg.ParseCall(input)
	if err != nil {
		return nil, err
	}
	owner := ctx.Caller()
	switch method {
	case "balance":
	case "balance_of":
		args.Text("owner", &owner)
	default:
		return nil, errors.New("unknown query " + strconv.Quote(method) + " (want balance or balance_of)")
	}
	if err := args.Err(); err != nil {
		return nil, err
	}
	if owner != ctx.Caller() {
		return nil, errNotOwner
	}
	b, err := balance(ctx, owner)
	if err != nil {
		return nil, err
	}
	return balanceReply(b)
}

func balance(ctx *contractsdk.Context, a contractsdk.Address) (uint64, error) {
	b, _, err := balances.Get(ctx, a)
	return b, err
}

func balanceReply(b uint64) ([]byte, error) {
	return new(jsonmsg.Encoder).BeginObject().Key("balance").Uint64(b).EndObject().Bytes()
}
