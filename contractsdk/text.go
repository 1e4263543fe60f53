package contractsdk

import (
	"strconv"
	"unicode/utf8"
)

// maxQuoted bounds how much of a caller-supplied string an error message
// repeats.
const maxQuoted = 64

// quote renders s for an error message: in double quotes, at most
// maxQuoted bytes, with control characters, quotes, backslashes and invalid
// UTF-8 escaped. It replaces strconv.Quote, whose Unicode tables would
// grow every contract.
func quote(s string) string {
	b := []byte{'"'}
	for i := 0; i < len(s); {
		if i >= maxQuoted {
			b = append(b, "..."...)
			break
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1, r < 0x20, r == 0x7f:
			b = append(b, '\\', 'x', hexDigits[s[i]>>4], hexDigits[s[i]&0xf])
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(append(b, '"'))
}

func itoa(n int) string { return strconv.Itoa(n) }
