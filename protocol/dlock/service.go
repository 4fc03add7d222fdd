package dlock

import (
	"slices"
	"strconv"
	"strings"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/membership"
)

// Events the lock service emits (beside the clients' op-invoke and op-return).
const (
	// EventGrantorEpoch: a member installed a view in which it is the grantor and starts that
	// epoch's recovery (attrs epoch, asked: how many participants it asks).
	EventGrantorEpoch = "grantor-epoch"
	// EventGrantorReady: the epoch's recovery completed; the grantor grants from now on (attrs
	// epoch, held: the locks held, waiting: the requests recovered).
	EventGrantorReady = "grantor-ready"
	// EventStaleAnswer: a client got an answer from a grantor epoch older than the newest recovery
	// it answered, and refused it (attrs seq, epoch, floor).
	EventStaleAnswer = "lock-stale-answer"
)

// TimerKind is the kind of the lock service's timers on its host (protocol.TimerTag.Kind), chosen
// apart from the host's own kinds; the host hands timers of this kind to Service.Fire.
const TimerKind int32 = 64

// GrantorOf is the grantor of a view: the second-oldest member, or the elder when it is alone
// (None in an empty view).
func GrantorOf(v membership.View) membership.Member {
	switch len(v.Members) {
	case 0:
		return membership.None
	case 1:
		return v.Members[0]
	}
	return v.Members[1]
}

// Service is one member's part of the lock service: nothing while another member is the grantor
// (it names the grantor to a client that asks it), the grant table while it is.
type Service struct {
	cfg         Config
	self        membership.Member
	firstClient protocol.NodeID
	env         protocol.Env
	view        membership.View
	inView      bool
	// heard marks the participants this member has had a message from (RecoveryAsksKnown).
	heard []bool
	g     *grantor
}

// NewService is member self's lock service; lock client i is node firstClient+i.
func NewService(cfg Config, self membership.Member, firstClient protocol.NodeID) *Service {
	return &Service{cfg: cfg, self: self, firstClient: firstClient, heard: make([]bool, cfg.Clients)}
}

// grantor is the grant table of one epoch.
type grantor struct {
	epoch      membership.Version
	recovering bool
	awaiting   []bool // per participant: asked and not yet answered
	unanswered int
	locks      []lockEntry // by name index
	counter    uint64
	// answered is, per participant, its last answered request and the answer, so that a copy
	// of a request (a retry) gets the same answer; latest is the newest operation it is known to
	// have invoked: a request older than that is a copy of one answered before this epoch.
	answered []answered
	latest   []uint64
	// deferred are the requests that arrived during recovery, and those recovered, in order.
	deferred []pendingRequest
	timer    protocol.TimerID
}

type lockEntry struct {
	held   bool
	holder int
	token  uint64
	last   uint64 // the greatest token granted or reported under this name
	// expiresAt is when the current hold's lease runs out (0: no lease), and expiry the timer
	// that releases it then; expired lists the tokens whose holds this epoch ended by their
	// lease.
	expiresAt protocol.Time
	expiry    protocol.TimerID
	expired   []uint64
	// recovered: the current hold is one a participant reported, not one this epoch granted;
	// its report may be stale (the holder's unlock took effect at an earlier grantor and its
	// answer was lost), so its lease running out here does not tell that the unlock came late.
	recovered bool
	waiters   []pendingRequest
}

type pendingRequest struct {
	client int
	req    Request
}

type answered struct {
	seq   uint64
	reply Reply
}

// IsGrantor reports whether this member is the grantor of its current view.
func (s *Service) IsGrantor() bool { return s.g != nil }

// Recovering reports whether this member is a grantor whose recovery has not completed.
func (s *Service) Recovering() bool { return s.g != nil && s.g.recovering }

// HeldLocks lists, while this member is a ready grantor, the locks its table holds as
// "name:client-index:token" in name order (for end-of-run checks and reports).
func (s *Service) HeldLocks() []string {
	if s.g == nil {
		return nil
	}
	var out []string
	for i, e := range s.g.locks {
		if e.held {
			out = append(out, Name(i)+":"+strconv.Itoa(e.holder)+":"+strconv.FormatUint(e.token, 10))
		}
	}
	return out
}

