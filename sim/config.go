package sim

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/stateflush/stateflush/protocol"
)

// NodeFactory builds the state machine of one incarnation of a node: incarnation 0 when the
// simulation is created, then 1, 2, ... on each restart. It must not return nil.
type NodeFactory func(id protocol.NodeID, incarnation uint32) protocol.Node

// NodeSpec describes one node of the cluster. Nodes get dense IDs in the order of Config.Nodes.
type NodeSpec struct {
	// Name is unique and non-empty; it names the node's random stream ("node/<Name>") and lets
	// callers look the node up (Sim.NodeByName).
	Name string
	// New builds each incarnation.
	New NodeFactory
	// Client marks workload clients, so that a chaos monkey can tell them from servers.
	Client bool
	// Location places the node in Network.Hops (an index into its Hops matrix). It must be 0 when
	// the network has no hop topology.
	Location int
}

// LatencyKind selects a latency distribution.
type LatencyKind int

// Latency distributions. Every kind draws 0 from the random source as its minimum, so a source that
// shrinks towards 0 (rapid) shrinks towards the fastest network.
const (
	// Constant: always Mean. Min and Max must be 0.
	Constant LatencyKind = iota
	// Uniform: uniform over [Min, Max], inclusive, in whole microseconds. Mean must be 0.
	Uniform
	// Exponential: Min plus an exponential variable with mean Mean-Min, so the mean is Mean;
	// capped at Max when Max > 0 (Max = 0: no cap). Requires Min <= Mean, and Mean <= Max if Max > 0.
	Exponential
	// LongTail: Min plus a Lomax (Pareto type II) variable of shape 2 and scale Mean-Min, capped at
	// Max. Its uncapped mean is Mean and its variance is infinite: most messages are fast, a few
	// are very slow, as on a real network. Requires Min <= Mean <= Max and Max > 0 (the cap is
	// mandatory, the tail is unbounded). The cap makes the true mean slightly below Mean.
	LongTail
)

func (k LatencyKind) String() string {
	switch k {
	case Constant:
		return "constant"
	case Uniform:
		return "uniform"
	case Exponential:
		return "exponential"
	case LongTail:
		return "long-tail"
	}
	return fmt.Sprintf("LatencyKind(%d)", int(k))
}

// MarshalText writes the kind's name, so configurations written as JSON name their distributions.
func (k LatencyKind) MarshalText() ([]byte, error) {
	if k < Constant || k > LongTail {
		return nil, invalid("LatencyKind", int(k), "unknown latency kind")
	}
	return []byte(k.String()), nil
}

// UnmarshalText reads a kind's name: constant, uniform, exponential or long-tail.
func (k *LatencyKind) UnmarshalText(b []byte) error {
	for c := Constant; c <= LongTail; c++ {
		if c.String() == string(b) {
			*k = c
			return nil
		}
	}
	return invalid("LatencyKind", string(b), "unknown latency kind (constant, uniform, exponential, long-tail)")
}

// Latency is a distribution of one-way message delay. Which fields matter depends on Kind (see the
// LatencyKind constants). All durations are virtual microseconds and never negative.
type Latency struct {
	Kind LatencyKind
	Min  protocol.Duration
	Mean protocol.Duration
	Max  protocol.Duration
}

// Link is the behaviour of one directed channel.
type Link struct {
	Latency Latency
	// LossProb is the probability that a message is lost, in [0, 1].
	LossProb float64
	// DupProb is the probability that a delivered message is delivered a second time, in [0, 1].
	DupProb float64
}

// LinkKey names the directed channel from one node to another.
type LinkKey struct{ From, To protocol.NodeID }

// Network describes the virtual network. The link from a to b is, in order of precedence:
// Links[{a, b}]; else, with Hops set, a link with HopLatency of the hop count between a's and b's
// locations and Default's loss and duplication probabilities; else Default.
type Network struct {
	Default Link
	Links   map[LinkKey]Link
	// Reorder lets a message overtake an earlier one on the same link. Off (the default), each link
	// is FIFO: a message is delivered no earlier than the one sent before it on that link.
	Reorder bool
	Hops    *HopTopology
}

// HopTopology places nodes at locations (NodeSpec.Location); a link's latency grows with the number
// of network hops between the locations of its ends (see HopLatency).
type HopTopology struct {
	// Hops[a][b] is the hop count from location a to location b. Square, entries >= 0.
	Hops [][]int
	// PerHop is the propagation delay one hop adds.
	PerHop protocol.Duration
}

// Locations of DataCenterTopology.
const (
	LocationDataCenter = 0 // a test machine in the data center
	LocationDesk       = 1 // a developer's desk in the office
)

// DataCenterTopology is a two-location topology: test machines one hop apart in the data center, a
// desk seven hops from them, and machines at the same desk one hop apart.
func DataCenterTopology(perHop protocol.Duration) *HopTopology {
	return &HopTopology{
		Hops:   [][]int{{1, 7}, {7, 1}},
		PerHop: perHop,
	}
}

