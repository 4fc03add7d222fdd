package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/dlock"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/chaos"
	"github.com/stateflush/stateflush/sim/trace"
)

// Verdict is a run's overall outcome.
type Verdict string

// Verdicts. DataLoss is neither a pass nor a protocol bug: the scenario killed more members than the
// redundancy covers, on purpose, and the store reported the loss.
const (
	VerdictPass      Verdict = "pass"
	VerdictViolation Verdict = "violation"
	VerdictUnknown   Verdict = "unknown"
	VerdictDataLoss  Verdict = "data-loss"
	// VerdictCrash: the run panicked (see Outcome.Crash): a finding, like a violation.
	VerdictCrash Verdict = "crash"
)

// Found reports whether the verdict is a finding: a violation or a crash.
func (v Verdict) Found() bool { return v == VerdictViolation || v == VerdictCrash }

// Checks beside those of package linearizability.
const (
	LivenessCheck  = "liveness"   // the system did not converge within the quiesce budget
	DataLossCheck  = "data-loss"  // a bucket lost every copy although the scenario stayed within redundancy
	MonitorCheck   = "monitor"    // a member was lost without the chaos monkey's label
	HistoryCheck   = "history"    // the trace's client events do not form a history
	CrashCheck     = "crash"      // the run panicked
	FinalReadCheck = "final-read" // after quiescence a copy answers a read otherwise than the primary
	RunFormat      = "stateflush-run/2"
	defaultSteps   = 200_000_000
	defaultBudget  = 10 * time.Second
	sourcePRNG     = "prng"
	sourceExternal = "external"
)

// Options tune one run. The zero value is the default: a seeded PRNG drives every choice and the
// linearizability check gets 10 s of wall time.
type Options struct {
	// Source, when set, replaces the seeded PRNG (e.g. sim.RapidSource(t) in property tests). Such a
	// run cannot be replayed from its seed; rapid's own seed and fail file replay it.
	Source func(stream string) protocol.Rand
	// CheckBudget bounds the linearizability check's wall time; a check that runs out is Unknown.
	CheckBudget time.Duration
	// HashOnly skips keeping the trace and every check: the run only yields its trace hash and
	// statistics (for determinism tests and simulator throughput).
	HashOnly bool
	// FullTrace keeps every trace record (sends, deliveries, timers). By default a run keeps only the
	// records the checks read, which is several times faster; WriteReport re-runs the seed with the
	// full trace when it needs one (runs are deterministic, so the rerun is the same run).
	FullTrace bool
	// Progress, when set, is told where a run is: the virtual time of the simulation as it goes
	// (in steps of a twentieth of the safety phase), then each stage of checking. It is for a person
	// watching a long run; it changes nothing in the run (the same seed gives the same hash).
	Progress func(RunProgress)
}

// RunProgress is where a run is (see Options.Progress).
type RunProgress struct {
	// Stage is "simulating" (the workload under faults), "quiescing" (faults stopped, waiting for
	// the system to settle) or "checking".
	Stage string
	// Now is the simulation's virtual time; SafetyPhase its end of the faults; Steps so far.
	Now, SafetyPhase protocol.Time
	Steps            int64
}

// Run stages reported to Options.Progress.
const (
	StageSimulating = "simulating"
	StageQuiescing  = "quiescing"
	StageChecking   = "checking"
)

// RunSpec is everything needed to reproduce a run. It is written in the header of every trace the
// harness records, so that `stateflush replay FILE` needs nothing else.
type RunSpec struct {
	Format   string   `json:"format"`
	Scenario Scenario `json:"scenario"`
	Seed     uint64   `json:"seed"`
	// Source is "prng" for a seeded run, "external" when another engine (rapid) drew the choices.
	Source string `json:"source"`
}

// Outcome is everything a run produced and every check's finding.
type Outcome struct {
	Spec RunSpec
	// Drawn is the scenario as actually run: Spec.Scenario with the swarm's draws applied.
	Drawn  Scenario
	Result sim.Result
	// Records is the trace: every record with Options.FullTrace, the checkers' records otherwise,
	// none with Options.HashOnly.
	Records []trace.Record
	// FullTrace says whether Records holds every record.
	FullTrace bool
	// History is the clients' operations; FinalReads the harness's reads of every key after
	// quiescence (judged with it).
	History    linearizability.History
	FinalReads linearizability.History
	// LockHistory is the lock clients' operations and LockVerdict its check against the lock
	// model (empty without a lock service).
	LockHistory linearizability.History
	LockVerdict linearizability.Verdict
	// Holdings are the live servers' bucket copies at the end.
	Holdings []linearizability.Holding
	Verdict  linearizability.Verdict
	// Undecided lists keys whose values the at-most-once check could not decompose (unknown).
	Undecided  []string
	Violations []linearizability.Violation
	// Liveness lists what did not converge (in words).
	Liveness []string
	Kills    []chaos.Kill
	Alarms   []chaos.Alarm
	// LostBuckets are the buckets the store reported lost (EventDataLost).
	LostBuckets []int
	Final       Verdict
	// Crash is the panic that ended the run (VerdictCrash), nil otherwise.
	Crash *Crash
	// CaughtBy names the checks that failed, sorted.
	CaughtBy []string
}

