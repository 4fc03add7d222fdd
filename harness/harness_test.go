package harness

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/trace"
)

func mustScenario(t testing.TB, name string) Scenario {
	t.Helper()
	s, err := LookupScenario(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBuiltInScenariosPassWithTheCorrectProtocol runs a few seeds of every built-in scenario: the
// correct protocol must pass every check (or, where the scenario kills beyond redundancy on purpose,
// report data loss rather than a protocol bug).
func TestBuiltInScenariosPassWithTheCorrectProtocol(t *testing.T) {
	for _, scn := range Scenarios() {
		t.Run(scn.Name, func(t *testing.T) {
			for seed := uint64(1); seed <= 6; seed++ {
				o, err := Run(scn, seed, Options{})
				if err != nil {
					t.Fatal(err)
				}
				want := []Verdict{VerdictPass}
				if scn.ExpectDataLoss {
					want = append(want, VerdictDataLoss)
				}
				if !containsVerdict(want, o.Final) {
					t.Fatalf("seed %d: verdict %s, caught by %v:\n%s\n%v", seed, o.Final, o.CaughtBy, o.Banner(), o.Violations)
				}
				if len(o.History) == 0 && scn.ClientOps() > 0 {
					t.Fatalf("seed %d: empty history", seed)
				}
				if planned := 2 * scn.KV.Locks.Clients * scn.LockWorkload.OpsPerClient; len(o.LockHistory) != planned {
					t.Fatalf("seed %d: %d lock operations, want the workload's %d", seed, len(o.LockHistory), planned)
				}
			}
		})
	}
}

func containsVerdict(vs []Verdict, v Verdict) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// TestSameSeedSameRun: the same seed gives the same trace hash and the same outcome; another seed
// gives another hash.
func TestSameSeedSameRun(t *testing.T) {
	scn := mustScenario(t, DefaultScenario)
	hashes := map[uint64]uint64{}
	for seed := uint64(1); seed <= 8; seed++ {
		a, err := Run(scn, seed, Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Run(scn, seed, Options{FullTrace: true})
		if err != nil {
			t.Fatal(err)
		}
		if a.Result.Hash != b.Result.Hash || a.Final != b.Final {
			t.Fatalf("seed %d: %016x/%s then %016x/%s", seed, a.Result.Hash, a.Final, b.Result.Hash, b.Final)
		}
		if other, dup := hashes[a.Result.Hash]; dup {
			t.Fatalf("seeds %d and %d give the same hash %016x", other, seed, a.Result.Hash)
		}
		hashes[a.Result.Hash] = seed
	}
}

// TestMutantIsCaughtReportedAndReplayed: a mutant the default checks catch yields a violation, a
// report directory, and a trace that replays to the same hash; a tampered trace does not replay.
func TestMutantIsCaughtReportedAndReplayed(t *testing.T) {
	scn := mustScenario(t, DefaultScenario)
	scn.KV.Mutants = kv.NewMutants(kv.NoMitt)
	var failing *Outcome
	for seed := uint64(1); seed <= 200 && failing == nil; seed++ {
		o, err := Run(scn, seed, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if o.Final == VerdictViolation {
			failing = o
		}
	}
	if failing == nil {
		t.Fatal("no-mitt was not caught in 200 seeds of the default scenario")
	}
	dir := t.TempDir()
	tracePath, err := failing.WriteReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.html", "trace.jsonl", "history.json", "summary.txt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("report lacks %s: %v", f, err)
		}
	}
	replayed, err := Replay(tracePath, Options{})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if replayed.Final != VerdictViolation || replayed.Result.Hash != failing.Result.Hash {
		t.Fatalf("replay gave %s/%016x, the run %s/%016x", replayed.Final, replayed.Result.Hash, failing.Final, failing.Result.Hash)
	}

	// Rename one client event in the trace: the rerun no longer matches it.
	raw, err := os.ReadFile(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	for i, l := range lines {
		if strings.Contains(l, `"name":"op-invoke"`) {
			lines[i] = strings.Replace(l, `"name":"op-invoke"`, `"name":"op-invoked"`, 1)
			break
		}
	}
	tampered := filepath.Join(t.TempDir(), "tampered.jsonl")
	if err := os.WriteFile(tampered, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Replay(tampered, Options{}); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("a tampered trace must give ErrHashMismatch, got %v", err)
	}
	// The trace names the build that recorded it, so the mismatch says so instead of guessing.
	if _, err := Replay(tampered, Options{}); err == nil || !strings.Contains(err.Error(), "recorded by this same build ("+BuildVersion()+")") {
		t.Errorf("the mismatch does not name the recording build: %v", err)
	}
	if note := versionNote("stateflush v1.0.0, revision abc", "stateflush v1.1.0, revision def"); !strings.Contains(note, "recorded by stateflush v1.0.0, revision abc; this is stateflush v1.1.0") {
		t.Errorf("versionNote for two builds: %q", note)
	}
	if note := versionNote("", "x"); !strings.Contains(note, "does not say which build") {
		t.Errorf("versionNote for an old trace: %q", note)
	}
}

// TestShrinkFindsASmallCounterexample: shrinking a mutant's failure keeps it failing with fewer
// operations, and searching small workloads finds a counterexample of at most 30 client operations
// (the mutation score's target) that replays from command-line flags.
func TestShrinkFindsASmallCounterexample(t *testing.T) {
	scn := mustScenario(t, DefaultScenario)
	scn.KV.Mutants = kv.NewMutants(kv.NoMitt)
	for seed := uint64(1); seed <= 200; seed++ {
		o, err := Run(scn, seed, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if o.Final != VerdictViolation {
			continue
		}
		shrunk := Shrink(o, 40)
		if shrunk.Outcome.Final != VerdictViolation || len(shrunk.Outcome.History) >= len(o.History) {
			t.Fatalf("shrinking gave %s with %d client operations (from %d)", shrunk.Outcome.Final, len(shrunk.Outcome.History), len(o.History))
		}
		small := SearchSmall(o, SmallCounterexampleOps, 200)
		if small == nil {
			t.Fatal("no counterexample of at most 30 client operations in 200 seeds per small workload")
		}
		if n := len(small.History); n > SmallCounterexampleOps || small.Final != VerdictViolation || !small.Replayable() {
			t.Fatalf("small counterexample: %d client operations, verdict %s, replayable from flags %v", n, small.Final, small.Replayable())
		}
		return
	}
	t.Fatal("no-mitt was not caught in 200 seeds")
}

func TestReadRunTraceRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]string{
		"missing.jsonl":   "",
		"garbage.jsonl":   "this is not json\n",
		"otherrun.jsonl":  `{"version":1,"description":{"seed":3}}` + "\n",
		"badformat.jsonl": `{"version":1,"description":{"format":"stateflush-run/99","seed":1,"source":"prng","scenario":{}}}` + "\n",
	}
	for name, content := range cases {
		path := filepath.Join(dir, name)
		if content != "" {
			path = write(name, content)
		}
		if _, _, err := ReadRunTrace(path); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestScenarioValidationNamesTheParameter(t *testing.T) {
	base := mustScenario(t, "small")
	cases := []struct {
		mutate func(*Scenario)
		want   string
	}{
		{func(s *Scenario) { s.SafetyPhase = 0 }, "SafetyPhase"},
		{func(s *Scenario) { s.QuiesceBudget = -1 }, "QuiesceBudget"},
		{func(s *Scenario) { s.Nemeses.ClientLossProb = 1.5 }, "ClientLossProb"},
		{func(s *Scenario) { s.Nemeses.ClientDupProb = -0.1 }, "ClientDupProb"},
		{func(s *Scenario) {
			s.Nemeses.DelaySpikeMeanGap, s.Nemeses.DelaySpikeMax, s.Nemeses.DelaySpikeLatency = 1, 1, s.KV.FailureDetectionTimeout
		}, "FailureDetectionTimeout"},
		{func(s *Scenario) { s.KV.Redundancy = s.KV.Servers + 1 }, "Redundancy"},
		{func(s *Scenario) { s.Script = []Action{{At: 1, Kind: "explode", Node: 0}} }, "Kind"},
		{func(s *Scenario) { s.Script = []Action{{At: 1, Kind: ActionCrash, Node: 99}} }, "Node"},
		{func(s *Scenario) { s.Nemeses.Monkey.PauseMax = -1 }, "PauseMax"},
		{func(s *Scenario) { s.Nemeses.Monkey.PauseMax = 0 }, "PauseMax"}, // pauses weighed in, no length
		{func(s *Scenario) { s.Nemeses.Monkey.Faults.HostCrash = -2 }, "Faults"},
		{func(s *Scenario) { s.Nemeses.Monkey.PauseMax = s.SafetyPhase + s.QuiesceBudget + 1 }, "longer than the run"},
		{func(s *Scenario) { s.Nemeses.ServerPartitionMeanGap = -1 }, "server partitions"},
		{func(s *Scenario) { s.Nemeses.ServerPartitionMeanGap = 1 }, "server partitions"}, // no Max
		{func(s *Scenario) {
			s.Nemeses.ServerPartitionMeanGap, s.Nemeses.ServerPartitionMax = 1, s.SafetyPhase+s.QuiesceBudget+1
		}, "ServerPartitionMax"},
		{func(s *Scenario) { s.Nemeses.ServerPartitionOneWayProb = 2 }, "ServerPartitionOneWayProb"},
		{func(s *Scenario) { s.Nemeses.ConnectionLossMeanGap = 1 }, "connection losses"},
		{func(s *Scenario) { s.Nemeses.ConnectionLossNoticeMax = -3 }, "connection losses"},
		{func(s *Scenario) { s.Script = []Action{{At: 1, Kind: ActionPause, Node: 1}} }, ".For=0"},
		{func(s *Scenario) { s.Script = []Action{{At: 1, Kind: ActionPause, Node: 1, For: -5}} }, ".For=-5"},
		{func(s *Scenario) {
			s.Script = []Action{{At: 1, Kind: ActionPause, Node: 1, For: s.SafetyPhase + s.QuiesceBudget}}
		}, "outlast the run"},
		{func(s *Scenario) { s.Script = []Action{{At: 1, Kind: ActionPartition, Peers: []protocol.NodeID{1}}} }, ".Group is empty"},
		{func(s *Scenario) {
			s.Script = []Action{{At: 1, Kind: ActionPartition, Group: []protocol.NodeID{0}, Peers: []protocol.NodeID{9}}}
		}, ".Peers[0]=9 is not a server"},
		{func(s *Scenario) {
			s.Script = []Action{{At: 1, Kind: ActionMend, Group: []protocol.NodeID{0, 1}, Peers: []protocol.NodeID{1}}}
		}, ".Peers[0]=1 is in both groups"},
		{func(s *Scenario) {
			s.Script = []Action{{At: 1, Kind: ActionPartition, Group: []protocol.NodeID{0, 0}, Peers: []protocol.NodeID{1}}}
		}, ".Group[1]=0 appears twice"},
	}
	for _, c := range cases {
		s := base
		s.Nemeses = base.Nemeses
		monkey := *base.Nemeses.Monkey
		s.Nemeses.Monkey = &monkey
		c.mutate(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %s, got %v", c.want, err)
		}
	}
	if _, err := LookupScenario("nope"); !errors.Is(err, ErrUnknownScenario) {
		t.Errorf("unknown scenario: %v", err)
	}
}

// TestSweepOutputIsIndependentOfWorkersAndShards: results come in seed order whatever the number
// of workers, and shards merge back into the whole sweep, line for line.
func TestSweepOutputIsIndependentOfWorkersAndShards(t *testing.T) {
	scn := mustScenario(t, "small")
	spec, err := SpecDigest(scn, 0)
	if err != nil {
		t.Fatal(err)
	}
	sweep := func(shard Shard, workers int) SweepFile {
		id := SweepID{Spec: spec, Version: "test", FirstSeed: 1, Seeds: 12, Shard: shard}
		f := SweepFile{Name: "shard-" + shard.String()}
		ParallelSeeds(shard.Seeds(1, 12), workers, func(seed uint64) SeedResult {
			o, err := Run(scn, seed, Options{})
			if err != nil {
				t.Error(err)
				return SeedResult{}
			}
			return o.SeedResult()
		}, func(r SeedResult) { f.Lines = append(f.Lines, SweepLine{r, id}) }, nil)
		return f
	}
	text := func(lines []SweepLine) string {
		var b bytes.Buffer
		for _, l := range lines {
			if err := WriteSweepLine(&b, l); err != nil {
				t.Fatal(err)
			}
		}
		return b.String()
	}
	one, two := sweep(AllSeeds, 1), sweep(AllSeeds, 2)
	if text(one.Lines) != text(two.Lines) || len(one.Lines) != 12 {
		t.Fatalf("sweep output differs between 1 and 2 workers:\n%s\n---\n%s", text(one.Lines), text(two.Lines))
	}
	s0, s1 := sweep(Shard{0, 2}, 2), sweep(Shard{1, 2}, 2)
	merged, err := MergeSweeps(s1, s0)
	if err != nil {
		t.Fatal(err)
	}
	if text(merged.Lines) != text(one.Lines) || len(merged.Missing) != 0 {
		t.Fatalf("merged shards differ from the whole sweep (missing %v)", merged.Missing)
	}
	back, err := ReadSweep(strings.NewReader(text(one.Lines)), "sweep.jsonl")
	if err != nil || len(back.Lines) != 12 {
		t.Fatalf("reading the sweep back: %d results, %v", len(back.Lines), err)
	}
	if _, err := MergeSweeps(s0, s0); err == nil || !strings.Contains(err.Error(), "overlapping") {
		t.Fatalf("overlapping shards must not merge: %v", err)
	}
	alone, err := MergeSweeps(s0)
	if err != nil || len(alone.Missing) != 6 || alone.MissingSeeds() != 6 || alone.Missing[5].String() != "12" {
		t.Fatalf("one shard of two: missing %v, %v", alone.Missing, err)
	}
	// An empty shard adds nothing; only empty inputs say nothing.
	if m, err := MergeSweeps(s0, SweepFile{Name: "empty"}, s1); err != nil || len(m.Lines) != 12 {
		t.Fatalf("merge with an empty shard: %v", err)
	}
	if _, err := MergeSweeps(SweepFile{Name: "empty"}); !errors.Is(err, ErrEmptySweep) {
		t.Fatalf("merge of empty inputs: %v", err)
	}
	for _, bad := range []string{"1", "2/2", "-1/3", "a/b", "0/0"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("shard %q accepted", bad)
		}
	}
}

// TestSweepFilesRefuseWhatNoSweepWrites: every field a reader checks, checked on a line that
// differs from a valid one in that field only.
func TestSweepFilesRefuseWhatNoSweepWrites(t *testing.T) {
	valid := `{"seed":3,"scenario":"small","strategy":"state-flush","verdict":"pass","client_ops":1,"unknown_ops":0,"kills":0,"copies_created":0,"end":"quiesced","virtual_time_us":1,"steps":1,"hash":"00112233445566ff","spec":"0123456789abcdef0123456789abcdef","version":"v1","first_seed":1,"seeds":4,"shard":"0/2"}`
	if f, err := ReadSweep(strings.NewReader(valid+"\n"), "ok"); err != nil || len(f.Lines) != 1 || f.Lines[0].Shard != (Shard{0, 2}) {
		t.Fatalf("valid line: %v", err)
	}
	cases := []struct{ from, to, want string }{
		{`"verdict":"pass"`, `"verdict":"banana"`, "unknown verdict"},
		{`"hash":"00112233445566ff"`, `"hash":"zz"`, "malformed hash"},
		{`"hash":"00112233445566ff"`, `"hash":"00112233445566FF"`, "malformed hash"},
		{`"spec":"0123456789abcdef0123456789abcdef"`, `"spec":"abc"`, "malformed spec"},
		{`"version":"v1"`, `"version":""`, "no version"},
		{`"seeds":4`, `"seeds":0`, "at least one seed"},
		{`"shard":"0/2"`, `"shard":"1/2"`, "seed 3 is not in shard 1/2"},
		{`"shard":"0/2"`, `"shard":"2/2"`, "need 0 <= i < n"},
		{`"seed":3`, `"seed":9`, "not in shard"},
		{`,"shard":"0/2"`, ``, "no \"shard\" field"},
		{`"scenario":"small"`, `"scenario":""`, "no scenario"},
		{`"seeds":4`, `"seeds":4,"extra":1`, "unknown field"},
	}
	for _, c := range cases {
		line := strings.Replace(valid, c.from, c.to, 1)
		if line == valid {
			t.Fatalf("case %q changes nothing", c.want)
		}
		if _, err := ReadSweep(strings.NewReader(line+"\n"), "bad.jsonl"); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.jsonl:1") {
			t.Errorf("%s -> %s: want an error naming %q and the line, got %v", c.from, c.to, c.want, err)
		}
	}
	// Two sweeps in one file, and a seed twice.
	other := strings.Replace(strings.Replace(valid, `"seed":3`, `"seed":1`, 1), `"version":"v1"`, `"version":"v2"`, 1)
	if _, err := ReadSweep(strings.NewReader(valid+"\n"+other+"\n"), "mixed"); err == nil || !strings.Contains(err.Error(), "mixed:2: the line belongs to another sweep") {
		t.Errorf("mixed file: %v", err)
	}
	if _, err := ReadSweep(strings.NewReader(valid+"\n"+valid+"\n"), "dup"); err == nil || !strings.Contains(err.Error(), "already on line 1") {
		t.Errorf("seed twice: %v", err)
	}
	// A cut last line is an error for ReadSweep and dropped by ReadPartialSweep; a cut line that
	// is not last is an error for both.
	cut := valid + "\n" + strings.Replace(valid, `"seed":3`, `"seed":1`, 1)[:40]
	if _, err := ReadSweep(strings.NewReader(cut), "cut"); err == nil || !strings.Contains(err.Error(), "cut:2") {
		t.Errorf("cut line: %v", err)
	}
	if f, err := ReadPartialSweep(strings.NewReader(cut), "cut"); err != nil || len(f.Lines) != 1 || f.DroppedTail == "" {
		t.Errorf("partial read of a cut line: %v, %+v", err, f)
	}
	if _, err := ReadPartialSweep(strings.NewReader(cut+"\n"), "cut"); err == nil {
		t.Error("a cut line followed by a newline was dropped: only an unterminated tail may be")
	}
	// Merge refuses inputs of different sweeps, naming the field.
	parse := func(name, line string) SweepFile {
		f, err := ReadSweep(strings.NewReader(line+"\n"), name)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a := parse("a", valid)
	for _, c := range []struct{ from, to, want string }{
		{`"spec":"0123456789abcdef0123456789abcdef"`, `"spec":"ffffffffffffffffffffffffffffffff"`, "spec digest"},
		{`"version":"v1"`, `"version":"v2"`, "version"},
		{`"seeds":4`, `"seeds":6`, "seed range"},
		{`"shard":"1/2"`, `"shard":"1/3"`, "another split"},
	} {
		shardOne := strings.Replace(strings.Replace(valid, `"seed":3`, `"seed":2`, 1), `"shard":"0/2"`, `"shard":"1/2"`, 1)
		if c.from == `"version":"v1"` {
			if _, err := MergeSweeps(a, parse("b", shardOne)); err != nil {
				t.Fatalf("the two shards of one sweep do not merge: %v", err)
			}
		}
		b := parse("b", strings.Replace(shardOne, c.from, c.to, 1))
		if _, err := MergeSweeps(a, b); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "a and b are not shards of one sweep") {
			t.Errorf("merge of inputs differing in %s: %v", c.want, err)
		}
	}
}

// TestSwarmDrawsOnlyEnabledNemesesAndZeroIsQuiet: swarm draws never enable a nemesis the scenario
// lacks, and the all-zero draw (where shrinking pushes) switches every nemesis off.
func TestSwarmDrawsOnlyEnabledNemesesAndZeroIsQuiet(t *testing.T) {
	full := mustScenario(t, DefaultScenario).Nemeses
	if got := DrawSwarm(full, zeroRand{}); got.Describe() != "none" {
		t.Fatalf("the zero draw enabled %s", got.Describe())
	}
	none := DrawSwarm(Nemeses{}, oneRand{})
	if none.Describe() != "none" {
		t.Fatalf("a scenario without nemeses drew %s", none.Describe())
	}
}

// TestSwarmKeepsACopyCreatingNemesis: when the swarm switches off the monkey and rebalance, the
// only nemeses that create copies, it gives one back in all but one of eight draws, so that few
// seeds of a replica-creation scenario create no copy; with the rule removed about a quarter would.
func TestSwarmKeepsACopyCreatingNemesis(t *testing.T) {
	full := mustScenario(t, DefaultScenario).Nemeses
	const seeds = 2000
	without := 0
	for seed := uint64(1); seed <= seeds; seed++ {
		got := DrawSwarm(full, sim.PRNGSource(seed)("swarm"))
		if got.Monkey == nil && got.RebalanceMeanGap == 0 {
			without++
		}
	}
	// Expected: 1/4 * 1/8 = 1/32 of the seeds, 62 of 2000; a quarter (500) without the rule.
	if without == 0 || without > seeds/16 {
		t.Fatalf("%d of %d swarm draws have no copy-creating nemesis, want about 1/32 (and never none: draw 0 must stay possible)", without, seeds)
	}
}

type zeroRand struct{}

func (zeroRand) Intn(int) int     { return 0 }
func (zeroRand) Float64() float64 { return 0 }

type oneRand struct{}

func (oneRand) Intn(n int) int   { return n - 1 }
func (oneRand) Float64() float64 { return 0.999 }

var _ protocol.Rand = zeroRand{}

// TestHopsSlowTheLinksBetweenServers: a scenario measured in hops gives server links the latency
// of their hop count (writes, replicated to every holder, slow down with the servers' hops while
// clients stay one hop away), and a plan without hops is rejected.
func TestHopsSlowTheLinksBetweenServers(t *testing.T) {
	scn := mustScenario(t, "small")
	scn.Swarm = false
	scn.Nemeses = Nemeses{}
	meanWrite := func(hops int) float64 {
		s := scn
		s.Hops = &HopPlan{ServerHops: hops, ClientHops: 1, PerHop: protocol.Millisecond}
		o, err := Run(s, 1, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if o.Final != VerdictPass {
			t.Fatalf("%d hops: %s", hops, o.Final)
		}
		sum, n := 0.0, 0
		for _, op := range o.History {
			if op.Kind.IsWrite() && op.Acknowledged() {
				sum += float64(op.ReturnUS - op.CallUS)
				n++
			}
		}
		return sum / float64(n)
	}
	near, far := meanWrite(1), meanWrite(7)
	// A write crosses a client link twice and a server link at least twice (replicate, ack): seven
	// hops of 1 ms add at least 12 ms.
	if far-near < 12_000 {
		t.Errorf("mean write latency %.0fµs at 1 hop and %.0fµs at 7 hops: the hops do not slow the server links", near, far)
	}
	scn.Hops = &HopPlan{ServerHops: 0, ClientHops: 1, PerHop: protocol.Millisecond}
	if err := scn.Validate(); err == nil {
		t.Error("a hop plan with 0 hops between servers was accepted")
	}
}

// TestKillsDescriptionNamesTheNemesis: the kill count says which nemesis killed, from the crash
// records' action (or, failing that, their "by" label).
func TestKillsDescriptionNamesTheNemesis(t *testing.T) {
	crash := func(attrs ...trace.Attr) trace.Record { return trace.Record{Kind: trace.KindCrash, Attrs: attrs} }
	o := &Outcome{Records: []trace.Record{
		crash(trace.Attr{Key: "by", Value: "chaos-monkey"}, trace.Attr{Key: "action", Value: "chaos-monkey kill"}),
		crash(trace.Attr{Key: "by", Value: "chaos-monkey"}, trace.Attr{Key: "action", Value: "nemesis/source-watch"}),
		crash(trace.Attr{Key: "by", Value: "chaos-monkey"}, trace.Attr{Key: "action", Value: "chaos-monkey kill"}),
		crash(trace.Attr{Key: "by", Value: "script"}),
		crash(),
		{Kind: trace.KindRestart},
	}}
	if got, want := o.KillsDescription(), "5 kills (2 by chaos-monkey, 1 by source-watch, 1 by script, 1 by unlabelled)"; got != want {
		t.Errorf("KillsDescription() = %q, want %q", got, want)
	}
	if got := (&Outcome{}).KillsDescription(); got != "0 kills" {
		t.Errorf("no crashes: %q", got)
	}
}

// TestProgressChangesNothing: a run watched through Options.Progress is the same run (same hash,
// same verdict), and the reports go through the stages in order with virtual time never going
// back.
func TestProgressChangesNothing(t *testing.T) {
	scn := mustScenario(t, DefaultScenario)
	for seed := uint64(1); seed <= 3; seed++ {
		plain, err := Run(scn, seed, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var reports []RunProgress
		watched, err := Run(scn, seed, Options{Progress: func(p RunProgress) { reports = append(reports, p) }})
		if err != nil {
			t.Fatal(err)
		}
		if watched.Result.Hash != plain.Result.Hash || watched.Final != plain.Final {
			t.Fatalf("seed %d: watched run %x %s, plain run %x %s", seed, watched.Result.Hash, watched.Final, plain.Result.Hash, plain.Final)
		}
		stages := map[string]int{}
		for i, p := range reports {
			stages[p.Stage]++
			if i > 0 && (p.Now < reports[i-1].Now || p.Steps < reports[i-1].Steps) {
				t.Fatalf("seed %d: progress went back: %+v after %+v", seed, p, reports[i-1])
			}
		}
		if stages[StageSimulating] != progressSlices-1 || stages[StageQuiescing] != 1 || stages[StageChecking] != 1 ||
			reports[len(reports)-1].Stage != StageChecking {
			t.Fatalf("seed %d: stages %v, last %+v", seed, stages, reports[len(reports)-1])
		}
	}
}

// TestSourcePanicGoesBackToTheSource: a panic the choice source raises inside a draw (rapid ending a
// test case) is raised again to Run's caller, not turned into a crash verdict; a panic of the code
// being run still is one (TestPanicIsACrashVerdict and the crash tests show that side).
func TestSourcePanicGoesBackToTheSource(t *testing.T) {
	scn := mustScenario(t, "small")
	defer func() {
		if p := recover(); p != "source says stop" {
			t.Fatalf("Run's caller got %v, want the source's own panic value", p)
		}
	}()
	o, err := Run(scn, 1, Options{Source: func(string) protocol.Rand { return stoppingRand{} }})
	t.Fatalf("Run returned (verdict %v, err %v) instead of raising the source's panic", o.Final, err)
}

type stoppingRand struct{}

func (stoppingRand) Intn(int) int     { panic(sim.SourcePanic{Value: "source says stop"}) }
func (stoppingRand) Float64() float64 { panic(sim.SourcePanic{Value: "source says stop"}) }

// A scripted partition cuts the coordinator and one more member off from the rest for longer than
// failure detection, while clients write on: that side keeps 25 of 55 weight and shuts down (the
// partition rule), the other side takes over and serves, the supervisor restarts the side that shut
// down, and the run passes every check. Without the rule the cut-off side removes the others and
// goes on serving the buckets it holds two copies of, both sides acknowledge writes, and the checks
// catch the split brain.
func TestScriptedPartitionShutsTheMinorityDown(t *testing.T) {
	for _, rule := range []kv.PartitionRule{kv.WeightedQuorum, kv.NoQuorum} {
		s := mustScenario(t, "small")
		s.Swarm = false
		s.Nemeses = Nemeses{}
		s.KV.Partition.Rule = rule
		s.KV.Servers, s.KV.Redundancy = 5, 3
		s.SafetyPhase = 1500 * protocol.Millisecond
		// Operations all through the partition, on both sides.
		s.Workload.OpsPerClient = 80
		s.Workload.ThinkTimeMin, s.Workload.ThinkTimeMax = 2*protocol.Millisecond, 3*protocol.Millisecond
		minority, majority := []protocol.NodeID{0, 1}, []protocol.NodeID{2, 3, 4}
		s.Script = []Action{
			{At: protocol.Time(50 * protocol.Millisecond), Kind: ActionPartition, Group: minority, Peers: majority},
			{At: protocol.Time(900 * protocol.Millisecond), Kind: ActionMend, Group: minority, Peers: majority},
		}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		out, err := Run(s, 1, Options{FullTrace: true})
		if err != nil {
			t.Fatal(err)
		}
		shutdowns := 0
		for _, r := range out.Records {
			if r.Kind == trace.KindEvent && r.Name == kv.EventNetworkPartition {
				shutdowns++
			}
		}
		switch rule {
		case kv.WeightedQuorum:
			if shutdowns == 0 || out.Final != VerdictPass {
				t.Errorf("weights: %d shutdowns, verdict %s %v; want the minority shut down and a pass", shutdowns, out.Final, out.Violations)
			}
		case kv.NoQuorum:
			if shutdowns != 0 || out.Final == VerdictPass {
				t.Errorf("none: %d shutdowns, verdict %s; want no shutdown and the split brain caught", shutdowns, out.Final)
			}
		}
	}
}

// TestSourceKillMinGap: the source nemeses' kills keep SourceKillMinGap apart cluster-wide, and
// the bound is what keeps them apart: without it, a cluster of twenty servers draws kills closer.
func TestSourceKillMinGap(t *testing.T) {
	scn := mustScenario(t, DefaultScenario)
	scn.Swarm = false
	scn.KV.Servers, scn.KV.Buckets = 20, 200
	scn.SafetyPhase = 600 * protocol.Millisecond
	closest := func(gap protocol.Duration) (int, protocol.Duration) {
		s := scn
		s.Nemeses.SourceKillMinGap = gap
		o, err := Run(s, 1, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var times []int64
		for _, r := range o.Records {
			if action, _ := r.Get("action"); r.Kind == trace.KindCrash && action == "nemesis/source-watch" {
				times = append(times, r.TimeUS)
			}
		}
		least := protocol.Duration(math.MaxInt64)
		for i := 1; i < len(times); i++ {
			least = min(least, protocol.Duration(times[i]-times[i-1]))
		}
		return len(times), least
	}
	gap := 100 * protocol.Millisecond
	if n, least := closest(gap); n < 2 || least < gap {
		t.Errorf("with a %d µs gap: %d source kills, the closest %d µs apart", gap, n, least)
	}
	if n, least := closest(0); least >= gap {
		t.Errorf("without a gap: %d source kills, the closest %d µs apart: the test shows nothing", n, least)
	}
}

// TestUnquiescedRunFailsByLivenessOnly: a run whose phases end with the workload still running
// fails by liveness, which names the operations not yet invoked and the checks that hold only after
// quiescence (final reads, convergence, redundancy); those are not reported, since copies with
// writes in flight differ for no fault of the store's.
func TestUnquiescedRunFailsByLivenessOnly(t *testing.T) {
	scn := mustScenario(t, DefaultScenario)
	scn.Workload.OpsPerClient = 500
	scn.SafetyPhase, scn.QuiesceBudget = 300*protocol.Millisecond, 100*protocol.Millisecond
	o, err := Run(scn, 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Result.End == sim.EndQuiescent {
		t.Fatalf("the run quiesced after %v: the test shows nothing", o.Result.Now)
	}
	if !slices.Equal(o.CaughtBy, []string{LivenessCheck}) {
		t.Errorf("caught by %v, want only %s", o.CaughtBy, LivenessCheck)
	}
	if len(o.Liveness) == 0 || !strings.Contains(o.Liveness[0], "not yet invoked") || !strings.Contains(o.Liveness[0], "were not checked") {
		t.Errorf("liveness says %q", o.Liveness)
	}
}