// HopLatency is the latency of a route of the given number of hops: each hop adds perHop of
// propagation delay and up to perHop/2 of queueing jitter, so both the floor and the spread grow with
// the hop count. It is Uniform over [hops*perHop, hops*perHop*3/2] (Constant 0 for 0 hops).
func HopLatency(hops int, perHop protocol.Duration) Latency {
	floor := protocol.Duration(hops) * perHop
	if floor <= 0 {
		return Latency{Kind: Constant}
	}
	return Latency{Kind: Uniform, Min: floor, Max: floor + floor/2}
}

// sample draws one delay from the distribution. The latency must have passed validate.
func (l *Latency) sample(r protocol.Rand) protocol.Duration {
	switch l.Kind {
	case Constant:
		return l.Mean
	case Uniform:
		span := l.Max - l.Min
		if span == 0 {
			return l.Min
		}
		return l.Min + protocol.Duration(r.Intn(int(span)+1))
	case Exponential:
		scale := float64(l.Mean - l.Min)
		if scale == 0 {
			return l.Min
		}
		d := -math.Log1p(-r.Float64()) * scale
		if l.Max > 0 && d >= float64(l.Max-l.Min) {
			return l.Max
		}
		return l.Min + protocol.Duration(d)
	case LongTail:
		scale := float64(l.Mean - l.Min)
		if scale == 0 {
			return l.Min
		}
		// Inverse CDF of Lomax with shape 2: scale * ((1-u)^(-1/2) - 1).
		d := scale * (1/math.Sqrt(1-r.Float64()) - 1)
		if d >= float64(l.Max-l.Min) {
			return l.Max
		}
		return l.Min + protocol.Duration(d)
	}
	panic(fmt.Sprintf("sim: latency kind %d passed validation but has no sampler", int(l.Kind)))
}

// ErrInvalid is wrapped by every *ParamError: a configuration value or an argument is out of range.
var ErrInvalid = errors.New("invalid argument")

// Sentinel errors of the fault and control methods.
var (
	// ErrNotAlive: Crash of a node that is already down.
	ErrNotAlive = errors.New("node is not alive")
	// ErrAlive: Restart of a node that is up.
	ErrAlive = errors.New("node is alive")
	// ErrNoTrace: a whole trace was asked for in a mode that does not keep every record.
	ErrNoTrace = errors.New("not every trace record was kept (trace mode is not full)")
)

// ParamError reports a bad configuration value or argument: which parameter, its value and why it
// is rejected. It wraps ErrInvalid.
type ParamError struct {
	Param  string
	Value  string
	Reason string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("sim: %s = %s: %s", e.Param, e.Value, e.Reason)
}

func (e *ParamError) Unwrap() error { return ErrInvalid }

func invalid(param string, value any, reason string, args ...any) error {
	return &ParamError{Param: param, Value: fmt.Sprintf("%v", value), Reason: fmt.Sprintf(reason, args...)}
}

func (l Latency) validate(param string) error {
	if l.Min < 0 {
		return invalid(param+".Min", l.Min, "negative latency")
	}
	if l.Mean < 0 {
		return invalid(param+".Mean", l.Mean, "negative latency")
	}
	if l.Max < 0 {
		return invalid(param+".Max", l.Max, "negative latency")
	}
	switch l.Kind {
	case Constant:
		if l.Min != 0 {
			return invalid(param+".Min", l.Min, "unused by Constant latency (which is Mean); set it to 0")
		}
		if l.Max != 0 {
			return invalid(param+".Max", l.Max, "unused by Constant latency (which is Mean); set it to 0")
		}
	case Uniform:
		if l.Mean != 0 {
			return invalid(param+".Mean", l.Mean, "unused by Uniform latency (over [Min, Max]); set it to 0")
		}
		if l.Max < l.Min {
			return invalid(param+".Max", l.Max, "below Min = %d", l.Min)
		}
		if int64(l.Max-l.Min) >= math.MaxInt32 {
			return invalid(param+".Max", l.Max, "uniform span above %d microseconds", math.MaxInt32-1)
		}
	case Exponential:
		if l.Mean < l.Min {
			return invalid(param+".Mean", l.Mean, "below Min = %d", l.Min)
		}
		if l.Max != 0 && l.Max < l.Mean {
			return invalid(param+".Max", l.Max, "below Mean = %d (use 0 for no cap)", l.Mean)
		}
	case LongTail:
		if l.Mean < l.Min {
			return invalid(param+".Mean", l.Mean, "below Min = %d", l.Min)
		}
		if l.Max == 0 {
			return invalid(param+".Max", l.Max, "LongTail latency needs a cap (Max > 0)")
		}
		if l.Max < l.Mean {
			return invalid(param+".Max", l.Max, "below Mean = %d", l.Mean)
		}
	default:
		return invalid(param+".Kind", int(l.Kind), "unknown latency kind")
	}
	return nil
}

