// Package chaos is stateflush's chaos monkey: it kills server processes of a simulated cluster (never
// clients) at random times, favouring members that have lived longest (or, by Config.Victims, none
// or those holding roles), honouring blind spots, and labelling every kill in the trace so that
// monitoring can tell the monkey's work from a real failure.
//
// The monkey is driven entirely by the simulator's virtual clock and by the simulator's "chaos-monkey"
// random stream, so a run with a monkey is as reproducible as one without.
//
// Use:
//
//	m, err := chaos.New(chaos.Config{MeanTimeBetweenKills: 2 * protocol.Second, ...}, s, world)
//	m.Arm()      // schedules the first kill
//	s.RunUntil(end)
//	m.Kills()    // what it did
//
// A Monitor reads a trace afterwards (or a live record stream) and raises an alarm for every member
// lost without the monkey's label.
package chaos

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim"
)

// Label is the "by" value the monkey attaches to its crash records. Monitoring recognises it.
const Label = "chaos-monkey"

// Config says how the monkey behaves. Durations are virtual time.
type Config struct {
	// MeanTimeBetweenKills is the mean of the exponential gap between kills. Required > 0.
	MeanTimeBetweenKills protocol.Duration
	// MinGapBetweenKills is the least gap between two kills (a kill never follows sooner).
	MinGapBetweenKills protocol.Duration
	// BlindSpots are member names ("s0") or role names ("coordinator", "primary") that are never killed.
	BlindSpots []string
	// RestartAfter, when > 0, restarts a killed member after this delay as a new, empty incarnation.
	RestartAfter protocol.Duration
	// Start and Stop bound the window in which kills happen. Stop 0 means no end.
	Start, Stop protocol.Time
	// AllowBeyondRedundancy lets the monkey kill members even when that may lose every copy of some
	// data. Off by default: then a victim is chosen only among members the World says are safe to kill.
	AllowBeyondRedundancy bool
	// Faults weighs what the monkey does to the victim it picks. All zero (the default) means process
	// crashes only, the classic monkey, without any draw for the kind.
	Faults FaultMix `json:"Faults,omitzero"`
	// PauseMax bounds a pause (Faults.Pause): its length is drawn uniformly from 1 µs to PauseMax, so
	// some pauses outlast the failure-detection timeout and others do not. Required when pauses are
	// weighed in.
	PauseMax protocol.Duration `json:"PauseMax,omitempty"`
	// Victims says how the monkey chooses among the members it may kill; "" is VictimsByAge.
	Victims Victims `json:"Victims,omitempty"`
}

// Victims is how the monkey chooses its victim among the members it may kill.
type Victims string

const (
	// VictimsByAge weighs each member by the age of its incarnation (plus one): the older, the
	// likelier. Old processes hold the most state and the roles handed out first (the coordinator is
	// the oldest member), so this is the monkey that shakes things up most, in the seed's words. It
	// is the default, and "" means it.
	VictimsByAge Victims = "age"
	// VictimsUniform gives every member it may kill the same chance.
	VictimsUniform Victims = "uniform"
	// VictimsByRole prefers members holding roles (World.Roles: coordinator, primary): a member's
	// weight is 1 plus roleWeight for each role it holds, whatever its age.
	VictimsByRole Victims = "roles"
)

// roleWeight is what each role adds to a member's weight under VictimsByRole: a member with one
// role is ten times as likely a victim as one without.
const roleWeight = 9

// VictimChoices lists the victim choices by name.
func VictimChoices() []Victims { return []Victims{VictimsByAge, VictimsUniform, VictimsByRole} }

// ParseVictims reads a victim choice by name. "age" reads as "", the form the built-in scenarios
// hold, so that asking for the default gives the very same scenario (and the same spec hash).
func ParseVictims(name string) (Victims, error) {
	v := Victims(name)
	if v == VictimsByAge {
		return "", nil
	}
	if slices.Contains(VictimChoices(), v) {
		return v, nil
	}
	return "", fmt.Errorf("no victim choice %q (choices: age, uniform, roles)", name)
}

