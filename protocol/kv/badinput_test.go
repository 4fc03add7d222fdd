package kv

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/dlock"
)

func TestValidateNamesTheParameter(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Config)
		want   string // the parameter and value the error must name
		is     error
	}{
		{"redundancy above servers", func(c *Config) { c.Redundancy = 6 }, "Redundancy=6 exceeds Servers=5", ErrInvalidConfig},
		{"zero buckets", func(c *Config) { c.Buckets = 0 }, "Buckets=0", ErrInvalidConfig},
		{"zero servers", func(c *Config) { c.Servers = 0 }, "Servers=0", ErrInvalidConfig},
		{"negative clients", func(c *Config) { c.Clients = -1 }, "Clients=-1", ErrInvalidConfig},
		{"zero redundancy", func(c *Config) { c.Redundancy = 0 }, "Redundancy=0", ErrInvalidConfig},
		{"unknown mutant", func(c *Config) { c.Mutants = Mutants(1 << 30) }, "Mutants", ErrUnknownMutant},
		{"unknown strategy", func(c *Config) { c.Strategy = Strategy(9) }, "Strategy=9", ErrUnknownStrategy},
		{"unknown source choice", func(c *Config) { c.SourceChoice = SourceChoice(-1) }, "SourceChoice=-1", ErrUnknownSourceChoice},
		{"zero chunk", func(c *Config) { c.ChunkEntries = 0 }, "ChunkEntries=0", ErrInvalidConfig},
		{"unknown partition rule", func(c *Config) { c.Partition.Rule = PartitionRule(7) }, "Partition.Rule=7", ErrUnknownPartitionRule},
		{"negative member weight", func(c *Config) { c.Partition.MemberWeight = -1 }, "Partition.MemberWeight=-1", ErrInvalidConfig},
		{"negative lead bonus", func(c *Config) { c.Partition.LeadMemberBonus = -5 }, "Partition.LeadMemberBonus=-5", ErrInvalidConfig},
		{"all weights zero", func(c *Config) { c.Partition.MemberWeight, c.Partition.LeadMemberBonus = 0, 0 }, "both 0", ErrInvalidConfig},
		{"detection below heartbeat", func(c *Config) { c.FailureDetectionTimeout = c.HeartbeatInterval }, "FailureDetectionTimeout=10000", ErrInvalidConfig},
		{"negative delay", func(c *Config) { c.ApplyDelay = -1 }, "ApplyDelay=-1", ErrInvalidConfig},
		{"zero op timeout", func(c *Config) { c.ClientOpTimeout = 0 }, "ClientOpTimeout=0", ErrInvalidConfig},
		{"zero attempts", func(c *Config) { c.ClientMaxAttempts = 0 }, "ClientMaxAttempts=0", ErrInvalidConfig},
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig is invalid: %v", err)
	}
	for _, tc := range cases {
		cfg := DefaultConfig()
		tc.change(&cfg)
		err := cfg.Validate()
		switch {
		case err == nil:
			t.Errorf("%s: no error", tc.name)
		case !errors.Is(err, tc.is) || !errors.Is(err, ErrInvalidConfig):
			t.Errorf("%s: %v does not wrap %v and ErrInvalidConfig", tc.name, err, tc.is)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %q does not name %q", tc.name, err, tc.want)
		}
		if _, ferr := NewFactory(cfg, DefaultWorkload()); ferr == nil {
			t.Errorf("%s: NewFactory accepted the config", tc.name)
		}
	}
}

