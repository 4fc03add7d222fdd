package kv

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

// harness is a small deterministic test environment for hand-written schedules, in the style of
// etcd raft's datadriven tests: messages wait in per-channel FIFO queues until the test delivers
// them ("deliver the first message from s0 to s2"), timers fire when the test says so, nodes crash
// when told. Every step returns a readable log of what happened (messages sent, events emitted,
// client replies). Servers are real kv.Servers; the clients are played by the test.
type harness struct {
	t   testing.TB
	cfg Config
	now protocol.Time

	servers   []*hnode
	channels  map[hchan][]*hmsg
	timers    map[protocol.TimerID]*htimer
	nextTimer protocol.TimerID
	nextMsg   uint64
	nextSeq   map[protocol.NodeID]uint64

	heldChans  map[hchan]bool
	heldTimers map[htimerKey]bool
	isolated   map[protocol.NodeID]bool // partitioned away: nothing to or from it is delivered
	muted      map[protocol.NodeID]bool // nothing from it is delivered (a one-way partition)
	slow       map[hchan]bool           // one directed link on which nothing, heartbeats included, arrives
	sent       map[string]int           // messages sent between servers, by type

	log     []string
	last    map[protocol.NodeID]*ClientRequest // each client's last request, for retries
	events  []hevent
	replies map[protocol.NodeID][]*ClientReply
	quiet   bool // leave the failure detector's traffic out of the log
}

type hnode struct {
	id    protocol.NodeID
	inc   uint32
	alive bool
	srv   *Server
	rand  *splitmix
}

// hchan is a directed channel. Heartbeats travel in their own lane, which is never held: a test
// that holds a channel for a long time must not make the failure detector suspect the sender, and
// the protocol does not depend on the order of heartbeats relative to other messages.
type hchan struct {
	from, to  protocol.NodeID
	heartbeat bool
}

type hmsg struct {
	id      uint64
	from    protocol.NodeID
	fromInc uint32
	to      protocol.NodeID
	msg     protocol.Message
}

type htimer struct {
	id   protocol.TimerID
	node protocol.NodeID
	inc  uint32
	at   protocol.Time
	tag  protocol.TimerTag
}

type htimerKey struct {
	node protocol.NodeID
	kind int32
}

type hevent struct {
	node  protocol.NodeID
	at    protocol.Time
	name  string
	attrs []protocol.Attr
}