// Run runs one seed of a scenario and checks it. A panic in the protocol code (or anywhere in the
// run) is a finding, not a failure of the tool: the outcome's verdict is VerdictCrash, with the
// panic's message and stack as a violation of the CrashCheck and the trace up to the panic.
func Run(scn Scenario, seed uint64, opt Options) (*Outcome, error) {
	// Draws outside the simulation (the swarm's) can raise the source's own panic too.
	defer func() {
		if p := recover(); p != nil {
			raiseSourcePanic(p)
			panic(p)
		}
	}()
	if err := scn.Validate(); err != nil {
		return nil, err
	}
	spec := RunSpec{Format: RunFormat, Scenario: scn, Seed: seed, Source: sourcePRNG}
	if opt.Source != nil {
		spec.Source = sourceExternal
	}
	source := opt.Source
	if source == nil {
		source = sim.PRNGSource(seed)
	}
	drawn := scn
	if scn.Swarm {
		drawn.Nemeses = DrawSwarm(scn.Nemeses, source("swarm"))
	}
	factory, err := kv.NewFactory(drawn.KV, drawn.Workload)
	if err != nil {
		return nil, err
	}
	world := &kvWorld{cfg: drawn.KV}
	var online *onlineChecker
	cfg := sim.Config{
		Seed:        seed,
		Nodes:       nodeSpecs(drawn, factory),
		Network:     network(drawn, source("topology")),
		TimeBudget:  drawn.SafetyPhase + drawn.QuiesceBudget,
		StepBudget:  defaultSteps,
		Trace:       sim.TraceEvents,
		Source:      source,
		Description: spec,
	}
	switch {
	case opt.HashOnly:
		cfg.Trace = sim.TraceHashOnly
	case opt.FullTrace || drawn.Snapshots.Enabled(): // the cut check reads sends and deliveries
		cfg.Trace = sim.TraceFull
	}
	if !opt.HashOnly {
		online = newOnlineChecker(world)
		cfg.Observer = online
	}
	s, err := sim.New(cfg)
	if err != nil {
		return nil, err
	}
	world.sim = s
	out := &Outcome{Spec: spec, Drawn: drawn, FullTrace: cfg.Trace == sim.TraceFull}
	if crash := out.protect(func() { out.simulate(s, world, opt.Progress) }); crash != nil {
		out.crashed(s, crash)
		return out, nil
	}
	if opt.HashOnly {
		out.Final = VerdictPass
		return out, nil
	}
	out.Records = s.Trace()
	report(opt.Progress, s, drawn, StageChecking)
	if crash := out.protect(func() { out.check(s, world, online, opt) }); crash != nil {
		out.crashed(s, crash)
	}
	return out, nil
}

// progressSlices is how many times the safety phase reports its progress.
const progressSlices = 20

// report tells progress, if set, where the run is.
func report(progress func(RunProgress), s *sim.Sim, drawn Scenario, stage string) {
	if progress != nil {
		progress(RunProgress{Stage: stage, Now: s.Now(), SafetyPhase: protocol.Time(drawn.SafetyPhase), Steps: s.Stats().Steps})
	}
}

// simulate runs the scenario's phases: the workload under faults, then heal and quiesce. With
// progress set, the safety phase runs in slices of virtual time, which processes the same events in
// the same order as one call.
func (o *Outcome) simulate(s *sim.Sim, world *kvWorld, progress func(RunProgress)) {
	drawn := o.Drawn
	if m := drawn.Nemeses.Monkey; m != nil {
		mc := *m
		mc.Stop = protocol.Time(drawn.SafetyPhase)
		monkey, err := chaos.New(mc, s, world, knownRoles)
		if err != nil {
			panic(fmt.Sprintf("harness: chaos monkey of a validated scenario: %v", err))
		}
		monkey.Arm()
		defer func() { o.Kills = monkey.Kills() }()
	}
	n := newNemesis(s, drawn, world)
	n.arm()
	n.armSnapshots()

	// Safety phase: workload under faults. Then every fault stops and the system must quiesce.
	if progress != nil {
		for i := 1; i < progressSlices; i++ {
			s.RunUntil(protocol.Time(drawn.SafetyPhase) * protocol.Time(i) / progressSlices)
			report(progress, s, drawn, StageSimulating)
		}
	}
	s.RunUntil(protocol.Time(drawn.SafetyPhase))
	n.stopAll()
	report(progress, s, drawn, StageQuiescing)
	// Failure detection runs on background timers, so right after a late crash the run can look
	// quiescent before anyone has noticed. Let a few detection timeouts pass before asking for
	// quiescence.
	settle := protocol.Time(drawn.SafetyPhase + 3*drawn.KV.FailureDetectionTimeout)
	if settle < protocol.Time(drawn.SafetyPhase+drawn.QuiesceBudget) {
		s.RunUntil(settle)
	}
	o.Result = s.Run()
}

// EndCrash is Result.End of a run that a panic ended.
const EndCrash sim.EndReason = "crash"

// Crash is what a panic left: its message and the goroutine's stack.
type Crash struct {
	Message string
	Stack   string
}

