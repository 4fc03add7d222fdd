package kv

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/dlock"
)

// Sentinel errors. Validate and the Parse functions wrap them with the offending parameter and value.
var (
	ErrInvalidConfig       = errors.New("kv: invalid config")
	ErrUnknownMutant       = errors.New("kv: unknown mutant")
	ErrUnknownStrategy     = errors.New("kv: unknown strategy")
	ErrUnknownSourceChoice = errors.New("kv: unknown source choice")
	ErrUnknownNode         = errors.New("kv: node id outside the cluster")
)

const newNodeInvalidConfig = "kv: NewNode called with an invalid config or workload (call Config.Validate and Workload.Validate, or use NewFactory): "

// Strategy is how a new bucket copy is created.
type Strategy int

// Strategies. StateFlush is the zero value, so a Config's default is the protocol under study.
const (
	// StateFlush creates the copy without blocking writes: announce, catcher's mitt, flush, image.
	StateFlush Strategy = iota
	// Blocking holds every write to the bucket at the primary for the whole copy (the baseline the
	// state flush improves on). Held writes emit protocol.EventWriteBlocked.
	Blocking
	// Naive announces and then copies the image without the flush. It is incorrect on purpose: it
	// shows what the flush is for.
	Naive
)

var strategyNames = [...]string{"state-flush", "blocking", "naive"}