func (e hevent) get(key string) string {
	for _, a := range e.attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

// splitmix is a tiny PRNG for the nodes' Rand.
type splitmix struct{ state uint64 }

func (r *splitmix) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
func (r *splitmix) Intn(n int) int   { return int(r.next() % uint64(n)) }
func (r *splitmix) Float64() float64 { return float64(r.next()>>11) / (1 << 53) }

// harnessConfig is a small cluster for scripted schedules: one bucket, no clients of its own, a
// failure-detection timeout of 50 ms, and no partition rule: the schedules crash two of the three
// servers on purpose to study what the third does with its copies, and under the weighted rule it
// would shut down instead (partition_test.go and testdata/scripts/partition-rule.txt test the
// rule).
func harnessConfig() Config {
	cfg := DefaultConfig()
	cfg.Servers, cfg.Clients, cfg.Buckets, cfg.Redundancy = 3, 2, 1, 2
	cfg.ChunkEntries = 1
	cfg.Partition.Rule = NoQuorum
	return cfg
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	h := &harness{
		t: t, cfg: cfg,
		channels:   map[hchan][]*hmsg{},
		timers:     map[protocol.TimerID]*htimer{},
		nextSeq:    map[protocol.NodeID]uint64{},
		heldChans:  map[hchan]bool{},
		heldTimers: map[htimerKey]bool{},
		isolated:   map[protocol.NodeID]bool{},
		muted:      map[protocol.NodeID]bool{},
		slow:       map[hchan]bool{},
		sent:       map[string]int{},
		replies:    map[protocol.NodeID][]*ClientReply{},
		last:       map[protocol.NodeID]*ClientRequest{},
		quiet:      true,
	}
	for id := 0; id < cfg.Servers; id++ {
		n := &hnode{id: protocol.NodeID(id), alive: true, rand: &splitmix{state: uint64(id)}}
		n.srv = newServer(cfg, Member{ID: n.id})
		h.servers = append(h.servers, n)
	}
	for _, n := range h.servers {
		n.srv.Start(&henv{h: h, n: n})
	}
	h.takeLog()
	return h
}

// henv is the protocol.Env of one node during one call.
type henv struct {
	h *harness
	n *hnode
}

func (e *henv) Self() protocol.NodeID { return e.n.id }
func (e *henv) Incarnation() uint32   { return e.n.inc }
func (e *henv) Now() protocol.Time    { return e.h.now }
func (e *henv) Rand() protocol.Rand   { return e.n.rand }
func (e *henv) Send(to protocol.NodeID, m protocol.Message) {
	h := e.h
	if IsClient(h.cfg, to) {
		r := m.(*ClientReply)
		h.replies[to] = append(h.replies[to], r)
		h.logf("%s -> %s %s", h.name(e.n.id), h.name(to), describeMessage(m))
		return
	}
	h.nextMsg++
	h.sent[m.Type()]++
	// Heartbeats travel beside held channels (a held channel is not a failure). The rest of the
	// failure detector's traffic (suspicions, final checks) is held like any message, since a
	// check over a held channel is what the detector must cope with; all of it stays out of a
	// quiet log.
	_, hb := m.(*Heartbeat)
	c := hchan{e.n.id, to, hb}
	h.channels[c] = append(h.channels[c], &hmsg{id: h.nextMsg, from: e.n.id, fromInc: e.n.inc, to: to, msg: m})
	if !(protocol.IsBackground(m) && h.quiet) {
		h.logf("%s -> %s %s", h.name(e.n.id), h.name(to), describeMessage(m))
	}
}
func (e *henv) SetTimer(after protocol.Duration, tag protocol.TimerTag) protocol.TimerID {
	h := e.h
	h.nextTimer++
	h.timers[h.nextTimer] = &htimer{id: h.nextTimer, node: e.n.id, inc: e.n.inc, at: h.now + protocol.Time(after), tag: tag}
	return h.nextTimer
}
func (e *henv) CancelTimer(id protocol.TimerID) {
	if t := e.h.timers[id]; t != nil && t.node == e.n.id && t.inc == e.n.inc {
		delete(e.h.timers, id)
	}
}
func (e *henv) Emit(name string, attrs ...protocol.Attr) {
	h := e.h
	h.events = append(h.events, hevent{node: e.n.id, at: h.now, name: name, attrs: slices.Clone(attrs)})
	h.logf("%s event %s %s", h.name(e.n.id), name, formatAttrs(attrs))
}

func (h *harness) logf(format string, args ...any) {
	h.log = append(h.log, fmt.Sprintf(format, args...))
}

// takeLog returns and clears the log of the current step.
func (h *harness) takeLog() string {
	out := strings.Join(h.log, "\n")
	h.log = nil
	return out
}

func (h *harness) name(id protocol.NodeID) string { return NodeName(h.cfg, id) }

func (h *harness) id(name string) protocol.NodeID {
	for id := 0; id < h.cfg.Servers+h.cfg.Clients; id++ {
		if NodeName(h.cfg, protocol.NodeID(id)) == name {
			return protocol.NodeID(id)
		}
	}
	if name == "external" {
		return protocol.External
	}
	h.t.Fatalf("no node named %q", name)
	return 0
}

func (h *harness) server(name string) *Server { return h.servers[h.id(name)].srv }

func describeMessage(m protocol.Message) string {
	type describer interface{ TraceAttrs() []protocol.Attr }
	if d, ok := m.(describer); ok && len(d.TraceAttrs()) > 0 {
		return m.Type() + " " + formatAttrs(d.TraceAttrs())
	}
	return m.Type()
}

func formatAttrs(attrs []protocol.Attr) string {
	parts := make([]string, len(attrs))
	for i, a := range attrs {
		parts[i] = a.Key + "=" + a.Value
	}
	return strings.Join(parts, " ")
}

// deliver hands the first message on the channel from -> to to its receiver.
func (h *harness) deliver(from, to string) string {
	h.t.Helper()
	c := hchan{from: h.id(from), to: h.id(to)}
	if len(h.channels[c]) == 0 {
		h.t.Fatalf("deliver %s->%s: no message in flight", from, to)
	}
	h.deliverHead(c)
	return h.takeLog()
}

func (h *harness) deliverHead(c hchan) {
	q := h.channels[c]
	m := q[0]
	h.channels[c] = q[1:]
	if len(h.channels[c]) == 0 {
		delete(h.channels, c)
	}
	n := h.servers[c.to]
	if !n.alive {
		return
	}
	if IsServer(h.cfg, c.from) && h.servers[c.from].inc != m.fromInc {
		h.logf("%s <- %s %s dropped: sender restarted", h.name(c.to), h.name(c.from), m.msg.Type())
		return
	}
	if !(protocol.IsBackground(m.msg) && h.quiet) {
		h.logf("%s <- %s %s", h.name(c.to), h.name(c.from), m.msg.Type())
	}
	n.srv.Receive(&henv{h: h, n: n}, c.from, m.msg)
}

// inject delivers m to node to as if sent by from, bypassing the channels (bad or stale input).
func (h *harness) inject(from protocol.NodeID, to string, m protocol.Message) string {
	n := h.servers[h.id(to)]
	n.srv.Receive(&henv{h: h, n: n}, from, m)
	return h.takeLog()
}

// request sends a client operation from client to server on the client's channel.
func (h *harness) request(client, server, op, key, value string) uint64 {
	cid := h.id(client)
	h.nextSeq[cid]++
	seq := h.nextSeq[cid]
	h.nextMsg++
	c := hchan{from: cid, to: h.id(server)}
	req := &ClientRequest{Seq: seq, Op: op, Key: key, Value: value}
	h.channels[c] = append(h.channels[c], &hmsg{id: h.nextMsg, from: cid, to: c.to, msg: req})
	h.last[cid] = req
	h.logf("%s -> %s %s", client, server, describeMessage(req))
	return seq
}

// retry sends the client's last request again (same event id) to server.
func (h *harness) retry(client, server string) uint64 {
	h.t.Helper()
	cid := h.id(client)
	req := h.last[cid]
	if req == nil {
		h.t.Fatalf("retry: %s sent nothing yet", client)
	}
	h.nextMsg++
	c := hchan{from: cid, to: h.id(server)}
	h.channels[c] = append(h.channels[c], &hmsg{id: h.nextMsg, from: cid, to: c.to, msg: req})
	h.logf("%s -> %s %s (retry)", client, server, describeMessage(req))
	return req.Seq
}

// requestAnyCopy sends a get that any initialized copy may answer.
func (h *harness) requestAnyCopy(client, server, key string) uint64 {
	cid := h.id(client)
	h.nextSeq[cid]++
	seq := h.nextSeq[cid]
	h.nextMsg++
	c := hchan{from: cid, to: h.id(server)}
	req := &ClientRequest{Seq: seq, Op: protocol.OpGet, Key: key, AnyCopy: true}
	h.channels[c] = append(h.channels[c], &hmsg{id: h.nextMsg, from: cid, to: c.to, msg: req})
	return seq
}

// reply returns the last reply client got for seq, or nil.
func (h *harness) reply(client string, seq uint64) *ClientReply {
	rs := h.replies[h.id(client)]
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Seq == seq {
			return rs[i]
		}
	}
	return nil
}