// String names the choice ("" is age).
func (v Victims) String() string {
	if v == "" {
		return string(VictimsByAge)
	}
	return string(v)
}

// FaultMix weighs the kinds of fault the monkey deals, as they happen to long-running servers in a
// data center.
type FaultMix struct {
	// ProcessCrash kills the process between two of its steps; what it sent still arrives.
	ProcessCrash int
	// HostCrash takes the machine down between two steps: what the host had in flight is lost too.
	HostCrash int
	// CrashInStep kills the process or its host (half and half) inside its next step that sends more
	// than a drawn number (0 to 2) of messages, after that many: a write, a flush or a view reaches
	// some of its recipients and not the others.
	CrashInStep int
	// Pause freezes the process for a drawn time (see Config.PauseMax) and lets it go on; if the
	// pause outlasts failure detection, the others have removed it meanwhile.
	Pause int
}

func (f FaultMix) total() int { return f.ProcessCrash + f.HostCrash + f.CrashInStep + f.Pause }

// Fault names, as the Kill record and the trace's "fault" attr give them.
const (
	FaultProcessCrash = "process-crash"
	FaultHostCrash    = "host-crash"
	FaultCrashInStep  = "crash-in-step"
	FaultPause        = "pause"
)

// World is what the monkey asks of the system under test beyond the simulator.
type World interface {
	// Roles names the roles a member currently holds ("coordinator", "primary"), for blind spots.
	Roles(id protocol.NodeID) []string
	// SafeToKill says whether killing the member now keeps every piece of data within its configured
	// redundancy (at least one live, complete copy of every bucket remains).
	SafeToKill(id protocol.NodeID) bool
	// KeepsQuorum says whether killing or pausing the member now leaves the cluster its quorum: a
	// system that shuts down the side of a partition that lost most of its members would otherwise
	// shut down everywhere, the outage of a whole data center rather than one machine's fault. The
	// monkey asks it even when it may go beyond the redundancy.
	KeepsQuorum(id protocol.NodeID) bool
}

// Kill is one kill the monkey made.
type Kill struct {
	At        protocol.Time
	Victim    protocol.NodeID
	Name      string
	AgeUS     int64    // how long the victim's incarnation had lived
	Roles     []string // the roles the victim held when chosen (World.Roles)
	Restarted bool     // whether a restart was scheduled
	Fault     string   // what the monkey did (Fault* names)
}

// Monkey kills server members on a schedule. Build it with New, then Arm it.
type Monkey struct {
	cfg   Config
	sim   *sim.Sim
	world World
	rand  protocol.Rand
	kills []Kill
	// skipped counts kill attempts that found no eligible victim (everyone blind or unsafe).
	skipped int
}

// Validate reports the first invalid field, naming it and its value.
func (c Config) Validate() error {
	switch {
	case c.MeanTimeBetweenKills <= 0:
		return fmt.Errorf("chaos: MeanTimeBetweenKills must be > 0, got %d µs", c.MeanTimeBetweenKills)
	case c.MinGapBetweenKills < 0:
		return fmt.Errorf("chaos: MinGapBetweenKills must be >= 0, got %d µs", c.MinGapBetweenKills)
	case c.RestartAfter < 0:
		return fmt.Errorf("chaos: RestartAfter must be >= 0, got %d µs", c.RestartAfter)
	case c.Start < 0:
		return fmt.Errorf("chaos: Start must be >= 0, got %d µs", c.Start)
	case c.Stop != 0 && c.Stop < c.Start:
		return fmt.Errorf("chaos: Stop (%d µs) is before Start (%d µs)", c.Stop, c.Start)
	case c.Faults.ProcessCrash < 0 || c.Faults.HostCrash < 0 || c.Faults.CrashInStep < 0 || c.Faults.Pause < 0:
		return fmt.Errorf("chaos: Faults weights must be >= 0, got %+v", c.Faults)
	case c.Faults.Pause > 0 && c.PauseMax <= 0:
		return fmt.Errorf("chaos: Faults.Pause=%d needs PauseMax > 0, got %d µs", c.Faults.Pause, c.PauseMax)
	case c.PauseMax < 0:
		return fmt.Errorf("chaos: PauseMax must be >= 0, got %d µs", c.PauseMax)
	case c.Victims != "" && !slices.Contains(VictimChoices(), c.Victims):
		return fmt.Errorf("chaos: Victims %q is not a victim choice (age, uniform, roles)", c.Victims)
	}
	return nil
}

