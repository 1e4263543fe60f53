package keyring_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/clustertest"
	"github.com/phala-go/phala/internal/pruntime/pruntimetest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// outcomes records, by epoch, what a worker made of each contract command
// it ran: running one means it held the epoch's key.
type outcomes struct {
	mu    sync.Mutex
	by    map[uint64]map[string]int
	index map[uint64]bool
}

func (o *outcomes) observe(_ []byte, epoch uint64, r *protocol.ContractResult) {
	if r.Kind != protocol.ResultCommand {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.by == nil {
		o.by, o.index = map[uint64]map[string]int{}, map[uint64]bool{}
	}
	if o.by[epoch] == nil {
		o.by[epoch] = map[string]int{}
	}
	o.by[epoch][r.Outcome]++
	o.index[r.Index] = true
}

func (o *outcomes) count(epoch uint64, outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.by[epoch][outcome]
}

func (o *outcomes) ran(index uint64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.index[index]
}

// ranBefore counts commands of epochs below current that were run.
func (o *outcomes) ranBefore(current uint64) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for e, m := range o.by {
		if e < current {
			for _, c := range m {
				n += c
			}
		}
	}
	return n
}

// worker is a cluster worker whose contract results are recorded.
type worker struct {
	*clustertest.Worker
	out *outcomes
}

func (w *worker) pub() []byte { return w.Pub() }

type env struct {
	*clustertest.Env
	contract []byte // the mixed test contract, in cluster alpha
}

func newEnv(t *testing.T) *env { return &env{Env: clustertest.New(t, nil)} }

// startWorker starts a worker that records its contract results.
func (e *env) startWorker(name string) *worker {
	e.T.Helper()
	out := &outcomes{}
	return &worker{Worker: e.StartWorker(name, func(c *pruntime.Config) { c.ResultObserver = out.observe }), out: out}
}

func (e *env) waitEpoch(n uint64, ws ...*worker) {
	e.T.Helper()
	var cws []*clustertest.Worker
	for _, w := range ws {
		cws = append(cws, w.Worker)
	}
	e.WaitEpoch(n, cws...)
}

// deploy instantiates the mixed test contract in cluster alpha.
func (e *env) deploy() {
	e.T.Helper()
	e.contract, _ = e.Instantiate(e.Deploy(clustertest.Mixed(e.T)), "alpha", nil)
}

// command sends a counter command to the contract once its key of the
// current epoch is published, and waits until w ran it; it returns the
// epoch the command was sealed for.
func (e *env) command(w *worker) uint64 {
	e.T.Helper()
	e.WaitKey(e.contract)
	epoch := e.Epoch().Current
	out := e.Command(e.User, e.contract, []byte("c"))
	if out.Result.Outcome != protocol.OutcomeOK {
		e.T.Fatalf("command %d: %+v", out.Index, out.Result)
	}
	e.WaitFor(w.Name+" to run the command", func() bool { return w.out.ran(out.Index) })
	return epoch
}

// copyNewCheckpoints copies every checkpoint file of dir into keep,
// returning the paths copied so far.
func copyNewCheckpoints(t *testing.T, dir, keep string, seen map[string]string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "checkpoint-*.sealed"))
	for _, f := range files {
		if _, ok := seen[f]; ok {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue // pruned meanwhile
		}
		dst := filepath.Join(keep, fmt.Sprintf("%03d-%s", len(seen), filepath.Base(f)))
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
		seen[f] = dst
	}
}

// scanForSecrets fails if any file below dirs holds any secret, raw or hex.
func scanForSecrets(t *testing.T, secrets map[string][]byte, dirs ...string) int {
	t.Helper()
	files := 0
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || filepath.Base(p) == "sim-seal-secret" {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			files++
			lower := bytes.ToLower(b)
			for name, s := range secrets {
				if len(s) < 16 {
					continue
				}
				if bytes.Contains(b, s) || bytes.Contains(lower, []byte(hex.EncodeToString(s))) {
					t.Errorf("%s found in %s", name, p)
				}
			}
			return nil
		})
	}
	return files
}

func collect(into map[string][]byte, ws ...*worker) {
	for _, w := range ws {
		collectFrom(into, w.Name, w.PR)
	}
}

func collectFrom(into map[string][]byte, name string, pr *pruntimetest.Server) {
	for k, v := range pr.Runtime.SecretsForTest() {
		into[name+": "+k] = append([]byte(nil), v...)
	}
}

