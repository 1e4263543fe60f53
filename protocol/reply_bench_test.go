package protocol_test

import (
	"bytes"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// BenchmarkReplySealing compares a command's reply sealing (fixed key and
// nonce) with a query's (a key derived per answer from a salt): the
// query path's extra cost per answer is one HKDF.
func BenchmarkReplySealing(b *testing.B) {
	secret, salt, aad := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	reply := bytes.Repeat([]byte{4}, 64) // a token balance reply
	b.Run("command", func(b *testing.B) {
		for b.Loop() {
			protocol.SealReply(secret, aad, reply)
		}
	})
	b.Run("query", func(b *testing.B) {
		for b.Loop() {
			if _, err := protocol.SealQueryReply(secret, salt, aad, reply); err != nil {
				b.Fatal(err)
			}
		}
	})
}