// Waiting is how many requests the grant table holds unanswered (waiters and deferred).
func (s *Service) Waiting() int {
	if s.g == nil {
		return 0
	}
	n := len(s.g.deferred)
	for _, e := range s.g.locks {
		n += len(e.waiters)
	}
	return n
}

// ViewChanged tells the service of a view its member installed: a new epoch if the member is its
// grantor, stepping down otherwise.
func (s *Service) ViewChanged(env protocol.Env, v membership.View) {
	s.env = env
	s.view, s.inView = v, true
	s.stepDown()
	if GrantorOf(v) == s.self {
		s.startEpoch()
	}
}

// Left tells the service that its member is in no view any more (it asks to join again).
func (s *Service) Left(env protocol.Env) {
	s.env = env
	s.inView = false
	s.stepDown()
}

func (s *Service) stepDown() {
	if s.g == nil {
		return
	}
	s.env.CancelTimer(s.g.timer)
	for _, e := range s.g.locks {
		if e.held && e.expiresAt != 0 {
			s.env.CancelTimer(e.expiry)
		}
	}
	s.g = nil
}

func (s *Service) startEpoch() {
	g := &grantor{
		epoch:      s.view.Version,
		recovering: !s.cfg.Mutants.Has(GrantBeforeRecovery),
		awaiting:   make([]bool, s.cfg.Clients),
		locks:      make([]lockEntry, s.cfg.Names),
		answered:   make([]answered, s.cfg.Clients),
		latest:     make([]uint64, s.cfg.Clients),
	}
	s.g = g
	q := &RecoveryQuery{Epoch: g.epoch}
	for c := range g.awaiting {
		if s.cfg.Mutants.Has(RecoveryAsksKnown) && !s.heard[c] {
			continue
		}
		g.awaiting[c] = true
		g.unanswered++
		s.env.Send(s.client(c), q)
	}
	s.env.Emit(EventGrantorEpoch, protocol.A("epoch", g.epoch.String()), protocol.A("asked", g.unanswered))
	if g.unanswered == 0 {
		s.finishRecovery()
		return
	}
	g.timer = s.env.SetTimer(s.cfg.RetryInterval, protocol.TimerTag{Kind: TimerKind})
}

func (s *Service) client(i int) protocol.NodeID { return s.firstClient + protocol.NodeID(i) }

// participant is the index of the lock client at node id, or -1.
func (s *Service) participant(id protocol.NodeID) int {
	i := int(id - s.firstClient)
	if i < 0 || i >= s.cfg.Clients {
		return -1
	}
	return i
}

// Fire handles the service's timers: a lease running out (Arg: 1 + the name's index), and the
// retry timer (Arg 0), at which a recovering grantor asks again the participants that have not
// answered (a query or its answer may have been lost).
func (s *Service) Fire(env protocol.Env, id protocol.TimerID, tag protocol.TimerTag) {
	s.env = env
	g := s.g
	if g == nil {
		return
	}
	if tag.Arg > 0 {
		s.onExpiry(int(tag.Arg-1), id)
		return
	}
	if id != g.timer || g.unanswered == 0 {
		return
	}
	q := &RecoveryQuery{Epoch: g.epoch}
	for c, waiting := range g.awaiting {
		if waiting {
			s.env.Send(s.client(c), q)
		}
	}
	g.timer = s.env.SetTimer(s.cfg.RetryInterval, protocol.TimerTag{Kind: TimerKind})
}

// The Service is a component of its member (membership.Component).
var _ membership.Component = (*Service)(nil)

// Owns reports whether m is a lock service message.
func (s *Service) Owns(m protocol.Message) bool {
	_, ok := m.(Message)
	return ok
}

// TimerKind is the kind of the service's timers.
func (s *Service) TimerKind() int32 { return TimerKind }

// Receive handles a lock service message from node from.
func (s *Service) Receive(env protocol.Env, from protocol.NodeID, m protocol.Message) {
	s.env = env
	c := s.participant(from)
	if c < 0 {
		return // only participants talk to a member's lock service
	}
	s.heard[c] = true
	switch msg := m.(type) {
	case *Request:
		s.onRequest(c, msg)
	case *RecoveryReply:
		s.onRecoveryReply(c, msg)
	}
}