// fire fires the earliest armed timer of the given kind at a node, advancing time to it.
func (h *harness) fire(node string, kind int32) string {
	h.t.Helper()
	id := h.id(node)
	var best *htimer
	for _, t := range h.sortedTimers() {
		if t.node == id && t.tag.Kind == kind && (best == nil || t.at < best.at) {
			best = t
		}
	}
	if best == nil {
		h.t.Fatalf("fire %s kind %d: no such timer armed", node, kind)
	}
	h.fireTimer(best)
	return h.takeLog()
}

func (h *harness) hasTimer(node string, kind int32) bool {
	id := h.id(node)
	for _, t := range h.timers {
		if t.node == id && t.tag.Kind == kind {
			return true
		}
	}
	return false
}

func (h *harness) fireTimer(t *htimer) {
	delete(h.timers, t.id)
	if t.at > h.now {
		h.now = t.at
	}
	n := h.servers[t.node]
	if !n.alive || n.inc != t.inc {
		return
	}
	n.srv.Fire(&henv{h: h, n: n}, t.id, t.tag)
}

func (h *harness) sortedTimers() []*htimer {
	out := make([]*htimer, 0, len(h.timers))
	for _, t := range h.timers {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].at != out[j].at {
			return out[i].at < out[j].at
		}
		return out[i].id < out[j].id
	})
	return out
}