// TestReplayOfHistory runs a chain through several rotations with commands
// under every epoch, then shows that neither a fresh genuine pRuntime fed
// the whole history nor the worker restarted from any checkpoint it ever
// wrote can open a command of a retired epoch, and that no secret ever
// reached a file.
func TestReplayOfHistory(t *testing.T) {
	e := newEnv(t)
	g1 := e.startWorker("gatekeeper1")
	e.Gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: g1.pub()})
	e.waitEpoch(1, g1)
	e.Gov(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"})
	e.waitEpoch(2, g1)
	w1 := e.startWorker("member1")
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: w1.pub()})
	e.waitEpoch(2, g1, w1)
	e.deploy()

	keep := t.TempDir()
	seen := map[string]string{}
	secrets := map[string][]byte{}
	for epoch := uint64(2); epoch <= 5; epoch++ {
		e.waitEpoch(epoch, g1, w1)
		collect(secrets, g1, w1)
		for range 2 {
			if got := e.command(w1); got != epoch {
				t.Fatalf("command sent under epoch %d, want %d", got, epoch)
			}
		}
		copyNewCheckpoints(t, w1.PR.Dir, keep, seen)
		if epoch < 5 {
			e.Gov(protocol.ActionRotate, protocol.RotateArgs{})
		}
	}
	current := e.Epoch().Current
	if n := w1.out.ranBefore(current); n != 6 {
		t.Fatalf("the live member ran %d commands of epochs 2..4, want 6", n)
	}
	// A command for a retired epoch is refused with its own code.
	late := protocol.CommandArgs{Contract: e.contract, Epoch: current - 1, GasLimit: 1_000_000, Ciphertext: []byte("sealed to a retired key")}
	call, _ := protocol.NewCall(protocol.ModuleContracts, protocol.MethodCommand, late)
	if _, err := e.C.Send(e.Ctx, e.User, call); !clustertest.Is(err, protocol.ErrRetiredEpoch) {
		t.Fatalf("command for a retired epoch: %v", err)
	}

	// A fresh genuine pRuntime fed the whole history, even once made a
	// member, runs nothing of a retired epoch: it gets the contract's
	// state by transfer, and runs the commands after that.
	fresh := e.startWorker("fresh")
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: fresh.pub()})
	e.waitEpoch(current, fresh)
	e.WaitFor("the fresh member's state transfer", func() bool { i := fresh.Info(); return i.Contracts == 1 && !i.NeedsState })
	e.command(fresh)
	if n := fresh.out.ranBefore(current); n != 0 {
		t.Fatalf("a fresh pRuntime ran %d commands of retired epochs", n)
	}
	if fresh.out.count(current, protocol.OutcomeOK) != 1 {
		t.Fatal("the fresh member does not run current commands")
	}

	// The member restarted from every checkpoint it wrote, each fed the
	// rest of history: nothing of a retired epoch opens.
	copyNewCheckpoints(t, w1.PR.Dir, keep, seen)
	if len(seen) < 5 {
		t.Fatalf("only %d checkpoints captured", len(seen))
	}
	collect(secrets, g1, w1, fresh)
	var dirs []string
	for _, copied := range seen {
		dir := t.TempDir()
		for _, f := range []string{"identity.sealed", "sim-seal-secret"} {
			b, err := os.ReadFile(filepath.Join(w1.PR.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, f), b, 0o600)
		}
		os.MkdirAll(filepath.Join(dir, "checkpoints"), 0o700)
		b, _ := os.ReadFile(copied)
		os.WriteFile(filepath.Join(dir, "checkpoints", strings.SplitN(filepath.Base(copied), "-", 2)[1]), b, 0o600)
		replay := &outcomes{}
		pr := pruntimetest.Start(t, dir, "", "", func(c *pruntime.Config) { c.ResultObserver = replay.observe })
		e.SyncToTip(pr)
		if n := replay.ranBefore(current); n != 0 {
			t.Fatalf("restarted from %s: ran %d commands of retired epochs", filepath.Base(copied), n)
		}
		collectFrom(secrets, "replay "+filepath.Base(copied), pr)
		pr.Crash()
		dirs = append(dirs, dir)
	}

	// No secret at rest: every file any pRuntime wrote, checkpoints and
	// their copies included.
	dirs = append(dirs, keep, g1.PR.Dir, w1.PR.Dir, fresh.PR.Dir)
	if n := scanForSecrets(t, secrets, dirs...); n < 10 {
		t.Fatalf("only %d files scanned", n)
	}
	if len(secrets) < 10 {
		t.Fatalf("only %d secrets collected", len(secrets))
	}
}

// landed counts the gatekeeper messages on chain: proposals by epoch and
// deliveries by epoch, worker and key.
func landed(t *testing.T, e *env) (proposals map[uint64]int, deliveries map[string]int) {
	t.Helper()
	proposals, deliveries = map[uint64]int{}, map[string]int{}
	clustertest.EachMessage(t, e.Ctx, e.C, func(_ int64, m *protocol.Message) bool {
		if m.Origin.Kind != protocol.OriginGatekeeper {
			return true
		}
		var p protocol.GatekeeperPayload
		if err := protocol.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		switch p.Kind {
		case protocol.GatekeeperProposal:
			var ep protocol.EpochProposal
			protocol.Unmarshal(p.Body, &ep)
			proposals[ep.Epoch]++
		case protocol.GatekeeperDelivery:
			var d protocol.KeyDelivery
			protocol.Unmarshal(p.Body, &d)
			deliveries[fmt.Sprintf("%d/%x/%x", d.Epoch, d.Seal.Recipient.Worker, d.Seal.Recipient.Key[:8])]++
		}
		return true
	})
	return proposals, deliveries
}