func (s *Service) onRequest(c int, r *Request) {
	g := s.g
	if g == nil {
		hint := &GrantorHint{Seq: r.Seq, Grantor: membership.None}
		if s.inView {
			hint.Grantor, hint.Epoch = GrantorOf(s.view), s.view.Version
		}
		s.env.Send(s.client(c), hint)
		return
	}
	if r.Seq < g.latest[c] {
		return // a copy of a request answered before this epoch
	}
	g.latest[c] = r.Seq
	if g.recovering {
		for _, d := range g.deferred {
			if d.client == c && d.req.Seq == r.Seq {
				return
			}
		}
		g.deferred = append(g.deferred, pendingRequest{client: c, req: *r})
		return
	}
	s.serve(c, *r)
}

// serve answers a request once the table is known.
func (s *Service) serve(c int, r Request) {
	g := s.g
	if r.Seq < g.latest[c] {
		return // the client has moved on: a copy of an answered request
	}
	name, ok := nameIndex(r.Name, s.cfg.Names)
	if a := g.answered[c]; a.seq != 0 && r.Seq <= a.seq {
		if r.Seq < a.seq {
			return
		}
		if !(r.Kind == KindLock && a.reply.OK && ok && !s.holds(name, c, a.reply.Token)) {
			s.reply(c, a.reply)
			return
		}
		// A copy of a lock whose grant never reached the client and whose lease has run out
		// since: the client holds nothing, so the grant must not be repeated; it waits again.
		g.answered[c] = answered{}
	}
	if !ok {
		s.answer(c, Reply{Seq: r.Seq, Epoch: g.epoch})
		return
	}
	e := &g.locks[name]
	switch r.Kind {
	case KindLock:
		if !e.held {
			s.grant(name, pendingRequest{client: c, req: r})
			return
		}
		for _, w := range e.waiters {
			if w.client == c && w.req.Seq == r.Seq {
				return
			}
		}
		e.waiters = append(e.waiters, pendingRequest{client: c, req: r})
	case KindUnlock:
		switch {
		case e.held && e.holder == c && e.token == r.Token,
			e.held && s.cfg.Mutants.Has(UnlockIgnoresToken):
			s.release(name)
			s.answer(c, Reply{Seq: r.Seq, Epoch: g.epoch, OK: true})
			s.grantNext(name)
		case slices.Contains(e.expired, r.Token):
			// Its lease ran out: the unlock comes too late and releases nothing.
			s.answer(c, Reply{Seq: r.Seq, Epoch: g.epoch})
		case r.Token != 0 && r.Token <= e.last && !(e.held && e.token == r.Token):
			// A hold under an older token, known to an earlier grantor only, ended: without
			// leases only by its holder's unlock, so this is a copy of that unlock whose answer
			// went to the earlier grantor or was lost; with leases perhaps by its lease, and
			// which one this grantor cannot tell.
			s.answer(c, Reply{Seq: r.Seq, Epoch: g.epoch, OK: r.Lease == 0, Unknown: r.Lease > 0})
		default:
			s.answer(c, Reply{Seq: r.Seq, Epoch: g.epoch})
		}
	}
}

func (s *Service) grant(name int, p pendingRequest) {
	g := s.g
	g.counter++
	t := token(g.epoch, g.counter, s.cfg.Mutants)
	e := &g.locks[name]
	e.held, e.holder, e.token, e.recovered = true, p.client, t, false
	e.last = max(e.last, t)
	if p.req.Lease > 0 {
		// The holder's call came before this grant, so the lease the holder relies on (from its
		// call) runs out no later than this one.
		s.holdUntil(name, s.env.Now()+protocol.Time(p.req.Lease))
	}
	s.answer(p.client, Reply{Seq: p.req.Seq, Epoch: g.epoch, OK: true, Token: t})
}

// holds reports whether client c holds name under token.
func (s *Service) holds(name, c int, token uint64) bool {
	e := &s.g.locks[name]
	return e.held && e.holder == c && e.token == token
}

