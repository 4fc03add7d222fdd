package dlock

import (
	"strconv"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/membership"
)

// Message is implemented by every message of the lock service, so that a member hosting the
// service can route them to its Service.
type Message interface {
	protocol.Message
	lockMessage()
}

// Kind is what a request asks for.
type Kind uint8

const (
	KindLock Kind = iota + 1
	KindUnlock
)

// String is the kind's operation name in histories (protocol.OpLock, protocol.OpUnlock).
func (k Kind) String() string {
	if k == KindUnlock {
		return protocol.OpUnlock
	}
	return protocol.OpLock
}

// Request is a client's lock or unlock, sent to the grantor it believes in. Seq is the client's
// operation number: a client has one operation pending at a time and sends it again until it is
// answered, so (client, Seq) names the operation and a grantor answers a copy as it answered the
// first.
type Request struct {
	Seq   uint64
	Kind  Kind
	Name  string
	Token uint64            // unlock: the token the lock is held under
	Lease protocol.Duration // lock: the lease asked for; unlock: the hold's lease (0: none)
}

// Reply answers a Request. Epoch is the version of the grantor epoch that answered; OK is false
// for an unlock of a lock the client does not hold (its lease ran out); Token is a lock's fencing
// token. Unknown: the grantor cannot tell whether an unlock took effect (it names a hold an earlier
// grantor ended, by the unlock or by its lease), so the client learns neither.
type Reply struct {
	Seq     uint64
	Epoch   membership.Version
	OK      bool
	Unknown bool
	Token   uint64
}

// GrantorHint answers a request that reached a member that is not the grantor: the grantor of the
// newest view it installed (None when it is in no view).
type GrantorHint struct {
	Seq     uint64
	Grantor membership.Member
	Epoch   membership.Version
}

// RecoveryQuery asks a participant, for the grantor epoch Epoch, what it holds and what it has
// pending.
type RecoveryQuery struct {
	Epoch membership.Version
}

// Held is one lock a participant holds: under which token, and for a leased lock the holder's call
// and the lease (the hold is relied on until Call+Lease).
type Held struct {
	Name  string
	Token uint64
	Call  protocol.Time
	Lease protocol.Duration
}

// RecoveryReply answers a RecoveryQuery: the locks the participant holds, its pending request if it
// has one, and Seq, the last operation it invoked: its requests with a smaller Seq are copies of
// answered ones, still in flight from before the epoch, which the grantor must not take for new.
type RecoveryReply struct {
	Epoch   membership.Version
	Held    []Held
	Pending *Request
	Seq     uint64
}

const (
	MsgRequest       = "lock-request"
	MsgReply         = "lock-reply"
	MsgGrantorHint   = "grantor-hint"
	MsgRecoveryQuery = "lock-recovery-query"
	MsgRecoveryReply = "lock-recovery-reply"
)

func (*Request) Type() string       { return MsgRequest }
func (*Reply) Type() string         { return MsgReply }
func (*GrantorHint) Type() string   { return MsgGrantorHint }
func (*RecoveryQuery) Type() string { return MsgRecoveryQuery }
func (*RecoveryReply) Type() string { return MsgRecoveryReply }

func (*Request) lockMessage()       {}
func (*Reply) lockMessage()         {}
func (*GrantorHint) lockMessage()   {}
func (*RecoveryQuery) lockMessage() {}
func (*RecoveryReply) lockMessage() {}

// TraceAttrs describe the messages on their trace records (sim.Describer).
func (m *Request) TraceAttrs() []protocol.Attr {
	attrs := []protocol.Attr{protocol.A("seq", m.Seq), protocol.A("op", m.Kind.String()), protocol.A("name", m.Name)}
	if m.Kind == KindUnlock {
		attrs = append(attrs, protocol.A("token", m.Token))
	}
	if m.Lease > 0 && m.Kind == KindLock {
		attrs = append(attrs, protocol.A("lease", int64(m.Lease)))
	}
	return attrs
}

func (m *Reply) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{protocol.A("seq", m.Seq), protocol.A("epoch", m.Epoch.String()), protocol.A("ok", m.OK), protocol.A("unknown", m.Unknown), protocol.A("token", m.Token)}
}

func (m *GrantorHint) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{protocol.A("seq", m.Seq), protocol.A("grantor", m.Grantor.String()), protocol.A("epoch", m.Epoch.String())}
}

func (m *RecoveryQuery) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{protocol.A("epoch", m.Epoch.String())}
}

func (m *RecoveryReply) TraceAttrs() []protocol.Attr {
	held := ""
	for i, h := range m.Held {
		if i > 0 {
			held += ","
		}
		held += h.Name + ":" + strconv.FormatUint(h.Token, 10)
	}
	attrs := []protocol.Attr{protocol.A("epoch", m.Epoch.String()), protocol.A("held", held), protocol.A("seq", m.Seq)}
	if m.Pending != nil {
		attrs = append(attrs, protocol.A("pending", m.Pending.Seq))
	}
	return attrs
}
