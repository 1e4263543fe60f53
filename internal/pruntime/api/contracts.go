package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/phala-go/phala/protocol"
)

// cborType is the content type of CBOR bodies (queries, state transfers).
const cborType = "application/cbor"

func writeCBOR(w http.ResponseWriter, body []byte) error {
	w.Header().Set("Content-Type", cborType)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// query answers an encrypted, signed contract query (protocol.QueryRequest
// in, protocol.QueryResponse out, both CBOR).
func (s *Server) query(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, protocol.MaxQueryBody)
	if err != nil {
		return err
	}
	out, err := s.rt.Query(r.Context(), body)
	if err != nil {
		return err
	}
	return writeCBOR(w, out)
}

func (s *Server) contracts(w http.ResponseWriter, _ *http.Request) error {
	cs, err := s.rt.Contracts()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cs)
}

// stateRequest hands the relayer this worker's signed request for its
// cluster's state.
func (s *Server) stateRequest(w http.ResponseWriter, _ *http.Request) error {
	out, err := s.rt.StateRequest()
	if err != nil {
		return err
	}
	return writeCBOR(w, out)
}

// state serves another member's state request.
func (s *Server) state(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, protocol.MaxQueryBody)
	if err != nil {
		return err
	}
	out, err := s.rt.ServeState(body)
	if err != nil {
		return err
	}
	return writeCBOR(w, out)
}

// StateApplied is the answer of POST /v1/state/apply.
type StateApplied struct {
	Contracts int `json:"contracts"`
}

func (s *Server) stateApply(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, protocol.MaxStateTransfer)
	if err != nil {
		return err
	}
	n, err := s.rt.ApplyState(body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, StateApplied{Contracts: n})
}

// EndpointRequest is the body of POST /v1/endpoint.
type EndpointRequest struct {
	URL string `json:"url"`
}

// endpoint signs the worker's public URL for the registry.
func (s *Server) endpoint(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, 4096)
	if err != nil {
		return err
	}
	var req EndpointRequest
	if err := jsonDecode(body, &req); err != nil {
		return err
	}
	u, err := s.rt.SignEndpoint(req.URL)
	if err != nil {
		return err
	}
	return writeCBOR(w, protocol.MustMarshal(u))
}

// jsonDecode reads a small JSON request body strictly.
func jsonDecode(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return protocol.Errorf(protocol.ErrBadRequest, "json body: %v", err)
	}
	return nil
}
