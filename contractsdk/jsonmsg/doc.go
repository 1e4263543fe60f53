// Package jsonmsg reads and writes the JSON messages of a contract without
// reflection. encoding/json works in a contract too, but it brings fmt and
// reflect and adds about 1.4 MB to the module (contracts are uploaded in
// one transaction of at most 1 MiB, compressed); this package adds a few
// tens of kilobytes and costs far less gas per call.
//
// Reading is strict, because a contract's input comes from anyone: the
// input must be one RFC 8259 value with valid UTF-8, no duplicate member
// names and at most MaxDepth levels of nesting; numbers are read only into
// the integer type asked for and only if they fit; and a member the
// handler did not read is an error, so a misspelt field fails loudly
// instead of being ignored. Field readers record the first problem and
// Err reports it, so a handler reads all its fields and checks once:
//
//	method, args, err := jsonmsg.ParseCall(input) // {"transfer": {"to": "…", "amount": 5}}
//	if err != nil {
//		return nil, err
//	}
//	switch method {
//	case "transfer":
//		var to contractsdk.Address
//		args.Text("to", &to)
//		amount := args.Uint64("amount")
//		if err := args.Err(); err != nil {
//			return nil, err
//		}
//		…
//	}
//
// Writing goes through an Encoder, which produces compact JSON whose bytes
// depend only on the calls made (members in the order written), so every
// worker produces the same output.
package jsonmsg
