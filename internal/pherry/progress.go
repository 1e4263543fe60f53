package pherry

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// progress reports sync progress: a bar redrawn in place on a terminal, or
// a structured log line every interval otherwise.
type progress struct {
	out   io.Writer
	log   *slog.Logger
	every time.Duration
	m     *metrics

	mu          sync.Mutex
	synced, tip int64
	lastSynced  int64
	lastAt      time.Time
	rate        float64 // blocks/s, smoothed
}

func newProgress(out io.Writer, log *slog.Logger, every time.Duration, m *metrics) *progress {
	return &progress{out: out, log: log, every: every, m: m, lastAt: time.Now(), lastSynced: -1}
}

// observe records pRuntime's height and the chain tip.
func (p *progress) observe(synced, tip int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.synced, p.tip = synced, max(tip, p.tip)
	p.m.synced.Set(float64(synced))
	p.m.chain.Set(float64(p.tip))
	p.m.lag.Set(float64(p.tip - synced))
}

// start runs the reporter until the returned function is called.
func (p *progress) start() (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	interval := p.every
	if p.out != nil {
		interval = 500 * time.Millisecond
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				if p.out != nil {
					fmt.Fprintln(p.out)
				}
				return
			case <-t.C:
				p.report()
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (p *progress) report() {
	p.mu.Lock()
	now := time.Now()
	if p.lastSynced >= 0 {
		inst := float64(p.synced-p.lastSynced) / now.Sub(p.lastAt).Seconds()
		p.rate = 0.7*p.rate + 0.3*inst
	}
	p.lastSynced, p.lastAt = p.synced, now
	synced, tip, rate := p.synced, p.tip, p.rate
	p.mu.Unlock()
	p.m.rate.Set(rate)
	lag := tip - synced
	eta := "-"
	if rate > 0.5 && lag > 0 {
		eta = (time.Duration(float64(lag)/rate) * time.Second).Round(time.Second).String()
	}
	if p.out == nil {
		p.log.Info("sync progress", "synced", synced, "target", tip, "lag", lag, "blocks_per_s", fmt.Sprintf("%.1f", rate), "eta", eta)
		return
	}
	frac := 1.0
	if tip > 0 {
		frac = float64(synced) / float64(tip)
	}
	const width = 30
	filled := int(frac * width)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '-'
		if i < filled {
			bar[i] = '='
		}
	}
	fmt.Fprintf(p.out, "\r[%s] %d/%d  %.1f blocks/s  ETA %s   ", bar, synced, tip, rate, eta)
}
