// Command auction is a sealed-bid auction contract: bids stay in the
// contract's encrypted state, each bidder sees only their own, and the
// winner is published when the seller closes the auction.
//
//	init     {"item": "…", "min_bid": N}   the deployer is the seller
//	command  {"bid": {"amount": N}}        place or replace the caller's bid
//	command  {"close": {}}                 seller only: pick the winner
//	query    {"my_bid": {}}                the caller's bid
//	query    {"status": {}}                open or closed, and the winner
//
// The highest bid wins; between equal bids, the one placed (or last
// replaced) first. Closing emits {"item": …, "winner": "<address>" or
// null, "amount": N} on the topic suffix "winner", which lands on chain
// for everyone to see. Bids are promises, not escrow: settling payment is
// outside this example.
package main

import (
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/phala-go/phala/contractsdk"
	"github.com/phala-go/phala/contractsdk/jsonmsg"
)

// maxItemBytes bounds the item's description.
const maxItemBytes = 200

// auction is the auction's configuration and, once closed, its result.
type auction struct {
	Seller contractsdk.Address
	Item   string
	MinBid uint64
	Closed bool
	Winner *contractsdk.Address // nil: closed without a winner
	Amount uint64               // the winning bid
}

// bid is a standing bid; Seq orders bids by when they were placed.
type bid struct {
	Amount, Seq uint64
}

var (
	state   = contractsdk.NewItem("auction", contractsdk.NewCodec(appendAuction, decodeAuction))
	bids    = contractsdk.NewMap("bid", contractsdk.AddressCodec{}, contractsdk.NewCodec(appendBid, decodeBid))
	nextSeq = contractsdk.NewItem("seq", contractsdk.Uint64Codec{})
)

// Errors the contract returns.
var (
	errClosed     = errors.New("the auction is closed")
	errNotSeller  = errors.New("only the seller may close the auction")
	errSellerBids = errors.New("the seller cannot bid")
	errBidTooLow  = errors.New("bid below the minimum")
	errNoBid      = errors.New("you have no bid")
	errItem       = errors.New("item must be 1.." + strconv.Itoa(maxItemBytes) + " bytes")
	errNoAuction  = errors.New("auction not initialised")
)

func init() {
	contractsdk.Register(contractsdk.Contract{Init: open, Command: command, Query: query})
}

func main() {}

func open(ctx *contractsdk.Context, input []byte) ([]byte, error) {
	args, err := jsonmsg.ParseObject(input)
	if err != nil {
		return nil, err
	}
	a := auction{Seller: ctx.Caller(), Item: args.String("item"), MinBid: args.Uint64("min_bid")}
	if err := args.Err(); err != nil {
		return nil, err
	}
	if len(a.Item) == 0 || len(a.Item) > maxItemBytes {
		return nil, errItem
	}
	if err := state.Set(ctx, a); err != nil {
		return nil, err
	}
	return statusReply(a)
}

func command(ctx *contractsdk.Context, input []byte) ([]byte, error) {
	method, args, err := jsonmsg.ParseCall(input)
	if err != nil {
		return nil, err
	}
	var amount uint64
	switch method {
	case "bid":
		amount = args.Uint64("amount")
	case "close":
	default:
		return nil, errors.New("unknown command " + strconv.Quote(method) + " (want bid or close)")
	}
	if err := args.Err(); err != nil {
		return nil, err
	}
	a, err := load(ctx)
	if err != nil {
		return nil, err
	}
	if a.Closed {
		return nil, errClosed
	}
	if method == "bid" {
		return placeBid(ctx, a, amount)
	}
	return closeAuction(ctx, a)
}

// placeBid records the caller's bid, replacing any earlier one; the bid
// then ranks as placed now.
func placeBid(ctx *contractsdk.Context, a auction, amount uint64) ([]byte, error) {
	if ctx.Caller() == a.Seller {
		return nil, errSellerBids
	}
	if amount == 0 || amount < a.MinBid {
		return nil, errors.New(errBidTooLow.Error() + " of " + strconv.FormatUint(max(a.MinBid, 1), 10))
	}
	seq, _, err := nextSeq.Get(ctx)
	if err != nil {
		return nil, err
	}
	if err := nextSeq.Set(ctx, seq+1); err != nil {
		return nil, err
	}
	if err := bids.Set(ctx, ctx.Caller(), bid{Amount: amount, Seq: seq}); err != nil {
		return nil, err
	}
	return bidReply(amount)
}

