package kv

import (
	"strconv"

	"github.com/stateflush/stateflush/protocol"
)

// Client runs a workload of single-key operations, one at a time, against the store. It routes each
// operation to the bucket's primary from its cached metadata (starting from the initial placement),
// follows redirects, and retries on timeout with the same event id (client id + sequence number),
// so that a write is applied at most once. When timeouts or redirects run out an operation ends with
// status unknown (a get, which never has an effect, with status fail); it is never dropped.
type Client struct {
	// requests carves the client's requests (slab.go).
	requests slab[ClientRequest]
	cfg      Config
	work     Workload // what this client runs (NewFactory)
	id       protocol.NodeID
	index    int
	env      protocol.Env
	// attrBuf is the reused attribute list of the client's events (Env.Emit keeps none).
	attrBuf []protocol.Attr

	primary []protocol.NodeID   // per bucket, -1 when unknown
	holders [][]protocol.NodeID // per bucket, initialized copies
	known   []ConfigVersion     // view version the cache entry came from

	seq       uint64
	completed int
	op        *clientOp
	// opBuf holds the operation in progress: a client has one at a time, and nothing refers to
	// an operation once it ended (its timers are cancelled), so each one reuses it.
	opBuf clientOp
	// only is Workload.OnlyKeys as a set; nil when every key is performed.
	only map[string]bool
	// keyNames caches "k<i>" per key index, so drawing a key does not format a new string each time.
	keyNames []string
}

// keyName is fmt.Sprintf("k%d", i), formatted once per key.
func (c *Client) keyName(i int) string {
	if i < 0 || i >= 1<<16 {
		return "k" + strconv.Itoa(i)
	}
	if i >= len(c.keyNames) {
		c.keyNames = append(c.keyNames, make([]string, i+1-len(c.keyNames))...)
	}
	if c.keyNames[i] == "" {
		c.keyNames[i] = "k" + strconv.Itoa(i)
	}
	return c.keyNames[i]
}

type clientOp struct {
	seq            uint64
	kind           string
	key, value     string
	bucket         int
	timeouts       int
	redirects      int
	target         protocol.NodeID
	mayHaveApplied bool // some attempt may have taken effect: the op cannot end with status fail
	timer          protocol.TimerID
	backoff        protocol.TimerID
}

func newClient(cfg Config, w Workload, id protocol.NodeID, v *View) *Client {
	c := &Client{cfg: cfg, work: w, id: id, index: int(id) - cfg.Servers}
	if len(w.OnlyKeys) > 0 {
		c.only = map[string]bool{}
		for _, k := range w.OnlyKeys {
			c.only[k] = true
		}
	}
	for _, meta := range v.Buckets {
		c.primary = append(c.primary, meta.Primary.ID)
		var hs []protocol.NodeID
		for _, m := range meta.initializedHolders() {
			hs = append(hs, m.ID)
		}
		c.holders = append(c.holders, hs)
		c.known = append(c.known, v.Version)
	}
	return c
}

// Completed is the number of operations that have ended (or were skipped: Workload.OnlyKeys).
func (c *Client) Completed() int { return c.completed }

// Start schedules the first operation.
func (c *Client) Start(env protocol.Env) {
	c.env = env
	defer func() { c.env = nil }()
	c.think()
}

func (c *Client) think() {
	if c.completed >= c.work.OpsPerClient {
		return
	}
	w := c.work
	pause := w.ThinkTimeMin
	if span := w.ThinkTimeMax - w.ThinkTimeMin; span > 0 {
		pause += protocol.Duration(c.env.Rand().Intn(int(span) + 1))
	}
	c.env.SetTimer(pause, protocol.TimerTag{Kind: timerClientThink})
}

// Fire handles the client's timers.
func (c *Client) Fire(env protocol.Env, id protocol.TimerID, tag protocol.TimerTag) {
	c.env = env
	defer func() { c.env = nil }()
	switch tag.Kind {
	case timerClientThink:
		if c.op == nil {
			c.invoke()
		}
	case timerClientTimeout:
		if op := c.op; op != nil && op.timer == id {
			c.onTimeout()
		}
	case timerClientBackoff:
		if op := c.op; op != nil && op.backoff == id {
			c.sendAttempt(c.primary[op.bucket])
		}
	}
}