// ErrNoWorld is returned when the monkey is built without a World to ask about roles and safety.
var ErrNoWorld = errors.New("chaos: a World is required (roles and kill safety)")

// New builds a monkey for the given simulator. Blind spots naming members are checked against the
// simulator's node names; an unknown name that is not a role is an error.
func New(cfg Config, s *sim.Sim, world World, knownRoles []string) (*Monkey, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if world == nil {
		return nil, ErrNoWorld
	}
	for _, spot := range cfg.BlindSpots {
		if _, ok := s.NodeByName(spot); ok || slices.Contains(knownRoles, spot) {
			continue
		}
		return nil, fmt.Errorf("chaos: blind spot %q names no member and no role (roles: %v)", spot, knownRoles)
	}
	return &Monkey{cfg: cfg, sim: s, world: world, rand: s.Stream(Label)}, nil
}

// Arm schedules the first kill. Each kill schedules the next.
func (m *Monkey) Arm() {
	m.scheduleNext(max(m.cfg.Start, m.sim.Now()))
}

// Kills returns the kills made so far, in order.
func (m *Monkey) Kills() []Kill { return slices.Clone(m.kills) }

// Skipped counts kill attempts that found no eligible victim.
func (m *Monkey) Skipped() int { return m.skipped }

func (m *Monkey) scheduleNext(from protocol.Time) {
	gap := max(ExponentialGap(m.rand, m.cfg.MeanTimeBetweenKills), m.cfg.MinGapBetweenKills)
	at := from + protocol.Time(gap)
	if m.cfg.Stop != 0 && at > m.cfg.Stop {
		return
	}
	m.sim.At(at, "chaos-monkey kill", m.killOne)
}

// ExponentialGap draws the gap to the next fault from an exponential distribution with the given
// mean, by inversion. It maps the draw u=0, where shrinking pushes, to the longest gap (the fault
// does not happen), because the boring choice for a fault injector is to do nothing.
func ExponentialGap(r protocol.Rand, mean protocol.Duration) protocol.Duration {
	u := r.Float64()
	if u == 0 {
		return maxGap
	}
	return protocol.Duration(min(-float64(mean)*math.Log(u), float64(maxGap)))
}

// maxGap caps a gap (about 31 years of virtual time) so that it converts to an integer safely.
const maxGap = protocol.Duration(1e15)

// killOne picks a victim among eligible members by a draw weighted as Config.Victims says, and deals
// it a fault drawn from the fault mix.
func (m *Monkey) killOne() {
	now := m.sim.Now()
	defer m.scheduleNext(now)
	candidates, weights := m.eligible(now)
	if len(candidates) == 0 {
		m.skipped++
		return
	}
	victim := candidates[pickWeighted(m.rand, weights)]
	age := int64(now - m.sim.StartedAt(victim))
	k := Kill{At: now, Victim: victim, Name: m.sim.Spec(victim).Name, AgeUS: age, Roles: m.world.Roles(victim), Fault: m.drawFault()}
	var err error
	switch k.Fault {
	case FaultProcessCrash:
		err = m.sim.Crash(victim, Label)
	case FaultHostCrash:
		err = m.sim.CrashHost(victim, Label)
	case FaultCrashInStep:
		kind := sim.ProcessCrash
		if m.rand.Intn(2) == 1 {
			kind = sim.HostCrash
		}
		var allowed func() bool
		if !m.cfg.AllowBeyondRedundancy {
			allowed = func() bool { return m.world.SafeToKill(victim) && m.world.KeepsQuorum(victim) }
		} else {
			allowed = func() bool { return m.world.KeepsQuorum(victim) }
		}
		err = m.sim.CrashInStep(victim, m.rand.Intn(3), kind, Label, m.inStepWithin(), allowed)
	case FaultPause:
		err = m.sim.Pause(victim, protocol.Duration(1+m.rand.Intn(int(m.cfg.PauseMax))), Label)
	}
	if err != nil {
		panic(fmt.Sprintf("chaos: %s of eligible live member %d failed: %v", k.Fault, victim, err))
	}
	if m.cfg.RestartAfter > 0 && k.Fault != FaultPause {
		k.Restarted = true
		m.sim.At(now+protocol.Time(m.cfg.RestartAfter), "chaos-monkey restart", func() {
			if !m.sim.Alive(victim) {
				if err := m.sim.Restart(victim); err != nil {
					panic(fmt.Sprintf("chaos: restarting member %d failed: %v", victim, err))
				}
			}
		})
	}
	m.kills = append(m.kills, k)
}