// raiseSourcePanic raises again, unwrapped, a panic of the choice source (sim.SourcePanic): rapid's
// engine ends a test case by panicking inside a draw, which is its signal, not the protocol's
// crash, and must reach rapid as rapid raised it.
func raiseSourcePanic(p any) {
	if sp, ok := p.(sim.SourcePanic); ok {
		panic(sp.Value)
	}
}

// protect runs f and returns the panic it raised, if any.
func (o *Outcome) protect(f func()) (crash *Crash) {
	defer func() {
		if p := recover(); p != nil {
			raiseSourcePanic(p)
			crash = &Crash{Message: fmt.Sprint(p), Stack: string(debug.Stack())}
		}
	}()
	f()
	return nil
}

// crashed records a panic as the run's verdict, with the trace up to it.
func (o *Outcome) crashed(s *sim.Sim, c *Crash) {
	o.Crash = c
	if o.Result.End == "" {
		st := s.Stats()
		o.Result = sim.Result{End: EndCrash, Now: s.Now(), Steps: st.Steps, Hash: s.Hash(), Stats: st}
	}
	o.Records = s.Trace()
	o.Violations = append(o.Violations, linearizability.Violation{Check: CrashCheck, Bucket: linearizability.NoBucket,
		Message: fmt.Sprintf("the run panicked at t=%v after %d steps: %s\n%s", s.Now(), s.Stats().Steps, c.Message, c.Stack)})
	o.CaughtBy = []string{CrashCheck}
	o.Final = VerdictCrash
}

// nodeSpecs lists the cluster's nodes: the store's servers and clients from factory, then the lock
// service's clients running the scenario's lock workload.
func nodeSpecs(scn Scenario, factory sim.NodeFactory) []sim.NodeSpec {
	cfg := scn.KV
	lockClient := func(id protocol.NodeID, _ uint32) protocol.Node {
		return dlock.NewClient(cfg.Locks, scn.LockWorkload, id, cfg.Servers)
	}
	var nodes []sim.NodeSpec
	for i := 0; i < kv.Nodes(cfg); i++ {
		id := protocol.NodeID(i)
		spec := sim.NodeSpec{Name: kv.NodeName(cfg, id), New: factory, Client: kv.IsClient(cfg, id)}
		if kv.IsLockClient(cfg, id) {
			spec.New = lockClient
		}
		nodes = append(nodes, spec)
	}
	return nodes
}

// network gives every link the scenario's latency (scaled per server link when the scenario's
// network is uneven), and client links the scenario's loss and duplication.
func network(scn Scenario, topology protocol.Rand) sim.Network {
	net := sim.Network{Default: sim.Link{Latency: scn.Latency, DupProb: scn.Nemeses.ServerDupProb}, Links: map[sim.LinkKey]sim.Link{}, Reorder: scn.Reorder}
	if scn.LinkSpread > 1 {
		for from := 0; from < scn.KV.Servers; from++ {
			for to := 0; to < scn.KV.Servers; to++ {
				if from == to {
					continue
				}
				factor := protocol.Duration(1 + topology.Intn(scn.LinkSpread))
				l := scn.Latency
				l.Min, l.Mean, l.Max = l.Min*factor, l.Mean*factor, l.Max*factor
				net.Links[sim.LinkKey{From: protocol.NodeID(from), To: protocol.NodeID(to)}] = sim.Link{Latency: l, DupProb: scn.Nemeses.ServerDupProb}
			}
		}
	}
	n := scn.Nemeses
	clientLatency := scn.Latency
	if h := scn.Hops; h != nil {
		server := sim.HopLatency(h.ServerHops, h.PerHop)
		clientLatency = sim.HopLatency(h.ClientHops, h.PerHop)
		for from := 0; from < scn.KV.Servers; from++ {
			for to := 0; to < scn.KV.Servers; to++ {
				if from != to {
					net.Links[sim.LinkKey{From: protocol.NodeID(from), To: protocol.NodeID(to)}] = sim.Link{Latency: server, DupProb: n.ServerDupProb}
				}
			}
		}
	} else if n.ClientLossProb == 0 && n.ClientDupProb == 0 && n.ServerDupProb == 0 {
		return net
	}
	clientLink := sim.Link{Latency: clientLatency, LossProb: n.ClientLossProb, DupProb: n.ClientDupProb}
	for _, key := range clientLinks(scn.KV) {
		net.Links[key] = clientLink
	}
	return net
}

// clientLinks lists every directed link between a client and a server, in node order.
func clientLinks(cfg kv.Config) []sim.LinkKey {
	var keys []sim.LinkKey
	for c := cfg.Servers; c < kv.Nodes(cfg); c++ {
		for srv := 0; srv < cfg.Servers; srv++ {
			keys = append(keys, sim.LinkKey{From: protocol.NodeID(c), To: protocol.NodeID(srv)}, sim.LinkKey{From: protocol.NodeID(srv), To: protocol.NodeID(c)})
		}
	}
	return keys
}

