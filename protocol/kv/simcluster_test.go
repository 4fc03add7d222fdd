package kv_test

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim"
)

// cluster is a kv cluster in the simulator, with every protocol event also recorded here (through a
// tapping Env), so that checks work in the trace's hash-only mode too.
type cluster struct {
	t      testing.TB
	cfg    kv.Config
	sim    *sim.Sim
	events []tapped
	// falseLoss lists data-lost events emitted while a live server still held an initialized copy.
	falseLoss []string
}

type tapped struct {
	node  protocol.NodeID
	at    protocol.Time
	name  string
	attrs []protocol.Attr
}

func (e tapped) get(key string) string {
	for _, a := range e.attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

type tapNode struct {
	inner protocol.Node
	c     *cluster
}

type tapEnv struct {
	protocol.Env
	c *cluster
}

func (e tapEnv) Emit(name string, attrs ...protocol.Attr) {
	ev := tapped{node: e.Self(), at: e.Now(), name: name, attrs: attrs}
	e.c.events = append(e.c.events, ev)
	if name == protocol.EventDataLost {
		e.c.checkLoss(ev)
	}
	e.Env.Emit(name, attrs...)
}

// checkLoss: a bucket may be declared lost only when no live server holds an initialized copy.
func (c *cluster) checkLoss(ev tapped) {
	bucket, _ := strconv.Atoi(ev.get("bucket"))
	for id := 0; id < c.cfg.Servers; id++ {
		s := c.server(protocol.NodeID(id))
		if s == nil || !s.Joined() {
			continue
		}
		for _, h := range s.Holdings() {
			if h.Bucket == bucket && h.Initialized {
				c.falseLoss = append(c.falseLoss, fmt.Sprintf("bucket %d declared lost at %v by s%d while s%d holds an initialized copy", bucket, ev.at, ev.node, id))
			}
		}
	}
}

func (n tapNode) Start(env protocol.Env) { n.inner.Start(tapEnv{env, n.c}) }
func (n tapNode) Receive(env protocol.Env, from protocol.NodeID, m protocol.Message) {
	n.inner.Receive(tapEnv{env, n.c}, from, m)
}
func (n tapNode) Fire(env protocol.Env, id protocol.TimerID, tag protocol.TimerTag) {
	n.inner.Fire(tapEnv{env, n.c}, id, tag)
}

func newCluster(t testing.TB, seed uint64, cfg kv.Config, network sim.Network, mode sim.TraceMode) *cluster {
	t.Helper()
	factory, err := kv.NewFactory(cfg)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	c := &cluster{t: t, cfg: cfg}
	var nodes []sim.NodeSpec
	for id := 0; id < cfg.Servers+cfg.Clients; id++ {
		nid := protocol.NodeID(id)
		nodes = append(nodes, sim.NodeSpec{
			Name:   kv.NodeName(cfg, nid),
			Client: kv.IsClient(cfg, nid),
			New: func(id protocol.NodeID, inc uint32) protocol.Node {
				return tapNode{inner: factory(id, inc), c: c}
			},
		})
	}
	s, err := sim.New(sim.Config{
		Seed:        seed,
		Nodes:       nodes,
		Network:     network,
		TimeBudget:  60 * protocol.Second,
		StepBudget:  20_000_000,
		Trace:       mode,
		Description: map[string]any{"seed": seed, "strategy": cfg.Strategy.String(), "mutants": cfg.Mutants.String()},
	})
	if err != nil {
		t.Fatalf("sim: %v", err)
	}
	c.sim = s
	return c
}

func (c *cluster) server(id protocol.NodeID) *kv.Server {
	n := c.sim.Node(id)
	if n == nil {
		return nil
	}
	return n.(tapNode).inner.(*kv.Server)
}

func (c *cluster) named(name string) []tapped {
	var out []tapped
	for _, e := range c.events {
		if e.name == name {
			out = append(out, e)
		}
	}
	return out
}

// liveServers are the servers that are up and in a view.
func (c *cluster) liveServers() []protocol.NodeID {
	var out []protocol.NodeID
	for id := 0; id < c.cfg.Servers; id++ {
		if s := c.server(protocol.NodeID(id)); s != nil && s.Joined() {
			out = append(out, protocol.NodeID(id))
		}
	}
	return out
}

// lostBuckets are the buckets some server declared lost.
func (c *cluster) lostBuckets() map[int]bool {
	lost := map[int]bool{}
	for _, e := range c.named(protocol.EventDataLost) {
		b, _ := strconv.Atoi(e.get("bucket"))
		lost[b] = true
	}
	return lost
}

// checkQuiescentState checks, after quiescence: no copy is still being created; every holder of a
// bucket holds identical entries (tombstones included) and event ids, all initialized; exactly one
// primary; the configured number of copies when enough servers live.
func (c *cluster) checkQuiescentState() []string {
	problems := append([]string(nil), c.falseLoss...)
	live := c.liveServers()
	lost := c.lostBuckets()
	type copyOf struct {
		node protocol.NodeID
		h    kv.Holding
	}
	holders := map[int][]copyOf{}
	for _, id := range live {
		s := c.server(id)
		if creating := s.CreatingCopies(); len(creating) > 0 {
			problems = append(problems, fmt.Sprintf("s%d still creating copies of buckets %v", id, creating))
		}
		for _, h := range s.Holdings() {
			holders[h.Bucket] = append(holders[h.Bucket], copyOf{id, h})
		}
	}
	for b := 0; b < c.cfg.Buckets; b++ {
		cs := holders[b]
		if lost[b] {
			if len(cs) > 0 {
				problems = append(problems, fmt.Sprintf("bucket %d was declared lost but s%d holds it", b, cs[0].node))
			}
			continue
		}
		primaries := 0
		for _, x := range cs {
			if x.h.Primary {
				primaries++
			}
			if !x.h.Initialized {
				problems = append(problems, fmt.Sprintf("bucket %d: copy at s%d is not initialized", b, x.node))
			}
			if got, want := describeHolding(x.h), describeHolding(cs[0].h); got != want {
				problems = append(problems, fmt.Sprintf("bucket %d: s%d and s%d diverge:\n  s%d: %s\n  s%d: %s", b, cs[0].node, x.node, cs[0].node, want, x.node, got))
			}
		}
		if primaries != 1 {
			problems = append(problems, fmt.Sprintf("bucket %d: %d primaries among %d copies", b, primaries, len(cs)))
		}
		if want := min(c.cfg.Redundancy, len(live)); len(cs) != want {
			problems = append(problems, fmt.Sprintf("bucket %d: %d copies, want %d (%d live servers)", b, len(cs), want, len(live)))
		}
	}
	return problems
}

func describeHolding(h kv.Holding) string {
	var b strings.Builder
	for _, e := range h.Entries {
		if e.Tombstone {
			fmt.Fprintf(&b, "%s=<deleted>@%s ", e.Key, e.Version)
		} else {
			fmt.Fprintf(&b, "%s=%q@%s ", e.Key, e.Value, e.Version)
		}
	}
	fmt.Fprintf(&b, "events=%v", h.Events)
	return b.String()
}

// ---- client history and a per-key porcupine check ----

type opInput struct {
	op, key, value string
}

type opOutput struct {
	found bool
	value string
}

type regState struct {
	present bool
	value   string
}

var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(opInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, len(keys))
		for i, k := range keys {
			out[i] = byKey[k]
		}
		return out
	},
	Init: func() interface{} { return regState{} },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st, in := state.(regState), input.(opInput)
		switch in.op {
		case protocol.OpGet:
			out := output.(opOutput)
			return out.found == st.present && (!out.found || out.value == st.value), st
		case protocol.OpPut:
			return true, regState{present: true, value: in.value}
		case protocol.OpDelete:
			return true, regState{}
		default: // append
			if st.present {
				return true, regState{present: true, value: st.value + in.value}
			}
			return true, regState{present: true, value: in.value}
		}
	},
	DescribeOperation: func(input, output interface{}) string {
		in := input.(opInput)
		if in.op == protocol.OpGet {
			out := output.(opOutput)
			return fmt.Sprintf("get(%s) -> %v %q", in.key, out.found, out.value)
		}
		return fmt.Sprintf("%s(%s, %q)", in.op, in.key, in.value)
	},
}

