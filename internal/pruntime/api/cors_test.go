package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPublicAPIAnswersPagesOfAnyOrigin: a browser dApp queries workers
// directly, so the public API answers preflights and marks its answers
// readable by any origin (it takes no credentials); other requests reach
// the handler unchanged.
func TestPublicAPIAnswersPagesOfAnyOrigin(t *testing.T) {
	reached := 0
	h := crossOrigin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		w.WriteHeader(http.StatusTeapot)
	}))
	pre := httptest.NewRequest(http.MethodOptions, "/v1/query", nil)
	pre.Header.Set("Origin", "http://127.0.0.1:5173")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "content-type")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, pre)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "*" ||
		rec.Header().Get("Access-Control-Allow-Methods") != "GET, POST" || rec.Header().Get("Access-Control-Allow-Headers") != "Content-Type" || reached != 0 {
		t.Fatalf("preflight: %d %v, handler reached %d times", rec.Code, rec.Header(), reached)
	}
	post := httptest.NewRequest(http.MethodPost, "/v1/query", nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, post)
	if rec.Code != http.StatusTeapot || rec.Header().Get("Access-Control-Allow-Origin") != "*" || reached != 1 {
		t.Fatalf("request: %d %v, handler reached %d times", rec.Code, rec.Header(), reached)
	}
	// A plain OPTIONS request (no preflight) is the handler's to answer (405).
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodOptions, "/v1/query", nil))
	if reached != 2 {
		t.Fatalf("a plain OPTIONS request did not reach the handler")
	}
}