// kvWorld answers the chaos monkey's questions from the servers' actual state: the simulator is an
// oracle, so the monkey can keep within the redundancy exactly.
type kvWorld struct {
	sim *sim.Sim
	cfg kv.Config
	// split is the server partition of the nemesis under way, if any (world.go).
	split *split
	// evicted maps the younger end of each connection the nemesis broke to its incarnation then:
	// the store removes that incarnation (world.go).
	evicted map[protocol.NodeID]uint32
	// mayEvict maps an end of a broken connection that may take itself for the younger end to its
	// incarnation and the end of the notice, after which its request shows (breakConnection).
	mayEvict map[protocol.NodeID]pendingEviction
}

type pendingEviction struct {
	inc   uint32
	until protocol.Time
}

func (w *kvWorld) server(id protocol.NodeID) *kv.Server {
	srv, _ := w.sim.Node(id).(*kv.Server)
	return srv
}

// Roles names a member's roles: "coordinator", "primary" (of any bucket) and "grantor" (of the
// lock service).
func (w *kvWorld) Roles(id protocol.NodeID) []string {
	srv := w.server(id)
	if srv == nil {
		return nil
	}
	var roles []string
	if srv.Membership().IsCoordinator() {
		roles = append(roles, "coordinator")
	}
	if srv.IsPrimaryOfAny() {
		roles = append(roles, "primary")
	}
	if srv.IsGrantor() {
		roles = append(roles, "grantor")
	}
	return roles
}