// history pairs op-invoke and op-return events. Unknown-outcome writes never return; failed
// operations and unanswered reads had no effect and are left out.
func (c *cluster) history() (ops []porcupine.Operation, unknown, failed int) {
	type pendingOp struct {
		in   opInput
		call protocol.Time
	}
	pend := map[string]pendingOp{}
	for _, e := range c.events {
		id := e.get("client") + "/" + e.get("seq")
		switch e.name {
		case protocol.EventOpInvoke:
			pend[id] = pendingOp{in: opInput{op: e.get("op"), key: e.get("key"), value: e.get("value")}, call: e.at}
		case protocol.EventOpReturn:
			p, ok := pend[id]
			if !ok {
				c.t.Fatalf("op-return without invoke: %s", id)
			}
			delete(pend, id)
			client, _ := strconv.Atoi(e.get("client"))
			switch e.get("status") {
			case protocol.StatusOK:
				ops = append(ops, porcupine.Operation{ClientId: client, Input: p.in, Call: int64(p.call), Return: int64(e.at),
					Output: opOutput{found: e.get("found") == "true", value: e.get("value")}})
			case protocol.StatusUnknown:
				unknown++
				if p.in.op != protocol.OpGet {
					ops = append(ops, porcupine.Operation{ClientId: client, Input: p.in, Call: int64(p.call), Return: math.MaxInt64, Output: opOutput{}})
				}
			default:
				failed++
			}
		}
	}
	if len(pend) > 0 {
		c.t.Errorf("%d operations never returned", len(pend))
	}
	return ops, unknown, failed
}

func (c *cluster) checkLinearizable() (porcupine.CheckResult, int, int) {
	ops, unknown, failed := c.history()
	return porcupine.CheckOperationsTimeout(registerModel, ops, 5*time.Second), unknown, failed
}