func checkLandedOnce(t *testing.T, e *env) {
	t.Helper()
	proposals, deliveries := landed(t, e)
	if len(proposals) == 0 {
		t.Fatal("no proposal landed")
	}
	for epoch, n := range proposals {
		if n != 1 {
			t.Errorf("epoch %d: %d proposals landed", epoch, n)
		}
	}
	for k, n := range deliveries {
		if n != 1 {
			t.Errorf("delivery %s landed %d times", k, n)
		}
	}
}

func sameSecret(t *testing.T, epoch uint64, gks ...*worker) {
	t.Helper()
	name := fmt.Sprintf("epoch secret %d", epoch)
	var first []byte
	for _, g := range gks {
		s := g.PR.Runtime.SecretsForTest()[name]
		if len(s) != 32 {
			t.Fatalf("%s does not hold %s", g.Name, name)
		}
		if first == nil {
			first = s
		} else if !bytes.Equal(first, s) {
			t.Fatalf("%s holds another %s", g.Name, name)
		}
	}
}

// TestRedundantGatekeepers runs three gatekeepers: every rotation and
// hand-over lands exactly once and all end with the same secret; a
// rotation and a hand-over complete with one gatekeeper down; with all of
// them down and one restarted, the lost secret is detected, an emergency
// rotation happens and commands work again.
func TestRedundantGatekeepers(t *testing.T) {
	e := newEnv(t)
	g1 := e.startWorker("gatekeeper1")
	e.Gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: g1.pub()})
	e.waitEpoch(1, g1)
	g2, g3 := e.startWorker("gatekeeper2"), e.startWorker("gatekeeper3")
	e.Gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: g2.pub()})
	e.Gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: g3.pub()})
	e.waitEpoch(1, g1, g2, g3)
	sameSecret(t, 1, g1, g2, g3)
	e.Gov(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"})
	e.waitEpoch(2, g1, g2, g3)
	sameSecret(t, 2, g1, g2, g3)
	w1 := e.startWorker("member1")
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: w1.pub()})
	e.waitEpoch(2, w1)
	e.deploy()
	e.command(w1)
	checkLandedOnce(t, e)

	// A rotation with one gatekeeper down.
	g2.Stop()
	e.Gov(protocol.ActionRotate, protocol.RotateArgs{})
	e.waitEpoch(3, g1, g3, w1)
	sameSecret(t, 3, g1, g3)
	e.command(w1)

	// A hand-over to a newcomer with one gatekeeper down.
	w2 := e.startWorker("member2")
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: w2.pub()})
	e.waitEpoch(3, w2)
	e.WaitFor("the newcomer's state transfer", func() bool { i := w2.Info(); return i.Contracts == 1 && !i.NeedsState })
	e.command(w2)

	// The stopped gatekeeper comes back: it re-registers and is served.
	g2.Restart()
	e.WaitFor("gatekeeper2 served again", func() bool { i := g2.PR.Runtime.Info(); return i.Registered && i.HoldsEpochKey })
	sameSecret(t, 3, g1, g2, g3)
	checkLandedOnce(t, e)

	// Every gatekeeper down, then one back: nobody can hand it the secret.
	g1.Stop()
	g2.Stop()
	g3.Stop()
	g1.Restart()
	e.WaitFor("the secret of epoch 3 declared lost", func() bool { i := e.Epoch(); return i.Lost || i.Current > 3 })
	if info := e.Epoch(); info.Lost && info.Current == 3 {
		// Commands for the lost epoch fail with a clear error.
		rec, err := e.C.EpochRecord(e.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		ci, _, err := e.C.Contract(e.Ctx, e.contract)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sdk.SealContractCommand(e.C.ChainID(), rec, &ci, e.User.Address(), []byte("c"), 1_000_000); err == nil {
			t.Fatal("the SDK seals a command to an epoch whose secret was lost")
		}
		lost := protocol.CommandArgs{Contract: e.contract, Epoch: 3, GasLimit: 1_000_000, Ciphertext: []byte("sealed to the lost epoch")}
		call, _ := protocol.NewCall(protocol.ModuleContracts, protocol.MethodCommand, lost)
		if _, err := e.C.Send(e.Ctx, e.User, call); !clustertest.Is(err, protocol.ErrEpochLost) {
			t.Fatalf("command for the lost epoch: %v", err)
		}
	}
	e.waitEpoch(4, g1, w1, w2)
	if !emergencyRotation(t, e, 4) {
		t.Fatal("epoch 4 did not come from an emergency rotation")
	}
	e.command(w1)
	e.command(w2)
	checkLandedOnce(t, e)
}

// emergencyRotation reports whether the chain announced epoch's rotation as
// an emergency.
func emergencyRotation(t *testing.T, e *env, epoch uint64) bool {
	t.Helper()
	emergency := false
	clustertest.EachMessage(t, e.Ctx, e.C, func(_ int64, m *protocol.Message) bool {
		if m.Topic != protocol.TopicRotation {
			return true
		}
		var ev protocol.RotationEvent
		protocol.Unmarshal(m.Payload, &ev)
		if ev.Epoch != epoch || ev.Phase != protocol.PhaseAnnounce {
			return true
		}
		emergency = ev.Emergency && ev.Lost == epoch-1
		return false
	})
	return emergency
}