func (o *Outcome) check(s *sim.Sim, world *kvWorld, online *onlineChecker, opt Options) {
	cfg := o.Drawn.KV
	budget := opt.CheckBudget
	if budget <= 0 {
		budget = defaultBudget
	}
	caught := map[string]bool{}
	violate := func(v linearizability.Violation) {
		o.Violations = append(o.Violations, v)
		caught[string(v.Check)] = true
	}
	add := func(vs []linearizability.Violation, err error, check linearizability.CheckName) {
		if err != nil {
			violate(linearizability.Violation{Check: check, Bucket: linearizability.NoBucket, Message: err.Error()})
		}
		for _, v := range vs {
			violate(v)
		}
	}

	// The holdings of live servers, converted for the checkers.
	live := 0
	for id := 0; id < cfg.Servers; id++ {
		srv := world.server(protocol.NodeID(id))
		if srv == nil || srv.Stopped() {
			continue
		}
		live++
		for _, h := range srv.Holdings() {
			lh := linearizability.Holding{Node: int32(id), NodeName: kv.NodeName(cfg, protocol.NodeID(id)),
				Bucket: h.Bucket, Primary: h.Primary, Initialized: h.Initialized}
			for _, e := range h.Entries {
				lh.Entries = append(lh.Entries, linearizability.Entry{Key: e.Key, Value: e.Value, Version: e.Version, Tombstone: e.Tombstone})
			}
			for _, e := range h.Events {
				lh.Events = append(lh.Events, linearizability.ClientSeq{Client: int32(e.Client), Seq: e.Seq})
			}
			o.Holdings = append(o.Holdings, lh)
		}
	}

	// Buckets declared lost, and when: their keys stay checked up to that moment.
	lostAt := map[int]int64{}
	for i := range o.Records {
		r := &o.Records[i]
		if r.Kind == trace.KindEvent && r.Name == protocol.EventDataLost {
			if bucket, ok := intAttr(r, "bucket"); ok {
				if _, seen := lostAt[bucket]; !seen {
					lostAt[bucket] = r.TimeUS
					o.LostBuckets = append(o.LostBuckets, bucket)
				}
			}
		}
	}
	slices.Sort(o.LostBuckets)
	bucketOf := func(key string) int { return kv.BucketOf(key, cfg.Buckets) }
	isLost := func(key string) bool { _, lost := lostAt[bucketOf(key)]; return lost }

	history, err := linearizability.HistoryFromTrace(o.Records)
	if err != nil {
		violate(linearizability.Violation{Check: HistoryCheck, Bucket: linearizability.NoBucket, Message: err.Error()})
	}
	history, o.LockHistory = splitLockOperations(history)
	if cfg.Locks.Enabled() {
		v, err := linearizability.CheckHistory(o.LockHistory, budget, linearizability.WithModel(linearizability.LockModel))
		switch {
		case err != nil:
			violate(linearizability.Violation{Check: LockLinearizabilityCheck, Bucket: linearizability.NoBucket, Message: err.Error()})
		case v.Result == linearizability.Illegal:
			violate(linearizability.Violation{Check: LockLinearizabilityCheck, Bucket: linearizability.NoBucket,
				Message: fmt.Sprintf("the lock clients' history is not linearizable (lock model): names %s", strings.Join(v.IllegalKeys, ", "))})
		}
		o.LockVerdict = v
	}
	// survivors is the history of the keys whose buckets were not lost; holdings the same for copies.
	survivors := slices.DeleteFunc(slices.Clone(history), func(op linearizability.Operation) bool { return op.Key != "" && isLost(op.Key) })
	holdings := slices.DeleteFunc(slices.Clone(o.Holdings), func(h linearizability.Holding) bool { _, lost := lostAt[h.Bucket]; return lost })
	// judged adds, for lost buckets, their operations up to the loss: one invoked later is dropped,
	// one that returned later has an unknown outcome (the loss may have decided it).
	judged := slices.Clone(history)
	if len(lostAt) > 0 {
		judged = judged[:0]
		for _, op := range history {
			if at, lost := lostAt[bucketOf(op.Key)]; op.Key != "" && lost {
				if op.CallUS >= at {
					continue
				}
				if op.ReturnUS > at && op.Status != linearizability.StatusUnknown {
					op.Status, op.ReturnUS, op.ReturnSeq, op.Found, op.Output = linearizability.StatusUnknown, linearizability.InfiniteTimeUS, 0, false, ""
				}
			}
			judged = append(judged, op)
		}
	}

	// Final reads, convergence and redundancy hold after quiescence only: a run that ends with
	// writes and copies in flight has copies that differ for no fault of the store's. Such a run
	// fails by liveness, which says that they were not checked.
	quiescent := o.Result.End == sim.EndQuiescent
	// Final reads: every key the workload touched, read at the primary and at every initialized copy
	// after quiescence. The primary's answers join the history, so porcupine judges the final state.
	var finals linearizability.History
	if quiescent {
		var vs []linearizability.Violation
		finals, vs = o.finalReads(survivors, holdings, bucketOf)
		add(vs, nil, FinalReadCheck)
	}
	o.History, o.FinalReads = history, finals
	judged = append(judged, finals...)
	survivors = append(survivors, finals...)

	if v, err := linearizability.CheckHistory(judged, budget); err != nil {
		violate(linearizability.Violation{Check: linearizability.LinearizabilityCheck, Bucket: linearizability.NoBucket, Message: err.Error()})
	} else {
		o.Verdict = v
		if v.Result == linearizability.Illegal {
			violate(linearizability.Violation{Check: linearizability.LinearizabilityCheck, Bucket: linearizability.NoBucket,
				Message: illegalMessage(v)})
		}
	}
	vs, undecided, err := linearizability.CheckAtMostOnce(judged)
	add(vs, err, linearizability.AtMostOnceCheck)
	o.Undecided = undecided
	if quiescent {
		vs, err = linearizability.CheckConvergence(holdings, o.Records)
		add(vs, err, linearizability.ConvergenceCheck)
	}
	vs, err = linearizability.CheckAcknowledgedWrites(survivors, holdings, bucketOf, o.Records)
	add(vs, err, linearizability.AcknowledgedWriteCheck)
	if quiescent {
		vs, err = linearizability.CheckRedundancy(holdings, linearizability.RedundancyTarget{BucketCount: cfg.Buckets, CopiesWanted: cfg.Redundancy, LiveMembers: live}, o.Records)
		add(slices.DeleteFunc(vs, func(v linearizability.Violation) bool { _, lost := lostAt[v.Bucket]; return lost }), err, linearizability.RedundancyCheck)
	}
	if online != nil {
		for _, v := range online.violations {
			violate(v)
		}
	}

	// Liveness: the heal-and-quiesce phase must end quiescent with no copy still being created.
	if !quiescent {
		unfinished := ""
		if planned := o.Drawn.ClientOps(); len(history) < planned {
			unfinished = fmt.Sprintf(" with %d of the clients' %d operations not yet invoked (the phases may be too short for the workload: --safety-ms)",
				planned-len(history), planned)
		}
		o.Liveness = append(o.Liveness, fmt.Sprintf("run did not quiesce: ended by %s at %v%s; final reads, convergence and redundancy, which hold after quiescence, were not checked; pending: %s",
			o.Result.End, o.Result.Now, unfinished, s.PendingSummary(8)))
	}
	for id := 0; id < cfg.Servers; id++ {
		if srv := world.server(protocol.NodeID(id)); srv != nil && !srv.Stopped() {
			if pending := srv.CreatingCopies(); len(pending) > 0 {
				o.Liveness = append(o.Liveness, fmt.Sprintf("%s still creating copies of buckets %v", kv.NodeName(cfg, protocol.NodeID(id)), pending))
			}
		}
	}
	for _, l := range o.Liveness {
		violate(linearizability.Violation{Check: LivenessCheck, Bucket: linearizability.NoBucket, Message: l})
	}
	if cfg.Locks.Enabled() {
		for _, l := range lockLiveness(world) {
			violate(linearizability.Violation{Check: LockLivenessCheck, Bucket: linearizability.NoBucket, Message: l})
		}
	}
	for _, v := range o.checkSnapshots(world) {
		violate(v)
	}
	if len(o.LostBuckets) > 0 && !o.Drawn.ExpectDataLoss {
		violate(linearizability.Violation{Check: DataLossCheck, Bucket: o.LostBuckets[0],
			Message: fmt.Sprintf("buckets %v lost every copy although the scenario stays within redundancy %d", o.LostBuckets, cfg.Redundancy)})
	}

	o.Alarms = monitor(o.Records, o.Drawn.KV.FailureDetectionTimeout)
	for _, a := range o.Alarms {
		violate(linearizability.Violation{Check: MonitorCheck, Bucket: linearizability.NoBucket, Message: a.String()})
	}

	for c := range caught {
		o.CaughtBy = append(o.CaughtBy, c)
	}
	slices.Sort(o.CaughtBy)
	switch {
	case len(o.Violations) > 0:
		o.Final = VerdictViolation
	case o.Verdict.Result != linearizability.Ok || len(o.Undecided) > 0,
		cfg.Locks.Enabled() && o.LockVerdict.Result != linearizability.Ok:
		o.Final = VerdictUnknown
	case len(o.LostBuckets) > 0:
		o.Final = VerdictDataLoss
	default:
		o.Final = VerdictPass
	}
}

