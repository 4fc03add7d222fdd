package chaos

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/trace"
)

// idleNode does nothing; the monkey's behaviour does not depend on what the members run.
type idleNode struct{}

func (idleNode) Start(protocol.Env)                                      {}
func (idleNode) Receive(protocol.Env, protocol.NodeID, protocol.Message) {}
func (idleNode) Fire(protocol.Env, protocol.TimerID, protocol.TimerTag)  {}

// staticWorld gives fixed roles, a fixed set of members that are unsafe to kill and a fixed set
// whose loss would take the quorum.
type staticWorld struct {
	roles    map[protocol.NodeID][]string
	unsafe   map[protocol.NodeID]bool
	quorumOf map[protocol.NodeID]bool
}

func (w staticWorld) Roles(id protocol.NodeID) []string   { return w.roles[id] }
func (w staticWorld) SafeToKill(id protocol.NodeID) bool  { return !w.unsafe[id] }
func (w staticWorld) KeepsQuorum(id protocol.NodeID) bool { return !w.quorumOf[id] }
func everyoneSafe() staticWorld                           { return staticWorld{} }
func newCluster(t *testing.T, seed uint64, servers, clients int) *sim.Sim {
	t.Helper()
	var nodes []sim.NodeSpec
	factory := func(protocol.NodeID, uint32) protocol.Node { return idleNode{} }
	for i := 0; i < servers; i++ {
		nodes = append(nodes, sim.NodeSpec{Name: "s" + itoa(i), New: factory})
	}
	for i := 0; i < clients; i++ {
		nodes = append(nodes, sim.NodeSpec{Name: "c" + itoa(i), New: factory, Client: true})
	}
	s, err := sim.New(sim.Config{
		Seed: seed, Nodes: nodes,
		Network:    sim.Network{Default: sim.Link{Latency: sim.Latency{Kind: sim.Constant, Mean: protocol.Millisecond}}},
		TimeBudget: 1000 * protocol.Second, StepBudget: 1 << 30,
	})
	if err != nil {
		t.Fatalf("building the cluster: %v", err)
	}
	return s
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestMonkeyKillsOnlyServersAndRestartsThem(t *testing.T) {
	s := newCluster(t, 7, 4, 3)
	m, err := New(Config{MeanTimeBetweenKills: protocol.Second, RestartAfter: 500 * protocol.Millisecond,
		Stop: protocol.Time(200 * protocol.Second)}, s, everyoneSafe(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Arm()
	s.RunUntil(protocol.Time(201 * protocol.Second))
	kills := m.Kills()
	if len(kills) < 100 {
		t.Fatalf("expected about 200 kills in 200 s at one per second, got %d", len(kills))
	}
	for _, k := range kills {
		if s.Spec(k.Victim).Client {
			t.Fatalf("the monkey killed client %s at %v", k.Name, k.At)
		}
	}
	for i := 0; i < 4; i++ {
		if !s.Alive(protocol.NodeID(i)) {
			t.Errorf("s%d still down after its restart delay", i)
		}
	}
}

func TestMonkeyFavoursOlderMembers(t *testing.T) {
	youngChosen, oldChosen := 0, 0
	for seed := uint64(1); seed <= 300; seed++ {
		s := newCluster(t, seed, 4, 1)
		// s0 is restarted just before the monkey starts, so its incarnation is 100 times younger.
		s.At(protocol.Time(1*protocol.Second), "test crash", func() { _ = s.Crash(0, "test") })
		s.At(protocol.Time(9900*protocol.Millisecond), "test restart", func() { _ = s.Restart(0) })
		m, err := New(Config{MeanTimeBetweenKills: protocol.Millisecond, MinGapBetweenKills: 0,
			Start: protocol.Time(10 * protocol.Second), Stop: protocol.Time(11 * protocol.Second)}, s, everyoneSafe(), nil)
		if err != nil {
			t.Fatal(err)
		}
		m.Arm()
		s.RunUntil(protocol.Time(11 * protocol.Second))
		kills := m.Kills()
		if len(kills) == 0 {
			continue
		}
		if kills[0].Victim == 0 {
			youngChosen++
		} else {
			oldChosen++
		}
	}
	// Age-weighted: the young member has weight ~0.1 s against 3 × 10 s, so about 0.3% of first kills.
	if oldChosen < 250 || youngChosen > 10 {
		t.Fatalf("first kill hit the young member %d times and old ones %d times; age weighting is off", youngChosen, oldChosen)
	}
}

// firstVictims counts, over 300 seeds, which member each victim choice hits first: s0 is 100 times
// younger than the others (restarted just before the monkey starts) and s3 holds a role.
func firstVictims(t *testing.T, victims Victims) map[protocol.NodeID]int {
	t.Helper()
	world := staticWorld{roles: map[protocol.NodeID][]string{3: {"coordinator"}}}
	first := map[protocol.NodeID]int{}
	for seed := uint64(1); seed <= 300; seed++ {
		s := newCluster(t, seed, 4, 1)
		s.At(protocol.Time(1*protocol.Second), "test crash", func() { _ = s.Crash(0, "test") })
		s.At(protocol.Time(9900*protocol.Millisecond), "test restart", func() { _ = s.Restart(0) })
		m, err := New(Config{MeanTimeBetweenKills: protocol.Millisecond, Victims: victims,
			Start: protocol.Time(10 * protocol.Second), Stop: protocol.Time(11 * protocol.Second)}, s, world, nil)
		if err != nil {
			t.Fatal(err)
		}
		m.Arm()
		s.RunUntil(protocol.Time(11 * protocol.Second))
		if kills := m.Kills(); len(kills) > 0 {
			first[kills[0].Victim]++
		}
	}
	return first
}

// Each victim choice weighs as it says: by age the young member is almost never first; uniformly
// every member is first about a quarter of the time; by role the role holder is first about
// 10/13 of the time (weight 10 against three of 1).
func TestMonkeyVictimChoices(t *testing.T) {
	byAge := firstVictims(t, "")
	if byAge[0] > 10 {
		t.Errorf("by age: the young member was first %d times of 300", byAge[0])
	}
	uniform := firstVictims(t, VictimsUniform)
	for id := protocol.NodeID(0); id < 4; id++ {
		if uniform[id] < 45 || uniform[id] > 105 {
			t.Errorf("uniform: s%d first %d times of 300, want about 75 (%v)", id, uniform[id], uniform)
		}
	}
	byRole := firstVictims(t, VictimsByRole)
	if byRole[3] < 200 || byRole[3] > 260 || byRole[0] == 0 {
		t.Errorf("by role: the role holder first %d times of 300, want about 230, and the young s0 sometimes (%v)", byRole[3], byRole)
	}
	if v, err := ParseVictims("age"); err != nil || v != "" || v.String() != "age" {
		t.Errorf(`ParseVictims("age") = %q, %v; want the default's own form ""`, v, err)
	}
	if _, err := ParseVictims("oldest"); err == nil || !strings.Contains(err.Error(), "age, uniform, roles") {
		t.Errorf("an unknown victim choice: got %v", err)
	}
	if err := (Config{MeanTimeBetweenKills: 1, Victims: "oldest"}).Validate(); err == nil || !strings.Contains(err.Error(), "Victims") {
		t.Errorf("Validate accepts an unknown victim choice: %v", err)
	}
}

func TestMonkeyHonoursBlindSpotsAndSafety(t *testing.T) {
	world := staticWorld{
		roles:  map[protocol.NodeID][]string{1: {"coordinator"}},
		unsafe: map[protocol.NodeID]bool{2: true},
	}
	s := newCluster(t, 3, 5, 1)
	m, err := New(Config{MeanTimeBetweenKills: protocol.Second, RestartAfter: 100 * protocol.Millisecond,
		BlindSpots: []string{"s0", "coordinator"}, Stop: protocol.Time(100 * protocol.Second)},
		s, world, []string{"coordinator", "primary"})
	if err != nil {
		t.Fatal(err)
	}
	m.Arm()
	s.RunUntil(protocol.Time(100 * protocol.Second))
	victims := map[protocol.NodeID]int{}
	for _, k := range m.Kills() {
		victims[k.Victim]++
	}
	for _, never := range []protocol.NodeID{0, 1, 2} {
		if victims[never] > 0 {
			t.Errorf("member s%d was killed %d times although blind (s0 by name, s1 by role) or unsafe (s2)", never, victims[never])
		}
	}
	if victims[3] == 0 || victims[4] == 0 {
		t.Errorf("eligible members were never killed: %v", victims)
	}

	// With AllowBeyondRedundancy, safety no longer protects s2.
	s = newCluster(t, 3, 5, 1)
	m, err = New(Config{MeanTimeBetweenKills: protocol.Second, RestartAfter: 100 * protocol.Millisecond,
		AllowBeyondRedundancy: true, Stop: protocol.Time(100 * protocol.Second)}, s, world, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Arm()
	s.RunUntil(protocol.Time(100 * protocol.Second))
	hit := false
	for _, k := range m.Kills() {
		hit = hit || k.Victim == 2
	}
	if !hit {
		t.Error("with AllowBeyondRedundancy the unsafe member s2 should be killable")
	}

	// Beyond the redundancy or not, the monkey never takes the quorum, by any kind of fault.
	s = newCluster(t, 4, 5, 1)
	m, err = New(Config{MeanTimeBetweenKills: protocol.Second, RestartAfter: 100 * protocol.Millisecond,
		AllowBeyondRedundancy: true, Stop: protocol.Time(100 * protocol.Second),
		Faults: FaultMix{ProcessCrash: 1, HostCrash: 1, CrashInStep: 1, Pause: 1}, PauseMax: 50 * protocol.Millisecond},
		s, staticWorld{quorumOf: map[protocol.NodeID]bool{3: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Arm()
	s.RunUntil(protocol.Time(100 * protocol.Second))
	for _, k := range m.Kills() {
		if k.Victim == 3 {
			t.Fatalf("the monkey took s3, whose loss takes the quorum, at %v (%s)", k.At, k.Fault)
		}
	}
	if len(m.Kills()) == 0 {
		t.Fatal("the monkey made no kill at all")
	}
}

func TestMonkeyKeepsMinimumGap(t *testing.T) {
	s := newCluster(t, 11, 5, 0)
	gap := 2 * protocol.Second
	m, err := New(Config{MeanTimeBetweenKills: 100 * protocol.Millisecond, MinGapBetweenKills: gap,
		RestartAfter: protocol.Second, Stop: protocol.Time(60 * protocol.Second)}, s, everyoneSafe(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Arm()
	s.RunUntil(protocol.Time(60 * protocol.Second))
	kills := m.Kills()
	if len(kills) < 20 {
		t.Fatalf("expected close to 30 kills, got %d", len(kills))
	}
	for i := 1; i < len(kills); i++ {
		if d := protocol.Duration(kills[i].At - kills[i-1].At); d < gap {
			t.Fatalf("kills %d and %d are %d µs apart, below the minimum gap %d µs", i-1, i, d, gap)
		}
	}
}

func TestMonitorRecognisesTheMonkeyAndAlarmsOnRealLosses(t *testing.T) {
	s := newCluster(t, 5, 4, 1)
	m, err := New(Config{MeanTimeBetweenKills: protocol.Second, RestartAfter: protocol.Second,
		Stop: protocol.Time(20 * protocol.Second)}, s, everyoneSafe(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Arm()
	s.RunUntil(protocol.Time(30 * protocol.Second))
	mon := NewMonitor(MonitorConfig{ViewEvent: protocol.EventViewChange, MembersAttr: "members", DisconnectEvent: "forced-disconnect"})
	records := s.Trace()
	for i := range records {
		mon.Observe(&records[i])
	}
	if len(mon.Alarms()) != 0 {
		t.Fatalf("monitoring alarmed on the monkey's own kills: %v", mon.Alarms())
	}
	if mon.MonkeyKills() != len(m.Kills()) || mon.MonkeyKills() == 0 {
		t.Fatalf("monitor recognised %d monkey kills, the monkey made %d", mon.MonkeyKills(), len(m.Kills()))
	}

	// A crash without the label is a real loss.
	victim := protocol.NodeID(0)
	if !s.Alive(victim) {
		victim = 1
	}
	if err := s.Crash(victim, ""); err != nil {
		t.Fatal(err)
	}
	records = s.Trace()
	mon.Observe(&records[len(records)-1])
	alarms := mon.Alarms()
	if len(alarms) != 1 || alarms[0].Node != int32(victim) || !strings.Contains(alarms[0].String(), "unexpectedly") {
		t.Fatalf("an unlabelled crash must raise exactly one alarm for member %d, got %v", victim, alarms)
	}

	// A member that leaves the view while its process runs is lost too, and every member reporting
	// the same departure raises no second alarm.
	view := func(seq uint64, reporter int32, members string) *trace.Record {
		return &trace.Record{Seq: seq, Kind: trace.KindEvent, Node: reporter, Name: protocol.EventViewChange,
			Attrs: []trace.Attr{{Key: "members", Value: members}}}
	}
	fresh := NewMonitor(MonitorConfig{ViewEvent: protocol.EventViewChange, MembersAttr: "members", DisconnectEvent: "forced-disconnect"})
	for reporter := int32(1); reporter <= 2; reporter++ {
		fresh.Observe(view(uint64(10+reporter), reporter, "s1,s2,s3"))
	}
	for reporter := int32(1); reporter <= 2; reporter++ {
		fresh.Observe(view(uint64(20+reporter), reporter, "s1,s2"))
	}
	if got := fresh.Alarms(); len(got) != 1 || got[0].Node != 3 || !strings.Contains(got[0].Reason, "left the view") {
		t.Fatalf("a silent departure must raise one alarm for member 3, got %v", got)
	}
	// A departure that a planned crash explains does not alarm; an old incarnation's does not either.
	planned := NewMonitor(MonitorConfig{ViewEvent: protocol.EventViewChange, MembersAttr: "members", DisconnectEvent: "forced-disconnect", PlannedLabels: []string{"script"}})
	planned.Observe(view(1, 1, "s1,s2#1,s3"))
	planned.Observe(&trace.Record{Seq: 2, Kind: trace.KindCrash, Node: 3, Attrs: []trace.Attr{{Key: "by", Value: "script"}}})
	planned.Observe(&trace.Record{Seq: 3, Kind: trace.KindCrash, Node: 2, Attrs: []trace.Attr{{Key: "by", Value: Label}}})
	planned.Observe(&trace.Record{Seq: 4, Kind: trace.KindRestart, Node: 2, Incarnation: 2})
	planned.Observe(view(5, 1, "s1,s2#2"))
	if got := planned.Alarms(); len(got) != 0 {
		t.Fatalf("planned crashes explain these departures, got alarms %v", got)
	}
	// A forced disconnect is a real loss.
	planned.Observe(&trace.Record{Seq: 6, Kind: trace.KindEvent, Node: 1, Name: "forced-disconnect"})
	if got := planned.Alarms(); len(got) != 1 || got[0].Node != 1 || !strings.Contains(got[0].Reason, "forced to disconnect") {
		t.Fatalf("a forced disconnect must alarm, got %v", got)
	}
}

func TestMonkeyIsDeterministic(t *testing.T) {
	run := func() []Kill {
		s := newCluster(t, 99, 5, 2)
		m, err := New(Config{MeanTimeBetweenKills: protocol.Second, RestartAfter: protocol.Second,
			Stop: protocol.Time(50 * protocol.Second)}, s, everyoneSafe(), nil)
		if err != nil {
			t.Fatal(err)
		}
		m.Arm()
		s.RunUntil(protocol.Time(50 * protocol.Second))
		return m.Kills()
	}
	a, b := run(), run()
	if len(a) != len(b) {
		t.Fatalf("same seed, %d kills then %d", len(a), len(b))
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Fatalf("same seed, kill %d differs: %+v vs %+v", i, a[i], b[i])
		}
	}
}

func TestMonkeyRejectsBadConfig(t *testing.T) {
	s := newCluster(t, 1, 3, 1)
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "MeanTimeBetweenKills"},
		{Config{MeanTimeBetweenKills: 1, MinGapBetweenKills: -1}, "MinGapBetweenKills"},
		{Config{MeanTimeBetweenKills: 1, RestartAfter: -5}, "RestartAfter"},
		{Config{MeanTimeBetweenKills: 1, Start: 10, Stop: 5}, "Stop"},
		{Config{MeanTimeBetweenKills: 1, BlindSpots: []string{"nobody"}}, `"nobody"`},
		{Config{MeanTimeBetweenKills: 1, Faults: FaultMix{HostCrash: -1}}, "Faults"},
		{Config{MeanTimeBetweenKills: 1, Faults: FaultMix{Pause: 1}}, "PauseMax"},
		{Config{MeanTimeBetweenKills: 1, PauseMax: -1}, "PauseMax"},
	}
	for _, c := range cases {
		_, err := New(c.cfg, s, everyoneSafe(), []string{"coordinator"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %+v: want an error naming %s, got %v", c.cfg, c.want, err)
		}
	}
	if _, err := New(Config{MeanTimeBetweenKills: 1}, s, nil, nil); err != ErrNoWorld {
		t.Errorf("a nil World must be rejected with ErrNoWorld, got %v", err)
	}
}

func TestMonkeyDealsEveryFaultOfItsMixAndLabelsEach(t *testing.T) {
	s := newCluster(t, 3, 4, 1)
	m, err := New(Config{MeanTimeBetweenKills: 100 * protocol.Millisecond, RestartAfter: 50 * protocol.Millisecond,
		Stop:   protocol.Time(100 * protocol.Second),
		Faults: FaultMix{ProcessCrash: 1, HostCrash: 1, CrashInStep: 1, Pause: 1}, PauseMax: 30 * protocol.Millisecond}, s, everyoneSafe(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Arm()
	res := s.RunUntil(protocol.Time(101 * protocol.Second))
	dealt := map[string]int{}
	for _, k := range m.Kills() {
		dealt[k.Fault]++
		if s.Spec(k.Victim).Client {
			t.Fatalf("the monkey dealt %s to client %s", k.Fault, k.Name)
		}
	}
	for _, f := range []string{FaultProcessCrash, FaultHostCrash, FaultCrashInStep, FaultPause} {
		if dealt[f] < 100 {
			t.Errorf("%s dealt %d times in about 1,000 faults with equal weights, want about 250", f, dealt[f])
		}
	}
	if res.Stats.Pauses != int64(dealt[FaultPause]) || res.Stats.HostCrashes == 0 {
		t.Fatalf("stats %+v do not match the faults dealt %v", res.Stats, dealt)
	}
	for _, r := range s.Trace() {
		if r.Kind == trace.KindCrash || (r.Kind == trace.KindFault && r.Name == "pause") {
			if by, _ := r.Get("by"); by != Label {
				t.Fatalf("record %+v lacks the monkey's label", r)
			}
		}
	}
	mon := NewMonitor(MonitorConfig{})
	for i := range s.Trace() {
		mon.Observe(&s.Trace()[i])
	}
	if len(mon.Alarms()) != 0 {
		t.Fatalf("monitoring alarmed on the monkey's own work: %v", mon.Alarms())
	}
}

func TestMonitorExplainsADisconnectByThePlannedPauseOnly(t *testing.T) {
	rec := func(kind trace.Kind, node int32, inc uint32, name, by string) *trace.Record {
		r := &trace.Record{Kind: kind, Node: node, Incarnation: inc, Name: name}
		if by != "" {
			r.Attrs = []trace.Attr{{Key: "by", Value: by}}
		}
		return r
	}
	mon := NewMonitor(MonitorConfig{DisconnectEvent: "forced-disconnect"})
	mon.Observe(rec(trace.KindFault, 1, 0, "pause", Label))
	mon.Observe(rec(trace.KindEvent, 1, 0, "forced-disconnect", ""))
	mon.Observe(rec(trace.KindEvent, 2, 0, "forced-disconnect", "")) // nobody paused s2
	mon.Observe(rec(trace.KindFault, 3, 0, "pause", "someone-else"))
	mon.Observe(rec(trace.KindEvent, 3, 0, "forced-disconnect", ""))
	alarms := mon.Alarms()
	if len(alarms) != 2 || alarms[0].Node != 2 || alarms[1].Node != 3 {
		t.Fatalf("alarms %v, want one for member 2 and one for member 3 (an unplanned pause)", alarms)
	}
}

// A planned split explains the departures of the members on both of its sides until its mend plus
// the grace, a restart inside that reach included; a broken connection the same way for the grace
// after the break; an unplanned split, a departure after the grace and a member outside the split
// raise alarms.
func TestMonitorExplainsDeparturesByAPlannedSplitUntilTheGrace(t *testing.T) {
	at := func(r trace.Record, us int64) *trace.Record { r.TimeUS = us; return &r }
	fault := func(name, by string, attrs ...trace.Attr) trace.Record {
		return trace.Record{Kind: trace.KindFault, Node: -1, Peer: -1, Name: name, Attrs: append(attrs, trace.Attr{Key: "by", Value: by})}
	}
	disconnect := func(node int32, inc uint32) trace.Record {
		return trace.Record{Kind: trace.KindEvent, Node: node, Incarnation: inc, Name: "forced-disconnect"}
	}
	groups := []trace.Attr{{Key: "a", Value: "0,1"}, {Key: "b", Value: "2,3"}}
	mon := NewMonitor(MonitorConfig{DisconnectEvent: "forced-disconnect", PlannedLabels: []string{"nemesis"}, SplitGrace: 100})
	mon.Observe(at(fault("split", "nemesis", groups...), 10))
	mon.Observe(at(disconnect(0, 0), 50))                                               // cut off: planned
	mon.Observe(at(trace.Record{Kind: trace.KindRestart, Node: 2, Incarnation: 1}, 60)) // restarted inside the split
	mon.Observe(at(disconnect(2, 1), 70))                                               // still cut off: planned
	mon.Observe(at(disconnect(4, 0), 80))                                               // not in the split: alarm
	mon.Observe(at(fault("mend", "nemesis", groups...), 200))                           //
	mon.Observe(at(disconnect(1, 0), 290))                                              // within the grace: planned
	mon.Observe(at(disconnect(3, 0), 301))                                              // after the grace: alarm
	mon.Observe(at(fault("split", "someone", trace.Attr{Key: "a", Value: "5"}, trace.Attr{Key: "b", Value: "6"}), 400))
	mon.Observe(at(disconnect(5, 0), 410)) // unplanned split: alarm
	broken := trace.Record{Kind: trace.KindFault, Node: 7, Peer: 8, Name: "connection-broken", Attrs: []trace.Attr{{Key: "by", Value: "nemesis"}}}
	mon.Observe(at(broken, 500))
	mon.Observe(at(disconnect(8, 0), 550)) // the younger end removed: planned
	mon.Observe(at(disconnect(7, 0), 700)) // after the grace: alarm
	var nodes []int32
	for _, a := range mon.Alarms() {
		nodes = append(nodes, a.Node)
	}
	if want := []int32{4, 3, 5, 7}; !slices.Equal(nodes, want) {
		t.Fatalf("alarms for members %v, want %v", nodes, want)
	}
}