func (h *harness) hold(from, to string) { h.heldChans[hchan{from: h.id(from), to: h.id(to)}] = true }
func (h *harness) release(from, to string) {
	delete(h.heldChans, hchan{from: h.id(from), to: h.id(to)})
}
func (h *harness) holdTimer(node string, k int32) { h.heldTimers[htimerKey{h.id(node), k}] = true }
func (h *harness) releaseTimer(node string, k int32) {
	delete(h.heldTimers, htimerKey{h.id(node), k})
}
func (h *harness) releaseAll() {
	h.heldChans = map[hchan]bool{}
	h.heldTimers = map[htimerKey]bool{}
	h.isolated = map[protocol.NodeID]bool{}
	h.muted = map[protocol.NodeID]bool{}
	h.slow = map[hchan]bool{}
}

// mute holds everything a node sends, heartbeats included, until releaseAll; it still hears others.
func (h *harness) mute(name string) { h.muted[h.id(name)] = true }

// isolate partitions a node from everyone, heartbeats included, until releaseAll; messages wait.
func (h *harness) isolate(name string) { h.isolated[h.id(name)] = true }

// slowLink makes one directed link slower than any timeout: nothing sent on it, heartbeats
// included, arrives until releaseAll. Every other link of both ends still works.
func (h *harness) slowLink(from, to string) { h.slow[hchan{from: h.id(from), to: h.id(to)}] = true }

func (h *harness) deliverable(c hchan) bool {
	return !h.isolated[c.from] && !h.isolated[c.to] && !h.muted[c.from] && !h.slow[hchan{from: c.from, to: c.to}] &&
		(c.heartbeat || !h.heldChans[c])
}

// step performs one event: the first deliverable message (channels in order), or else the earliest
// foreground timer (background ones only up to limit). It returns false when nothing can happen.
func (h *harness) step(limit protocol.Time) bool {
	for _, c := range h.sortedChannels() {
		if h.deliverable(c) {
			h.deliverHead(c)
			return true
		}
	}
	timers := h.sortedTimers()
	var next *htimer
	for _, t := range timers {
		if h.heldTimers[htimerKey{t.node, t.tag.Kind}] || (t.tag.Kind == timerCopyWarn && t.at > limit) {
			continue
		}
		if t.tag.Background && t.at > limit {
			continue
		}
		if !t.tag.Background && t.tag.Kind == timerHeartbeat && t.at > limit {
			continue // an overdue member: the failure detector runs only when time is advanced
		}
		next = t
		break
	}
	if next == nil {
		return false
	}
	// Time goes to the next timer's; every heartbeat due before it beats first, as it would in a
	// real run (a server whose heartbeats were skipped would rightly think it had been paused).
	for _, t := range timers {
		if t == next || t.at >= next.at {
			break
		}
		if t.tag.Kind == timerHeartbeat && !h.heldTimers[htimerKey{t.node, t.tag.Kind}] {
			h.fireTimer(t)
			return true
		}
	}
	h.fireTimer(next)
	return true
}

func (h *harness) sortedChannels() []hchan {
	out := make([]hchan, 0, len(h.channels))
	for c, q := range h.channels {
		if len(q) > 0 {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].from != out[j].from {
			return out[i].from < out[j].from
		}
		if out[i].to != out[j].to {
			return out[i].to < out[j].to
		}
		return !out[i].heartbeat
	})
	return out
}

const harnessStepLimit = 200000

// stabilize delivers every deliverable message and fires foreground timers until nothing is left
// (held channels and timers stay put; background timers do not fire).
func (h *harness) stabilize() string {
	h.t.Helper()
	for i := 0; h.step(h.now); i++ {
		if i > harnessStepLimit {
			h.t.Fatalf("stabilize: no quiescence after %d steps", harnessStepLimit)
		}
	}
	return h.takeLog()
}

