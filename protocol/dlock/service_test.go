package dlock

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/membership"
)

// recordingEnv is an Env that keeps what a node sends, so that a test drives one state machine
// by hand.
type recordingEnv struct {
	self   protocol.NodeID
	now    protocol.Time
	sent   []sent
	events []string
	timer  protocol.TimerID
	timers map[protocol.TimerID]protocol.TimerTag
}

type sent struct {
	to  protocol.NodeID
	msg protocol.Message
}

func (e *recordingEnv) Self() protocol.NodeID { return e.self }
func (e *recordingEnv) Incarnation() uint32   { return 0 }
func (e *recordingEnv) Now() protocol.Time    { return e.now }
func (e *recordingEnv) Send(to protocol.NodeID, m protocol.Message) {
	e.sent = append(e.sent, sent{to, m})
}
func (e *recordingEnv) SetTimer(_ protocol.Duration, tag protocol.TimerTag) protocol.TimerID {
	e.timer++
	if e.timers == nil {
		e.timers = map[protocol.TimerID]protocol.TimerTag{}
	}
	e.timers[e.timer] = tag
	return e.timer
}

// leaseTimer is the newest armed lease timer (Arg > 0).
func (e *recordingEnv) leaseTimer(t *testing.T) (protocol.TimerID, protocol.TimerTag) {
	t.Helper()
	for id := e.timer; id > 0; id-- {
		if tag := e.timers[id]; tag.Arg > 0 {
			return id, tag
		}
	}
	t.Fatal("no lease timer armed")
	return 0, protocol.TimerTag{}
}
func (e *recordingEnv) CancelTimer(protocol.TimerID) {}
func (e *recordingEnv) Rand() protocol.Rand          { return zeroRand{} }
func (e *recordingEnv) Emit(name string, _ ...protocol.Attr) {
	e.events = append(e.events, name)
}

// zeroRand always makes the boring choice.
type zeroRand struct{}

func (zeroRand) Intn(int) int     { return 0 }
func (zeroRand) Float64() float64 { return 0 }

// take returns and forgets what was sent.
func (e *recordingEnv) take() []sent {
	out := e.sent
	e.sent = nil
	return out
}

const firstClient = 10

// twoMemberView makes s1 the grantor (the second-oldest member) at version t<term>.<seq>.
func twoMemberView(term, seq uint64) membership.View {
	return membership.View{Version: membership.Version{Term: term, Seq: seq}, Members: []membership.Member{{ID: 0}, {ID: 1}}}
}

func newGrantor(t *testing.T, mutants Mutants, clients int) (*Service, *recordingEnv) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Clients, cfg.Mutants = clients, mutants
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	env := &recordingEnv{self: 1}
	s := NewService(cfg, membership.Member{ID: 1}, firstClient)
	s.ViewChanged(env, twoMemberView(1, 1))
	if !s.IsGrantor() {
		t.Fatal("s1 is not the grantor of a view whose second-oldest member it is")
	}
	return s, env
}

func replies(t *testing.T, out []sent) map[protocol.NodeID]*Reply {
	t.Helper()
	m := map[protocol.NodeID]*Reply{}
	for _, s := range out {
		if r, ok := s.msg.(*Reply); ok {
			m[s.to] = r
		}
	}
	return m
}

func TestRecoveryAsksEveryParticipantAndGrantsNothingUntilAllAnswer(t *testing.T) {
	s, env := newGrantor(t, 0, 3)
	queries := env.take()
	if len(queries) != 3 {
		t.Fatalf("recovery sent %d queries, want one to each of 3 participants", len(queries))
	}
	epoch := twoMemberView(1, 1).Version
	// Participant 0 holds lock-0 from an earlier grantor; participant 1 asks for it.
	s.Receive(env, firstClient+1, &Request{Seq: 1, Kind: KindLock, Name: "lock-0"})
	s.Receive(env, firstClient+0, &RecoveryReply{Epoch: epoch, Held: []Held{{Name: "lock-0", Token: 7}}, Seq: 4})
	s.Receive(env, firstClient+1, &RecoveryReply{Epoch: epoch, Pending: &Request{Seq: 1, Kind: KindLock, Name: "lock-0"}, Seq: 1})
	if got := env.take(); len(got) != 0 || !s.Recovering() {
		t.Fatalf("answered %v before every participant told what it holds (recovering=%v)", got, s.Recovering())
	}
	s.Receive(env, firstClient+2, &RecoveryReply{Epoch: epoch})
	if s.Recovering() {
		t.Fatal("still recovering after every participant answered")
	}
	if got := env.take(); len(got) != 0 {
		t.Fatalf("granted lock-0 while participant 0 holds it: %v", got[0].msg)
	}
	// The holder's unlock releases it to the waiting participant, under a token above the old one.
	s.Receive(env, firstClient+0, &Request{Seq: 5, Kind: KindUnlock, Name: "lock-0", Token: 7})
	r := replies(t, env.take())
	if r[firstClient+0] == nil || !r[firstClient+0].OK {
		t.Fatalf("the holder's unlock was not acknowledged: %v", r)
	}
	grant := r[firstClient+1]
	if grant == nil || !grant.OK || grant.Token <= 7 {
		t.Fatalf("waiter's grant %+v: want ok with a token above the recovered 7", grant)
	}
}