// drawFault draws the kind of fault from the mix; a zero mix is the classic process crash, with no
// draw, so that a monkey without a mix runs the schedules it always ran.
func (m *Monkey) drawFault() string {
	f := m.cfg.Faults
	if f.total() == 0 {
		return FaultProcessCrash
	}
	x := m.rand.Intn(f.total())
	for _, c := range []struct {
		weight int
		name   string
	}{{f.ProcessCrash, FaultProcessCrash}, {f.HostCrash, FaultHostCrash}, {f.CrashInStep, FaultCrashInStep}, {f.Pause, FaultPause}} {
		if x < c.weight {
			return c.name
		}
		x -= c.weight
	}
	panic("chaos: fault draw out of range")
}

// inStepWithin is how long a crash armed inside a step may wait for a step that sends enough: it
// lands before the scheduled restart, which must find the member down.
func (m *Monkey) inStepWithin() protocol.Duration {
	if m.cfg.RestartAfter > 1 {
		return m.cfg.RestartAfter / 2
	}
	return 10 * protocol.Millisecond
}

// eligible lists, in id order, the live server members the monkey may kill now, each with its weight
// in the victim draw (victimWeight).
func (m *Monkey) eligible(now protocol.Time) ([]protocol.NodeID, []int64) {
	var ids []protocol.NodeID
	var weights []int64
	for i := 0; i < m.sim.NumNodes(); i++ {
		id := protocol.NodeID(i)
		spec := m.sim.Spec(id)
		if spec.Client || !m.sim.Alive(id) || m.sim.Paused(id) || m.blind(id, spec.Name) {
			continue
		}
		if (!m.cfg.AllowBeyondRedundancy && !m.world.SafeToKill(id)) || !m.world.KeepsQuorum(id) {
			continue
		}
		ids = append(ids, id)
		weights = append(weights, m.victimWeight(id, now))
	}
	return ids, weights
}

// victimWeight is a member's weight in the victim draw: the age of its current incarnation plus one
// (so that a member started this instant can still be chosen), one, or one plus roleWeight per role.
func (m *Monkey) victimWeight(id protocol.NodeID, now protocol.Time) int64 {
	switch m.cfg.Victims {
	case VictimsUniform:
		return 1
	case VictimsByRole:
		return 1 + roleWeight*int64(len(m.world.Roles(id)))
	}
	return int64(now-m.sim.StartedAt(id)) + 1
}

func (m *Monkey) blind(id protocol.NodeID, name string) bool {
	if slices.Contains(m.cfg.BlindSpots, name) {
		return true
	}
	for _, role := range m.world.Roles(id) {
		if slices.Contains(m.cfg.BlindSpots, role) {
			return true
		}
	}
	return false
}

// pickWeighted returns index i with probability weights[i]/sum(weights). Weights are positive.
func pickWeighted(r protocol.Rand, weights []int64) int {
	var total int64
	for _, w := range weights {
		total += w
	}
	x := int64(r.Intn(int(total)))
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}