func TestWorkloadValidateNamesTheParameter(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Workload)
		want   string // the parameter and value the error must name
		is     error
	}{
		{"zero keys", func(c *Workload) { c.Keys = 0 }, "Workload.Keys=0", ErrInvalidConfig},
		{"think times reversed", func(c *Workload) { c.ThinkTimeMax = 1 }, "Workload.ThinkTimeMax=1", ErrInvalidConfig},
		{"empty mix", func(c *Workload) { c.Mix = OpMix{} }, "Workload.Mix", ErrInvalidConfig},
		{"negative weight", func(c *Workload) { c.Mix.Put = -2 }, "negative weight", ErrInvalidConfig},
		{"only key beyond the key space", func(c *Workload) { c.OnlyKeys = []string{"k3", "k40"} }, `Workload.OnlyKeys[1]="k40"`, ErrInvalidConfig},
		{"only key not a key", func(c *Workload) { c.OnlyKeys = []string{"x1"} }, `Workload.OnlyKeys[0]="x1"`, ErrInvalidConfig},
		{"only key with a leading zero", func(c *Workload) { c.OnlyKeys = []string{"k07"} }, `Workload.OnlyKeys[0]="k07"`, ErrInvalidConfig},
		{"only key without a number", func(c *Workload) { c.OnlyKeys = []string{"k"} }, `Workload.OnlyKeys[0]="k"`, ErrInvalidConfig},
		{"only key negative", func(c *Workload) { c.OnlyKeys = []string{"k-1"} }, `Workload.OnlyKeys[0]="k-1"`, ErrInvalidConfig},
	}
	if err := DefaultWorkload().Validate(); err != nil {
		t.Fatalf("DefaultWorkload is invalid: %v", err)
	}
	for _, tc := range cases {
		w := DefaultWorkload()
		tc.change(&w)
		err := w.Validate()
		switch {
		case err == nil:
			t.Errorf("%s: no error", tc.name)
		case !errors.Is(err, tc.is):
			t.Errorf("%s: %v does not wrap %v", tc.name, err, tc.is)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %q does not name %q", tc.name, err, tc.want)
		}
		if _, ferr := NewFactory(DefaultConfig(), w); ferr == nil {
			t.Errorf("%s: NewFactory accepted the workload", tc.name)
		}
	}
}

func TestParseErrorsNameTheValue(t *testing.T) {
	if _, err := ParseStrategy("fast"); !errors.Is(err, ErrUnknownStrategy) || !strings.Contains(err.Error(), `"fast"`) {
		t.Errorf("ParseStrategy: %v", err)
	}
	if _, err := ParseSourceChoice("random"); !errors.Is(err, ErrUnknownSourceChoice) || !strings.Contains(err.Error(), `"random"`) {
		t.Errorf("ParseSourceChoice: %v", err)
	}
	if _, err := ParseMutants("no-mitt,bogus"); !errors.Is(err, ErrUnknownMutant) || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("ParseMutants: %v", err)
	}
	if _, err := ParsePartitionRule("majority"); !errors.Is(err, ErrUnknownPartitionRule) || !strings.Contains(err.Error(), `"majority"`) {
		t.Errorf("ParsePartitionRule: %v", err)
	}
	for _, name := range []string{"none", "weights"} {
		if r, err := ParsePartitionRule(name); err != nil || r.String() != name {
			t.Errorf("ParsePartitionRule(%q) = %v, %v", name, r, err)
		}
	}
	for _, name := range Strategies() {
		if s, err := ParseStrategy(name); err != nil || s.String() != name {
			t.Errorf("ParseStrategy(%q) = %v, %v", name, s, err)
		}
	}
	for _, name := range []string{"prefer-primary", "prefer-non-primary"} {
		if c, err := ParseSourceChoice(name); err != nil || c.String() != name {
			t.Errorf("ParseSourceChoice(%q) = %v, %v", name, c, err)
		}
	}
}

