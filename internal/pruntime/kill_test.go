package pruntime_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// buildPRuntime compiles cmd/pruntime once per test binary.
func buildPRuntime(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pruntime")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/phala-go/phala/cmd/pruntime")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build pruntime: %v", err)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// process is a pruntime binary running as a separate process.
type process struct {
	cmd     *exec.Cmd
	private *sdk.PRuntime
}

func startProcess(t *testing.T, bin, dir string) *process {
	t.Helper()
	priv, pub := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "--tee", "sim", "--data-dir", dir, "--private-addr", priv, "--public-addr", pub, "--checkpoint-every", "4", "--log-format", "json")
	logPath := filepath.Join(t.TempDir(), "pruntime.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("pruntime log:\n%s", b)
		}
	})
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, private: sdk.NewPRuntime(priv)}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	for range 200 {
		if _, err := p.private.Info(context.Background()); err == nil {
			return p
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("pruntime process did not start")
	return nil
}

// testKillDuringSync kills a pruntime process with SIGKILL while blocks are
// in flight, restarts it on the same data dir and lets it catch up as a
// relayer would (from its synced_height). Its app hash and egress then equal,
// byte for byte, those of a twin with the same identity that was never
// interrupted.
func testKillDuringSync(t *testing.T, rc *realChain) {
	ctx := context.Background()
	bin := buildPRuntime(t)

	twin := rc.fresh(t, 0)
	twin.mustSync(rc.blocks...)
	wantInfo := twin.info()
	wantEgress := twin.observe().egress

	dir := t.TempDir()
	copyDir(t, rc.baseDir, dir)
	p := startProcess(t, bin, dir)
	if _, err := p.private.Init(ctx, rc.genesis); err != nil {
		t.Fatal(err)
	}
	killAt := len(rc.blocks) / 2
	done := make(chan int64, 1)
	go func() {
		for i := range rc.blocks {
			if _, err := p.private.Sync(ctx, &protocol.SyncRequest{Blocks: rc.blocks[i : i+1]}); err != nil {
				break // the kill
			}
			if i == killAt {
				done <- int64(i)
			}
		}
		close(done)
	}()
	<-done
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()

	p = startProcess(t, bin, dir)
	info, err := p.private.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Initialized || info.SyncedHeight == 0 || info.SyncedHeight > int64(killAt)+2 {
		t.Fatalf("restarted at height %d (killed after %d)", info.SyncedHeight, killAt)
	}
	// Catch up from where it stands, as pherry does.
	for h := info.SyncedHeight; h < int64(len(rc.blocks)); h += 5 {
		end := min(h+5, int64(len(rc.blocks)))
		if _, err := p.private.Sync(ctx, &protocol.SyncRequest{Blocks: rc.blocks[h:end]}); err != nil {
			t.Fatalf("catch up at %d: %v", h, err)
		}
	}
	got, err := p.private.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.SyncedHeight != wantInfo.SyncedHeight || !bytes.Equal(got.AppHash, wantInfo.AppHash) || got.EgressNextSeq != wantInfo.EgressNextSeq {
		t.Fatalf("after restart: height %d app hash %X egress %d; uninterrupted: %d %X %d",
			got.SyncedHeight, got.AppHash, got.EgressNextSeq, wantInfo.SyncedHeight, wantInfo.AppHash, wantInfo.EgressNextSeq)
	}
	msgs, _, err := p.private.Egress(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(wantEgress) {
		t.Fatalf("%d egress messages, uninterrupted twin has %d", len(msgs), len(wantEgress))
	}
	for i := range msgs {
		if string(protocol.MustMarshal(&msgs[i])) != wantEgress[i] {
			t.Fatal(fmt.Sprintf("egress %d differs from the uninterrupted twin's", i))
		}
	}
}
