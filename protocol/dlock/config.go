package dlock

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/stateflush/stateflush/protocol"
)

// Limits of a lock service's configuration. Tokens pack an epoch and a counter into 63 bits
// (token.go), which bounds the grants of one epoch; the other limits keep a seed's memory small.
const (
	MaxClients      = 1000
	MaxNames        = 10000
	MaxOpsPerClient = 100000
	// MaxGrantsPerEpoch is the counter's range within one epoch (2^20).
	MaxGrantsPerEpoch = 1 << counterBits
	// MaxLease bounds a lock's lease.
	MaxLease = protocol.Duration(3600) * protocol.Second
)

// ErrInvalidConfig is wrapped by every error of Config.Validate and Workload.Validate.
var ErrInvalidConfig = errors.New("invalid lock service config")

// Config is a lock service as its members and participants run it: how many participants (lock
// clients) and lock names it has, its retry timing and its mutants. The zero value is no lock
// service. What the clients do with it is their Workload.
type Config struct {
	// Clients is how many lock clients (participants) there are (0: no lock service).
	Clients int `json:"clients"`
	// Names is how many lock names there are ("lock-0", "lock-1", ...).
	Names int `json:"names"`
	// RetryInterval is how long a client waits for an answer before it sends its request again
	// (and every other time to a random server, which names the grantor it knows), and how long a
	// recovering grantor waits before asking the participants that have not answered again.
	RetryInterval protocol.Duration `json:"retry_interval_us"`
	// Mutants are the bugs switched on (Mutants, mutants.go).
	Mutants Mutants `json:"mutants,omitempty"`
}

// Workload is what each lock client does: OpsPerClient locks, one at a time, each on a name drawn
// at random, held for HoldMin..HoldMax and followed by its unlock, ThinkMin..ThinkMax apart.
type Workload struct {
	OpsPerClient int               `json:"ops_per_client"`
	HoldMin      protocol.Duration `json:"hold_min_us"`
	HoldMax      protocol.Duration `json:"hold_max_us"`
	ThinkMin     protocol.Duration `json:"think_min_us"`
	ThinkMax     protocol.Duration `json:"think_max_us"`
	// LeaseMin..LeaseMax is the range each lock's lease is drawn from (0..0: locks without
	// lease, held until unlocked). A lock's lease counts from its holder's call: the grantor
	// releases it when the lease has run out since it granted it, and a holder relies on it only
	// until its call plus the lease.
	LeaseMin protocol.Duration `json:"lease_min_us,omitempty"`
	LeaseMax protocol.Duration `json:"lease_max_us,omitempty"`
	// OnlyNames, when set, takes only the locks on these names and skips the others, still making
	// their workload draws (name, lease, hold), so that a counterexample shrinks to the locks on
	// its failing names while the later locks keep their choices (a retry's draw of a server is
	// the one exception: a skipped lock makes no retries).
	OnlyNames []string `json:"only_names,omitempty"`
}

// DefaultConfig is a contended service: 6 clients, 2 names, a retry every 20 ms.
func DefaultConfig() Config {
	return Config{Clients: 6, Names: 2, RetryInterval: 20 * protocol.Millisecond}
}

// DefaultWorkload is 20 locks per client, held 1–5 ms, 0–10 ms apart, without leases.
func DefaultWorkload() Workload {
	return Workload{OpsPerClient: 20, HoldMin: 1 * protocol.Millisecond, HoldMax: 5 * protocol.Millisecond, ThinkMax: 10 * protocol.Millisecond}
}

// Leased reports whether locks carry leases.
func (w Workload) Leased() bool { return w.LeaseMax > 0 }

// Enabled reports whether the configuration has a lock service.
func (c Config) Enabled() bool { return c.Clients > 0 }

// Validate reports the first problem of an enabled configuration, naming the field and its limit.
func (c Config) Validate() error {
	if c.Clients == 0 {
		if c.Mutants != 0 {
			return invalidf("lock mutants %s without lock clients (lock clients=0)", c.Mutants)
		}
		return nil
	}
	switch {
	case c.Clients < 0 || c.Clients > MaxClients:
		return invalidf("lock clients=%d is outside 0..%d", c.Clients, MaxClients)
	case c.Names < 1 || c.Names > MaxNames:
		return invalidf("lock names=%d is outside 1..%d", c.Names, MaxNames)
	case c.RetryInterval <= 0 || c.RetryInterval > 10*protocol.Second:
		return invalidf("lock retry interval %v is outside (0, 10s]", c.RetryInterval)
	}
	return c.Mutants.validate()
}

// Validate reports the first problem of the workload of service c's clients.
func (w Workload) Validate(c Config) error {
	switch {
	case w.OpsPerClient < 0 || w.OpsPerClient > MaxOpsPerClient:
		return invalidf("lock ops per client=%d is outside 0..%d", w.OpsPerClient, MaxOpsPerClient)
	case c.Clients*w.OpsPerClient >= MaxGrantsPerEpoch:
		return invalidf("lock clients × ops per client = %d reaches %d, the grants one grantor epoch can number (token.go)", c.Clients*w.OpsPerClient, MaxGrantsPerEpoch)
	case w.HoldMin < 0 || w.HoldMax < w.HoldMin:
		return invalidf("lock hold %v..%v is not a range of non-negative durations", w.HoldMin, w.HoldMax)
	case w.ThinkMin < 0 || w.ThinkMax < w.ThinkMin:
		return invalidf("lock think time %v..%v is not a range of non-negative durations", w.ThinkMin, w.ThinkMax)
	case w.HoldMax > protocol.Duration(1<<40) || w.ThinkMax > protocol.Duration(1<<40):
		return invalidf("lock hold or think time above %dµs", int64(1<<40))
	case w.LeaseMin < 0 || w.LeaseMax < w.LeaseMin || w.LeaseMax > MaxLease || (w.LeaseMax > 0 && w.LeaseMin == 0):
		return invalidf("lock lease %v..%v is out of range: 0..0 (no lease) or a range of positive durations up to %v", w.LeaseMin, w.LeaseMax, protocol.Readable(MaxLease))
	}
	for i, name := range w.OnlyNames {
		if _, ok := nameIndex(name, c.Names); !ok {
			return invalidf("lock workload OnlyNames[%d]=%q is not a name lock-0..lock-%d", i, name, c.Names-1)
		}
	}
	return nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// Name is the i-th lock name.
func Name(i int) string { return "lock-" + strconv.Itoa(i) }