func validateProb(param string, p float64) error {
	if math.IsNaN(p) || p < 0 || p > 1 {
		return invalid(param, p, "probability outside [0, 1]")
	}
	return nil
}

func (l Link) validate(param string) error {
	if l.Latency.validate("") == nil && validateProb("", l.LossProb) == nil && validateProb("", l.DupProb) == nil {
		return nil // the parameters' names are built for an error only: links change often
	}
	if err := l.Latency.validate(param + ".Latency"); err != nil {
		return err
	}
	if err := validateProb(param+".LossProb", l.LossProb); err != nil {
		return err
	}
	return validateProb(param+".DupProb", l.DupProb)
}

func (h *HopTopology) validate(param string) error {
	if h.PerHop < 0 {
		return invalid(param+".PerHop", h.PerHop, "negative latency")
	}
	if len(h.Hops) == 0 {
		return invalid(param+".Hops", "[]", "no locations")
	}
	for a, row := range h.Hops {
		if len(row) != len(h.Hops) {
			return invalid(fmt.Sprintf("%s.Hops[%d]", param, a), fmt.Sprintf("%d entries", len(row)),
				"matrix must be square (%d locations)", len(h.Hops))
		}
		for b, hops := range row {
			if hops < 0 {
				return invalid(fmt.Sprintf("%s.Hops[%d][%d]", param, a, b), hops, "negative hop count")
			}
		}
	}
	return nil
}

// validate checks every field of a configuration, naming the first bad parameter and its value.
func (cfg *Config) validate() error {
	if len(cfg.Nodes) == 0 {
		return invalid("Config.Nodes", "[]", "empty node list")
	}
	if len(cfg.Nodes) > math.MaxInt32 {
		return invalid("Config.Nodes", fmt.Sprintf("%d nodes", len(cfg.Nodes)), "more nodes than NodeID can number")
	}
	if cfg.Network.Hops != nil {
		if err := cfg.Network.Hops.validate("Config.Network.Hops"); err != nil {
			return err
		}
	}
	names := make(map[string]int, len(cfg.Nodes))
	for i, spec := range cfg.Nodes {
		param := fmt.Sprintf("Config.Nodes[%d]", i)
		if spec.Name == "" {
			return invalid(param+".Name", `""`, "empty node name")
		}
		if j, dup := names[spec.Name]; dup {
			return invalid(param+".Name", fmt.Sprintf("%q", spec.Name), "duplicate node name (also Config.Nodes[%d])", j)
		}
		names[spec.Name] = i
		if spec.New == nil {
			return invalid(param+".New", "nil", "nil node factory")
		}
		if cfg.Network.Hops == nil && spec.Location != 0 {
			return invalid(param+".Location", spec.Location, "a location needs Config.Network.Hops")
		}
		if cfg.Network.Hops != nil && (spec.Location < 0 || spec.Location >= len(cfg.Network.Hops.Hops)) {
			return invalid(param+".Location", spec.Location, "outside the %d locations of Config.Network.Hops", len(cfg.Network.Hops.Hops))
		}
	}
	if cfg.TimeBudget <= 0 {
		return invalid("Config.TimeBudget", cfg.TimeBudget, "time budget must be positive")
	}
	if cfg.StepBudget <= 0 {
		return invalid("Config.StepBudget", cfg.StepBudget, "step budget must be positive")
	}
	if cfg.Trace != TraceFull && cfg.Trace != TraceHashOnly && cfg.Trace != TraceEvents {
		return invalid("Config.Trace", int(cfg.Trace), "unknown trace mode")
	}
	if err := cfg.Network.Default.validate("Config.Network.Default"); err != nil {
		return err
	}
	for _, k := range sortedLinkKeys(cfg.Network.Links) {
		param := fmt.Sprintf("Config.Network.Links[%d->%d]", k.From, k.To)
		if k.From < 0 || int(k.From) >= len(cfg.Nodes) {
			return invalid(param+".From", k.From, "unknown node (the cluster has nodes 0..%d)", len(cfg.Nodes)-1)
		}
		if k.To < 0 || int(k.To) >= len(cfg.Nodes) {
			return invalid(param+".To", k.To, "unknown node (the cluster has nodes 0..%d)", len(cfg.Nodes)-1)
		}
		if err := cfg.Network.Links[k].validate(param); err != nil {
			return err
		}
	}
	return nil
}

func sortedLinkKeys(links map[LinkKey]Link) []LinkKey {
	keys := make([]LinkKey, 0, len(links))
	for k := range links {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].From != keys[j].From {
			return keys[i].From < keys[j].From
		}
		return keys[i].To < keys[j].To
	})
	return keys
}
