package dlock

import (
	"slices"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/membership"
)

// Client timer kinds.
const (
	timerThink int32 = iota + 1
	timerHold
	timerRetry // Arg: the operation's seq
)

// Client is a lock client and participant of the service: it takes OpsPerClient locks one at a
// time, each on a name drawn from its own random stream, holds it, and unlocks it, emitting each
// lock and unlock as an operation of the history (protocol.EventOpInvoke, EventOpReturn). It
// waits for each answer as long as it takes, sending its request again every RetryInterval.
type Client struct {
	cfg     Config
	work    Workload
	id      protocol.NodeID
	servers int
	env     protocol.Env

	seq     uint64
	pending *Request // the operation in progress, nil between operations
	call    protocol.Time
	retries int
	// holding is the lock held (Name empty: none).
	holding Held
	locked  int // locks taken
	// grantor is the member this client sends to and grantorEpoch the epoch it learned it at;
	// floor is the newest recovery epoch it answered, below which it refuses grants.
	grantor      protocol.NodeID
	grantorEpoch membership.Version
	floor        membership.Version
}

// NewClient is lock client node id of service cfg, running workload w, in a cluster of servers
// servers (node ids 0..servers-1).
func NewClient(cfg Config, w Workload, id protocol.NodeID, servers int) *Client {
	c := &Client{cfg: cfg, work: w, id: id, servers: servers}
	// The grantor of the initial view (every server, oldest first by node id).
	c.grantor = GrantorOf(membership.View{Members: initialMembers(servers)}).ID
	return c
}

func initialMembers(servers int) []membership.Member {
	n := min(servers, 2)
	members := make([]membership.Member, n)
	for i := range members {
		members[i] = membership.Member{ID: protocol.NodeID(i)}
	}
	return members
}

// Done reports whether the client finished its workload; Pending names its operation in progress
// ("" when none).
func (c *Client) Done() bool {
	return c.pending == nil && c.locked == c.work.OpsPerClient && c.holding.Name == ""
}

// Pending describes the operation in progress, "" when there is none.
func (c *Client) Pending() string {
	if c.pending == nil {
		return ""
	}
	return c.pending.Kind.String() + "(" + c.pending.Name + ")"
}

// Start begins the workload.
func (c *Client) Start(env protocol.Env) {
	c.env = env
	c.think()
}

func (c *Client) think() {
	if c.locked == c.work.OpsPerClient {
		return
	}
	c.env.SetTimer(c.between(c.work.ThinkMin, c.work.ThinkMax), protocol.TimerTag{Kind: timerThink})
}

func (c *Client) between(lo, hi protocol.Duration) protocol.Duration {
	return lo + protocol.Duration(c.env.Rand().Intn(int(hi-lo)+1))
}

// Fire handles the client's timers.
func (c *Client) Fire(env protocol.Env, _ protocol.TimerID, tag protocol.TimerTag) {
	c.env = env
	switch tag.Kind {
	case timerThink:
		r := &Request{Kind: KindLock, Name: Name(c.env.Rand().Intn(c.cfg.Names))}
		if c.work.Leased() {
			r.Lease = c.between(c.work.LeaseMin, c.work.LeaseMax)
		}
		if len(c.work.OnlyNames) > 0 && !slices.Contains(c.work.OnlyNames, r.Name) {
			// Skipped: the hold's draw is made too, so every later draw is the one it was.
			c.between(c.work.HoldMin, c.work.HoldMax)
			c.locked++
			c.think()
			return
		}
		c.invoke(r)
	case timerHold:
		// The unlock names the hold's lease, so that a grantor that cannot judge it knows whether
		// the hold may have ended by its lease.
		c.invoke(&Request{Kind: KindUnlock, Name: c.holding.Name, Token: c.holding.Token, Lease: c.holding.Lease})
	case timerRetry:
		if c.pending == nil || uint64(tag.Arg) != c.pending.Seq {
			return
		}
		c.retries++
		target := c.grantor
		if c.retries%2 == 0 {
			// The grantor it knows may be gone: any server names the grantor of its view.
			target = protocol.NodeID(c.env.Rand().Intn(c.servers))
		}
		c.send(target)
	}
}

