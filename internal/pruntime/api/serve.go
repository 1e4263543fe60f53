package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Listeners is a running pair of pRuntime listeners.
type Listeners struct {
	PrivateAddr string
	PublicAddr  string
	servers     []*http.Server
	done        chan error
}

// Listen starts the private and public listeners (":0" picks a port) and
// serves until Shutdown.
func (s *Server) Listen(privateAddr, publicAddr string) (*Listeners, error) {
	l := &Listeners{done: make(chan error, 2)}
	for _, spec := range []struct {
		addr string
		h    http.Handler
		out  *string
	}{{privateAddr, s.Private(), &l.PrivateAddr}, {publicAddr, s.Public(), &l.PublicAddr}} {
		ln, err := net.Listen("tcp", spec.addr)
		if err != nil {
			l.Shutdown(context.Background())
			return nil, fmt.Errorf("api: listen %s: %w", spec.addr, err)
		}
		*spec.out = ln.Addr().String()
		srv := &http.Server{Handler: spec.h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		l.servers = append(l.servers, srv)
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				l.done <- err
			}
		}()
	}
	return l, nil
}

// Err reports a listener that failed while serving.
func (l *Listeners) Err() <-chan error { return l.done }

// Shutdown stops both listeners, waiting for requests in flight.
func (l *Listeners) Shutdown(ctx context.Context) error {
	var errs []error
	for _, srv := range l.servers {
		errs = append(errs, srv.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