func TestGrantBeforeRecoveryMutantGrantsAHeldLock(t *testing.T) {
	s, env := newGrantor(t, NewMutants(GrantBeforeRecovery), 2)
	env.take()
	s.Receive(env, firstClient+1, &Request{Seq: 1, Kind: KindLock, Name: "lock-0"})
	if r := replies(t, env.take())[firstClient+1]; r == nil || !r.OK {
		t.Fatalf("the mutant did not grant before recovery: %+v", r)
	}
	// The correct grantor holds the same request.
	s, env = newGrantor(t, 0, 2)
	env.take()
	s.Receive(env, firstClient+1, &Request{Seq: 1, Kind: KindLock, Name: "lock-0"})
	if got := env.take(); len(got) != 0 {
		t.Fatalf("the correct grantor answered during recovery: %v", got[0].msg)
	}
}

func TestRecoveryAsksKnownMutantAsksNoOneAtAFreshGrantor(t *testing.T) {
	_, env := newGrantor(t, NewMutants(RecoveryAsksKnown), 3)
	if got := env.take(); len(got) != 0 {
		t.Fatalf("a fresh grantor under the mutant asked %d participants, want none (it knows no one)", len(got))
	}
}

func TestCopiesOfAnsweredRequestsAreNotGrantedAgain(t *testing.T) {
	s, env := newGrantor(t, 0, 1)
	env.take()
	epoch := twoMemberView(1, 1).Version
	// A copy of the participant's answered request 3 is still in flight from before the epoch.
	s.Receive(env, firstClient, &Request{Seq: 3, Kind: KindLock, Name: "lock-0"})
	s.Receive(env, firstClient, &RecoveryReply{Epoch: epoch, Held: []Held{{Name: "lock-0", Token: 5}}, Seq: 4})
	if got := env.take(); len(got) != 0 {
		t.Fatalf("a copy of an answered request was answered: %v", got[0].msg)
	}
	if held := s.HeldLocks(); len(held) != 1 || held[0] != "lock-0:0:5" {
		t.Fatalf("held locks %v, want the recovered lock-0:0:5", held)
	}
}

func TestUnlockChecksTheToken(t *testing.T) {
	for _, tc := range []struct {
		mutants  Mutants
		released bool
	}{{0, false}, {NewMutants(UnlockIgnoresToken), true}} {
		s, env := newGrantor(t, tc.mutants, 2)
		env.take()
		epoch := twoMemberView(1, 1).Version
		s.Receive(env, firstClient+0, &RecoveryReply{Epoch: epoch, Seq: 2})
		s.Receive(env, firstClient+1, &RecoveryReply{Epoch: epoch, Held: []Held{{Name: "lock-0", Token: 9}}, Seq: 1})
		// Participant 0's late copy of its unlock of an earlier hold (token 3).
		s.Receive(env, firstClient+0, &Request{Seq: 2, Kind: KindUnlock, Name: "lock-0", Token: 3})
		env.take()
		released := len(s.HeldLocks()) == 0
		if released != tc.released {
			t.Errorf("mutants %q: a stale unlock released the current holder's lock: %v, want %v", tc.mutants, released, tc.released)
		}
	}
}