func (c *Client) invoke(r *Request) {
	c.seq++
	r.Seq = c.seq
	c.pending, c.retries, c.call = r, 0, c.env.Now()
	attrs := []protocol.Attr{protocol.A("client", c.id), protocol.A("seq", r.Seq), protocol.A("op", r.Kind.String()), protocol.A("key", r.Name)}
	switch {
	case r.Kind == KindUnlock:
		attrs = append(attrs, protocol.A("value", r.Token))
	case r.Lease > 0:
		attrs = append(attrs, protocol.A("value", int64(r.Lease)))
	}
	c.env.Emit(protocol.EventOpInvoke, attrs...)
	c.send(c.grantor)
}

// send sends the pending request to target and arms the retry.
func (c *Client) send(target protocol.NodeID) {
	r := *c.pending
	c.env.Send(target, &r)
	c.env.SetTimer(c.cfg.RetryInterval, protocol.TimerTag{Kind: timerRetry, Arg: int64(r.Seq)})
}

// Receive handles the service's messages.
func (c *Client) Receive(env protocol.Env, from protocol.NodeID, m protocol.Message) {
	c.env = env
	switch msg := m.(type) {
	case *Reply:
		c.onReply(from, msg)
	case *GrantorHint:
		if c.pending != nil && msg.Seq == c.pending.Seq && msg.Grantor.Valid() && msg.Epoch.Compare(c.grantorEpoch) > 0 {
			c.grantor, c.grantorEpoch = msg.Grantor.ID, msg.Epoch
			c.send(c.grantor)
		}
	case *RecoveryQuery:
		c.onRecoveryQuery(from, msg)
	}
}

func (c *Client) onReply(from protocol.NodeID, r *Reply) {
	if c.pending == nil || r.Seq != c.pending.Seq {
		return
	}
	if r.Epoch.Compare(c.floor) < 0 {
		// From a grantor replaced by one whose recovery this client answered.
		c.env.Emit(EventStaleAnswer, protocol.A("seq", r.Seq), protocol.A("epoch", r.Epoch.String()), protocol.A("floor", c.floor.String()))
		if !c.cfg.Mutants.Has(AcceptStaleGrant) {
			return
		}
	}
	if r.Epoch.Compare(c.grantorEpoch) > 0 {
		c.grantor, c.grantorEpoch = from, r.Epoch
	}
	done := c.pending
	c.pending = nil
	switch done.Kind {
	case KindLock:
		if !r.OK {
			// A grantor refuses a lock only for a name outside the service, which this client
			// never asks for.
			c.env.Emit(protocol.EventOpReturn, protocol.A("client", c.id), protocol.A("seq", done.Seq), protocol.A("status", protocol.StatusFail))
			c.locked++
			c.think()
			return
		}
		c.holding = Held{Name: done.Name, Token: r.Token, Call: c.call, Lease: done.Lease}
		c.locked++
		c.env.Emit(protocol.EventOpReturn, protocol.A("client", c.id), protocol.A("seq", done.Seq), protocol.A("status", protocol.StatusOK), protocol.A("token", r.Token))
		c.env.SetTimer(c.between(c.work.HoldMin, c.work.HoldMax), protocol.TimerTag{Kind: timerHold})
	case KindUnlock:
		status := protocol.StatusOK
		switch {
		case r.Unknown:
			status = protocol.StatusUnknown
		case !r.OK:
			status = protocol.StatusFail // its lease ran out first
		}
		c.holding = Held{}
		c.env.Emit(protocol.EventOpReturn, protocol.A("client", c.id), protocol.A("seq", done.Seq), protocol.A("status", status))
		c.think()
	}
}

func (c *Client) onRecoveryQuery(from protocol.NodeID, q *RecoveryQuery) {
	if q.Epoch.Compare(c.floor) > 0 {
		c.floor = q.Epoch
	}
	if q.Epoch.Compare(c.grantorEpoch) >= 0 {
		c.grantor, c.grantorEpoch = from, q.Epoch
	}
	reply := &RecoveryReply{Epoch: q.Epoch, Seq: c.seq}
	if c.holding.Name != "" {
		reply.Held = []Held{c.holding}
	}
	if c.pending != nil {
		p := *c.pending
		reply.Pending = &p
	}
	c.env.Send(from, reply)
}