// until steps until an event with the given name is emitted (by node, if not empty).
func (h *harness) until(node, name string) string {
	h.t.Helper()
	start := len(h.events)
	for i := 0; ; i++ {
		for _, e := range h.events[start:] {
			if e.name == name && (node == "" || h.name(e.node) == node) {
				return h.takeLog()
			}
		}
		if i > harnessStepLimit || !h.step(h.now) {
			h.t.Fatalf("until %s %s: no such event (stuck)\n%s", node, name, h.takeLog())
		}
	}
}

// advance lets time pass: messages are delivered at once, timers fire in order (background ones
// too) up to now+d.
func (h *harness) advance(d protocol.Duration) string {
	h.t.Helper()
	end := h.now + protocol.Time(d)
	for i := 0; h.step(end); i++ {
		if i > harnessStepLimit {
			h.t.Fatalf("advance: too many steps")
		}
	}
	if h.now < end {
		h.now = end
	}
	return h.takeLog()
}

// crash stops a node: its messages in flight to it are dropped, its timers die; what it already sent
// stays in flight.
func (h *harness) crash(name string) string {
	n := h.servers[h.id(name)]
	n.alive = false
	for c := range h.channels {
		if c.to == n.id {
			delete(h.channels, c)
		}
	}
	for id, t := range h.timers {
		if t.node == n.id {
			delete(h.timers, id)
		}
	}
	h.logf("%s crashed", name)
	return h.takeLog()
}

// restart starts a new, empty incarnation of a crashed node.
func (h *harness) restart(name string) string {
	n := h.servers[h.id(name)]
	n.inc++
	n.alive = true
	n.srv = newServer(h.cfg, Member{ID: n.id, Inc: n.inc})
	n.srv.Start(&henv{h: h, n: n})
	return h.takeLog()
}

// eventsNamed returns the events with the given name.
func (h *harness) eventsNamed(name string) []hevent {
	var out []hevent
	for _, e := range h.events {
		if e.name == name {
			out = append(out, e)
		}
	}
	return out
}

// describe renders every live server's state.
func (h *harness) describe() string {
	var b strings.Builder
	for _, n := range h.servers {
		if !n.alive {
			fmt.Fprintf(&b, "%s: crashed\n", h.name(n.id))
			continue
		}
		b.WriteString(n.srv.Describe())
	}
	return strings.TrimRight(b.String(), "\n")
}

// entriesOf renders one server's entries of a bucket, or "-" when it holds no copy.
func (h *harness) entriesOf(server string, bucket int) string {
	b := h.server(server).buckets[bucket]
	if b == nil {
		return "-"
	}
	parts := []string{}
	for _, e := range b.sortedEntries() {
		parts = append(parts, e.String())
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// get runs a get to completion (everything else deliverable is delivered too) and returns the reply.
func (h *harness) get(client, server, key string) *ClientReply {
	h.t.Helper()
	seq := h.request(client, server, protocol.OpGet, key, "")
	h.stabilize()
	return h.reply(client, seq)
}

// getAnyCopy is get with Config.ReadFromAnyCopy semantics (any initialized copy answers).
func (h *harness) getAnyCopy(client, server, key string) *ClientReply {
	h.t.Helper()
	seq := h.requestAnyCopy(client, server, key)
	h.stabilize()
	return h.reply(client, seq)
}

// write runs a write to completion and requires it to be acknowledged.
func (h *harness) write(client, server, op, key, value string) {
	h.t.Helper()
	seq := h.request(client, server, op, key, value)
	h.stabilize()
	if r := h.reply(client, seq); r == nil || r.Status != replyOK {
		h.t.Fatalf("%s %s=%s at %s: not acknowledged (reply %+v)\n%s", op, key, value, server, r, h.describe())
	}
}

// promote crashes the given servers and lets the failure detector, the coordinator (or a takeover)
// and the new primary's synchronization run.
func (h *harness) promote(crash ...string) string {
	for _, name := range crash {
		h.crash(name)
	}
	h.advance(6 * h.cfg.FailureDetectionTimeout)
	return h.stabilize()
}

// rebalance injects a rebalance request to the coordinator s0.
func (h *harness) rebalance(bucket int, target string) string {
	return h.inject(protocol.External, "s0", &Rebalance{Bucket: bucket, Target: h.id(target)})
}