func TestTokensGrowAcrossEpochs(t *testing.T) {
	early := token(membership.Version{Term: 1, Seq: 9}, MaxGrantsPerEpoch-1, 0)
	late := token(membership.Version{Term: 1, Seq: 10}, 1, 0)
	newTerm := token(membership.Version{Term: 2, Seq: 1}, 1, 0)
	if !(early < late && late < newTerm) {
		t.Fatalf("tokens %d, %d, %d do not grow with the epoch", early, late, newTerm)
	}
	if got := token(membership.Version{Term: 2, Seq: 1}, 1, NewMutants(TokensRestart)); got != 1 {
		t.Fatalf("tokens-restart token %d, want the bare counter 1", got)
	}
}

func TestClientRefusesAnswersOfOlderEpochs(t *testing.T) {
	for _, tc := range []struct {
		mutants  Mutants
		accepted bool
	}{{0, false}, {NewMutants(AcceptStaleGrant), true}} {
		cfg := DefaultConfig()
		cfg.Mutants = tc.mutants
		c := NewClient(cfg, DefaultWorkload(), firstClient, 3)
		env := &recordingEnv{self: firstClient}
		c.env = env
		c.invoke(&Request{Kind: KindLock, Name: "lock-0"})
		c.Receive(env, 2, &RecoveryQuery{Epoch: membership.Version{Term: 1, Seq: 5}})
		c.Receive(env, 1, &Reply{Seq: 1, Epoch: membership.Version{Term: 1, Seq: 4}, OK: true, Token: 3})
		if accepted := c.holding.Name != ""; accepted != tc.accepted {
			t.Errorf("mutants %q: accepted a grant of epoch t1.4 after answering t1.5's recovery: %v, want %v", tc.mutants, accepted, tc.accepted)
		}
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		change func(*Config, *Workload)
		want   string
	}{
		{func(c *Config, _ *Workload) { c.Clients = MaxClients + 1 }, "lock clients"},
		{func(c *Config, _ *Workload) { c.Names = 0 }, "lock names"},
		{func(_ *Config, w *Workload) { w.OpsPerClient = -1 }, "ops per client"},
		{func(c *Config, w *Workload) { c.Clients, w.OpsPerClient = 1000, 2000 }, "grants one grantor epoch"},
		{func(_ *Config, w *Workload) { w.HoldMin, w.HoldMax = 5, 4 }, "hold"},
		{func(_ *Config, w *Workload) { w.ThinkMax = -1 }, "think"},
		{func(c *Config, _ *Workload) { c.RetryInterval = 0 }, "retry interval"},
		{func(_ *Config, w *Workload) { w.LeaseMin, w.LeaseMax = 0, 5 }, "lease"},
		{func(_ *Config, w *Workload) { w.LeaseMin, w.LeaseMax = 1, MaxLease+1 }, "lease"},
		{func(_ *Config, w *Workload) { w.LeaseMin, w.LeaseMax = 6, 5 }, "lease"},
		{func(c *Config, _ *Workload) { c.Mutants = 1 << 30 }, "unknown lock mutant"},
		{func(c *Config, _ *Workload) { c.Clients, c.Mutants = 0, NewMutants(TokensRestart) }, "without lock clients"},
	} {
		cfg, work := DefaultConfig(), DefaultWorkload()
		tc.change(&cfg, &work)
		err := cfg.Validate()
		if err == nil {
			err = work.Validate(cfg)
		}
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want an invalid-config error naming %q", err, tc.want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("the default config is invalid: %v", err)
	}
	if err := DefaultWorkload().Validate(DefaultConfig()); err != nil {
		t.Fatalf("the default workload is invalid: %v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("no lock service is invalid: %v", err)
	}
}

func TestParseMutants(t *testing.T) {
	all := NewMutants(AllMutants()...)
	back, err := ParseMutants(all.String())
	if err != nil || back != all {
		t.Fatalf("ParseMutants(%q) = %v, %v; want every mutant", all, back, err)
	}
	if len(AllMutants()) < 5 {
		t.Fatalf("%d lock mutants, the lock service needs at least five", len(AllMutants()))
	}
	_, err = ParseMutants("tokens-restart,no-such-bug")
	if err == nil || !strings.Contains(err.Error(), `"no-such-bug"`) || !strings.Contains(err.Error(), "grant-before-recovery") {
		t.Fatalf("an unknown name gave %v, want an error naming it and the known mutants", err)
	}
}

func leasedGrantor(t *testing.T, clients int) (*Service, *recordingEnv) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Clients = clients
	env := &recordingEnv{self: 1}
	s := NewService(cfg, membership.Member{ID: 1}, firstClient)
	s.ViewChanged(env, twoMemberView(1, 1))
	return s, env
}