func (s Strategy) String() string {
	if s >= 0 && int(s) < len(strategyNames) {
		return strategyNames[s]
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// Strategies lists the strategy names.
func Strategies() []string { return append([]string(nil), strategyNames[:]...) }

// ParseStrategy turns "state-flush", "blocking" or "naive" into a Strategy.
func ParseStrategy(name string) (Strategy, error) {
	for i, n := range strategyNames {
		if n == name {
			return Strategy(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (known: %s)", ErrUnknownStrategy, name, strings.Join(strategyNames[:], ", "))
}

// SourceChoice is how a new copy picks its image source among the initialized copies.
type SourceChoice int

// Source choices. The protocol must be correct for any source; PreferNonPrimary makes the flush
// matter, because then the primary is a member whose writes may still be in flight to the source.
const (
	PreferPrimary SourceChoice = iota
	PreferNonPrimary
)

var sourceChoiceNames = [...]string{"prefer-primary", "prefer-non-primary"}

func (c SourceChoice) String() string {
	if c >= 0 && int(c) < len(sourceChoiceNames) {
		return sourceChoiceNames[c]
	}
	return fmt.Sprintf("SourceChoice(%d)", int(c))
}

// ParseSourceChoice turns "prefer-primary" or "prefer-non-primary" into a SourceChoice.
func ParseSourceChoice(name string) (SourceChoice, error) {
	for i, n := range sourceChoiceNames {
		if n == name {
			return SourceChoice(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (known: %s)", ErrUnknownSourceChoice, name, strings.Join(sourceChoiceNames[:], ", "))
}

// OpMix weighs the client operation kinds. Weights are relative; their sum must be positive when
// clients run operations.
type OpMix struct {
	Get, Put, Delete, Append int
}

// Workload is what each of the store's clients does. It is not part of Config: the cluster is the
// same whatever its clients run, and whoever builds the cluster (NewFactory) passes the workload
// its scenario chose. Every client draws from its own random stream.
type Workload struct {
	// OpsPerClient is how many operations each client runs, one at a time.
	OpsPerClient int
	// ThinkTimeMin and ThinkTimeMax bound the uniform pause before each operation.
	ThinkTimeMin, ThinkTimeMax protocol.Duration
	// Keys is the key space size: keys are "k0".."k<Keys-1>". The linearizability check is per key
	// and its cost grows with the square of one key's history, so spread operations over enough keys.
	Keys int
	// Mix weighs get, put, delete and append.
	Mix OpMix
	// OnlyKeys, when not empty, restricts the workload to these keys ("k<n>", n below Keys): each
	// client still draws every operation exactly as without it (the same draws from its random
	// stream, the same sequence numbers and values), but performs only those on a listed key; any
	// other is skipped without an event or a message, and the client goes straight on to its next
	// think time. A shrinker keeps only a counterexample's failing keys this way, so the run shrinks
	// to the operations on those keys while every other random choice stays put.
	OnlyKeys []string `json:"only_keys,omitempty"`
}

// Config is everything a cluster needs. Build one with DefaultConfig and change what you study;
// call Validate (or use NewFactory, which does) before building nodes.
type Config struct {
	// Servers, Clients: node ids 0..Servers-1 are servers, then Clients clients.
	Servers, Clients int
	// Buckets is the number of buckets keys hash to; Redundancy is the number of copies of each
	// (the primary included).
	Buckets, Redundancy int

	// Strategy creates new copies; Mutants switches on named bugs (all off by default).
	Strategy Strategy
	Mutants  Mutants
	// SourceChoice picks the image source among initialized copies.
	SourceChoice SourceChoice
	// ReadFromAnyCopy lets clients send gets to any holder; an initialized non-primary copy answers
	// from its own data. This is NOT linearizable in general (a copy may lag the primary by the
	// writes still being replicated); it is an option to study, off by default.
	ReadFromAnyCopy bool
	// ChunkEntries is how many entries one image chunk carries.
	ChunkEntries int

	// HeartbeatInterval: every server sends a small heartbeat to the member watching it (its
	// younger neighbour in the view's ring) this often (on background timers).
	// FailureDetectionTimeout: a member its watcher has not heard from for this long is suspected;
	// if a final check by another member gets no answer within the same timeout, it is failed and
	// the coordinator removes it from the view. The protocol assumes message delays and partitions
	// shorter than this timeout.
	HeartbeatInterval       protocol.Duration
	FailureDetectionTimeout protocol.Duration
	// JoinRetryInterval: a restarted server repeats its join request this often until it is in a view.
	JoinRetryInterval protocol.Duration

	// DistributionDelay is the time a write's origin takes between choosing the recipients and
	// putting the messages on the wire (the window in which a write is "in progress").
	DistributionDelay protocol.Duration
	// ApplyDelay is the time a server takes to apply one replicated message it received.
	ApplyDelay protocol.Duration
	// ImageChunkDelay is the time the image source takes to produce each chunk after the first;
	// ChunkApplyDelay the time the new copy takes to apply one chunk.
	ImageChunkDelay protocol.Duration
	ChunkApplyDelay protocol.Duration
	// CopyWarnAfter: a copy that has not completed after this long emits EventCopyWaiting, and again
	// each period after that. It never gives up: no timeout lets a copy proceed unflushed.
	CopyWarnAfter protocol.Duration

	// ClientOpTimeout: a client retries an operation (same event id) when no answer came this long
	// after sending it. ClientMaxAttempts bounds the sends that may time out; ClientMaxRedirects the
	// redirects followed. When either runs out the operation ends with status unknown (a get: fail).
	ClientOpTimeout    protocol.Duration
	ClientMaxAttempts  int
	ClientMaxRedirects int
	// ClientRetryBackoff: pause before retrying when a server knows no primary for the bucket.
	ClientRetryBackoff protocol.Duration

	// Partition is the network partition rule and the members' weights (partition.go).
	Partition PartitionConfig

	// Locks is the lock service the servers also host (protocol/dlock); its clients' node ids
	// follow the store's clients (FirstLockClient), and whoever builds the cluster builds them
	// (dlock.NewClient) with their workload. The zero value is none.
	Locks dlock.Config `json:",omitzero"`
}

// DefaultConfig is 5 servers, 4 clients, 4 buckets with 2 copies each, the state flush strategy
// and no mutants.
func DefaultConfig() Config {
	return Config{
		Servers:                 5,
		Clients:                 4,
		Buckets:                 4,
		Redundancy:              2,
		Strategy:                StateFlush,
		SourceChoice:            PreferPrimary,
		ChunkEntries:            8,
		HeartbeatInterval:       10 * protocol.Millisecond,
		FailureDetectionTimeout: 60 * protocol.Millisecond,
		JoinRetryInterval:       20 * protocol.Millisecond,
		DistributionDelay:       20 * protocol.Microsecond,
		ApplyDelay:              10 * protocol.Microsecond,
		ImageChunkDelay:         100 * protocol.Microsecond,
		ChunkApplyDelay:         50 * protocol.Microsecond,
		CopyWarnAfter:           200 * protocol.Millisecond,
		ClientOpTimeout:         50 * protocol.Millisecond,
		ClientMaxAttempts:       10,
		ClientMaxRedirects:      20,
		ClientRetryBackoff:      2 * protocol.Millisecond,
		Partition:               DefaultPartitionConfig(),
	}
}

// DefaultWorkload is a small mixed workload: 50 operations per client over 40 keys.
func DefaultWorkload() Workload {
	return Workload{
		OpsPerClient: 50,
		ThinkTimeMin: 200 * protocol.Microsecond,
		ThinkTimeMax: 2 * protocol.Millisecond,
		Keys:         40,
		Mix:          OpMix{Get: 40, Put: 30, Delete: 10, Append: 20},
	}
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// Validate reports the first parameter the protocol cannot honour, naming it and its value.
func (c Config) Validate() error {
	switch {
	case c.Servers < 1:
		return invalidf("Servers=%d, need at least 1", c.Servers)
	case c.Clients < 0:
		return invalidf("Clients=%d is negative", c.Clients)
	case c.Buckets < 1:
		return invalidf("Buckets=%d, need at least 1", c.Buckets)
	case c.Redundancy < 1:
		return invalidf("Redundancy=%d, need at least 1", c.Redundancy)
	case c.Redundancy > c.Servers:
		return invalidf("Redundancy=%d exceeds Servers=%d: each copy needs its own server", c.Redundancy, c.Servers)
	case c.Strategy < 0 || int(c.Strategy) >= len(strategyNames):
		return fmt.Errorf("%w: Strategy=%d: %w", ErrInvalidConfig, int(c.Strategy), ErrUnknownStrategy)
	case c.SourceChoice < 0 || int(c.SourceChoice) >= len(sourceChoiceNames):
		return fmt.Errorf("%w: SourceChoice=%d: %w", ErrInvalidConfig, int(c.SourceChoice), ErrUnknownSourceChoice)
	case c.ChunkEntries < 1:
		return invalidf("ChunkEntries=%d, need at least 1", c.ChunkEntries)
	case c.HeartbeatInterval <= 0:
		return invalidf("HeartbeatInterval=%d must be positive", c.HeartbeatInterval)
	case c.FailureDetectionTimeout <= 2*c.HeartbeatInterval:
		// Twice: a member must miss more than one heartbeat before it is suspected, and a paused
		// server can tell that it has been silent long enough to have been removed (lapse.go).
		return invalidf("FailureDetectionTimeout=%d must exceed twice HeartbeatInterval=%d", c.FailureDetectionTimeout, c.HeartbeatInterval)
	case c.JoinRetryInterval <= 0:
		return invalidf("JoinRetryInterval=%d must be positive", c.JoinRetryInterval)
	case c.DistributionDelay < 0:
		return invalidf("DistributionDelay=%d is negative", c.DistributionDelay)
	case c.ApplyDelay < 0:
		return invalidf("ApplyDelay=%d is negative", c.ApplyDelay)
	case c.ImageChunkDelay < 0:
		return invalidf("ImageChunkDelay=%d is negative", c.ImageChunkDelay)
	case c.ChunkApplyDelay < 0:
		return invalidf("ChunkApplyDelay=%d is negative", c.ChunkApplyDelay)
	case c.CopyWarnAfter <= 0:
		return invalidf("CopyWarnAfter=%d must be positive", c.CopyWarnAfter)
	case c.ClientOpTimeout <= 0:
		return invalidf("ClientOpTimeout=%d must be positive", c.ClientOpTimeout)
	case c.ClientMaxAttempts < 1:
		return invalidf("ClientMaxAttempts=%d, need at least 1", c.ClientMaxAttempts)
	case c.ClientMaxRedirects < 0:
		return invalidf("ClientMaxRedirects=%d is negative", c.ClientMaxRedirects)
	case c.ClientRetryBackoff < 0:
		return invalidf("ClientRetryBackoff=%d is negative", c.ClientRetryBackoff)
	}
	if err := c.Mutants.Validate(); err != nil {
		return fmt.Errorf("%w: Mutants: %w", ErrInvalidConfig, err)
	}
	if err := c.Partition.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := c.Locks.Validate(); err != nil {
		return fmt.Errorf("%w: Locks: %w", ErrInvalidConfig, err)
	}
	return nil
}

// Validate reports the first parameter of the workload its clients cannot run, naming it and its
// value.
func (w Workload) Validate() error {
	m := w.Mix
	switch {
	case w.OpsPerClient < 0:
		return invalidf("Workload.OpsPerClient=%d is negative", w.OpsPerClient)
	case w.Keys < 1:
		return invalidf("Workload.Keys=%d, need at least 1", w.Keys)
	case w.ThinkTimeMin < 0:
		return invalidf("Workload.ThinkTimeMin=%d is negative", w.ThinkTimeMin)
	case w.ThinkTimeMax < w.ThinkTimeMin:
		return invalidf("Workload.ThinkTimeMax=%d is below ThinkTimeMin=%d", w.ThinkTimeMax, w.ThinkTimeMin)
	case m.Get < 0 || m.Put < 0 || m.Delete < 0 || m.Append < 0:
		return invalidf("Workload.Mix=%+v has a negative weight", m)
	case w.OpsPerClient > 0 && m.Get+m.Put+m.Delete+m.Append == 0:
		return invalidf("Workload.Mix=%+v: weights sum to 0 but OpsPerClient=%d", m, w.OpsPerClient)
	}
	for i, key := range w.OnlyKeys {
		if !w.isKey(key) {
			return invalidf("Workload.OnlyKeys[%d]=%q is not a key k0..k%d", i, key, w.Keys-1)
		}
	}
	return nil
}

// isKey reports whether key is one the workload draws: "k<n>" written as fmt does, n below Keys.
func (w Workload) isKey(key string) bool {
	digits, ok := strings.CutPrefix(key, "k")
	if !ok {
		return false
	}
	n, err := strconv.Atoi(digits)
	return err == nil && n >= 0 && n < w.Keys && strconv.Itoa(n) == digits
}

// NewFactory validates cfg and the clients' workload once and returns a node factory (the shape
// package sim wants).
func NewFactory(cfg Config, w Workload) (func(id protocol.NodeID, incarnation uint32) protocol.Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	// Every node of one cluster starts from the same initial view: built once and shared (views
	// are immutable once published), not once per node, which cost every node all the buckets.
	initial := &initialViews{cfg: cfg}
	return func(id protocol.NodeID, incarnation uint32) protocol.Node {
		return newNode(cfg, w, id, incarnation, initial)
	}, nil
}

// initialViews builds a cluster's initial view on first use and hands out that one view.
type initialViews struct {
	cfg Config
	v   *View
}

func (iv *initialViews) get() *View {
	if iv.v == nil {
		iv.v = initialView(iv.cfg)
	}
	return iv.v
}

// NewNode builds one incarnation of node id: a *Server for ids 0..Servers-1, a *Client for the
// next Clients ids (not the lock clients after them: dlock.NewClient builds those). cfg must have
// passed Validate and id must be inside the cluster; both are
// programming errors here and panic with a message naming them (NewFactory returns the error
// instead).
func NewNode(cfg Config, w Workload, id protocol.NodeID, incarnation uint32) protocol.Node {
	return newNode(cfg, w, id, incarnation, &initialViews{cfg: cfg})
}

func newNode(cfg Config, w Workload, id protocol.NodeID, incarnation uint32, initial *initialViews) protocol.Node {
	if err := cfg.Validate(); err != nil {
		panic(newNodeInvalidConfig + err.Error())
	}
	if err := w.Validate(); err != nil {
		panic(newNodeInvalidConfig + err.Error())
	}
	switch {
	case IsServer(cfg, id):
		s := newServer(cfg, Member{ID: id, Inc: incarnation})
		s.initial = initial
		return s
	case IsStoreClient(cfg, id):
		return newClient(cfg, w, id, initial.get())
	case IsLockClient(cfg, id):
		panic(fmt.Sprintf("%v: id=%d is a lock client, which dlock.NewClient builds with its workload", ErrUnknownNode, id))
	}
	panic(fmt.Sprintf("%v: id=%d with Servers=%d Clients=%d", ErrUnknownNode, id, cfg.Servers, cfg.Clients))
}