// holdUntil arms the release of name's current hold at the end of its lease.
func (s *Service) holdUntil(name int, at protocol.Time) {
	e := &s.g.locks[name]
	e.expiresAt = at
	e.expiry = s.env.SetTimer(protocol.Duration(max(0, at-s.env.Now())), protocol.TimerTag{Kind: TimerKind, Arg: int64(name) + 1})
}

// release ends name's current hold.
func (s *Service) release(name int) {
	e := &s.g.locks[name]
	if e.expiresAt != 0 {
		s.env.CancelTimer(e.expiry)
	}
	e.held, e.expiresAt = false, 0
}

// onExpiry ends a hold whose lease ran out and grants the lock to the next waiter.
func (s *Service) onExpiry(name int, id protocol.TimerID) {
	if name < 0 || name >= len(s.g.locks) {
		return
	}
	e := &s.g.locks[name]
	if !e.held || e.expiresAt == 0 || id != e.expiry {
		return
	}
	if !e.recovered {
		e.expired = append(e.expired, e.token)
	}
	s.release(name)
	if !s.g.recovering {
		s.grantNext(name)
	}
}

func (s *Service) grantNext(name int) {
	e := &s.g.locks[name]
	for len(e.waiters) > 0 {
		next := e.waiters[0]
		e.waiters = e.waiters[1:]
		if next.req.Seq >= s.g.latest[next.client] {
			s.grant(name, next)
			return
		}
	}
}

func (s *Service) answer(c int, r Reply) {
	s.g.answered[c] = answered{seq: r.Seq, reply: r}
	s.reply(c, r)
}

func (s *Service) reply(c int, r Reply) {
	msg := r
	s.env.Send(s.client(c), &msg)
}

func (s *Service) onRecoveryReply(c int, r *RecoveryReply) {
	g := s.g
	if g == nil || r.Epoch != g.epoch || !g.awaiting[c] {
		return
	}
	g.awaiting[c] = false
	g.unanswered--
	g.latest[c] = max(g.latest[c], r.Seq)
	for _, h := range r.Held {
		name, ok := nameIndex(h.Name, s.cfg.Names)
		if !ok {
			continue
		}
		e := &g.locks[name]
		newest := e.last
		e.last = max(e.last, h.Token)
		if h.Token <= newest {
			// Older than a hold reported before: it ended since (by its holder's unlock, whose
			// answer the holder has not received, or by its lease).
			continue
		}
		if e.held {
			s.release(name) // the older hold reported before ended
		}
		if h.Lease > 0 && h.Call+protocol.Time(h.Lease) <= s.env.Now() {
			// Its lease, counted from the holder's call, has run out, unless its holder's unlock
			// ended it first at an earlier grantor: this grantor cannot tell which, so the
			// holder's unlock gets an unknown answer (below), not a refusal.
			continue
		}
		e.held, e.holder, e.token, e.recovered = true, c, h.Token, true
		if h.Lease > 0 {
			s.holdUntil(name, h.Call+protocol.Time(h.Lease))
		}
	}
	if r.Pending != nil {
		if g.recovering {
			g.deferred = append(g.deferred, pendingRequest{client: c, req: *r.Pending})
		} else {
			s.serve(c, *r.Pending)
		}
	}
	if g.unanswered == 0 && g.recovering {
		s.finishRecovery()
	}
}

// finishRecovery makes the grantor ready and serves what waited, in arrival order.
func (s *Service) finishRecovery() {
	g := s.g
	g.recovering = false
	s.env.CancelTimer(g.timer)
	held := 0
	for _, e := range g.locks {
		if e.held {
			held++
		}
	}
	deferred := g.deferred
	g.deferred = nil
	s.env.Emit(EventGrantorReady, protocol.A("epoch", g.epoch.String()), protocol.A("held", held), protocol.A("waiting", len(deferred)))
	for _, d := range deferred {
		if s.g != g {
			return
		}
		s.serve(d.client, d.req)
	}
}

// nameIndex reads a lock name "lock-<i>" with i below names.
func nameIndex(name string, names int) (int, bool) {
	digits, ok := strings.CutPrefix(name, "lock-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(digits)
	if err != nil || i < 0 || i >= names || Name(i) != name {
		return 0, false
	}
	return i, true
}
