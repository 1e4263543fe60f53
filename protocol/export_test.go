package protocol

// RegisteredErrors lists every error the package defines, for the
// cross-language vectors.
func RegisteredErrors() []*Error {
	out := make([]*Error, 0, len(registry))
	for _, e := range registry {
		out = append(out, e)
	}
	return out
}
