// Package logging builds the slog loggers of every program from the
// --log-format and --log-level flags. Loggers are passed explicitly; nothing
// here is global.
package logging

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
)

// New returns a logger writing to w in format "text" or "json" at level.
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// Discard returns a logger that drops everything, for tests and tools.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// RedirectStdLog sends the standard library logger's output (used by some
// dependencies, e.g. the pebble database) to l at level. It changes process
// state, so only main functions call it.
func RedirectStdLog(l *slog.Logger, level slog.Level) {
	log.SetFlags(0)
	log.SetOutput(stdLogWriter{l: l, level: level})
}

type stdLogWriter struct {
	l     *slog.Logger
	level slog.Level
}

func (w stdLogWriter) Write(p []byte) (int, error) {
	w.l.Log(context.Background(), w.level, strings.TrimSpace(string(p)), "source", "stdlog")
	return len(p), nil
}