func TestALeaseRunsOutAndTheWaiterGetsTheLock(t *testing.T) {
	s, env := leasedGrantor(t, 2)
	epoch := twoMemberView(1, 1).Version
	s.Receive(env, firstClient+0, &RecoveryReply{Epoch: epoch})
	s.Receive(env, firstClient+1, &RecoveryReply{Epoch: epoch})
	env.take()
	s.Receive(env, firstClient+0, &Request{Seq: 1, Kind: KindLock, Name: "lock-0", Lease: 10 * protocol.Millisecond})
	first := replies(t, env.take())[firstClient+0]
	s.Receive(env, firstClient+1, &Request{Seq: 1, Kind: KindLock, Name: "lock-0", Lease: 10 * protocol.Millisecond})
	if got := env.take(); first == nil || !first.OK || len(got) != 0 {
		t.Fatalf("first grant %+v, then %v: want the second to wait", first, got)
	}
	id, tag := env.leaseTimer(t)
	env.now += protocol.Time(10 * protocol.Millisecond)
	s.Fire(env, id, tag)
	second := replies(t, env.take())[firstClient+1]
	if second == nil || !second.OK || second.Token <= first.Token {
		t.Fatalf("after the lease ran out the waiter got %+v, want a grant with a token above %d", second, first.Token)
	}
	// The first holder's unlock comes too late: refused, and the second keeps the lock.
	s.Receive(env, firstClient+0, &Request{Seq: 2, Kind: KindUnlock, Name: "lock-0", Token: first.Token})
	if r := replies(t, env.take())[firstClient+0]; r == nil || r.OK || r.Unknown {
		t.Fatalf("a late unlock got %+v, want a refusal", r)
	}
	if held := s.HeldLocks(); len(held) != 1 || held[0] != "lock-0:1:"+strconv.FormatUint(second.Token, 10) {
		t.Fatalf("held %v, want the second holder's lock", held)
	}
}

func TestARecoveredHoldWhoseLeaseRunsOutGivesAnUnknownUnlock(t *testing.T) {
	s, env := leasedGrantor(t, 1)
	epoch := twoMemberView(1, 1).Version
	// The participant reports a hold under an earlier grantor, with its unlock pending: that
	// unlock may have taken effect there already.
	env.now = protocol.Time(5 * protocol.Millisecond)
	s.Receive(env, firstClient, &RecoveryReply{Epoch: epoch, Held: []Held{{Name: "lock-0", Token: 3, Call: 0, Lease: 10 * protocol.Millisecond}}, Seq: 2})
	env.take()
	id, tag := env.leaseTimer(t)
	env.now = protocol.Time(10 * protocol.Millisecond)
	s.Fire(env, id, tag)
	s.Receive(env, firstClient, &Request{Seq: 2, Kind: KindUnlock, Name: "lock-0", Token: 3, Lease: 10 * protocol.Millisecond})
	if r := replies(t, env.take())[firstClient]; r == nil || !r.Unknown {
		t.Fatalf("the unlock of a recovered hold whose lease ran out got %+v, want unknown", r)
	}
}

func TestOnlyNamesSkipsTheOtherLocksWithTheirDraws(t *testing.T) {
	cfg := DefaultConfig()
	work := DefaultWorkload()
	work.OpsPerClient, work.OnlyNames = 1, []string{"lock-1"}
	if err := work.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	c := NewClient(cfg, work, firstClient, 3)
	env := &recordingEnv{self: firstClient}
	c.Start(env)
	c.Fire(env, 1, protocol.TimerTag{Kind: timerThink}) // the zero draw names lock-0: skipped
	if len(env.sent) != 0 || !c.Done() {
		t.Fatalf("a lock outside OnlyNames was taken (sent %v, done %v)", env.sent, c.Done())
	}
	work.OnlyNames = []string{"lock-9"}
	if err := work.Validate(cfg); err == nil || !strings.Contains(err.Error(), `"lock-9"`) {
		t.Fatalf("OnlyNames naming a lock outside the service gave %v", err)
	}
}