// monitor watches the trace as operations monitoring would: crashes without a planned label,
// forced disconnects and departures from views that no planned crash explains raise alarms.
func monitor(records []trace.Record, detection protocol.Duration) []chaos.Alarm {
	mon := chaos.NewMonitor(chaos.MonitorConfig{ViewEvent: protocol.EventViewChange, MembersAttr: "members",
		DisconnectEvent: kv.EventForcedDisconnect, PlannedLabels: []string{scriptLabel, supervisorLabel, partitionLabel},
		// A split's removals land up to a final check and a takeover after its mend, and a member
		// removed by then may learn of it a quarantine later.
		SplitGrace: int64(8 * detection)})
	for i := range records {
		mon.Observe(&records[i])
	}
	return mon.Alarms()
}

// finalReads reads every key of the history at its bucket's primary and at every initialized copy,
// as the history's last operations (one at a time, by a reader that is no client of the run). A copy
// that answers otherwise than the primary is a violation. Buckets without exactly one primary are
// left to the convergence check.
func (o *Outcome) finalReads(h linearizability.History, holdings []linearizability.Holding, bucketOf func(string) int) (linearizability.History, []linearizability.Violation) {
	byBucket := map[int][]*linearizability.Holding{}
	for i := range holdings {
		byBucket[holdings[i].Bucket] = append(byBucket[holdings[i].Bucket], &holdings[i])
	}
	read := func(hd *linearizability.Holding, key string) (bool, string, string) {
		for _, e := range hd.Entries {
			if e.Key == key {
				return !e.Tombstone, e.Value, e.Version
			}
		}
		return false, "", ""
	}
	reader := finalReader(o.Drawn.KV)
	at := int64(o.Result.Now)
	for i := range h {
		if h[i].ReturnUS != linearizability.InfiniteTimeUS {
			at = max(at, h[i].ReturnUS)
		}
	}
	var finals linearizability.History
	var violations []linearizability.Violation
	for _, key := range h.Keys() {
		bucket := bucketOf(key)
		var primary *linearizability.Holding
		primaries := 0
		for _, hd := range byBucket[bucket] {
			if hd.Primary {
				primary = hd
				primaries++
			}
		}
		if primaries != 1 {
			continue
		}
		found, value, _ := read(primary, key)
		at += 2
		finals = append(finals, linearizability.Operation{Client: reader, Seq: uint64(len(finals) + 1), Kind: linearizability.OpGet, Key: key,
			Status: linearizability.StatusOK, Found: found, Output: value, CallUS: at, ReturnUS: at + 1})
		for _, hd := range byBucket[bucket] {
			if hd == primary || !hd.Initialized {
				continue
			}
			if f, v, version := read(hd, key); f != found || v != value {
				violations = append(violations, linearizability.Violation{Check: FinalReadCheck, Bucket: bucket, Key: key,
					Message: fmt.Sprintf("after quiescence a read of %q at %s answers %s (version %q), at the primary %s it answers %s",
						key, hd.NodeName, describeRead(f, v), version, primary.NodeName, describeRead(found, value))})
			}
		}
	}
	return finals, violations
}

func describeRead(found bool, value string) string {
	if !found {
		return "absent"
	}
	return strconv.Quote(value)
}

// SeedResult is the JSON line a sweep writes per seed. It holds no wall-clock figures, so a sweep's
// output is the same on every machine.
type SeedResult struct {
	Seed          uint64   `json:"seed"`
	Scenario      string   `json:"scenario"`
	Strategy      string   `json:"strategy"`
	Mutant        string   `json:"mutant,omitempty"`
	Verdict       Verdict  `json:"verdict"`
	CaughtBy      []string `json:"caught_by,omitempty"`
	Detail        string   `json:"detail,omitempty"`
	ClientOps     int      `json:"client_ops"`
	UnknownOps    int      `json:"unknown_ops"`
	LockOps       int      `json:"lock_ops,omitempty"`
	Kills         int      `json:"kills"`
	CopiesCreated int      `json:"copies_created"`
	LostBuckets   []int    `json:"lost_buckets,omitempty"`
	End           string   `json:"end"`
	VirtualTimeUS int64    `json:"virtual_time_us"`
	Steps         int64    `json:"steps"`
	Hash          string   `json:"hash"`
}

// SeedResult summarises the outcome as one sweep line.
func (o *Outcome) SeedResult() SeedResult {
	r := SeedResult{
		Seed: o.Spec.Seed, Scenario: o.Spec.Scenario.Name, Strategy: o.Drawn.KV.Strategy.String(),
		Mutant: o.Drawn.MutantNames(), Verdict: o.Final, CaughtBy: o.CaughtBy, LockOps: len(o.LockHistory),
		Kills: len(o.Kills), LostBuckets: o.LostBuckets, End: string(o.Result.End),
		VirtualTimeUS: int64(o.Result.Now), Steps: o.Result.Steps, Hash: fmt.Sprintf("%016x", o.Result.Hash),
	}
	if len(o.Violations) > 0 {
		r.Detail = o.Violations[0].Message
	}
	for i := range o.History {
		r.ClientOps++
		if o.History[i].OutcomeUnknown() {
			r.UnknownOps++
		}
	}
	for i := range o.Records {
		if o.Records[i].Kind == trace.KindEvent && o.Records[i].Name == protocol.EventInitialized {
			r.CopiesCreated++
		}
	}
	return r
}

