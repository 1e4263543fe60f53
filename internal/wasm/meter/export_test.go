package meter

// Shape is a function body's control-flow counts, as the compile limits
// see them.
type Shape struct {
	Controls, Nesting, Labels, Locals, Bytes int
	ControlLocals                            int64
}

// Shapes decodes wasm under c and returns the shape of every function
// body.
func Shapes(wasm []byte, c Config) ([]Shape, error) {
	m, err := decode(wasm, &c)
	if err != nil {
		return nil, err
	}
	out := make([]Shape, 0, len(m.bodies))
	var fc funcCode
	for i, b := range m.bodies {
		if err := m.decodeBody(i, b, &c, &fc); err != nil {
			return nil, err
		}
		s := fc.shape
		out = append(out, Shape{Controls: s.controls, Nesting: s.nesting, Labels: s.labels, Locals: fc.locals, Bytes: b.end - b.start, ControlLocals: s.ctlLocal})
	}
	return out, nil
}