func (c *Client) invoke() {
	r := c.env.Rand()
	w := c.work
	c.seq++
	c.opBuf = clientOp{seq: c.seq, key: c.keyName(r.Intn(w.Keys))}
	op := &c.opBuf
	pick := r.Intn(w.Mix.Get + w.Mix.Put + w.Mix.Delete + w.Mix.Append)
	switch {
	case pick < w.Mix.Get:
		op.kind = protocol.OpGet
	case pick < w.Mix.Get+w.Mix.Put:
		op.kind = protocol.OpPut
	case pick < w.Mix.Get+w.Mix.Put+w.Mix.Delete:
		op.kind = protocol.OpDelete
	default:
		op.kind = protocol.OpAppend
	}
	op.bucket = BucketOf(op.key, c.cfg.Buckets)
	target := c.primary[op.bucket]
	if op.kind == protocol.OpGet && c.cfg.ReadFromAnyCopy && len(c.holders[op.bucket]) > 0 {
		hs := c.holders[op.bucket]
		target = hs[r.Intn(len(hs))]
	}
	if c.only != nil && !c.only[op.key] {
		// Drawn like every operation, so that every later draw stays the same, but not performed.
		c.completed++
		c.think()
		return
	}
	attrs := append(c.attrBuf[:0], protocol.AInt("client", int(c.id)), protocol.AUint("seq", op.seq),
		protocol.AStr("op", op.kind), protocol.AStr("key", op.key))
	if op.kind == protocol.OpPut || op.kind == protocol.OpAppend {
		// unique, so every write is traceable
		op.value = "c" + strconv.Itoa(c.index) + "-" + strconv.FormatUint(op.seq, 10) + ";"
		attrs = append(attrs, protocol.AStr("value", op.value))
	}
	c.op = op
	c.attrBuf = attrs
	c.env.Emit(protocol.EventOpInvoke, attrs...)
	c.sendAttempt(target)
}

// sendAttempt sends the current operation to target (a server chosen in turn when unknown).
func (c *Client) sendAttempt(target protocol.NodeID) {
	op := c.op
	if target < 0 || int(target) >= c.cfg.Servers {
		target = protocol.NodeID((int(op.target) + 1) % c.cfg.Servers)
	}
	op.target = target
	m := c.requests.next()
	*m = ClientRequest{Seq: op.seq, Op: op.kind, Key: op.key, Value: op.value, AnyCopy: op.kind == protocol.OpGet && c.cfg.ReadFromAnyCopy}
	c.env.Send(target, m)
	c.env.CancelTimer(op.timer)
	op.timer = c.env.SetTimer(c.cfg.ClientOpTimeout, protocol.TimerTag{Kind: timerClientTimeout, Arg: int64(op.seq)})
}

func (c *Client) onTimeout() {
	op := c.op
	if op.kind != protocol.OpGet {
		op.mayHaveApplied = true
	}
	op.timeouts++
	if op.timeouts >= c.cfg.ClientMaxAttempts {
		c.giveUp()
		return
	}
	// The target may be down: ask the next server, which redirects to the primary it knows.
	c.sendAttempt(protocol.NodeID((int(op.target) + 1) % c.cfg.Servers))
}

// Receive handles a server's reply.
func (c *Client) Receive(env protocol.Env, from protocol.NodeID, m protocol.Message) {
	c.env = env
	defer func() { c.env = nil }()
	r, ok := m.(*ClientReply)
	if !ok || c.op == nil || r.Seq != c.op.seq || from != c.op.target {
		return
	}
	op := c.op
	switch r.Status {
	case replyOK:
		c.finish(protocol.StatusOK, r)
		return
	case replyLost:
		c.giveUp()
		return
	case replyRetry:
		op.mayHaveApplied = true
	}
	c.learn(r)
	op.redirects++
	if op.redirects > c.cfg.ClientMaxRedirects {
		c.giveUp()
		return
	}
	c.env.CancelTimer(op.timer)
	if r.Primary >= 0 && r.Primary != from {
		c.sendAttempt(r.Primary)
		return
	}
	// The server knows no other primary (a failover is under way): wait a little.
	op.backoff = c.env.SetTimer(c.cfg.ClientRetryBackoff, protocol.TimerTag{Kind: timerClientBackoff, Arg: int64(op.seq)})
}

func (c *Client) learn(r *ClientReply) {
	if r.Bucket < 0 || r.Bucket >= len(c.primary) || r.View.Compare(c.known[r.Bucket]) < 0 {
		return
	}
	c.known[r.Bucket] = r.View
	c.primary[r.Bucket] = r.Primary
	c.holders[r.Bucket] = r.Holders
}

// giveUp ends the operation without an answer: a get (or a write no attempt of which can have
// taken effect) fails; any other write has an unknown outcome.
func (c *Client) giveUp() {
	status := protocol.StatusUnknown
	if c.op.kind == protocol.OpGet || !c.op.mayHaveApplied {
		status = protocol.StatusFail
	}
	c.finish(status, nil)
}

func (c *Client) finish(status string, r *ClientReply) {
	op := c.op
	c.env.CancelTimer(op.timer)
	c.env.CancelTimer(op.backoff)
	attrs := append(c.attrBuf[:0], protocol.AInt("client", int(c.id)), protocol.AUint("seq", op.seq),
		protocol.AStr("status", status))
	if op.kind == protocol.OpGet && status == protocol.StatusOK {
		attrs = append(attrs, protocol.ABool("found", r.Found), protocol.AStr("value", r.Value))
	}
	c.attrBuf = attrs
	c.env.Emit(protocol.EventOpReturn, attrs...)
	c.op = nil
	c.completed++
	c.think()
}