// Banner describes the run: every drawn parameter, and the command that replays it.
func (o *Outcome) Banner() string {
	d := o.Drawn
	return fmt.Sprintf("scenario %s, seed %d, strategy %s, mutants [%s]\n%s  replay: %s",
		d.Name, o.Spec.Seed, d.KV.Strategy, d.MutantNames(), d.Describe(), o.ReplayCommand(""))
}

// MutantNames lists the scenario's mutants, the store's then the lock service's, comma-separated
// ("" for none).
func (s Scenario) MutantNames() string {
	var names []string
	for _, set := range []string{s.KV.Mutants.String(), s.KV.Locks.Mutants.String()} {
		if set != "" {
			names = append(names, set)
		}
	}
	return strings.Join(names, ",")
}

// Describe lists a scenario's parameters, one aspect per line, each line indented and ending in a
// newline. With Swarm on, the nemeses listed are the ranges a seed draws from; an Outcome's Drawn
// scenario lists what the seed drew.
func (s Scenario) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  cluster: %d servers, %d clients, %d buckets, redundancy %d, source %s, %d ops over %d keys\n",
		s.KV.Servers, s.KV.Clients, s.KV.Buckets, s.KV.Redundancy, s.KV.SourceChoice, s.ClientOps(), s.Workload.Keys)
	fmt.Fprintf(&b, "  phases: safety %v, quiesce budget %v; latency %s min %dµs mean %dµs max %dµs, link spread %d\n",
		protocol.Readable(s.SafetyPhase), protocol.Readable(s.QuiesceBudget), s.Latency.Kind, s.Latency.Min, s.Latency.Mean, s.Latency.Max, max(1, s.LinkSpread))
	swarm := ""
	if s.Swarm {
		swarm = " (swarm-drawn)"
	}
	if h := s.Hops; h != nil {
		fmt.Fprintf(&b, "  hops: %d between servers, %d between a client and a server, %v each (replace the latency above)\n", h.ServerHops, h.ClientHops, protocol.Readable(h.PerHop))
	}
	if l, w := s.KV.Locks, s.LockWorkload; l.Enabled() {
		lease := "none"
		if w.Leased() {
			lease = protocol.Readable(w.LeaseMin) + ".." + protocol.Readable(w.LeaseMax)
		}
		fmt.Fprintf(&b, "  locks: %d lock clients, %d locks each over %d names, held %v..%v, think %v..%v, lease %s, retry %v\n",
			l.Clients, w.OpsPerClient, l.Names, protocol.Readable(w.HoldMin), protocol.Readable(w.HoldMax),
			protocol.Readable(w.ThinkMin), protocol.Readable(w.ThinkMax), lease, protocol.Readable(l.RetryInterval))
	}
	if s.KV.ReadFromAnyCopy {
		b.WriteString("  reads: from any initialized copy (may be stale)\n")
	}
	fmt.Fprintf(&b, "  nemeses%s: %s\n", swarm, s.Nemeses.Describe())
	if plan := s.Snapshots.describe(); plan != "" || s.Reorder {
		fmt.Fprintf(&b, "  snapshots: %s; links reorder messages: %v\n", plan, s.Reorder)
	}
	for _, a := range s.Script {
		fmt.Fprintf(&b, "  script: %s at %v (node %d, bucket %d)\n", a.Kind, a.At, a.Node, a.Bucket)
	}
	return b.String()
}

// ReplayCommand is the command that reproduces this run. With a trace file path it replays the file
// (checking the hash); otherwise it names the scenario and seed.
func (o *Outcome) ReplayCommand(traceFile string) string {
	if traceFile != "" {
		return "go run ./cmd/stateflush replay " + traceFile
	}
	if o.Spec.Source != sourcePRNG {
		return "rerun the property test with the -rapid.seed it printed (or its fail file)"
	}
	if builtin, err := LookupScenario(o.Spec.Scenario.Name); err == nil {
		if flags, ok := overrideFlags(builtin, o.Spec.Scenario); ok {
			return fmt.Sprintf("go run ./cmd/stateflush run --scenario %s --seed %d%s", o.Spec.Scenario.Name, o.Spec.Seed, flags)
		}
	}
	return "no flags express this scenario: write the run's trace (report directory) and replay that file"
}

// Replayable says whether ReplayCommand("") gives a command-line that reproduces the run.
func (o *Outcome) Replayable() bool {
	if o.Spec.Source != sourcePRNG {
		return false
	}
	builtin, err := LookupScenario(o.Spec.Scenario.Name)
	if err != nil {
		return false
	}
	_, ok := overrideFlags(builtin, o.Spec.Scenario)
	return ok
}

// finalReader is the client id of the harness's final reads: no client of the run.
func finalReader(cfg kv.Config) int32 { return int32(kv.Nodes(cfg)) }