// closeAuction picks the highest bid, earliest first among equals, and
// publishes the result.
func closeAuction(ctx *contractsdk.Context, a auction) ([]byte, error) {
	if ctx.Caller() != a.Seller {
		return nil, errNotSeller
	}
	var best bid
	for bidder, err := range bids.Keys(ctx) {
		if err != nil {
			return nil, err
		}
		b, _, err := bids.Get(ctx, bidder)
		if err != nil {
			return nil, err
		}
		if a.Winner == nil || b.Amount > best.Amount || b.Amount == best.Amount && b.Seq < best.Seq {
			w := bidder
			a.Winner, best = &w, b
		}
	}
	a.Closed, a.Amount = true, best.Amount
	if err := state.Set(ctx, a); err != nil {
		return nil, err
	}
	result, err := resultJSON(a)
	if err != nil {
		return nil, err
	}
	if err := ctx.Emit("winner", result); err != nil {
		return nil, err
	}
	return result, nil
}

func query(ctx *contractsdk.Context, input []byte) ([]byte, error) {
	method, args, err := jsonmsg.ParseCall(input)
	if err != nil {
		return nil, err
	}
	if err := args.Err(); err != nil {
		return nil, err
	}
	switch method {
	case "my_bid":
		b, ok, err := bids.Get(ctx, ctx.Caller())
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errNoBid
		}
		return bidReply(b.Amount)
	case "status":
		a, err := load(ctx)
		if err != nil {
			return nil, err
		}
		return statusReply(a)
	}
	return nil, errors.New("unknown query " + strconv.Quote(method) + " (want my_bid or status)")
}

func load(ctx *contractsdk.Context) (auction, error) {
	a, ok, err := state.Get(ctx)
	if err == nil && !ok {
		err = errNoAuction
	}
	return a, err
}

func bidReply(amount uint64) ([]byte, error) {
	return new(jsonmsg.Encoder).BeginObject().Key("bid").Uint64(amount).EndObject().Bytes()
}

// statusReply is {"item", "min_bid", "open"} and, once closed, "winner"
// and "amount".
func statusReply(a auction) ([]byte, error) {
	e := new(jsonmsg.Encoder).BeginObject().
		Key("item").String(a.Item).
		Key("min_bid").Uint64(a.MinBid).
		Key("open").Bool(!a.Closed)
	if a.Closed {
		winner(e, a)
	}
	return e.EndObject().Bytes()
}

// resultJSON is the message emitted at close.
func resultJSON(a auction) ([]byte, error) {
	e := new(jsonmsg.Encoder).BeginObject().Key("item").String(a.Item)
	return winner(e, a).EndObject().Bytes()
}

func winner(e *jsonmsg.Encoder, a auction) *jsonmsg.Encoder {
	if a.Winner == nil {
		e.Key("winner").Null()
	} else {
		e.Key("winner").Text(*a.Winner)
	}
	return e.Key("amount").Uint64(a.Amount)
}

// The stored encodings: fixed-width fields first, the item text last.
//
//	auction: seller(20) min_bid(8) closed(1) has_winner(1) winner(20) amount(8) item
//	bid:     amount(8) seq(8)
const auctionHeader = 20 + 8 + 1 + 1 + 20 + 8

func appendAuction(dst []byte, a auction) []byte {
	dst = append(dst, a.Seller[:]...)
	dst = binary.BigEndian.AppendUint64(dst, a.MinBid)
	var w contractsdk.Address
	if a.Winner != nil {
		w = *a.Winner
	}
	dst = append(dst, boolByte(a.Closed), boolByte(a.Winner != nil))
	dst = append(dst, w[:]...)
	dst = binary.BigEndian.AppendUint64(dst, a.Amount)
	return append(dst, a.Item...)
}

func decodeAuction(b []byte) (auction, error) {
	var a auction
	if len(b) < auctionHeader || b[28] > 1 || b[29] > 1 {
		return a, errors.New("stored auction is malformed")
	}
	copy(a.Seller[:], b[0:20])
	a.MinBid = binary.BigEndian.Uint64(b[20:28])
	a.Closed = b[28] == 1
	if b[29] == 1 {
		var w contractsdk.Address
		copy(w[:], b[30:50])
		a.Winner = &w
	}
	a.Amount = binary.BigEndian.Uint64(b[50:58])
	a.Item = string(b[auctionHeader:])
	return a, nil
}

func appendBid(dst []byte, b bid) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(dst, b.Amount), b.Seq)
}

func decodeBid(b []byte) (bid, error) {
	if len(b) != 16 {
		return bid{}, errors.New("stored bid is malformed")
	}
	return bid{Amount: binary.BigEndian.Uint64(b[:8]), Seq: binary.BigEndian.Uint64(b[8:])}, nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