// Messages a server cannot act on are dropped and counted, never a panic.
func TestBadMessagesAreDroppedAndCounted(t *testing.T) {
	h := newHarness(t, harnessConfig())
	s0 := h.server("s0")
	hdr := Hdr{FromInc: 0, ToInc: 0}

	h.inject(1, "s0", &Announce{Hdr: hdr, Bucket: 7})
	h.inject(1, "s0", &Replicate{Hdr: hdr, Bucket: -1})
	h.inject(1, "s0", &ImageChunk{Hdr: hdr, Bucket: 99})
	if got := s0.Drops().UnknownBucket; got != 3 {
		t.Errorf("unknown-bucket drops = %d, want 3", got)
	}

	h.inject(1, "s0", &Announce{Hdr: Hdr{FromInc: 0, ToInc: 4}, Bucket: 0}) // meant for another incarnation of s0
	if got := s0.Drops().StaleIncarnation; got != 1 {
		t.Errorf("stale-incarnation drops = %d, want 1", got)
	}

	h.inject(3, "s0", &ClientRequest{Seq: 1, Op: "increment", Key: "k"})
	h.inject(protocol.External, "s0", &Heartbeat{}) // a server message from outside the cluster is still just a heartbeat
	type alien struct{ protocol.Message }
	h.inject(1, "s0", alien{})
	if got := s0.Drops().Invalid; got != 2 {
		t.Errorf("invalid drops = %d, want 2 (unknown op, unknown message type)", got)
	}

	log := h.inject(protocol.External, "s0", &Rebalance{Bucket: 5, Target: 1})
	if s0.Drops().UnknownBucket != 4 || !strings.Contains(log, EventRebalanceRejected) {
		t.Errorf("rebalance of an unknown bucket: drops %+v, log %q", s0.Drops(), log)
	}
	log = h.inject(protocol.External, "s0", &Rebalance{Bucket: 0, Target: 4})
	if !strings.Contains(log, "target-not-server") {
		t.Errorf("rebalance to a client: log %q", log)
	}
	log = h.inject(protocol.External, "s0", &Rebalance{Bucket: 0, Target: 1})
	h.stabilize()
	if !strings.Contains(h.describe(), "s1: view t1.1") || len(h.eventsNamed(EventRebalanceRejected)) != 3 {
		t.Errorf("rebalance to a current holder should be rejected: %s\n%s", log, h.describe())
	}
	// The cluster still works.
	h.write("c0", "s0", protocol.OpPut, "k", "v")
}

// A message sent by an earlier incarnation of a member that has since rejoined is dropped.
func TestStaleIncarnationAfterRestart(t *testing.T) {
	h := newHarness(t, harnessConfig())
	h.crash("s2")
	h.advance(3 * h.cfg.FailureDetectionTimeout)
	h.restart("s2")
	h.advance(3 * h.cfg.JoinRetryInterval)
	if v := h.server("s0").view; v.rank(Member{ID: 2, Inc: 1}) < 0 {
		t.Fatalf("s2#1 did not rejoin: %s", h.describe())
	}
	before := h.server("s0").Drops().StaleIncarnation
	h.inject(2, "s0", &Announce{Hdr: Hdr{FromInc: 0, ToInc: 0}, Bucket: 0})
	if got := h.server("s0").Drops().StaleIncarnation - before; got != 1 {
		t.Errorf("message from s2's old incarnation: %d stale drops, want 1", got)
	}
}

// A replicated write delivered twice is dropped and counted, and counts once toward the flush.
func TestDuplicateReplicateIsDroppedAndCountedOnce(t *testing.T) {
	h := newHarness(t, harnessConfig())
	h.request("c0", "s0", protocol.OpPut, "k", "v1")
	h.deliver("c0", "s0")
	h.fire("s0", timerDistribute)
	dup := h.channels[hchan{from: 0, to: 1}][0].msg
	h.stabilize()
	h.inject(0, "s1", dup)
	h.stabilize()
	s1 := h.server("s1")
	if got := s1.Drops().Duplicate; got != 1 {
		t.Errorf("duplicate drops = %d, want 1", got)
	}
	from := Member{ID: 0}
	if s1.contentReceived[from] != 1 || s1.contentApplied[from] != 1 {
		t.Errorf("channel counts received=%d applied=%d, want 1 and 1", s1.contentReceived[from], s1.contentApplied[from])
	}
}

// TestLockClientIDsAreNotStoreClients: with a lock service, the ids after the store's clients are
// lock clients; the store's factory refuses to build them (dlock.NewClient does, with their
// workload) rather than build a store client there.
func TestLockClientIDsAreNotStoreClients(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Locks = dlock.DefaultConfig()
	id := protocol.NodeID(FirstLockClient(cfg))
	if !IsClient(cfg, id) || IsStoreClient(cfg, id) || !IsLockClient(cfg, id) || NodeName(cfg, id) != "l0" {
		t.Fatalf("node %d: client %v, store client %v, lock client %v, name %s", id, IsClient(cfg, id), IsStoreClient(cfg, id), IsLockClient(cfg, id), NodeName(cfg, id))
	}
	defer func() {
		p := recover()
		if p == nil || !strings.Contains(fmt.Sprint(p), "dlock.NewClient") {
			t.Fatalf("NewNode of a lock client id: %v, want a panic naming dlock.NewClient", p)
		}
	}()
	NewNode(cfg, DefaultWorkload(), id, 0)
}