// traceHeader is what a harness trace's header holds: the spec that reproduces the run, and the
// banner's drawn parameters so that a reader sees what ran without re-running it.
type traceHeader struct {
	RunSpec
	DrawnNemeses Nemeses `json:"drawn_nemeses"`
	// RecordedBy is the build that ran it (BuildVersion); empty in traces from before it was
	// recorded.
	RecordedBy string `json:"recorded_by,omitempty"`
}

// TraceHeader is the description written in the header of the run's trace.
func (o *Outcome) TraceHeader() json.RawMessage {
	b, err := json.Marshal(traceHeader{RunSpec: o.Spec, DrawnNemeses: o.Drawn.Nemeses, RecordedBy: BuildVersion()})
	if err != nil {
		panic(fmt.Sprintf("harness: RunSpec does not marshal: %v", err))
	}
	return b
}

// Describe lists the enabled nemeses and their rates in one line.
func (n Nemeses) Describe() string {
	var parts []string
	if m := n.Monkey; m != nil {
		restart := "never"
		if m.RestartAfter > 0 {
			restart = fmt.Sprintf("after %dms", m.RestartAfter/protocol.Millisecond)
		}
		faults := ""
		if f := m.Faults; f != (chaos.FaultMix{}) {
			faults = fmt.Sprintf(", faults process-crash %d host-crash %d crash-in-step %d pause %d (up to %dms)",
				f.ProcessCrash, f.HostCrash, f.CrashInStep, f.Pause, m.PauseMax/protocol.Millisecond)
		}
		if m.Victims != "" && m.Victims != chaos.VictimsByAge {
			faults += ", victims " + string(m.Victims)
		}
		parts = append(parts, fmt.Sprintf("monkey(mean gap %dms, min gap %dms, restart %s, beyond redundancy %v, blind %v%s)",
			m.MeanTimeBetweenKills/protocol.Millisecond, m.MinGapBetweenKills/protocol.Millisecond, restart, m.AllowBeyondRedundancy, m.BlindSpots, faults))
	}
	if n.ClientPartitionMeanGap > 0 {
		parts = append(parts, fmt.Sprintf("client-partitions(mean gap %dms, up to %dms)", n.ClientPartitionMeanGap/protocol.Millisecond, n.ClientPartitionMax/protocol.Millisecond))
	}
	if n.DelaySpikeMeanGap > 0 {
		parts = append(parts, fmt.Sprintf("delay-spikes(mean gap %dms, %dms latency, up to %dms)", n.DelaySpikeMeanGap/protocol.Millisecond, n.DelaySpikeLatency/protocol.Millisecond, n.DelaySpikeMax/protocol.Millisecond))
	}
	if n.ClientLossProb > 0 {
		parts = append(parts, fmt.Sprintf("client-loss(%.3f)", n.ClientLossProb))
	}
	if n.ServerDupProb > 0 {
		parts = append(parts, fmt.Sprintf("server-dup(%.3f)", n.ServerDupProb))
	}
	if n.ClientDupProb > 0 {
		parts = append(parts, fmt.Sprintf("client-dup(%.3f)", n.ClientDupProb))
	}
	if n.ServerPartitionMeanGap > 0 {
		parts = append(parts, fmt.Sprintf("server-partitions(mean gap %dms, up to %dms, one-way %.2f)", n.ServerPartitionMeanGap/protocol.Millisecond, n.ServerPartitionMax/protocol.Millisecond, n.ServerPartitionOneWayProb))
	}
	if n.ConnectionLossMeanGap > 0 {
		parts = append(parts, fmt.Sprintf("connection-losses(mean gap %dms, notice up to %dms)", n.ConnectionLossMeanGap/protocol.Millisecond, n.ConnectionLossNoticeMax/protocol.Millisecond))
	}
	if n.RebalanceMeanGap > 0 {
		parts = append(parts, fmt.Sprintf("rebalance(mean gap %dms)", n.RebalanceMeanGap/protocol.Millisecond))
	}
	if n.SourceKillProb > 0 {
		parts = append(parts, fmt.Sprintf("source-kill(%.2f per copy)", n.SourceKillProb))
	}
	if n.SourceBounceProb > 0 {
		parts = append(parts, fmt.Sprintf("source-bounce(%.2f per copy)", n.SourceBounceProb))
	}
	if (n.SourceKillProb > 0 || n.SourceBounceProb > 0) && n.SourceKillMinGap > 0 {
		parts = append(parts, fmt.Sprintf("source kills at least %dms apart", n.SourceKillMinGap/protocol.Millisecond))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// ErrNotReplayable is returned for a trace whose choices came from another engine than the seed.
var ErrNotReplayable = errors.New("trace was recorded with choices drawn by a property-testing engine, not a seed")

// illegalMessage says what an Illegal verdict concerns: the keys of the per-key model, or the whole
// history for the whole-store model (used when the history holds snapshots).
func illegalMessage(v linearizability.Verdict) string {
	if len(v.IllegalKeys) == 0 {
		return fmt.Sprintf("history is not linearizable (%s model, whole history)", v.Model)
	}
	return fmt.Sprintf("history is not linearizable: keys %s", strings.Join(v.IllegalKeys, ", "))
}
